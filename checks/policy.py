"""The decision policy: stored agency results in, a decision with reasons out.

Pure functions of the results and the day they are judged on, so the same results always give
the same decision and the policy can be tested without a broker, a database or a clock. Each
rule yields an outcome and a plain-English reason; the decision is the most severe outcome,
except that a sign the person may be a victim of impersonation (a Cifas protective
registration or a case naming them as the victim) caps it at refer, and a thin file never
declines on its own. A fraud flag belongs to the person the match concerns, never to their
co-applicant.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum

from agencies.contract import (
    Alert,
    AlertResult,
    CreditResult,
    FraudMatch,
    FraudResult,
    Role,
    ScoreBand,
)

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
    """One rule's outcome with its reason, about one person."""

    outcome: Decision
    reason: Reason
    #: The person is the subject of a fraud case: their records are flagged.
    flags: bool = False
    #: The person may be a victim of impersonation: never declined or flagged automatically.
    protects: bool = False


@dataclass(frozen=True)
class Verdict:
    """The policy's answer: the decision, its reasons, and who (if anyone) is flagged."""

    decision: Decision
    reasons: tuple[Reason, ...]
    flag: Flag | None = None
    #: The people the flag is on, applicant first; empty when ``flag`` is None.
    flagged_roles: tuple[Role, ...] = ()


@dataclass(frozen=True)
class PolicyThresholds:
    """Numbers the policy turns on, as data so they can be read and tested."""

    max_hard_searches_3m: int = 5
    decline_judgments: int = 2
    decline_defaults: int = 3


#: Every reason code the policy gives, with what it means; a test holds each text to plain
#: English (no marker strings, no codes inside a text).
REASON_CODES: dict[str, str] = {
    "ACCEPTED": "nothing in the checks needs a closer look",
    "INSOLVENCY": "a current insolvency",
    "CCJS": "several county court judgments",
    "CCJ": "one county court judgment",
    "DEFAULTS": "several defaults",
    "DEFAULT": "a default",
    "LOW_SCORE": "a poor or very poor credit score",
    "NO_SCORE": "no credit score (thin or no-trace file)",
    "IDENTITY_NOT_VERIFIED": "identity not verified",
    "SEARCH_VELOCITY": "many recent hard searches",
    "NOTICE_OF_CORRECTION": "a notice of correction a person must read",
    "DECEASED": "the identity is registered as deceased",
    "RELAYED_FRAUD_MARKER": "a fraud-prevention marker relayed by a credit reference agency",
    "PROTECTIVE_REGISTRATION": "a protective registration (possible victim of impersonation)",
    "FRAUD_VICTIM": "a fraud case naming the person as its victim",
    "FRAUD_MATCH": "a fraud case naming the person as its subject",
    "RETAIL_FRAUD_ALERT": "a retail fraud alert",
}

_IDENTIFIER_TEXT = {
    "address": "the address the goods go to",
    "email": "the email address",
    "ip": "the IP address",
    "device": "the device",
}
_ALERT_TEXT = {
    "fraudulent": "was used in a fraud",
    "chargeback": "is linked to a chargeback",
    "suspect": "is suspected of fraud",
}


def _who(role: Role) -> str:
    return "the applicant" if role is Role.APPLICANT else "the joint applicant"


def _is_protective_marker(marker: str) -> bool:
    # CRAs relay Cifas markers under their own names ("CIFAS_PROTECTIVE_REGISTRATION",
    # "Cifas Protective Registration"); what matters is whether it marks a victim.
    return "PROTECTIVE" in marker.upper()


def is_thin_file(r: CreditResult) -> bool:
    """A thin or no-trace file: no score, or an unverified identity with nothing adverse.

    Little on file is not bad credit: such a file is referred to a person, never declined.
    """
    if r.score is None or r.score_band is None:
        return True
    adverse = r.judgments or r.defaults or r.insolvency_current
    return not r.identity_verified and not adverse


