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
