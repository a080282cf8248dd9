"""Plans ask the registry for a kind of agency, never for an agency by name."""

from __future__ import annotations

from decimal import Decimal

import pytest

import checks.plans as plans
from adapters.cifas import CifasAdapter
from adapters.imrg import ImrgAdapter
from agencies.contract import AgencyKind
from agencies.registry import adapter_classes
from checks.plans import PlanInput, plan_steps
from checks.request import Purpose


def _online_new_order() -> PlanInput:
    return PlanInput(
        purpose=Purpose.NEW_ORDER,
        channel="online",
        credit_amount=Decimal("720.00"),
        has_joint=True,
        delivery_differs=False,
    )


def test_fraud_and_alert_slots_use_whichever_agency_of_that_kind_is_registered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The same adapters registered under other names: the plan follows the kind, not the name.
    registry = {n: c for n, c in adapter_classes().items() if n not in ("cifas", "imrg")}
    registry |= {"nfd": CifasAdapter, "alerts": ImrgAdapter}
    monkeypatch.setattr(plans, "adapter_classes", lambda: registry)
    steps = plan_steps(_online_new_order(), {"experian", "nfd", "alerts"})
    by_slot = {s.slot: (s.kind, s.agency) for s in steps}
    assert by_slot["fraud:applicant"] == (AgencyKind.FRAUD, "nfd")
    assert by_slot["fraud:joint"] == (AgencyKind.FRAUD, "nfd")
    assert by_slot["alert:applicant"] == (AgencyKind.ALERT, "alerts")


def test_a_kind_with_no_available_agency_is_left_out_of_the_plan() -> None:
    steps = plan_steps(_online_new_order(), {"experian"})
    assert {s.kind for s in steps} == {AgencyKind.CRA}
    assert plans.agency_of_kind(AgencyKind.FRAUD, {"experian"}) is None
