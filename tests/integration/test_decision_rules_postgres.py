"""A fraud flag on the person it concerns, written on PostgreSQL (one row per flagged person)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from agencies.config import build_agencies
from agencies.sandbox import default_fixtures
from checks.api import CheckService
from checks.config import Settings
from checks.models import SubjectFlag
from checks.runner import CheckRunner
from checks.samples import person_fields
from checks.store import Store
from tests.conftest import fast_agency_settings
from tests.helpers import request_for
from tests.integration.conftest import ENCRYPTION_KEY

pytestmark = pytest.mark.integration


class _NoQueue:
    def send_run(self, check_id: str) -> None:
        pass


@pytest.fixture
def wired(pg_url: str) -> Iterator[tuple[Store, CheckRunner, CheckService]]:
    store = Store(Settings(database_url=pg_url, encryption_keys=(ENCRYPTION_KEY,)))
    store.migrate()
    agencies = build_agencies(fast_agency_settings())
    yield (
        store,
        CheckRunner(store, agencies, lease_seconds=30),
        CheckService(store, _NoQueue(), agencies.names()),
    )
    store.dispose()


@pytest.mark.parametrize(
    ("applicant", "joint", "flagged_role"),
    [("alice", "dan", "joint_subject_id"), ("dan", "alice", "subject_id")],
)
def test_a_joint_application_flags_only_the_fraud_subject_on_postgresql(
    wired: tuple[Store, CheckRunner, CheckService], applicant: str, joint: str, flagged_role: str
) -> None:
    store, runner, service = wired
    request = request_for(applicant)
    request["joint_applicant"] = person_fields(default_fixtures().persona(joint))
    check_id = service.submit(request).check_id
    asyncio.run(runner.run(check_id))
    view = store.view(check_id)
    with store.session() as s:
        flagged = list(
            s.scalars(select(SubjectFlag.subject_id).where(SubjectFlag.check_id == check_id))
        )
    assert (view["decision"], view["flagged"]) == ("decline", True)
    assert flagged == [view[flagged_role]]
