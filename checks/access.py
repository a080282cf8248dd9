"""Who may do what through the HTTP API and the console: roles, API tokens and rate limits.

A token is a random secret shown once; only its SHA-256 digest is stored, so a copy of the
database cannot be used to call the API. Each role is granted a fixed set of actions (data in
:data:`GRANTS`), and every caller is held to a token bucket so one client cannot starve others.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    """What a token is for (SPEC.md, "HTTP API and operations console")."""

    SUBMITTER = "submitter"
    OPERATOR = "operator"
    REVIEWER = "reviewer"
    COMPLIANCE = "compliance"


class Action(StrEnum):
    """Something a caller asks to do; each endpoint or console form requires one."""

    SUBMIT = "check.submit"
    READ_OWN = "check.read_own"
    READ_ANY = "check.read_any"
    LIST = "check.list"
    RERUN = "check.rerun"
    DASHBOARD = "console.dashboard"
    # The next round's endpoints (review queue, fraud filing, subject rights, associations)
    # are granted here already, so adding one is a route, not a policy change.
    REVIEW = "review.decide"
    FRAUD_PROPOSE = "fraud.propose"
    FRAUD_CONFIRM = "fraud.confirm"
    SUBJECT_EXPORT = "subject.export"
    SUBJECT_ERASE = "subject.erase"
    RETENTION_HOLD = "retention.hold"
    ASSOCIATIONS = "associations.manage"


#: The actions each role may take. A submitter sees only the checks it submitted.
GRANTS: dict[Role, frozenset[Action]] = {
    Role.SUBMITTER: frozenset({Action.SUBMIT, Action.READ_OWN}),
    Role.OPERATOR: frozenset(
        {
            Action.READ_ANY,
            Action.LIST,
            Action.RERUN,
            Action.DASHBOARD,
            Action.ASSOCIATIONS,
        }
    ),
    Role.REVIEWER: frozenset(
        {Action.READ_ANY, Action.LIST, Action.DASHBOARD, Action.REVIEW, Action.FRAUD_PROPOSE}
    ),
    Role.COMPLIANCE: frozenset(
        {
            Action.READ_ANY,
            Action.LIST,
            Action.DASHBOARD,
            Action.FRAUD_CONFIRM,
            Action.SUBJECT_EXPORT,
            Action.SUBJECT_ERASE,
            Action.RETENTION_HOLD,
        }
    ),
}

#: Token names appear in the audit trail and in ``requested_by``: plain identifiers only.
TOKEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

#: Every token starts with this, so a leaked one is easy to recognise in a scanner.
TOKEN_PREFIX = "chk_"


def allowed(role: Role, action: Action) -> bool:
    """Whether ``role`` may take ``action``."""
    return action in GRANTS[role]


def can_read(role: Role, caller: str, check_owner: str) -> bool:
    """Whether a caller may read a check: any check with READ_ANY, else only its own."""
    if allowed(role, Action.READ_ANY):
        return True
    return allowed(role, Action.READ_OWN) and caller == check_owner


def parse_role(text: str) -> Role | None:
    """The role named ``text``, or None if there is no such role."""
    try:
        return Role(text)
    except ValueError:
        return None


def new_token() -> str:
    """A fresh secret: 256 random bits, URL-safe."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What is stored for a token.

    A fast hash is right here (unlike for passwords): the secret has 256 random bits, so there
    is nothing to guess, and the API looks the digest up on every request.
    """
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class RateLimiter:
    """A token bucket per caller: ``rate`` requests a second on average, bursts of ``burst``.

    State is per process: with several API processes each allows the rate, which bounds a
    caller's share of each process, the thing the limit protects.
    """

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, caller: str) -> float:
        """Spend one request; 0 if allowed, else the seconds until one is available."""
        now = self.clock()
        with self._lock:
            tokens, since = self._buckets.get(caller, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - since) * self.rate)
            if tokens >= 1.0:
                self._buckets[caller] = (tokens - 1.0, now)
                return 0.0
            self._buckets[caller] = (tokens, now)
            return (1.0 - tokens) / self.rate if self.rate > 0 else float("inf")
