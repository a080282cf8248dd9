"""The whole path: `checkctl submit` and the Python API -> Redis -> `checkctl worker` ->
PostgreSQL, read back with `checkctl show`."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import SHOW_KEYS, request_for
from tests.integration.conftest import (
    CliResult,
    WorkerFactory,
    checkctl,
    checkctl_popen,
    finish,
    terminal_view,
    wait_for,
)
from workers.runtime import Runtime

pytestmark = pytest.mark.integration

#: persona -> (decision, flagged), SPEC.md's personas table for new_order.
EXPECTED = {"alice": ("accept", False), "carol": ("decline", False), "dan": ("decline", True)}


def _assert_one_footprint_per_search(view: dict[str, Any], context: str) -> None:
    searched = [s for s in view["steps"] if s["status"] == "completed"]
    assert sorted(s["agency"] for s in searched) == ["cifas", "experian"], context
    assert sorted(f["agency"] for f in view["footprints"]) == ["cifas", "experian"], context
    refs = {s["agency"]: s["client_ref"] for s in searched}
    for f in view["footprints"]:
        assert f["client_ref"] == refs[f["agency"]], context
        assert f["searched_at"], context
    assert {s["agency"]: s["search_type"] for s in view["steps"]} == {
        "experian": "hard",
        "cifas": "fraud",
    }, context


def test_checks_submitted_with_checkctl_and_the_api_are_decided_by_a_separate_worker(
    pg_url: str, redis_runtime: Runtime, worker_process: WorkerFactory, tmp_path: Path
) -> None:
    # Given a worker process on Redis and PostgreSQL
    worker = worker_process(pg_url)
    # When alice, carol and dan are submitted with `checkctl submit --wait --json`, at once
    files: dict[str, Path] = {}
    for persona in EXPECTED:
        files[persona] = tmp_path / f"{persona}.json"
        files[persona].write_text(json.dumps(request_for(persona)), encoding="utf-8")
    procs = {
        p: checkctl_popen(
            ["submit", str(f), "--wait", "--json", "--timeout", "60"], pg_url, cwd=tmp_path
        )
        for p, f in files.items()
    }
    # ... and bob through the Python API of this process (sent to Redis by name)
    bob = redis_runtime.service.submit(request_for("bob"))
    assert bob.created
    bob_view = wait_for(
        f"bob's check {bob.check_id} to end",
        terminal_view(redis_runtime, bob.check_id),
        timeout=60,
        diagnostics=worker.diagnostics,
    )
    waited: dict[str, CliResult] = {
        p: finish(proc, ["submit", str(files[p]), "--wait", "--json"], timeout=70)
        for p, proc in procs.items()
    }
    # Then every check is decided as the personas table says, as `checkctl show` reports
    assert bob_view["status"] == "decided" and bob_view["decision"] == "refer", (
        bob_view,
        worker.diagnostics(),
    )
    _assert_one_footprint_per_search(bob_view, "bob")
    outcomes = {p: r.json() for p, r in waited.items()}
    shows = {
        p: checkctl_popen(["show", o["id"], "--json"], pg_url, cwd=tmp_path)
        for p, o in outcomes.items()
    }
    for persona, outcome in outcomes.items():
        check_id = outcome["id"]
        shown = finish(shows[persona], ["show", check_id, "--json"]).json()
        assert set(shown) >= SHOW_KEYS, f"show --json lacks {SHOW_KEYS - set(shown)}"
        context = f"{persona}: {shown}{worker.diagnostics()}"
        decision, flagged = EXPECTED[persona]
        assert shown["id"] == check_id
        assert shown["status"] == "decided", context
        assert (shown["decision"], shown["flagged"]) == (decision, flagged), context
        assert outcome["status"] == "decided" and outcome["decision"] == decision
        assert shown["subject_id"] and shown["retention_until"], context
        assert shown["reasons"] and all(
            set(r) >= {"code", "text", "agency"} for r in shown["reasons"]
        ), context
        for step in shown["steps"]:
            assert set(step) >= {"agency", "search_type", "status", "attempts", "error"}
            assert step["attempts"] == 1 and step["error"] is None, context
        for fp in shown["footprints"]:
            assert set(fp) >= {"agency", "search_type", "searched_at", "client_ref"}
        _assert_one_footprint_per_search(shown, context)
        if flagged:
            flagged_at = datetime.fromisoformat(shown["flagged_at"])
            until = datetime.fromisoformat(shown["retention_until"])
            assert until == flagged_at.replace(year=flagged_at.year + 6), context
    # And the same file submitted again answers with the same check, searching nothing more
    again = checkctl(["submit", str(files["alice"]), "--json"], pg_url, cwd=tmp_path).json()
    assert again == {"id": outcomes["alice"]["id"], "created": False}
    assert redis_runtime.store.footprint_count() == 2 * 4
    assert worker.alive(), worker.diagnostics()
