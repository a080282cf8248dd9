"""The retention actors on the StubBroker: the daily sweep runs once a day, the sealer seals."""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import text

from tests.helpers import request_for
from workers.broker import CHECKS_QUEUE, HOUSEKEEPING_QUEUE
from workers.runtime import Runtime


def _drain(broker: StubBroker, worker: dramatiq.Worker) -> None:
    for _ in range(2):
        broker.join(CHECKS_QUEUE, timeout=20_000, fail_fast=True)
        broker.join(HOUSEKEEPING_QUEUE, timeout=20_000, fail_fast=True)
    worker.join()


def test_the_daily_sweep_sent_by_every_worker_runs_once_a_day(
    runtime: Runtime, stub_broker: StubBroker, worker: dramatiq.Worker
) -> None:
    from workers.actors import retention_daily

    for _ in range(3):  # three worker processes' schedules in the same minute
        retention_daily.send()
    _drain(stub_broker, worker)
    with runtime.store.engine.connect() as c:
        runs = c.execute(
            text("SELECT count(*) FROM audit_events WHERE action = 'retention_sweep'")
        ).scalar()
        claimed = c.execute(text("SELECT name, finished_at FROM scheduled_jobs")).all()
    assert runs == 1
    assert [r.name for r in claimed] == ["retention_sweep"] and claimed[0].finished_at


def test_the_sealer_actor_chains_every_committed_audit_event(
    runtime: Runtime, stub_broker: StubBroker, worker: dramatiq.Worker
) -> None:
    from workers.actors import seal_audit_trail

    runtime.service.submit(request_for("alice"))
    _drain(stub_broker, worker)
    seal_audit_trail.send()
    _drain(stub_broker, worker)
    with runtime.store.engine.connect() as c:
        unsealed = c.execute(text("SELECT count(*) FROM audit_events WHERE seq IS NULL")).scalar()
        sealed = c.execute(text("SELECT count(*) FROM audit_events WHERE seq IS NOT NULL")).scalar()
    assert unsealed == 0 and sealed and sealed >= 3
