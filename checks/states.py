"""The states a check, a step and a footprint (ledger row) go through, as enums.

StrEnums: each member is also its string, so the stored column values, the JSON views and the
SQL statements are unchanged.
"""

from __future__ import annotations

from enum import StrEnum


class CheckStatus(StrEnum):
    """A check: queued -> running -> decided or failed (a failed check may be rerun)."""

    QUEUED = "queued"
    RUNNING = "running"
    DECIDED = "decided"
    FAILED = "failed"


#: Check states that have ended.
TERMINAL = (CheckStatus.DECIDED, CheckStatus.FAILED)
#: Check states still in progress.
IN_PROGRESS = (CheckStatus.QUEUED, CheckStatus.RUNNING)


class StepStatus(StrEnum):
    """One search of a check: pending -> running -> completed, or retrying / failed.

    A step whose CRA was certainly not searched is ``superseded`` by a fallback step.
    """

    PENDING = "pending"
    RUNNING = "running"
    RETRYING = "retrying"
    COMPLETED = "completed"
    FAILED = "failed"
    SUPERSEDED = "superseded"


#: Step states that are searched (again) when a check runs; a completed step is reused, and
#: failed and superseded steps stay as they are.
STEP_OPEN = (StepStatus.PENDING, StepStatus.RUNNING, StepStatus.RETRYING)
#: Step states a rerun searches again.
RERUNNABLE_STEPS = (StepStatus.FAILED, StepStatus.RETRYING, StepStatus.RUNNING)


class FootprintState(StrEnum):
    """A ledger row: unknown from before the request leaves until an answer confirms it."""

    UNKNOWN = "unknown"
    CONFIRMED = "confirmed"
