"""The retention sweep on PostgreSQL: concurrent sweeps, the index it walks, the daily schedule."""

from __future__ import annotations

import importlib.util
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import text

from checks.config import Settings
from checks.crypto import Cipher
from checks.retention_store import RetentionStore, SweepReport
from checks.store import Store
from checks.subjects import RetentionService

pytestmark = pytest.mark.integration

TODAY = datetime(2026, 11, 30, 12, tzinfo=UTC)


def _bench() -> ModuleType:
    """bench/retention_sweep.py: its row generator is the one the benchmark measures with."""
    path = Path(__file__).parents[2] / "bench" / "retention_sweep.py"
    spec = importlib.util.spec_from_file_location("retention_sweep_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def store(pg_url: str) -> Store:
    s = Store(Settings(database_url=pg_url), Cipher([Cipher.generate_key()]))
    s.migrate()
    return s


def test_two_sweeps_at_once_purge_each_record_once(store: Store, pg_url: str) -> None:
    # 300 checks of which 40 expired 30 days ago and 160 yesterday.
    _bench().generate(pg_url, 300, 40, 160, store.cipher, TODAY)
    reports: list[SweepReport] = []
    start = threading.Barrier(2)

    def sweep() -> None:
        sweeper = RetentionStore(store)
        start.wait()
        reports.append(sweeper.sweep(TODAY.date(), batch_size=7))

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert len(reports) == 2
    purged = reports[0].purged_checks + reports[1].purged_checks
    assert len(purged) == len(set(purged)) == 200
    subjects = reports[0].purged_subjects + reports[1].purged_subjects
    assert len(subjects) == len(set(subjects)) == 200
    with store.engine.connect() as c:
        audited = c.execute(
            text(
                "SELECT jsonb_array_elements_text((detail::jsonb)->'checks') FROM audit_events "
                "WHERE action = 'retention_purged'"
            )
        ).scalars()
        assert sorted(audited) == sorted(purged)
        left = c.execute(
            text("SELECT count(*) FROM checks WHERE purged_at IS NULL AND request_enc IS NULL")
        ).scalar()
        assert left == 0
        kept = c.execute(text("SELECT count(*) FROM checks WHERE purged_at IS NULL")).scalar()
        assert kept == 100


def test_the_sweep_finds_candidates_through_the_index_of_unpurged_checks(
    store: Store, pg_url: str
) -> None:
    _bench().generate(pg_url, 2000, 10, 10, store.cipher, TODAY)
    with store.engine.connect() as c:
        c.execute(text("SET enable_seqscan = off"))
        plan = "\n".join(
            c.execute(
                text(
                    "EXPLAIN SELECT id FROM checks WHERE purged_at IS NULL "
                    "AND retention_until < now() ORDER BY retention_until, id LIMIT 1000"
                )
            ).scalars()
        )
    assert "ix_checks_retention_due" in plan


def test_the_daily_sweep_runs_once_per_day_across_processes(store: Store, pg_url: str) -> None:
    _bench().generate(pg_url, 50, 5, 0, store.cipher, TODAY)
    day = TODAY + timedelta(days=1)
    results = [RetentionService(store).run_daily(day) for _ in range(3)]
    assert [r is not None for r in results] == [True, False, False]
    assert results[0] is not None and len(results[0].purged_checks) == 5
    assert RetentionService(store).run_daily(day + timedelta(days=1)) is not None


def test_the_audit_chain_seals_concurrent_writers_into_one_unforked_chain(store: Store) -> None:
    def write(n: int) -> None:
        for i in range(40):
            store.audit_action(None, "test_event", "writer", n=n, i=i)
        RetentionService(store).seal_audit()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    report = RetentionService(store).verify_audit()
    assert report.ok and report.events == 160
    with store.engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM audit_events WHERE seq IS NULL")).scalar() == 0


def test_a_sweep_that_crashed_part_way_is_finished_by_the_next_one(
    store: Store, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _bench().generate(pg_url, 300, 40, 160, store.cipher, TODAY)
    real_purge = RetentionStore._purge
    calls = 0

    def crash_on_third_batch(self: RetentionStore, *args: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("worker killed")
        return real_purge(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(RetentionStore, "_purge", crash_on_third_batch)
    with pytest.raises(RuntimeError):
        RetentionStore(store).sweep(TODAY.date(), batch_size=50)
    monkeypatch.setattr(RetentionStore, "_purge", real_purge)
    with store.engine.connect() as c:
        done_before = c.execute(text("SELECT count(*) FROM checks WHERE purged_at IS NOT NULL"))
        assert done_before.scalar() == 100  # two batches committed, the third rolled back
    rest = RetentionStore(store).sweep(TODAY.date(), batch_size=50)
    assert len(rest.purged_checks) == 100
    with store.engine.connect() as c:
        total = c.execute(text("SELECT count(*) FROM checks WHERE purged_at IS NOT NULL"))
        assert total.scalar() == 200
