"""Client CPU of inserting a few rows on PostgreSQL: one multi-row statement, or a pipeline.

    .venv/bin/python -m bench.insert_rows [--rows 2] [--calls 3000]

``checks.direct.many`` inserts a check's footprints, a decision's reasons and a group commit's
audit events. Measured here, in one process on a fresh database (dropped afterwards), inside
one open transaction: the CPU and wall time per call of ``many`` (one ``INSERT ... VALUES
(..), (..)``) and of psycopg's ``executemany`` of the single-row statement (a pipeline: one
statement per row, then a sync), alternated, after a warm-up.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    insert,
    text,
)

from checks import direct
from checks.models.base import UTCDateTime

_META = MetaData()
_ROWS = Table(
    "insert_rows",
    _META,
    Column("id", Integer, primary_key=True),
    Column("name", String(40), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("detail", JSON, nullable=True),
)


def _pipelined(c: Connection, rows: list[dict[str, Any]]) -> None:
    one = direct._compiled(insert(_ROWS), tuple(rows[0]), c.dialect, True)
    driver = c.connection.driver_connection
    direct._cursor(driver).executemany(one.sql, [one.params(r) for r in rows])  # type: ignore[arg-type]


def _multi(c: Connection, rows: list[dict[str, Any]]) -> None:
    direct.many(c, insert(_ROWS), rows)


def _per_call(
    c: Connection, way: Callable[[Connection, list[dict[str, Any]]], None], rows: Any, n: int
) -> tuple[float, float]:
    for _ in range(200):
        way(c, rows)
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        way(c, rows)
    return (time.process_time() - cpu) / n * 1e6, (time.perf_counter() - wall) / n * 1e6


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.insert_rows")
    p.add_argument("--rows", type=int, default=2)
    p.add_argument("--calls", type=int, default=3000)
    p.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = p.parse_args(argv)
    name = f"bench_insert_{uuid.uuid4().hex[:8]}"
    admin = create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(args.pg_url.rsplit("/", 1)[0] + "/" + name)
    try:
        _META.create_all(engine)
        start = datetime(2026, 7, 1, 12, tzinfo=UTC)
        rows = [
            dict(name=f"row-{i}", at=start + timedelta(seconds=i), detail={"i": i})
            for i in range(args.rows)
        ]
        with engine.begin() as c:
            for label, way in [("pipeline", _pipelined), ("multi-row", _multi)] * 2:
                cpu, wall = _per_call(c, way, rows, args.calls)
                per = f"{cpu:4.0f} us CPU, {wall:4.0f} us wall"
                print(f"{label:>9}: {per} per call of {args.rows} rows")
    finally:
        engine.dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
