"""What the requester may be told about a decision: no tipping off.

The requester (an order flow) shows the outcome to the customer. Credit reasons may be told,
and the customer has a right to them; fraud-prevention reasons may not: naming a Cifas match, a
case reference, a fraud marker, an alert or the fraud flag would warn a fraudster and could
prejudice an investigation. Every reason whose code is not customer-safe is replaced by one
neutral reason, so the requester sees that a person will look at it, and nothing more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: Reason codes the customer may be told (credit data and identity verification).
CUSTOMER_SAFE_CODES = frozenset(
    {
        "ACCEPTED",
        "INSOLVENCY",
        "CCJS",
        "CCJ",
        "DEFAULTS",
        "DEFAULT",
        "LOW_SCORE",
        "NO_SCORE",
        "IDENTITY_NOT_VERIFIED",
        "SEARCH_VELOCITY",
        "NOTICE_OF_CORRECTION",
    }
)

#: What every other reason (fraud prevention, deceased register, retail alerts) becomes.
NEUTRAL_CODE = "REFERRED_FOR_REVIEW"
NEUTRAL_TEXT = "Some of the checks need a person to look at them"


def customer_reasons(reasons: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The reasons as the requester may see them: safe ones kept, the rest one neutral reason."""
    shown: list[dict[str, Any]] = []
    neutral = False
    for r in reasons:
        if r["code"] in CUSTOMER_SAFE_CODES:
            shown.append({"code": r["code"], "text": r["text"], "agency": r.get("agency")})
        elif not neutral:
            # One neutral reason however many were withheld: even a count could tip off.
            neutral = True
            shown.append({"code": NEUTRAL_CODE, "text": NEUTRAL_TEXT, "agency": None})
    return shown
