"""The runner on the domain alone (no broker): personas, footprints, retention, fallback."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from checks.errors import StepsPending
from tests.conftest import make_runtime
from tests.helpers import request_for
from workers.runtime import Runtime, set_runtime


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send_run(self, check_id: str) -> None:
        self.sent.append(check_id)


@pytest.fixture
def rt(sqlite_url: str) -> Runtime:
    runtime = make_runtime(sqlite_url)
    runtime.service.dispatcher = _Recorder()
    yield runtime
    set_runtime(None)
    runtime.store.dispose()


def _run(rt: Runtime, persona: str, **kw: object) -> dict:
    cid = rt.service.submit(request_for(persona, **kw)).check_id
    asyncio.run(rt.runner.run(cid))
    return rt.service.get(cid)


@pytest.mark.parametrize(
    ("persona", "decision", "flagged"),
    [
        ("alice", "accept", False),
        ("bob", "refer", False),
        ("carol", "decline", False),
        ("dan", "decline", True),
        ("frank", "refer", False),
        ("hana", "refer", False),
        ("ivan", "refer", False),
    ],
)
def test_personas_get_their_spec_outcome(
    rt: Runtime, persona: str, decision: str, flagged: bool
) -> None:
    view = _run(rt, persona)
    assert (view["status"], view["decision"], view["flagged"]) == ("decided", decision, flagged)
    assert all(r["code"] and r["text"] for r in view["reasons"])


def test_a_fraud_flag_keeps_the_record_six_years_from_the_flag_date(rt: Runtime) -> None:
    from datetime import datetime

    view = _run(rt, "dan")
    flagged_at = datetime.fromisoformat(view["flagged_at"])
    until = datetime.fromisoformat(view["retention_until"])
    assert until.year - flagged_at.year == 6 and (until.month, until.day) == (
        flagged_at.month,
        flagged_at.day,
    )
    alice = _run(rt, "alice")
    assert datetime.fromisoformat(alice["retention_until"]) - datetime.fromisoformat(
        alice["finished_at"]
    ) == timedelta(days=rt.settings.retention_days)


def test_a_joint_application_records_the_financial_association(rt: Runtime) -> None:
    from sqlalchemy import select

    from checks.models import Association

    view = _run(rt, "frank")
    assert view["joint_subject_id"] and len(view["footprints"]) == 4
    with rt.store.session() as s:
        links = s.scalars(select(Association)).all()
    assert len(links) == 1 and links[0].disassociated_at is None
    assert {links[0].subject_a, links[0].subject_b} == {
        view["subject_id"],
        view["joint_subject_id"],
    }


def test_an_unknown_outcome_is_retried_with_the_same_client_reference(rt: Runtime) -> None:
    sandbox = rt.agencies.sandbox
    assert sandbox is not None
    # Given the agency searches but the answer is lost (timeout) on every quick retry
    sandbox.set_faults("experian=timeout")
    cid = rt.service.submit(request_for("alice")).check_id
    with pytest.raises(StepsPending):
        asyncio.run(rt.runner.run(cid))
    # When the fault clears and the check runs again
    sandbox.set_faults(None)
    asyncio.run(rt.runner.run(cid))
    view = rt.service.get(cid)
    # Then every try carried one client reference, so the agency recorded one search
    refs = {c.client_ref for c in sandbox.calls_to("experian", "search")}
    assert len(refs) == 1 and len(sandbox.footprints("experian")) == 1
    assert [f["client_ref"] for f in view["footprints"] if f["agency"] == "experian"] == [
        refs.pop()
    ]


def test_a_completed_step_is_never_searched_again_when_the_check_runs_twice(rt: Runtime) -> None:
    sandbox = rt.agencies.sandbox
    assert sandbox is not None
    sandbox.set_faults("cifas=http503")
    cid = rt.service.submit(request_for("alice")).check_id
    with pytest.raises(StepsPending):
        asyncio.run(rt.runner.run(cid))
    sandbox.set_faults(None)
    asyncio.run(rt.runner.run(cid))
    asyncio.run(rt.runner.run(cid))  # a duplicate delivery after the decision
    assert len(sandbox.calls_to("experian", "search")) == 1
    assert rt.store.footprint_count(cid) == 2


def test_the_reconciler_requeues_stuck_checks_and_fails_overdue_ones(rt: Runtime) -> None:
    stuck = rt.service.submit(request_for("alice")).check_id
    report = rt.service.reconcile(timedelta(0), timedelta(hours=1))
    assert report.requeued == [stuck] and rt.service.dispatcher.sent == [stuck, stuck]
    report = rt.service.reconcile(timedelta(0), timedelta(0))
    assert report.failed == [stuck]
    view = rt.service.get(stuck)
    assert view["status"] == "failed" and view["decision"] is None
    assert "deadline" in view["failure_reason"]
