"""Errors the domain raises to its callers.

::

    CheckError
    ├── InvalidRequest        bad input; lists every offending field (exit status 2)
    ├── IdempotencyConflict   same idempotency key, different request body
    ├── CheckNotFound         no check with that id
    ├── NotRerunnable         rerun asked for a check that is not failed
    └── ErasureRefused        erasure blocked by a fraud flag or a legal hold

    StepsPending              not an error for callers: the run must be tried again later
    └── CheckBusy             another worker holds the check's lease
"""

from __future__ import annotations

from dataclasses import dataclass


class CheckError(Exception):
    """Base class of every error the domain raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: the dotted path of the field and what is wrong."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class InvalidRequest(CheckError):
    """The request was rejected; ``problems`` names every offending field."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


class IdempotencyConflict(CheckError):
    """The idempotency key is already used by a check with a different request."""


class CheckNotFound(CheckError):
    """No check has the given id."""


class NotRerunnable(CheckError):
    """Only failed checks can be rerun."""


class ErasureRefused(CheckError):
    """A subject's data cannot be erased yet; the message says why."""


class StepsPending(Exception):
    """Some steps failed transiently: the check should be run again later.

    The ``run_check`` actor lets this propagate so the broker's retry policy schedules the
    next attempt.
    """


class CheckBusy(StepsPending):
    """Another worker holds a live lease on the check (a duplicate delivery).

    Retrying later, rather than dropping the message, means a redelivery after a worker died
    still finishes the check once the dead worker's lease has lapsed.
    """


class BrokerUnavailable(CheckError):
    """The broker did not take a message; the check is stored and the message will be re-sent."""


class EncryptionKeyMissing(CheckError):
    """A check's data was encrypted under a key that is no longer configured."""

    code = "encryption_key_missing"
