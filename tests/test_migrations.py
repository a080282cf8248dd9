"""What the migrations build, revision by revision, up and down, on SQLite and PostgreSQL.

The revisions are written with helpers (``checks.migrations.columns``, ``keys``, ``tables``)
that must never change, or old revisions would build something new. These tests hold them to
it: the DDL each revision emits on SQLite is pinned in ``tests/schema_by_revision.txt``;
stepping down undoes each revision exactly; and the newest schema is the models' schema.

A new revision adds its own section to the pin: regenerate the file with
``CHECKS_PIN_MIGRATIONS=1 pytest tests/test_migrations.py`` and check that every section
before the new one is unchanged.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, inspect, text

from checks.database import MIGRATIONS
from checks.models import Base

PIN = Path(__file__).parent / "schema_by_revision.txt"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


#: Every revision, oldest first.
REVISIONS = [
    s.revision for s in reversed(list(ScriptDirectory.from_config(_config()).walk_revisions()))
]


def _migrate(engine: Engine, step: Callable[[Config, str], None], target: str) -> None:
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        step(cfg, target)


def _ddl(engine: Engine) -> dict[str, str]:
    """SQLite's stored ``CREATE`` statement of every table and index, by name."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"))
        return {name: "\n".join(line.rstrip() for line in sql.splitlines()) for name, sql in rows}


def _pin_text(engine: Engine) -> str:
    """Upgrade revision by revision, writing down what each one creates, changes or drops."""
    sections, before = [], _ddl(engine)
    for revision in REVISIONS:
        _migrate(engine, command.upgrade, revision)
        after = _ddl(engine)
        lines = [f"-- revision {revision}"]
        for name in sorted(set(before) | set(after)):
            if name not in after:
                lines.append(f"-- dropped {name}")
            elif name not in before:
                lines.append(after[name] + ";")
            elif after[name] != before[name]:
                lines.append(f"-- changed {name}")
                lines += _changed_lines(before[name], after[name])
        sections.append("\n".join(lines))
        before = after
    return "\n\n".join(sections) + "\n"


def _changed_lines(old: str, new: str) -> list[str]:
    """The lines of a statement that a revision replaced (``-``) or added (``+``)."""
    diff = difflib.unified_diff(old.splitlines(), new.splitlines(), n=0, lineterm="")
    return [line for line in diff if line[:1] in "+-" and line[:3] not in ("---", "+++")]


def test_each_revision_emits_the_pinned_ddl_on_sqlite(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'pin.db'}")
    built = _pin_text(engine)
    engine.dispose()
    if os.environ.get("CHECKS_PIN_MIGRATIONS") == "1":
        PIN.write_text(built, encoding="utf-8")
    assert built == PIN.read_text(encoding="utf-8"), (
        "a revision now builds something else: the migration helpers are frozen (add a new "
        "helper rather than change one); a NEW revision regenerates the pin (module docstring)"
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of each kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    engine = create_engine(url)
    yield engine
    engine.dispose()


def _schema(conn: Connection) -> dict[str, Any]:
    """Tables with their columns, keys and indexes, as reflected (constraints in name order)."""
    seen = inspect(conn)
    out: dict[str, Any] = {}
    for table in sorted(set(seen.get_table_names()) - {"alembic_version"}):
        out[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], c.get("default"))
                for c in seen.get_columns(table)
            ],
            "primary key": seen.get_pk_constraint(table)["constrained_columns"],
            "foreign keys": sorted(
                (fk["constrained_columns"], fk["referred_table"], fk["referred_columns"])
                for fk in seen.get_foreign_keys(table)
            ),
            "unique": sorted(u["column_names"] for u in seen.get_unique_constraints(table)),
            "indexes": sorted(
                (ix["name"], ix["column_names"], bool(ix["unique"]), _where(ix))
                for ix in seen.get_indexes(table)
            ),
        }
    return out


def _where(index: Any) -> dict[str, str]:
    """A partial index's condition, as text."""
    return {name: str(value) for name, value in index.get("dialect_options", {}).items()}


def test_stepping_down_undoes_each_revision_and_stepping_up_again_rebuilds_it(
    empty_database: Engine,
) -> None:
    built: dict[str, dict[str, Any]] = {}
    for revision in REVISIONS:
        _migrate(empty_database, command.upgrade, revision)
        with empty_database.connect() as conn:
            built[revision] = _schema(conn)
    below = ["base", *REVISIONS[:-1]]
    for revision, previous in reversed(list(zip(REVISIONS, below, strict=True))):
        _migrate(empty_database, command.downgrade, previous)
        with empty_database.connect() as conn:
            assert _schema(conn) == built.get(previous, {}), f"downgrading {revision}"
    _migrate(empty_database, command.upgrade, "head")
    with empty_database.connect() as conn:
        assert _schema(conn) == built[REVISIONS[-1]]


def test_the_newest_revision_builds_the_models_schema(empty_database: Engine) -> None:
    _migrate(empty_database, command.upgrade, "head")
    with empty_database.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert differences == []


@pytest.mark.integration
def test_progress_updates_of_a_check_can_be_heap_only_on_postgresql(pg_url: str) -> None:
    # Given the newest schema on PostgreSQL
    engine = create_engine(pg_url)
    _migrate(engine, command.upgrade, "head")
    with engine.connect() as conn:
        options = conn.scalar(text("SELECT reloptions FROM pg_class WHERE relname = 'checks'"))
        indexed = {c for ix in inspect(conn).get_indexes("checks") for c in ix["column_names"]}
    engine.dispose()
    # Then the checks table leaves room on its pages, and no index covers progress_at or
    # updated_at, so a step's progress (TOUCH) changes no index entry
    assert options == ["fillfactor=70"]
    assert not indexed & {"progress_at", "updated_at"}
