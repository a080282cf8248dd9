"""First use is safe in parallel: many processes submitting at once to a new SQLite file."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from sqlalchemy import create_engine, text

PROCESSES = 20


def _first_submit(url: str, index: int, barrier: multiprocessing.synchronize.Barrier) -> None:
    """In a fresh child process: build the store (migrating) and submit one check."""
    import os
    import sys

    from agencies.config import build_agencies
    from checks.config import Settings
    from tests.conftest import fast_agency_settings
    from tests.helpers import request_for
    from workers.actors import broker
    from workers.runtime import build_runtime

    barrier.wait(timeout=60)  # all start together, as 20 order flows would
    try:
        rt = build_runtime(
            settings=Settings(database_url=url),
            agencies=build_agencies(fast_agency_settings()),
            broker=broker,
        )
        rt.service.submit(request_for("alice"))
    except BaseException as exc:  # reported through the exit code and stderr
        print(f"child {index}: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.stderr.flush()
        os._exit(1)
    os._exit(0)


def test_twenty_parallel_first_submits_on_a_new_sqlite_file_all_succeed(tmp_path: Path) -> None:
    # Given a SQLite file that does not exist yet
    url = f"sqlite:///{tmp_path / 'first.db'}"
    # When 20 processes submit their first check at the same moment
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(PROCESSES)
    children = [ctx.Process(target=_first_submit, args=(url, i, barrier)) for i in range(PROCESSES)]
    for child in children:
        child.start()
    for child in children:
        child.join(120)
    # Then every one succeeded and every check is stored
    assert [c.exitcode for c in children] == [0] * PROCESSES
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM checks")).scalar_one() == PROCESSES
    engine.dispose()
