"""Every agency's call policy in one table: timeouts, quick retries, breaker thresholds.

Read it here, compare it in a review, change it in one place. Adapters take their policy from
this table (``AgencyAdapter.default_policy``); configuration may override single fields.

What is retried inside one attempt (the client applies ``HttpPolicy.retry_statuses``):
connection errors, timeouts, 408, 429 (waiting at least ``Retry-After``, up to
``max_retry_after``; a longer wait ends the attempt and the message is retried later) and 5xx.
Never retried: any other 4xx, and authentication failures after one token refresh.
"""

from __future__ import annotations

from agencies.http import HttpPolicy

#: The default for an agency not in the table (a third-party adapter).
FALLBACK_POLICY = HttpPolicy()

#: What the agencies below have in common; each row says only where an agency differs.
_COMMON = HttpPolicy(
    connect_timeout=3.0,
    read_timeout=6.0,
    quick_retries=2,
    breaker_failures=5,
    breaker_reset=30.0,
)

AGENCY_POLICIES: dict[str, HttpPolicy] = {
    # Experian's published client timeouts: connect 3 s, response 6 s.
    "experian": _COMMON,
    # Equifax's credit report is the slowest answer of the three bureaux.
    "equifax": _COMMON.with_overrides(read_timeout=8.0),
    # TransUnion's SOAP service: XML answers, a little more generous on reading.
    "callcredit": _COMMON.with_overrides(
        read_timeout=8.0, content_types=("text/xml", "application/soap+xml", "application/xml")
    ),
    # A fraud database lookup answers faster than a credit report.
    "cifas": _COMMON.with_overrides(read_timeout=5.0),
    # A small lookup in the order flow: fail fast, it only refers.
    "imrg": _COMMON.with_overrides(
        connect_timeout=2.0,
        read_timeout=4.0,
        quick_retries=1,
        breaker_failures=3,
        breaker_reset=20.0,
    ),
}


def policy_for(agency: str) -> HttpPolicy:
    """The agency's policy from the table (or the fallback for an unknown agency)."""
    return AGENCY_POLICIES.get(agency, FALLBACK_POLICY)
