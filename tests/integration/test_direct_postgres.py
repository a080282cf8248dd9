"""checks.direct on PostgreSQL: rows inserted by ``many`` are the rows given, in one statement
for up to ``MAX_ROWS`` rows (a pipeline for more), with each column's own processing (aware
datetimes, JSON)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import psycopg
import pytest
from sqlalchemy import (
    JSON,
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    select,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert

from checks import direct
from checks.models.base import UTCDateTime

pytestmark = pytest.mark.integration

_META = MetaData()
PROBE = Table(
    "many_probe",
    _META,
    Column("id", Integer, primary_key=True),
    Column("name", String(40), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("detail", JSON, nullable=True),
    Column("kind", String(10), nullable=False, default="plain"),
)


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    eng = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    _META.create_all(eng)
    yield eng
    eng.dispose()


def _rows(n: int) -> list[dict[str, Any]]:
    summer = timezone(timedelta(hours=1))
    start = datetime(2026, 7, 1, 12, 0, tzinfo=summer)
    return [
        dict(name=f"row-{i}", at=start + timedelta(minutes=i), detail={"i": i, "s": "é"})
        for i in range(n)
    ]


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each statement psycopg is asked to run (a pipelined batch counts once), and how."""
    sent: list[str] = []
    execute, executemany = psycopg.Cursor.execute, psycopg.Cursor.executemany

    def counted(self: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(f"execute: {query}")
        return execute(self, query, *args, **kwargs)

    def counted_many(self: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(f"executemany: {query}")
        return executemany(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", counted)
    monkeypatch.setattr(psycopg.Cursor, "executemany", counted_many)
    return sent


@pytest.mark.parametrize("n", [1, 2, 3, direct.MAX_ROWS, direct.MAX_ROWS + 1, 3 * direct.MAX_ROWS])
def test_many_inserts_every_row_as_given_in_one_statement_or_one_pipeline(
    engine: Engine, statements: list[str], n: int
) -> None:
    given = _rows(n)
    with engine.begin() as c:
        statements.clear()
        direct.many(c, insert(PROBE), given)
        sent = list(statements)
    # Up to MAX_ROWS rows: one statement of them all; more: one pipeline, a statement a row.
    (how,) = sent
    if n <= direct.MAX_ROWS:
        assert how.startswith("execute: INSERT INTO many_probe") and how.count("), (") == n - 1
    else:
        assert how.startswith("executemany: INSERT INTO many_probe") and "), (" not in how
    with engine.connect() as c:
        got = c.execute(select(PROBE).order_by(PROBE.c.id)).all()
    assert [(r.name, r.at, r.detail, r.kind) for r in got] == [
        (g["name"], g["at"].astimezone(UTC), g["detail"], "plain") for g in given
    ]
    # In the order given (ids are taken row by row).
    assert [r.name for r in got] == [f"row-{i}" for i in range(n)]


def test_many_pipelines_an_insert_that_is_not_plain_row_by_row(
    engine: Engine, statements: list[str]
) -> None:
    """An ``ON CONFLICT`` insert is not rewritten: a pipeline of one statement per row."""
    stmt = pg_insert(PROBE).on_conflict_do_nothing(index_elements=["id"])
    given = [dict(id=i, **r) for i, r in enumerate(_rows(3), start=1)]
    with engine.begin() as c:
        direct.many(c, stmt, given)
        statements.clear()
        direct.many(c, stmt, given)  # every row conflicts: nothing more is written
        sent = list(statements)
    assert len(sent) == 1 and sent[0].startswith("executemany: ") and "ON CONFLICT" in sent[0]
    with engine.connect() as c:
        assert [r.id for r in c.execute(select(PROBE.c.id).order_by(PROBE.c.id))] == [1, 2, 3]


def test_a_failing_multi_row_insert_raises_as_sqlalchemy_and_writes_nothing(
    engine: Engine,
) -> None:
    from sqlalchemy.exc import IntegrityError

    given = _rows(3)
    given[2]["name"] = None  # NOT NULL
    with pytest.raises(IntegrityError), engine.begin() as c:
        direct.many(c, insert(PROBE), given)
    with engine.connect() as c:
        assert c.execute(select(PROBE.c.id)).all() == []


# -- writes as steps, made together ---------------------------------------------------------


def _named(name: str, at: datetime) -> direct.Steps[tuple[int, list[str]]]:
    """A write as steps: insert a row (its id back), two more unwaited, then read them all."""
    found = yield direct.Query(insert(PROBE).returning(PROBE.c.id), dict(name=name, at=at))
    (first_id,) = (r.id for r in found)
    yield direct.Insert(insert(PROBE), [dict(name=f"{name}-{i}", at=at) for i in (1, 2)])
    names = yield direct.Query(
        select(PROBE.c.name).where(PROBE.c.name.startswith(name)).order_by(PROBE.c.id), {}
    )
    return first_id, [r.name for r in names]


@pytest.fixture
def pipelines(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts psycopg pipelines entered (each is one wait for its results)."""
    entered: list[int] = []
    pipeline = psycopg.Connection.pipeline

    def counted(self: psycopg.Connection[Any]) -> Any:
        entered.append(1)
        return pipeline(self)

    monkeypatch.setattr(psycopg.Connection, "pipeline", counted)
    return entered


def test_writes_as_steps_are_made_together_one_pipeline_a_round(
    engine: Engine, pipelines: list[int]
) -> None:
    at = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    with engine.begin() as c:
        started = [_named("ann", at), "given as it is", _named("bob", at)]
        results = direct.run_together(
            c, started, then=lambda: [direct.Insert(insert(PROBE), [dict(name="last", at=at)])]
        )
    # Round 1: both first inserts; round 2: the unwaited inserts and both reads; then the
    # batch's last insert. Three waits for seven statements.
    assert len(pipelines) == 3
    (ann_id, ann_names), plain, (bob_id, bob_names) = results
    assert plain == "given as it is"
    assert ann_names == ["ann", "ann-1", "ann-2"] and bob_names == ["bob", "bob-1", "bob-2"]
    with engine.connect() as c:
        got = {r.name: r.id for r in c.execute(select(PROBE.c.id, PROBE.c.name))}
    assert (got["ann"], got["bob"]) == (ann_id, bob_id) and "last" in got


def test_writes_as_steps_one_after_another_give_the_same_results(tmp_path: Any) -> None:
    """Where there is no pipeline (SQLite) the same steps run one statement at a time."""
    eng = create_engine(f"sqlite:///{tmp_path / 'steps.db'}")
    _META.create_all(eng)
    at = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    with eng.begin() as c:
        (ann_id, ann_names), (bob_id, bob_names) = direct.run_together(
            c, [_named("ann", at), _named("bob", at)]
        )
    assert ann_names == ["ann", "ann-1", "ann-2"] and bob_names == ["bob", "bob-1", "bob-2"]
    with eng.begin() as c:
        assert direct.run(c, _named("cy", at))[1] == ["cy", "cy-1", "cy-2"]
    eng.dispose()


def test_a_statement_failing_in_a_round_raises_as_sqlalchemy_and_nothing_is_kept(
    engine: Engine,
) -> None:
    from sqlalchemy.exc import IntegrityError

    at = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)

    def failing() -> direct.Steps[None]:
        yield direct.Insert(insert(PROBE), [dict(name=None, at=at)])  # NOT NULL
        yield direct.Query(select(PROBE.c.id), {})

    with pytest.raises(IntegrityError), engine.begin() as c:
        direct.run_together(c, [_named("ann", at), failing()])
    with engine.connect() as c:
        assert c.execute(select(PROBE.c.id)).all() == []
