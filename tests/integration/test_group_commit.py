"""The group-commit writer on PostgreSQL: batches, answers only when durable, fails loudly."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, wait
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, column, create_engine, select, table, text
from sqlalchemy.exc import IntegrityError, OperationalError

from agencies.config import build_agencies
from checks import direct
from checks.config import InvalidSetting, Settings
from checks.group_commit import GroupCommit, WriterClosed, writer_for
from checks.models import AuditEvent
from checks.store import Store

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    """A fresh database with a probe table (its key unique only at commit)."""
    eng = create_engine(pg_url)
    with eng.begin() as c:
        c.execute(
            text(
                "CREATE TABLE probe (id int NOT NULL, v text, "
                "CONSTRAINT probe_id UNIQUE (id) DEFERRABLE INITIALLY DEFERRED)"
            )
        )
    yield eng
    eng.dispose()


def insert(i: int) -> Callable[[Connection], int]:
    def write(c: Connection) -> int:
        c.execute(text("INSERT INTO probe (id, v) VALUES (:i, 'x')"), {"i": i})
        return i

    return write


def stored(engine: Engine) -> list[int]:
    """The probe rows another connection can see (committed ones only)."""
    with engine.connect() as c:
        return sorted(c.scalars(text("SELECT id FROM probe")))


def test_writes_queued_within_the_window_are_committed_in_one_transaction(engine: Engine) -> None:
    # Given a writer that waits 200 ms for more writes after the first
    writer = GroupCommit(engine, window_ms=200)
    # When 20 checks queue a write each at about the same time
    futures = [writer.submit(insert(i)) for i in range(20)]
    # Then each is answered with its own result, from a single batch
    assert [f.result(timeout=10) for f in futures] == list(range(20))
    assert (writer.batches, writer.writes) == (1, 20)
    assert stored(engine) == list(range(20))
    writer.close()


def test_coroutines_are_answered_with_one_wake_up_of_their_loop_per_batch(engine: Engine) -> None:
    # Given a writer that waits 200 ms for more writes, and a loop that counts its wake-ups
    writer = GroupCommit(engine, window_ms=200)

    def fails(c: Connection) -> None:
        raise LookupError("refused")

    async def main() -> tuple[list[Any], int]:
        loop = asyncio.get_running_loop()
        wake_ups = 0
        call_soon_threadsafe = loop.call_soon_threadsafe

        def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal wake_ups
            wake_ups += 1
            return call_soon_threadsafe(*args, **kwargs)

        loop.call_soon_threadsafe = counted  # type: ignore[method-assign]
        # ... and a coroutine that stops waiting before the batch is made
        gave_up = asyncio.ensure_future(writer.write(insert(99)))
        await asyncio.sleep(0)
        gave_up.cancel()
        # When 20 coroutines queue a write each (one of them failing) within the window
        writes = [insert(i) for i in range(10)] + [fails] + [insert(i) for i in range(10, 19)]
        answers = await asyncio.gather(*(writer.write(w) for w in writes), return_exceptions=True)
        return answers, wake_ups

    answers, wake_ups = asyncio.run(main())
    # Then each has its own answer, its error for the one that failed
    assert answers[:10] == list(range(10)) and answers[11:] == list(range(10, 19))
    assert isinstance(answers[10], LookupError)
    # ... the loop was woken once for all of them (the batch was made again write by write)
    assert wake_ups == 1
    # ... and the write nobody waited for any more was never made
    assert stored(engine) == list(range(19))
    writer.close()


def test_a_lone_write_after_a_lone_batch_is_made_without_waiting_out_the_window(
    engine: Engine,
) -> None:
    writer = GroupCommit(engine, window_ms=2_000)
    assert writer.submit(insert(1)).result(timeout=10) == 1  # the first waits the window
    # At low load the next write comes alone: it is made at once, not two seconds later
    started = time.monotonic()
    assert writer.submit(insert(2)).result(timeout=10) == 2
    assert time.monotonic() - started < 1.0
    assert (writer.batches, stored(engine)) == (2, [1, 2])
    writer.close()


def test_a_full_batch_is_committed_without_waiting_out_the_window(engine: Engine) -> None:
    writer = GroupCommit(engine, window_ms=60_000, max_batch=5)
    futures = [writer.submit(insert(i)) for i in range(5)]
    done, _ = wait(futures, timeout=10)
    assert len(done) == 5 and stored(engine) == list(range(5))
    writer.close()


def test_no_write_is_answered_before_its_transaction_has_committed(engine: Engine) -> None:
    # Given a batch whose second write is held until the test lets it go
    writer = GroupCommit(engine, window_ms=300)
    held, release = threading.Event(), threading.Event()

    def slow(c: Connection) -> int:
        c.execute(text("INSERT INTO probe (id, v) VALUES (2, 'slow')"))
        held.set()
        release.wait(10)
        return 2

    first = writer.submit(insert(1))
    second = writer.submit(slow)
    assert held.wait(10)
    # When the first write's statements have run but the batch has not committed
    # Then its caller has no answer yet, and no other connection can see its row
    assert not first.done()
    assert stored(engine) == []
    release.set()
    # Once answered, both rows are there for anyone to read
    assert first.result(timeout=10) == 1 and second.result(timeout=10) == 2
    assert stored(engine) == [1, 2]
    writer.close()


def test_a_failing_write_fails_only_itself_and_the_others_still_commit(engine: Engine) -> None:
    writer = GroupCommit(engine, window_ms=200)

    def bad_sql(c: Connection) -> None:
        c.execute(text("INSERT INTO no_such_table VALUES (1)"))

    def refuses(c: Connection) -> None:
        c.execute(text("INSERT INTO probe (id, v) VALUES (99, 'rolled back')"))
        raise LookupError("no step 99")

    futures: list[Future[int]] = [
        writer.submit(insert(1)),
        writer.submit(bad_sql),
        writer.submit(refuses),
        writer.submit(insert(2)),
    ]
    wait(futures, timeout=10)
    assert futures[0].result() == 1 and futures[3].result() == 2
    with pytest.raises(Exception, match="no_such_table"):
        futures[1].result()
    with pytest.raises(LookupError):
        futures[2].result()
    # The refused write's own row went with it; nothing was written twice
    assert stored(engine) == [1, 2]
    writer.close()


def test_writes_given_as_steps_are_pipelined_and_a_failing_one_fails_only_itself(
    engine: Engine,
) -> None:
    """Steps of a batch's writes go together, round by round; a statement failing in a round
    fails the batch, and each write is then made alone, so only that one fails."""
    probe = table("probe", column("id"), column("v"))
    writer = GroupCommit(engine, window_ms=200)

    def stepwise(i: int) -> Callable[[Connection], direct.Steps[int]]:
        def write(c: Connection) -> direct.Steps[int]:
            yield direct.Insert(probe.insert(), [dict(id=i, v="x")])
            found = yield direct.Query(select(probe.c.id).where(probe.c.id == i), {})
            return int(found[0].id)

        return write

    def bad_steps(c: Connection) -> direct.Steps[None]:
        yield direct.Query(select(text("1")).select_from(table("no_such_table")), {})

    futures: list[Future[Any]] = [
        writer.submit(stepwise(1)),
        writer.submit(bad_steps),
        writer.submit(insert(2)),
        writer.submit(stepwise(3)),
    ]
    wait(futures, timeout=10)
    assert [futures[0].result(), futures[2].result(), futures[3].result()] == [1, 2, 3]
    with pytest.raises(Exception, match="no_such_table"):
        futures[1].result()
    assert stored(engine) == [1, 2, 3]
    writer.close()


def test_a_failed_commit_fails_every_write_of_the_batch(engine: Engine) -> None:
    # Two writes of one batch break a constraint only checked at COMMIT: the commit fails,
    # so neither write may be answered as done (the callers retry), and nothing is stored.
    writer = GroupCommit(engine, window_ms=200)
    futures = [writer.submit(insert(7)), writer.submit(insert(7))]
    wait(futures, timeout=10)
    for f in futures:
        with pytest.raises(IntegrityError):
            f.result()
    assert stored(engine) == []
    # ... and the writer goes on with a new connection
    assert writer.submit(insert(8)).result(timeout=10) == 8
    assert stored(engine) == [8]
    writer.close()


def test_without_a_database_every_write_fails_instead_of_waiting() -> None:
    writer = GroupCommit(
        create_engine(
            "postgresql+psycopg://postgres@127.0.0.1:1/none", connect_args={"connect_timeout": 2}
        ),
        window_ms=10,
    )
    futures = [writer.submit(insert(i)) for i in range(3)]
    wait(futures, timeout=30)
    for f in futures:
        with pytest.raises(OperationalError):
            f.result()
    writer.close()


def test_close_makes_every_queued_write_then_refuses_new_ones(engine: Engine) -> None:
    # Given writes waiting out a long window
    writer = GroupCommit(engine, window_ms=60_000)
    futures = [writer.submit(insert(i)) for i in range(10)]
    # When the worker stops
    writer.close()
    # Then every queued write was made before the writer's thread ended
    assert all(f.done() for f in futures)
    assert [f.result() for f in futures] == list(range(10))
    assert stored(engine) == list(range(10))
    with pytest.raises(WriterClosed):
        writer.submit(insert(11))


def test_group_commit_is_on_for_postgresql_off_for_sqlite_unless_set(
    pg_url: str, sqlite_url: str
) -> None:
    pg_engine, sqlite_engine = create_engine(pg_url), create_engine(sqlite_url)
    on = writer_for(Settings(database_url=pg_url), pg_engine)
    assert on is not None and on.window == 0.002
    assert writer_for(Settings(database_url=sqlite_url), sqlite_engine) is None
    assert writer_for(Settings(database_url=pg_url, group_commit_ms=0), pg_engine) is None
    forced = writer_for(Settings(database_url=sqlite_url, group_commit_ms=5), sqlite_engine)
    assert forced is not None and forced.window == 0.005
    assert Settings.from_env({"CHECKS_GROUP_COMMIT_MS": "7"}).group_commit_ms == 7
    assert Settings.from_env({}).group_commit_ms is None
    with pytest.raises(InvalidSetting, match="CHECKS_GROUP_COMMIT_MS"):
        Settings.from_env({"CHECKS_GROUP_COMMIT_MS": "-1"})
    pg_engine.dispose()


def test_a_batch_writes_every_audit_event_of_its_writes_even_when_one_write_fails(
    pg_url: str,
) -> None:
    # Given a store whose audit events a batch collects and inserts together
    store = Store(Settings(database_url=pg_url))
    store.migrate()
    writer = GroupCommit(store.engine, window_ms=200)

    def audited(i: int) -> Callable[[Connection], int]:
        def write(c: Connection) -> int:
            Store._audit(c, "worker", "probe", None, n=i)
            return i

        return write

    def refuses(c: Connection) -> None:
        Store._audit(c, "worker", "probe", None, n=-1)
        raise LookupError("refused")

    # When one batch commits whole and another is made again write by write
    first = [writer.submit(audited(i)) for i in range(5)]
    wait(first, timeout=10)
    second = [writer.submit(audited(5)), writer.submit(refuses), writer.submit(audited(6))]
    wait(second, timeout=10)
    writer.close()
    # Then every event of every write that was answered is there, once, in order
    with store.engine.connect() as c:
        probes = select(AuditEvent.detail).where(AuditEvent.action == "probe")
        seen = [r.detail["n"] for r in c.execute(probes.order_by(AuditEvent.id))]
    assert seen == [0, 1, 2, 3, 4, 5, 6]
    store.dispose()


def test_with_group_commit_a_request_leaves_only_after_its_unknown_footprint_is_durable(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a runner writing through a writer that waits 50 ms for more writes
    from checks.api import CheckService
    from checks.models import Check, Footprint
    from checks.runner import CheckRunner
    from tests.conftest import fast_agency_settings
    from tests.helpers import request_for
    from tests.integration.conftest import ENCRYPTION_KEY

    store = Store(Settings(database_url=pg_url, encryption_keys=(ENCRYPTION_KEY,)))
    store.migrate()
    agencies = build_agencies(fast_agency_settings())
    writer = GroupCommit(store.engine, window_ms=50)
    runner = CheckRunner(store, agencies, lease_seconds=30, writer=writer)
    sent: list[str] = []
    check_id = (
        CheckService(store, SimpleNamespace(send_run=sent.append), agencies.names())
        .submit(request_for("alice"))
        .check_id
    )
    # ... and an agency that looks at the ledger, from another connection, when asked
    observer = create_engine(pg_url)
    seen: dict[str, list[str]] = {}
    for name, adapter in agencies.adapters.items():
        search = adapter.search

        async def looking(request: Any, name: str = name, search: Any = search) -> Any:
            with observer.connect() as c:
                seen[name] = list(
                    c.scalars(
                        select(Footprint.state).where(
                            Footprint.check_id == check_id, Footprint.agency == name
                        )
                    )
                )
            return await search(request)

        monkeypatch.setattr(adapter, "search", looking)
    # When the check runs
    result = asyncio.run(runner.run(check_id))
    # Then each agency was asked only once its unknown row was committed
    assert result.status == "decided"
    assert seen and all(states == ["unknown"] for states in seen.values()), seen
    # ... and when the run returns (and its message would be acked) the decision is durable
    with observer.connect() as c:
        assert c.scalar(select(Check.status).where(Check.id == check_id)) == "decided"
        assert set(c.scalars(select(Footprint.state).where(Footprint.check_id == check_id))) == {
            "confirmed"
        }
    assert writer.writes >= 4  # claim, two outcomes, decision
    writer.close()
    observer.dispose()
    store.dispose()
