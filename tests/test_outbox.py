"""A stored check whose message never left is re-sent: the outbox (no broker needed but Redis
clients pointed at a closed loopback port)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from agencies.config import build_agencies
from checks.config import Settings
from checks.errors import BrokerUnavailable
from tests.conftest import fast_agency_settings
from tests.helpers import request_for
from workers.broker import build_broker
from workers.cli import app
from workers.runtime import Runtime, build_runtime, set_runtime
from workers.settings import WorkerSettings


class FlakyDispatcher:
    """A broker that is down until told otherwise; records what it was sent."""

    def __init__(self) -> None:
        self.up = False
        self.sent: list[str] = []

    def send_run(self, check_id: str) -> None:
        if not self.up:
            raise ConnectionError("connection refused")
        self.sent.append(check_id)


@pytest.fixture
def down(runtime: Runtime) -> FlakyDispatcher:
    dispatcher = FlakyDispatcher()
    runtime.service.dispatcher = dispatcher
    return dispatcher


def test_a_broker_down_at_submit_leaves_the_check_stored_and_its_message_in_the_outbox(
    runtime: Runtime, down: FlakyDispatcher
) -> None:
    # When a check is submitted while the broker is down
    with pytest.raises(BrokerUnavailable, match="broker .* unreachable"):
        runtime.service.submit(request_for("alice"))
    # Then the check is stored, queued, with its message waiting in the outbox
    (check,) = runtime.store.find()
    assert check.status == "queued"
    assert [cid for _, cid in runtime.service.outbox.pending()] == [check.id]


def test_a_resubmit_with_the_same_key_sends_the_message_that_never_left(
    runtime: Runtime, down: FlakyDispatcher
) -> None:
    request = request_for("alice")
    with pytest.raises(BrokerUnavailable):
        runtime.service.submit(request)
    # When the broker is back and the caller resubmits
    down.up = True
    again = runtime.service.submit(request)
    # Then the same check is answered and its message is sent, once
    assert not again.created and down.sent == [again.check_id]
    assert runtime.service.outbox.pending() == []
    # and a further resubmit sends nothing more
    runtime.service.submit(request)
    assert down.sent == [again.check_id]


def test_the_reconcile_sweep_sends_what_never_left(
    runtime: Runtime, down: FlakyDispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("checks.api.OUTBOX_GRACE", timedelta(0))
    with pytest.raises(BrokerUnavailable):
        runtime.service.submit(request_for("alice"))
    # A sweep while the broker is still down sends nothing and loses nothing
    assert runtime.service.reconcile(timedelta(hours=1), timedelta(hours=6)).resent == []
    # When the broker is back, the next sweep sends it (not the 15-minute stale reconciler)
    down.up = True
    report = runtime.service.reconcile(timedelta(hours=1), timedelta(hours=6))
    (check,) = runtime.store.find()
    assert report.resent == [check.id] and report.requeued == []
    assert down.sent == [check.id]


def test_a_stale_check_requeued_while_the_broker_is_down_waits_in_the_outbox(
    runtime: Runtime, down: FlakyDispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("checks.api.OUTBOX_GRACE", timedelta(0))
    down.up = True
    check_id = runtime.service.submit(request_for("alice")).check_id
    # When the broker goes down and the reconciler finds the check stale
    down.up = False
    report = runtime.service.reconcile(timedelta(0), timedelta(hours=6))
    assert report.requeued == [check_id] and report.unsent == [check_id]
    # Then the next sweep with the broker back sends it
    down.up = True
    assert runtime.service.reconcile(timedelta(hours=1), timedelta(hours=6)).resent == [check_id]
    assert down.sent == [check_id, check_id]


def _closed_loopback_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def dead_redis_runtime(sqlite_url: str) -> Iterator[tuple[Runtime, str]]:
    url = f"redis://127.0.0.1:{_closed_loopback_port()}/3"
    ws = WorkerSettings(broker_url=url)
    rt = build_runtime(
        settings=Settings(database_url=sqlite_url),
        worker_settings=ws,
        agencies=build_agencies(fast_agency_settings()),
        broker=build_broker(ws),
    )
    set_runtime(rt)
    yield rt, url
    set_runtime(None)
    rt.store.dispose()


@pytest.mark.parametrize("as_json", [False, True])
def test_submit_with_redis_down_exits_1_naming_the_broker_without_a_traceback(
    dead_redis_runtime: tuple[Runtime, str], tmp_path: Path, as_json: bool
) -> None:
    rt, url = dead_redis_runtime
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request_for("alice")))
    result: Any = CliRunner().invoke(
        app, ["submit", str(path), *(["--json"] if as_json else [])], catch_exceptions=False
    )
    assert result.exit_code == 1
    assert url in result.stderr and "Traceback" not in result.stderr + result.stdout
    if as_json:
        assert json.loads(result.stdout)["error"] == "broker_unavailable"
    assert len(rt.service.outbox.pending()) == 1
