"""The footprint ledger equals what the agencies saw (issue 9, items 1 and 2).

A step that may have been sent never falls back to another agency, across attempts, reruns and
an open breaker; the ledger has a row for every search that may have reached an agency, in
state ``unknown`` until an answer confirms that same row.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from agencies.config import AgencySettings, build_agencies
from agencies.sandbox import Sandbox
from checks.config import Settings
from checks.errors import StepsPending
from checks.ledger_store import audit_ledger
from tests.conftest import FAST_POLICY
from tests.helpers import request_for
from workers.runtime import Runtime, build_runtime, set_runtime

AGENCIES = ("experian", "equifax", "callcredit", "cifas", "imrg")


class _NoDispatch:
    def send_run(self, check_id: str) -> None:
        pass


@pytest.fixture
def rt(sqlite_url: str) -> Iterator[Runtime]:
    """A runtime whose Experian breaker opens after one attempt's three tries, for a minute."""
    from workers.actors import broker

    overrides = {n: dict(FAST_POLICY) for n in AGENCIES}
    overrides["experian"].update(breaker_failures=3, breaker_reset=60.0)
    agencies = build_agencies(AgencySettings(policy_overrides=overrides))
    runtime = build_runtime(
        settings=Settings(database_url=sqlite_url), agencies=agencies, broker=broker
    )
    runtime.service.dispatcher = _NoDispatch()
    set_runtime(runtime)
    yield runtime
    set_runtime(None)
    runtime.store.dispose()


def _sandbox(rt: Runtime) -> Sandbox:
    assert rt.agencies.sandbox is not None
    return rt.agencies.sandbox


def _run(rt: Runtime, check_id: str) -> dict[str, Any]:
    with contextlib.suppress(StepsPending):
        asyncio.run(rt.runner.run(check_id))
    return rt.service.get(check_id)


def _ledger(view: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(f["agency"], f["state"], f["client_ref"]) for f in view["footprints"]]


def _step(view: dict[str, Any], agency: str) -> dict[str, Any]:
    return next(s for s in view["steps"] if s["agency"] == agency)


def test_a_timeout_then_an_open_breaker_leaves_one_experian_row_and_no_equifax_search(
    rt: Runtime,
) -> None:
    # Given Experian times out after sending (the outcome is unknown)
    _sandbox(rt).set_faults("experian=timeout")
    cid = rt.service.submit(request_for("alice")).check_id
    first = _run(rt, cid)
    assert _step(first, "experian")["status"] == "retrying"
    assert rt.agencies.adapters["experian"].client.breaker.is_open
    # When the next attempt finds the breaker open ("nothing sent" this time)
    view = _run(rt, cid)
    # Then the step stays at Experian: it may have been searched by the first attempt
    ref = _step(view, "experian")["client_ref"]
    assert [s["agency"] for s in view["steps"]] == ["experian", "cifas"]
    assert _step(view, "experian")["possibly_sent"] is True
    # ... the ledger has exactly the one Experian search, unknown, and no Equifax search
    rows = [r for r in _ledger(view) if r[0] != "cifas"]
    assert rows == [("experian", "unknown", ref)]
    assert _sandbox(rt).footprints("equifax") == set()
    assert _sandbox(rt).footprints("experian") == {ref}


def test_garbage_leaves_one_unknown_experian_row_and_the_check_failed(rt: Runtime) -> None:
    _sandbox(rt).set_faults("experian=garbage")
    view = _run(rt, rt.service.submit(request_for("alice")).check_id)
    assert view["status"] == "failed"
    ref = _step(view, "experian")["client_ref"]
    assert [r for r in _ledger(view) if r[0] == "experian"] == [("experian", "unknown", ref)]
    # ... the agency did record that search
    assert _sandbox(rt).footprints("experian") == {ref}


def test_a_rerun_confirms_the_same_unknown_row_rather_than_adding_one(rt: Runtime) -> None:
    # Given a check failed on garbage from Experian, with an unknown Experian row
    _sandbox(rt).set_faults("experian=garbage")
    cid = rt.service.submit(request_for("alice")).check_id
    failed = _run(rt, cid)
    (unknown,) = [f for f in failed["footprints"] if f["agency"] == "experian"]
    # When the faults are cleared and an operator reruns it
    _sandbox(rt).set_faults(None)
    rt.service.rerun(cid, actor="operator")
    view = _run(rt, cid)
    # Then that same row is confirmed: same client reference, same search time, one row
    assert view["status"] == "decided"
    (row,) = [f for f in view["footprints"] if f["agency"] == "experian"]
    assert row["client_ref"] == unknown["client_ref"]
    assert row["searched_at"] == unknown["searched_at"]
    assert row["state"] == "confirmed" and row["confirmed_at"]
    assert all(f["state"] == "confirmed" for f in view["footprints"])
    assert _sandbox(rt).footprints("experian") == {row["client_ref"]}


