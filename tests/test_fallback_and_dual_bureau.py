"""CRA fallback, dual bureau and the documented effect of faults, through the runner."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import pytest

from checks.errors import StepsPending
from tests.conftest import make_runtime
from tests.helpers import request_for
from workers.runtime import Runtime, set_runtime


class _Recorder:
    def send_run(self, check_id: str) -> None:
        pass


@pytest.fixture
def rt(sqlite_url: str) -> Iterator[Runtime]:
    runtime = make_runtime(sqlite_url)
    runtime.service.dispatcher = _Recorder()
    yield runtime
    set_runtime(None)
    runtime.store.dispose()


def _faults(rt: Runtime, spec: str | None) -> None:
    assert rt.agencies.sandbox is not None
    rt.agencies.sandbox.set_faults(spec)


def _run(rt: Runtime, check_id: str) -> dict:
    with contextlib.suppress(StepsPending):
        asyncio.run(rt.runner.run(check_id))
    return rt.service.get(check_id)


def _hard(view: dict) -> list[str]:
    return [f["agency"] for f in view["footprints"] if f["search_type"] == "hard"]


def test_with_experian_down_a_new_order_is_decided_via_equifax_with_one_hard_footprint(
    rt: Runtime,
) -> None:
    _faults(rt, "experian=http503")
    view = _run(rt, rt.service.submit(request_for("alice")).check_id)
    assert view["status"] == "decided" and view["decision"] == "accept"
    assert _hard(view) == ["equifax"]
    steps = {s["agency"]: s["status"] for s in view["steps"]}
    assert steps["experian"] == "superseded" and steps["equifax"] == "completed"
    assert rt.agencies.sandbox.footprints("experian") == set()  # type: ignore[union-attr]


def test_with_experian_and_equifax_down_callcredit_answers(rt: Runtime) -> None:
    _faults(rt, "experian=http503;equifax=http429")
    view = _run(rt, rt.service.submit(request_for("carol")).check_id)
    assert view["decision"] == "decline" and _hard(view) == ["callcredit"]


def test_an_unknown_outcome_never_falls_back_so_no_second_hard_search(rt: Runtime) -> None:
    # A timeout after sending may have searched: moving on could leave two hard footprints.
    _faults(rt, "experian=timeout")
    view = _run(rt, rt.service.submit(request_for("alice")).check_id)
    assert view["status"] == "running"
    assert [s["agency"] for s in view["steps"]] == ["experian", "cifas"]
    assert rt.agencies.sandbox.footprints("equifax") == set()  # type: ignore[union-attr]


def test_all_three_cras_returning_garbage_fails_with_a_reason_then_a_rerun_completes(
    rt: Runtime,
) -> None:
    _faults(rt, "experian=garbage;equifax=garbage;callcredit=garbage")
    cid = rt.service.submit(request_for("alice")).check_id
    view = _run(rt, cid)
    assert view["status"] == "failed" and view["decision"] is None
    failed = [s for s in view["steps"] if s["status"] == "failed"]
    assert failed and all(s["error"] and "answer" in s["error"] for s in failed)
    assert all(s["agency"] in view["failure_reason"] for s in failed)
    _faults(rt, None)
    rt.service.rerun(cid, actor="operator")
    view = _run(rt, cid)
    assert view["status"] == "decided" and len(_hard(view)) == 1


def test_a_credit_amount_of_2000_or_more_searches_two_bureaux(rt: Runtime) -> None:
    below = _run(rt, rt.service.submit(request_for("alice", credit_amount="1999.99")).check_id)
    dual = _run(rt, rt.service.submit(request_for("alice", credit_amount="2000.00")).check_id)
    assert _hard(below) == ["experian"]
    assert sorted(_hard(dual)) == ["equifax", "experian"] and dual["decision"] == "accept"


def test_hana_with_dual_bureau_is_still_referred_never_declined(rt: Runtime) -> None:
    view = _run(rt, rt.service.submit(request_for("hana", credit_amount="2500.00")).check_id)
    assert view["decision"] == "refer" and len(_hard(view)) == 2


def test_dual_bureau_falls_back_to_the_third_cra_when_one_is_down(rt: Runtime) -> None:
    _faults(rt, "equifax=http503")
    view = _run(rt, rt.service.submit(request_for("alice", credit_amount="3000.00")).check_id)
    assert sorted(_hard(view)) == ["callcredit", "experian"]


@pytest.mark.parametrize("agency", ["experian", "equifax"])
def test_a_wrong_credential_never_makes_more_than_two_token_requests_per_step(
    rt: Runtime, agency: str
) -> None:
    # Given every search at the agency is refused with a 401
    _faults(rt, f"{agency}=http401")
    request = request_for("alice", credit_amount="2500.00")  # dual bureau: both are searched
    view = _run(rt, rt.service.submit(request).check_id)
    # Then the step failed at once, after one token refresh at most
    step = next(s for s in view["steps"] if s["agency"] == agency)
    assert step["status"] == "failed" and step["attempts"] == 1
    sandbox = rt.agencies.sandbox
    assert sandbox is not None
    assert len(sandbox.calls_to(agency, "token")) <= 2


FAULTS = [
    "timeout",
    "http500",
    "http503",
    "http429",
    "http401",
    "garbage",
    "truncated",
    "slow:50",
    "flaky:1",
    "flaky:9",
]


@pytest.mark.parametrize("agency", ["experian", "equifax", "callcredit", "cifas", "imrg"])
@pytest.mark.parametrize("fault", FAULTS)
def test_no_fault_at_any_agency_crashes_a_run_or_turns_into_a_decline(
    rt: Runtime, agency: str, fault: str
) -> None:
    # Erin's online order with dual bureau touches every agency.
    _faults(rt, f"{agency}={fault}")
    request = request_for("erin", credit_amount="2500.00")
    cid = rt.service.submit(request).check_id
    view = _run(rt, cid)  # raises nothing but StepsPending (swallowed): the worker survives
    assert view["status"] in ("decided", "failed", "running")
    if view["status"] == "decided":
        assert view["decision"] == "refer"  # Erin's outcome, whatever happened on the way
    else:
        assert view["decision"] is None
    hard = [f for f in view["footprints"] if f["search_type"] == "hard"]
    assert len(hard) <= 2