def _credit_findings(role: Role, r: CreditResult, t: PolicyThresholds) -> Iterator[Finding]:
    # Adverse data about the joint applicant is referred to a person, not declined outright:
    # the main applicant may still qualify alone.
    adverse = Decision.DECLINE if role is Role.APPLICANT else Decision.REFER
    who = _who(role)
    if r.insolvency_current:
        yield Finding(
            adverse, Reason("INSOLVENCY", f"A current insolvency is recorded for {who}", r.agency)
        )
    if r.judgments >= t.decline_judgments:
        yield Finding(
            adverse,
            Reason(
                "CCJS", f"{r.judgments} county court judgments are recorded for {who}", r.agency
            ),
        )
    elif r.judgments:
        yield Finding(
            Decision.REFER,
            Reason("CCJ", f"A county court judgment is recorded for {who}", r.agency),
        )
    if r.defaults >= t.decline_defaults:
        yield Finding(
            adverse, Reason("DEFAULTS", f"{r.defaults} defaults are recorded for {who}", r.agency)
        )
    elif r.defaults:
        yield Finding(
            Decision.REFER, Reason("DEFAULT", f"A default is recorded for {who}", r.agency)
        )
    thin = is_thin_file(r)
    if r.score is None or r.score_band is None:
        yield Finding(
            Decision.REFER,
            Reason(
                "NO_SCORE",
                f"The credit reference agency could not score {who}: there is too little on "
                "the credit file, so a person decides",
                r.agency,
            ),
        )
    elif r.score_band is ScoreBand.VERY_POOR:
        # A thin file scores low for lack of history, not for bad history: refer it.
        outcome = Decision.REFER if thin else adverse
        yield Finding(
            outcome, Reason("LOW_SCORE", f"The credit score for {who} is very poor", r.agency)
        )
    elif r.score_band is ScoreBand.POOR:
        yield Finding(
            Decision.REFER, Reason("LOW_SCORE", f"The credit score for {who} is poor", r.agency)
        )
    if not r.identity_verified:
        yield Finding(
            Decision.REFER,
            Reason(
                "IDENTITY_NOT_VERIFIED", f"The identity of {who} could not be verified", r.agency
            ),
        )
    if r.deceased:
        yield Finding(
            Decision.REFER,
            Reason(
                "DECEASED",
                f"The credit reference agency records the identity of {who} as belonging to "
                "someone who has died: verify the identity before proceeding",
                r.agency,
            ),
        )
    if r.notice_of_correction:
        yield Finding(
            Decision.REFER,
            Reason(
                "NOTICE_OF_CORRECTION",
                f"{who.capitalize()} has added a notice of correction to their credit file: "
                "a person must read it before deciding",
                r.agency,
            ),
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
    markers = list(r.fraud_markers)
    if any(_is_protective_marker(m) for m in markers):
        yield Finding(
            Decision.REFER,
            Reason(
                "PROTECTIVE_REGISTRATION",
                f"The credit file of {who} carries a Cifas protective registration (they may "
                "be a victim of impersonation): validate the identity before proceeding",
                r.agency,
            ),
            protects=True,
        )
    if any(not _is_protective_marker(m) for m in markers):
        yield Finding(
            Decision.REFER,
            Reason(
                "RELAYED_FRAUD_MARKER",
                f"The credit file of {who} carries a fraud-prevention marker: a person must "
                "review it before deciding",
                r.agency,
            ),
        )


def is_victim(match: FraudMatch) -> bool:
    """Whether a fraud case records the searched person as its victim, not its subject."""
    return "victim" in match.subject_role.casefold()


def is_expired(expiry: date | None, as_of: date) -> bool:
    """Whether a case or registration has expired by ``as_of`` (it lasts through its expiry)."""
    return expiry is not None and expiry < as_of


def _fraud_findings(role: Role, r: FraudResult, as_of: date) -> Iterator[Finding]:
    who = _who(role)
    for m in r.matches:
        if is_expired(m.expiry_date, as_of):
            # An expired case may no longer be used in a decision.
            continue
        if is_victim(m):
            yield Finding(
                Decision.REFER,
                Reason(
                    "FRAUD_VICTIM",
                    f"A fraud-prevention case records {who} as the victim of {m.case_type}: "
                    "validate the identity before proceeding",
                    r.agency,
                ),
                protects=True,
            )
            continue
        yield Finding(
            Decision.DECLINE,
            Reason(
                "FRAUD_MATCH",
                f"A fraud-prevention case ({m.case_type}, case {m.case_ref}) names {who} as "
                "its subject",
                r.agency,
            ),
            flags=True,
        )
    if r.protective_registration and not is_expired(r.protective_registration_expires, as_of):
        yield Finding(
            Decision.REFER,
            Reason(
                "PROTECTIVE_REGISTRATION",
                f"{who.capitalize()} has a Cifas protective registration (they may be a victim "
                "of impersonation): validate the identity before proceeding",
                r.agency,
            ),
            protects=True,
        )


def _alert_text(a: Alert) -> str:
    return f"A retail fraud alert says {_IDENTIFIER_TEXT[a.identifier]} {_ALERT_TEXT[a.code]}"


def _alert_findings(r: AlertResult) -> Iterator[Finding]:
    for a in r.alerts:
        yield Finding(Decision.REFER, Reason("RETAIL_FRAUD_ALERT", _alert_text(a), r.agency))


def decide(
    results: Iterable[tuple[Role, SearchResultT]],
    thresholds: PolicyThresholds | None = None,
    associate_findings: Iterable[Finding] = (),
    *,
    as_of: date | None = None,
) -> Verdict:
    """Combine every completed search into one decision with its reasons.

    ``associate_findings`` are what the applicant's active financial associations add
    (:func:`checks.associations.association_findings`: referrals only). ``as_of`` is the day
    expiry dates are judged against (today, UTC, if not given).
    """
    t = thresholds or PolicyThresholds()
    today = as_of or datetime.now(UTC).date()
    # An associate's adverse data concerns the applicant's application (it refers, never flags).
    findings: list[tuple[Role, Finding]] = [(Role.APPLICANT, f) for f in associate_findings]
    for role, result in results:
        if isinstance(result, CreditResult):
            findings += ((role, f) for f in _credit_findings(role, result, t))
        elif isinstance(result, FraudResult):
            findings += ((role, f) for f in _fraud_findings(role, result, today))
        else:
            # Alerts are on the applicant's order (delivery address, email, IP, device).
            findings += ((Role.APPLICANT, f) for f in _alert_findings(result))
    if not findings:
        return Verdict(
            Decision.ACCEPT,
            (Reason("ACCEPTED", "The credit and fraud checks found nothing that needs a review"),),
        )
    # A person who may be a victim of impersonation is neither declined nor flagged
    # automatically (a person validates the identity instead); their co-applicant still is.
    protected = {role for role, f in findings if f.protects}

    def outcome(role: Role, f: Finding) -> Decision:
        if f.outcome is Decision.DECLINE and role in protected:
            return Decision.REFER
        return f.outcome

    flagged = tuple(
        r for r in Role if r not in protected and any(f.flags for role, f in findings if role is r)
    )
    decision = max((outcome(r, f) for r, f in findings), key=lambda d: d.severity)
    ordered = sorted(findings, key=lambda rf: -outcome(*rf).severity)
    return Verdict(
        decision,
        tuple(f.reason for _, f in ordered),
        Flag.FRAUD_RISK if flagged else None,
        flagged_roles=flagged,
    )
