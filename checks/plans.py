"""Which agencies a check searches, by purpose: SPEC.md's plan table, as data.

A plan is a list of slots. A credit slot names the CRA tried first; if that CRA is certainly
not searched (down, circuit open) the runner falls back to the next CRA in the registry's order
that the check is not already using.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from decimal import Decimal

from agencies.contract import AgencyKind, Role, SearchType
from agencies.registry import adapter_classes, cras_in_order
from checks.request_fields import Purpose

#: Credit amounts at or above this are searched at two CRAs.
DUAL_BUREAU_THRESHOLD = Decimal("2000.00")


@dataclass(frozen=True)
class PurposePlan:
    """What one purpose searches: the credit search type and the fraud agencies, by kind."""

    credit: SearchType
    fraud: bool  # search a fraud prevention agency (AgencyKind.FRAUD)
    alert: str  # retail fraud alert (AgencyKind.ALERT): "never" or "online_or_redirected"


#: The default plan by purpose (SPEC.md).
DEFAULT_PLANS: dict[str, PurposePlan] = {
    Purpose.NEW_ORDER: PurposePlan(SearchType.HARD, fraud=True, alert="online_or_redirected"),
    Purpose.UPGRADE: PurposePlan(SearchType.HARD, fraud=True, alert="never"),
    Purpose.RENEWAL: PurposePlan(SearchType.SOFT, fraud=True, alert="never"),
    Purpose.QUOTATION: PurposePlan(SearchType.SOFT, fraud=False, alert="never"),
    Purpose.IN_LIFE: PurposePlan(SearchType.SOFT, fraud=False, alert="never"),
}


@dataclass(frozen=True)
class PlannedStep:
    """One search the check will make."""

    slot: str
    kind: AgencyKind
    agency: str
    role: Role
    search_type: SearchType


@dataclass(frozen=True)
class PlanInput:
    """The facts of a request a plan depends on."""

    purpose: Purpose
    channel: str
    credit_amount: Decimal
    has_joint: bool
    delivery_differs: bool


class NoAgencyAvailable(RuntimeError):
    """The plan needs a kind of agency that no registered adapter provides."""


def plan_steps(
    facts: PlanInput,
    available: Collection[str],
    plans: dict[str, PurposePlan] | None = None,
) -> list[PlannedStep]:
    """The steps for a request, using only ``available`` agencies."""
    plan = (plans or DEFAULT_PLANS)[facts.purpose]
    cras = cras_in_order(set(available))
    if not cras:
        raise NoAgencyAvailable("no credit reference agency is registered")
    bureaus = 2 if facts.credit_amount >= DUAL_BUREAU_THRESHOLD else 1
    roles = [Role.APPLICANT, Role.JOINT] if facts.has_joint else [Role.APPLICANT]
    fraud = agency_of_kind(AgencyKind.FRAUD, available)
    steps: list[PlannedStep] = []
    for role in roles:
        for n, cra in enumerate(cras[:bureaus], start=1):
            steps.append(
                PlannedStep(f"credit:{role.value}:{n}", AgencyKind.CRA, cra, role, plan.credit)
            )
        if plan.fraud and fraud:
            steps.append(
                PlannedStep(f"fraud:{role.value}", AgencyKind.FRAUD, fraud, role, SearchType.FRAUD)
            )
    wants_alert = plan.alert == "online_or_redirected" and (
        facts.channel == "online" or facts.delivery_differs
    )
    alert = agency_of_kind(AgencyKind.ALERT, available)
    if wants_alert and alert:
        steps.append(
            PlannedStep(
                "alert:applicant", AgencyKind.ALERT, alert, Role.APPLICANT, SearchType.FRAUD
            )
        )
    return steps


def agency_of_kind(kind: AgencyKind, available: Collection[str]) -> str | None:
    """The registered agency of this kind among ``available`` (the first by name), if any."""
    names = sorted(n for n, c in adapter_classes().items() if c.kind is kind and n in available)
    return names[0] if names else None


def fallback_agency(slot_agencies_used: Collection[str], available: Collection[str]) -> str | None:
    """The next CRA to try for a credit slot, skipping every CRA the check already uses."""
    for cra in cras_in_order(set(available)):
        if cra not in slot_agencies_used:
            return cra
    return None
