"""Associations on PostgreSQL: racing links give one association; racing answers break it once."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from agencies.contract import NoticeAnswer, NoticeReceipt
from checks.associations import AssociationSource, RequestedBy
from checks.config import Settings
from checks.models import Association, AssociationEvidence, AuditEvent, Subject, utcnow
from checks.store import Store
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
