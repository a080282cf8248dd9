"""The fast "is the schema current?" check agrees with Alembic."""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

import checks.store
from checks.config import Settings
from checks.schema_head import at_head, heads
from checks.store import Store


def test_the_head_read_from_the_files_is_alembics_head() -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(checks.store.__file__).parent / "migrations"))
    assert heads() == frozenset(ScriptDirectory.from_config(cfg).get_heads())
    assert len(heads()) == 1, "the migration history has branched: chain the new revision"


def test_a_migrated_database_is_at_head_and_an_empty_one_is_not(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    empty = create_engine(url)
    with empty.connect() as conn:
        assert not at_head(conn)
    Store(Settings(database_url=url)).migrate()
    with empty.connect() as conn:
        assert at_head(conn)
