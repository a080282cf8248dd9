"""Associations on PostgreSQL: racing links give one association; racing answers break it once;
a decision reads an associate's result."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from agencies.config import build_agencies
from agencies.contract import NoticeAnswer, NoticeReceipt
from checks.api import CheckService
from checks.associations import AssociationSource, RequestedBy
from checks.config import Settings
from checks.models import Association, AssociationEvidence, AuditEvent, Subject, utcnow
from checks.runner import CheckRunner
from checks.store import Store
from tests.conftest import fast_agency_settings
from tests.helpers import request_for
from tests.integration.conftest import ENCRYPTION_KEY

pytestmark = pytest.mark.integration

CRAS = ["callcredit", "equifax", "experian"]


@pytest.fixture
def store(pg_url: str) -> Iterator[Store]:
    s = Store(Settings(database_url=pg_url, encryption_keys=(ENCRYPTION_KEY,)))
    s.migrate()
    yield s
    s.dispose()


def _subjects(store: Store, n: int) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(n)]
    with store.session() as s:
        s.add_all(Subject(id=i, identity_hash=uuid.uuid4().hex, created_at=utcnow()) for i in ids)
    return ids


def _link(store: Store, a: str, b: str, note: str) -> int:
    with store.session() as s:
        return store.associations.link(
            s, a, b, AssociationSource.OPERATOR, check_id=None, actor="op", now=utcnow(), note=note
        )


def test_eight_workers_linking_one_pair_at_once_make_one_association(store: Store) -> None:
    a, b = _subjects(store, 2)
    with ThreadPoolExecutor(8) as pool:
        # Half of them name the pair the other way round.
        ids = list(
            pool.map(lambda i: _link(store, *((a, b) if i % 2 else (b, a)), f"n{i}"), range(8))
        )
    assert len(set(ids)) == 1
    with store.session() as s:
        assert s.scalar(select(func.count(Association.id))) == 1
        assert s.scalar(select(func.count(AssociationEvidence.id))) == 8


def test_three_cras_answering_at_once_break_the_association_exactly_once(store: Store) -> None:
    a, b = _subjects(store, 2)
    association_id = _link(store, a, b, "joint account")
    notice_ids = store.associations.record_break(
        association_id, RequestedBy.OPERATOR, "closed", "op", CRAS
    )
    refs = {n["agency"]: n["client_ref"] for n in store.associations.get(association_id)["notices"]}
    by_id = dict(zip(notice_ids, CRAS, strict=True))

    def answer(notice_id: int) -> None:
        agency = by_id[notice_id]
        store.associations.record_answer(
            notice_id,
            NoticeReceipt(agency=agency, client_ref=refs[agency], answer=NoticeAnswer.ACCEPTED),
        )

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(answer, notice_ids))
    assert store.associations.get(association_id)["status"] == "broken"
    with store.session() as s:
        broken = s.scalar(
            select(func.count(AuditEvent.id)).where(AuditEvent.action == "association_broken")
        )
    assert broken == 1
    # A new link between the same people after the break is a new association
    assert _link(store, a, b, "new joint account") != association_id


class _NoQueue:
    def send_run(self, check_id: str) -> None:
        pass


def test_an_associates_insolvency_refers_a_later_check_on_postgresql(store: Store) -> None:
    # Given Frank and Grace linked by a decided joint application (hard searches)
    agencies = build_agencies(fast_agency_settings())
    runner = CheckRunner(store, agencies, lease_seconds=30)
    service = CheckService(store, _NoQueue(), agencies.names())

    def run(request: dict[str, object]) -> dict[str, object]:
        check_id = service.submit(request).check_id
        asyncio.run(runner.run(check_id))
        return store.view(check_id)

    joint = run(request_for("frank"))
    assert joint["status"] == "decided"
    # When Frank applies alone, the decision reads Grace's result (its search time read back
    # from PostgreSQL, where it is stored naive UTC, and compared with an aware now)
    single = run(request_for("frank", joint_applicant=None))
    # Then her insolvency refers him, naming the association it used
    assert single["decision"] == "refer"
    assert [r["code"] for r in single["reasons"]] == ["ASSOCIATE_INSOLVENCY"]
    assert [a["used"] for a in single["associations"]] == [True]