def test_a_rerun_of_a_possibly_sent_step_never_falls_back_even_if_the_agency_is_down(
    rt: Runtime,
) -> None:
    # Given Experian timed out and the check failed (retries exhausted)
    _sandbox(rt).set_faults("experian=timeout")
    cid = rt.service.submit(request_for("alice")).check_id
    _run(rt, cid)
    assert rt.runner.give_up(cid, "retries exhausted")
    # When it is rerun while Experian answers 503 (certainly not searched this time)
    _sandbox(rt).set_faults("experian=http503")
    rt.service.rerun(cid, actor="operator")
    view = _run(rt, cid)
    # Then it waits for Experian instead of searching Equifax
    assert [s["agency"] for s in view["steps"]] == ["experian", "cifas"]
    assert _sandbox(rt).footprints("equifax") == set()
    assert [r[:2] for r in _ledger(view) if r[0] != "cifas"] == [("experian", "unknown")]


def test_a_step_certainly_never_sent_still_falls_back_and_leaves_no_row_for_it(
    rt: Runtime,
) -> None:
    _sandbox(rt).set_faults("experian=http503")
    view = _run(rt, rt.service.submit(request_for("alice")).check_id)
    assert view["decision"] == "accept"
    assert _step(view, "experian")["status"] == "superseded"
    assert _step(view, "experian")["possibly_sent"] is False
    assert sorted(r[:2] for r in _ledger(view)) == [
        ("cifas", "confirmed"),
        ("equifax", "confirmed"),
    ]


@pytest.mark.parametrize("fault", ["http500", "truncated"])
def test_an_unknown_outcome_or_unusable_answer_leaves_an_unknown_row(
    rt: Runtime, fault: str
) -> None:
    _sandbox(rt).set_faults(f"cifas={fault}")
    view = _run(rt, rt.service.submit(request_for("alice")).check_id)
    assert view["status"] in ("running", "failed")
    assert [r[:2] for r in _ledger(view) if r[0] == "cifas"] == [("cifas", "unknown")]
    assert _step(view, "cifas")["possibly_sent"] is True


def test_the_ledger_audit_agrees_with_the_sandbox_after_faults_and_a_rerun(rt: Runtime) -> None:
    sandbox = _sandbox(rt)
    sandbox.set_faults("experian=garbage;cifas=http500")
    ids = [rt.service.submit(request_for("alice")).check_id for _ in range(2)]
    for cid in ids:
        _run(rt, cid)
    during = audit_ledger(rt.store, sandbox.searches(), check_ids=ids)
    assert during.ok and during.unknown_seen == 2  # experian searched, answer unusable
    assert during.unknown_unseen == 2  # cifas 500s before the sandbox searched
    sandbox.set_faults(None)
    time.sleep(0.1)  # the Cifas breaker, opened by the 500s, half-opens after 50 ms
    for cid in ids:
        rt.runner.give_up(cid, "test")
        rt.service.rerun(cid, actor="operator")
        assert _run(rt, cid)["status"] == "decided"
    after = audit_ledger(rt.store, sandbox.searches(), check_ids=ids)
    assert after.ok and after.ledger_rows == after.agency_searches == 4
    assert after.unknown_seen == after.unknown_unseen == 0


def _audit_cli(url: str) -> Any:
    from typer.testing import CliRunner

    from workers.cli import app

    return CliRunner().invoke(app, ["ledger", "audit", "--sandbox-url", url, "--json"])


def test_checkctl_ledger_audit_reads_the_served_sandbox_call_log(rt: Runtime) -> None:
    from agencies.sandbox_server import SandboxServer

    cid = rt.service.submit(request_for("alice")).check_id
    assert _run(rt, cid)["status"] == "decided"
    with SandboxServer(_sandbox(rt)) as server:
        host, port = server.address
        ok = _audit_cli(f"http://{host}:{port}")
        # When the agency forgets what it saw, the confirmed rows no longer match
        _sandbox(rt).reset_log()
        wrong = _audit_cli(f"http://{host}:{port}")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["ok"] is True and json.loads(ok.stdout)["ledger_rows"] == 2
    assert wrong.exit_code == 1
    assert json.loads(wrong.stdout)["mismatches"] == 2


def test_checkctl_ledger_audit_refuses_when_the_sandbox_cannot_be_read(rt: Runtime) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = _audit_cli(f"http://127.0.0.1:{port}")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"] == "sandbox_unreachable"


def test_checkctl_ledger_audit_names_a_malformed_since_and_exits_2() -> None:
    from typer.testing import CliRunner

    from workers.cli import app

    result = CliRunner().invoke(app, ["ledger", "audit", "--since", "soon", "--json"])
    assert result.exit_code == 2, result.output
    assert json.loads(result.stdout)["problems"][0]["field"] == "--since"
