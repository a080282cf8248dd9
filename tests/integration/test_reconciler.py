"""A queued message lost from Redis is re-queued by the reconciler (SPEC invariant 1)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from tests.helpers import request_for
from tests.integration.conftest import WorkerFactory, checkctl, terminal_view, wait_for
from workers.runtime import Runtime

pytestmark = pytest.mark.integration

QUEUE_KEY = "dramatiq:checks"
MESSAGES_KEY = "dramatiq:checks.msgs"


def _message(client: redis.Redis, message_id: bytes | str) -> str:
    """The stored body of a queued message (Dramatiq's JSON encoding)."""
    raw = client.hget(MESSAGES_KEY, message_id)
    assert isinstance(raw, bytes), f"message {message_id!r} has no body in {MESSAGES_KEY}"
    return raw.decode()


def test_a_message_deleted_from_redis_is_requeued_by_the_reconciler_and_the_check_completes(
    pg_url: str,
    redis_runtime: Runtime,
    redis_clean: redis.Redis,
    worker_process: WorkerFactory,
    tmp_path: Path,
) -> None:
    # Given a check submitted while no worker runs: recorded in PostgreSQL, queued in Redis
    sub = redis_runtime.service.submit(request_for("carol"))
    assert redis_clean.lrange(QUEUE_KEY, 0, -1) != [], "the message should be queued"
    (message_id,) = redis_clean.lrange(QUEUE_KEY, 0, -1)
    assert sub.check_id in _message(redis_clean, message_id)
    # When the message is lost from Redis
    redis_clean.delete(QUEUE_KEY, MESSAGES_KEY)
    assert not redis_clean.exists(QUEUE_KEY, MESSAGES_KEY)
    assert redis_runtime.store.status(sub.check_id) == "queued"
    # ... and the reconciler runs (anything without progress counts as stale here)
    report = checkctl(
        ["reconcile", "--json"], pg_url, cwd=tmp_path, CHECKS_STALE_AFTER_SECONDS="0"
    ).json()
    # Then it re-queued the check, and nothing was failed
    assert sub.check_id in report["requeued"], report
    assert report["failed"] == []
    queued = redis_clean.lrange(QUEUE_KEY, 0, -1)
    assert len(queued) == 1 and sub.check_id in _message(redis_clean, queued[0])
    # ... and a worker started now decides it, with one footprint per search
    worker = worker_process(pg_url)
    view = wait_for(
        f"check {sub.check_id} to be decided",
        terminal_view(redis_runtime, sub.check_id),
        timeout=45,
        interval=0.2,
        diagnostics=worker.diagnostics,
    )
    context = f"{view}{worker.diagnostics()}"
    assert view["status"] == "decided" and view["decision"] == "decline", context
    assert sorted(f["agency"] for f in view["footprints"]) == ["cifas", "experian"], context
    assert redis_runtime.store.footprint_count(sub.check_id) == 2
    actions = [(e["actor"], e["action"]) for e in view["timeline"]]
    assert ("reconciler", "requeued") in actions, actions
    # ... and a second pass has nothing left to do
    again = checkctl(
        ["reconcile", "--json"], pg_url, cwd=tmp_path, CHECKS_STALE_AFTER_SECONDS="0"
    ).json()
    assert again == {"requeued": [], "failed": [], "resent": [], "notices_requeued": []}
