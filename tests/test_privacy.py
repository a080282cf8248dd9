"""Personal data never appears in logs, nor in plaintext in the database file."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from checks.config import Settings
from checks.crypto import Cipher
from checks.samples import persona_request
from checks.store import Store
from tests.conftest import make_runtime
from workers.runtime import set_runtime


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send_run(self, check_id: str) -> None:
        self.sent.append(check_id)


PERSONAL = [
    "Alice",
    "Clean",
    "Carol",
    "Adverse",
    "Frank",
    "Grace",
    "1980-01-01",
    "1975-07-07",
    "1970-03-03",
    "LS1 4AP",
    "LS14AP",
    "High Street",
    "Mill Lane",
    "YO1 7HH",
    "alice.clean@example.com",
    "+447700900123",
    "203.0.113.7",
]


def test_no_personal_data_in_logs_or_in_plaintext_in_the_database_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    # Given a SQLite store and every log line captured at DEBUG
    caplog.set_level(logging.DEBUG)
    db = tmp_path / "checks.db"
    rt = make_runtime(f"sqlite:///{db}")
    rt.service.dispatcher = _Recorder()
    try:
        # When checks run, including a joint application and a failed step
        ids = [
            rt.service.submit(persona_request(p, f"PII-{p}")).check_id
            for p in ("alice", "carol", "frank")
        ]
        for cid in ids:
            asyncio.run(rt.runner.run(cid))
        rt.agencies.sandbox.set_faults("cifas=http401")  # type: ignore[union-attr]
        failed = rt.service.submit(persona_request("alice", "PII-failed")).check_id
        asyncio.run(rt.runner.run(failed))
        views = [rt.service.get(cid) for cid in [*ids, failed]]
    finally:
        set_runtime(None)
        rt.store.dispose()
    # Then the checks ran...
    assert [v["status"] for v in views] == ["decided", "decided", "decided", "failed"]
    # ...and no personal value is in any log line, the command output or the database files
    logs = caplog.text + "".join(capfd.readouterr())
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("checks.db*"))
    for value in PERSONAL:
        assert value not in logs, f"{value!r} appears in the logs"
        assert value.encode() not in stored, f"{value!r} appears in plaintext in the database"
        assert value.upper().encode() not in stored


def test_encryption_keys_rotate_new_key_first_and_old_data_stays_readable(tmp_path: Path) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    url = f"sqlite:///{tmp_path / 'rot.db'}"
    before = Store(Settings(database_url=url, encryption_keys=(old,)))
    before.migrate()
    token = before.cipher.encrypt("secret")
    hashed = before.cipher.identity_hash("jane|doe|1985-03-14|ls14ap")
    rotated = Cipher([new, old])
    assert rotated.decrypt(token) == "secret"
    assert hashed in rotated.identity_hashes("jane|doe|1985-03-14|ls14ap")
    assert rotated.identity_hash("jane|doe|1985-03-14|ls14ap") != hashed
    assert Cipher([new]).decrypt(rotated.encrypt("x")) == "x"


def test_a_subject_is_found_again_after_key_rotation(tmp_path: Path) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    url = f"sqlite:///{tmp_path / 'subj.db'}"
    rec = _Recorder()
    from checks.api import CheckService

    first = Store(Settings(database_url=url, encryption_keys=(old,)))
    first.migrate()
    svc = CheckService(first, rec, {"experian", "cifas"})
    a = svc.submit(persona_request("alice", "ROT-1")).check_id
    second = Store(Settings(database_url=url, encryption_keys=(new, old)))
    svc2 = CheckService(second, rec, {"experian", "cifas"})
    b = svc2.submit(persona_request("alice", "ROT-2")).check_id
    assert svc2.get(a)["subject_id"] == svc2.get(b)["subject_id"]
