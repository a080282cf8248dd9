"""Migration 0005: a subject stored before it (one hash, current postcode) is still found."""

from __future__ import annotations

import uuid
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

import checks.store
from checks.config import Settings
from checks.crypto import Cipher
from checks.inputs import identity_of, person_from_request
from checks.models import utcnow
from checks.request import Person as RequestPerson
from checks.retention_store import RetentionStore
from checks.store import Store
from tests.helpers import request_for


def test_a_subject_from_before_0005_is_found_and_gains_every_postcode(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    cipher = Cipher([Cipher.generate_key()])
    person = person_from_request(RequestPerson.model_validate(request_for("alice")["applicant"]))
    old_id = str(uuid.uuid4())
    engine = create_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(checks.store.__file__).parent / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
        conn.execute(
            text(
                "INSERT INTO subjects (id, identity_hash, pii, legal_hold, created_at) "
                "VALUES (:id, :h, :pii, 0, '2025-01-01 00:00:00')"
            ),
            {
                "id": old_id,
                "h": cipher.identity_hash(identity_of(person)),
                "pii": cipher.encrypt("{}"),
            },
        )
    engine.dispose()

    store = Store(Settings(database_url=url), cipher)
    store.migrate()
    finder = RetentionStore(store)
    assert finder.find(person) == [old_id]
    # Someone who has since moved: only their previous postcode is the old subject's.
    moved = person.model_copy(
        update={
            "addresses": (
                person.addresses[0].model_copy(update={"postcode": "HU1 1AA"}),
                *person.addresses,
            )
        }
    )
    assert finder.find(moved) == [old_id]
    with store.session() as s:
        assert store._upsert_subject(s, moved, utcnow()) == old_id
    with store.engine.connect() as c:
        hashes = c.execute(
            text("SELECT count(*) FROM subject_identities WHERE subject_id = :id"), {"id": old_id}
        ).scalar()
    assert hashes == 3  # the migrated hash and the two new postcodes' (HU1, YO1)
    store.dispose()
