"""The decision policy: stored agency results in, a decision with reasons out.

Pure functions of the results, so the same results always give the same decision and the
policy can be tested without a broker or a database. Each rule yields an outcome and a reason;
the decision is the most severe outcome, except that a Cifas protective registration caps it
at refer: the applicant may be the victim, so a person validates the identity instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from agencies.contract import AlertResult, CreditResult, FraudResult, Role, ScoreBand

SearchResultT = CreditResult | FraudResult | AlertResult


class Decision(StrEnum):
    """The outcome of a check, in increasing severity."""

    ACCEPT = "accept"
    REFER = "refer"
    DECLINE = "decline"

    @property
    def severity(self) -> int:
        """Order for picking the most severe outcome."""
        return [Decision.ACCEPT, Decision.REFER, Decision.DECLINE].index(self)


class Flag(StrEnum):
    """Why a record is kept for six years."""

    FRAUD_RISK = "fraud_risk"
    MONEY_LAUNDERING_RISK = "money_laundering_risk"


@dataclass(frozen=True)
class Reason:
    """A reason for a decision: a stable code, plain English, and the agency it came from."""

    code: str
    text: str
    agency: str | None = None


@dataclass(frozen=True)
class Finding:
    """One rule's outcome with its reason."""

    outcome: Decision
    reason: Reason


@dataclass(frozen=True)
class Verdict:
    """The policy's answer."""

    decision: Decision
    reasons: tuple[Reason, ...]
    flag: Flag | None = None


@dataclass(frozen=True)
class PolicyThresholds:
    """Numbers the policy turns on, as data so they can be read and tested."""

    max_hard_searches_3m: int = 5
    decline_judgments: int = 2
    decline_defaults: int = 3


def _who(role: Role) -> str:
    return "the applicant" if role is Role.APPLICANT else "the joint applicant"


def _credit_findings(role: Role, r: CreditResult, t: PolicyThresholds) -> Iterator[Finding]:
    # Adverse data about the joint applicant is referred to a person, not declined outright:
    # the main applicant may still qualify alone.
    adverse = Decision.DECLINE if role is Role.APPLICANT else Decision.REFER
    who = _who(role)
    if r.insolvency_current:
        yield Finding(
            adverse, Reason("INSOLVENCY", f"Current insolvency recorded for {who}", r.agency)
        )
    if r.judgments >= t.decline_judgments:
        yield Finding(
            adverse,
            Reason("CCJS", f"{r.judgments} county court judgments recorded for {who}", r.agency),
        )
    elif r.judgments:
        yield Finding(
            Decision.REFER,
            Reason("CCJ", f"A county court judgment is recorded for {who}", r.agency),
        )
    if r.defaults >= t.decline_defaults:
        yield Finding(
            adverse, Reason("DEFAULTS", f"{r.defaults} defaults recorded for {who}", r.agency)
        )
    elif r.defaults:
        yield Finding(Decision.REFER, Reason("DEFAULT", f"Defaults recorded for {who}", r.agency))
    if r.score_band is ScoreBand.VERY_POOR:
        yield Finding(
            adverse, Reason("LOW_SCORE", f"Credit score for {who} is very poor", r.agency)
        )
    elif r.score_band is ScoreBand.POOR:
        yield Finding(
            Decision.REFER, Reason("LOW_SCORE", f"Credit score for {who} is poor", r.agency)
        )
    if not r.identity_verified:
        yield Finding(
            Decision.REFER,
            Reason("IDENTITY_NOT_VERIFIED", f"Identity of {who} could not be verified", r.agency),
        )
    if r.hard_searches_3m > t.max_hard_searches_3m:
        yield Finding(
            Decision.REFER,
            Reason(
                "SEARCH_VELOCITY",
                f"{r.hard_searches_3m} hard searches in the last three months for {who}",
                r.agency,
            ),
        )
    for marker in r.fraud_markers:
        yield Finding(
            Decision.REFER,
            Reason("RELAYED_FRAUD_MARKER", f"Fraud-prevention marker relayed: {marker}", r.agency),
        )


def _fraud_findings(role: Role, r: FraudResult) -> Iterator[Finding]:
    for m in r.matches:
        yield Finding(
            Decision.DECLINE,
            Reason(
                "FRAUD_MATCH",
                f"Fraud database match for {_who(role)}: {m.case_type} (case {m.case_ref})",
                r.agency,
            ),
        )
    if r.protective_registration:
        yield Finding(
            Decision.REFER,
            Reason(
                "PROTECTIVE_REGISTRATION",
                f"Protective registration for {_who(role)}: validate identity before proceeding",
                r.agency,
            ),
        )


def _alert_findings(r: AlertResult) -> Iterator[Finding]:
    for a in r.alerts:
        yield Finding(
            Decision.REFER,
            Reason(
                "RETAIL_FRAUD_ALERT",
                f"Retail fraud alert ({a.code}) on the {a.identifier}",
                r.agency,
            ),
        )


def decide(
    results: Iterable[tuple[Role, SearchResultT]],
    thresholds: PolicyThresholds | None = None,
    associate_findings: Iterable[Finding] = (),
) -> Verdict:
    """Combine every completed search into one decision with its reasons.

    ``associate_findings`` are what the applicant's active financial associations add
    (:func:`checks.associations.association_findings`: referrals only).
    """
    t = thresholds or PolicyThresholds()
    findings: list[Finding] = list(associate_findings)
    flag: Flag | None = None
    protected = False
    for role, result in results:
        if isinstance(result, CreditResult):
            findings += _credit_findings(role, result, t)
        elif isinstance(result, FraudResult):
            findings += _fraud_findings(role, result)
            protected = protected or result.protective_registration
            if result.matches and not result.protective_registration:
                flag = Flag.FRAUD_RISK
        else:
            findings += _alert_findings(result)
    if not findings:
        return Verdict(
            Decision.ACCEPT,
            (Reason("ACCEPTED", "Credit and fraud checks passed the policy"),),
        )
    decision = max((f.outcome for f in findings), key=lambda d: d.severity)
    if protected and decision is Decision.DECLINE:
        # A protective registration means the person may be a victim of impersonation:
        # never refuse automatically, have a person validate the identity instead.
        decision = Decision.REFER
    reasons = tuple(f.reason for f in sorted(findings, key=lambda f: -f.outcome.severity))
    return Verdict(decision, reasons, flag)
