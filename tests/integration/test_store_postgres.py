"""The store's transactions on PostgreSQL: the runner without a broker, and racing submissions."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from agencies.config import Agencies, build_agencies
from agencies.contract import CreditResult, ResultEnvelope, Role
from agencies.sandbox import default_fixtures
from checks.api import CheckService
from checks.config import Settings
from checks.errors import CheckBusy
from checks.group_commit import GroupCommit
from checks.models import Association, Check, Footprint, Reason, Subject
from checks.policy import Decision, Flag, Verdict
from checks.policy import Reason as PolicyReason
from checks.runner import CheckRunner
from checks.store import Store, Submitted
from tests.conftest import fast_agency_settings
from tests.helpers import request_for
from tests.integration.conftest import ENCRYPTION_KEY

pytestmark = pytest.mark.integration

#: SPEC.md's personas table for new_order: persona -> (decision, flagged).
PERSONAS = {
    "alice": ("accept", False),
    "bob": ("refer", False),
    "carol": ("decline", False),
    "dan": ("decline", True),
    "frank": ("refer", False),
    "hana": ("refer", False),
    "ivan": ("refer", False),
}


@dataclass
class RecordingDispatcher:
    """A dispatcher that only remembers what it was asked to queue."""

    sent: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def send_run(self, check_id: str) -> None:
        with self.lock:
            self.sent.append(check_id)


@dataclass
class PgWiring:
    store: Store
    agencies: Agencies
    runner: CheckRunner
    service: CheckService
    dispatcher: RecordingDispatcher


def _wire(database_url: str, group_commit: bool = False) -> PgWiring:
    store = Store(Settings(database_url=database_url, encryption_keys=(ENCRYPTION_KEY,)))
    store.migrate()
    agencies = build_agencies(fast_agency_settings())
    dispatcher = RecordingDispatcher()
    writer = GroupCommit(store.engine) if group_commit else None
    return PgWiring(
        store,
        agencies,
        CheckRunner(store, agencies, lease_seconds=30, writer=writer),
        CheckService(store, dispatcher, agencies.names()),
        dispatcher,
    )


def _unwire(wiring: PgWiring) -> None:
    if wiring.runner.writer is not None:
        wiring.runner.writer.close()
    wiring.store.dispose()


@pytest.fixture(params=["direct", "group_commit"])
def pg(pg_url: str, request: pytest.FixtureRequest) -> Iterator[PgWiring]:
    """Store, sandbox, runner and service on a fresh PostgreSQL database; no broker at all.

    The runner writes each transaction alone, and through the group-commit writer."""
    wiring = _wire(pg_url, group_commit=request.param == "group_commit")
    yield wiring
    _unwire(wiring)


@pytest.fixture(params=["postgresql", "postgresql_group_commit", "sqlite"])
def backend(request: pytest.FixtureRequest) -> Iterator[PgWiring]:
    """The same wiring on PostgreSQL (with and without group commit) and on SQLite."""
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")
    wiring = _wire(url, group_commit=request.param == "postgresql_group_commit")
    yield wiring
    _unwire(wiring)


def race(pg: PgWiring, requests: list[dict[str, Any]]) -> list[Submitted | Exception]:
    """Submit the requests from one thread each, all past their look-ups before any inserts.

    Every thread checks the idempotency key and looks the subject up, then waits at a barrier
    (hooked on its first encryption, which comes right after the subject look-up), so they all
    try to insert at once: the unique constraints, not the look-ups, decide the race.
    """
    barrier = threading.Barrier(len(requests))
    local = threading.local()
    encrypt = pg.store.cipher.encrypt

    def encrypt_after_barrier(text: str) -> bytes:
        if not getattr(local, "waited", False):
            local.waited = True
            barrier.wait(timeout=10)
        return encrypt(text)

    def submit(request: dict[str, Any]) -> Submitted | Exception:
        try:
            return pg.service.submit(request)
        except Exception as exc:  # reported by the assertions, not raised in the pool
            return exc

    pg.store.cipher.encrypt = encrypt_after_barrier  # type: ignore[method-assign,assignment]
    try:
        with ThreadPoolExecutor(len(requests)) as pool:
            return list(pool.map(submit, requests))
    finally:
        pg.store.cipher.encrypt = encrypt  # type: ignore[method-assign]


def test_every_persona_is_decided_on_postgresql_as_on_sqlite_as_the_personas_table_says(
    backend: PgWiring,
) -> None:
    pg = backend
    fixtures = default_fixtures()
    assert set(PERSONAS) == {
        p.key for p in fixtures.personas if p.expected and not set(p.requires) - {"joint"}
    }
    ids: dict[str, str] = {}
    for persona in PERSONAS:
        sub = pg.service.submit(request_for(persona))
        assert sub.created
        ids[persona] = sub.check_id
    # Submission queues exactly one run per check, after the check is recorded
    assert pg.dispatcher.sent == list(ids.values())
    assert {pg.store.status(cid) for cid in ids.values()} == {"queued"}
    for check_id in ids.values():
        result = asyncio.run(pg.runner.run(check_id))
        assert result.status == "decided", pg.store.view(check_id)
    mismatches = {}
    for persona, check_id in ids.items():
        view = pg.store.view(check_id)
        if (view["decision"], view["flagged"]) != PERSONAS[persona]:
            mismatches[persona] = (
                view["decision"],
                view["flagged"],
                [r["code"] for r in view["reasons"]],
            )
        # One footprint per completed search, with the step's client reference
        completed = [s for s in view["steps"] if s["status"] == "completed"]
        assert len(completed) == len(view["steps"]), view["steps"]
        assert sorted((f["agency"], f["client_ref"]) for f in view["footprints"]) == sorted(
            (s["agency"], s["client_ref"]) for s in completed
        ), persona
        assert view["retention_until"] and view["finished_at"], persona
        assert view["reasons"], persona
    assert not mismatches, mismatches
    # Dan: flagged as a fraud risk and kept six years from the flag
    dan = pg.store.view(ids["dan"])
    flagged_at = datetime.fromisoformat(dan["flagged_at"])
    assert dan["flag_reason"] == "fraud_risk"
    assert datetime.fromisoformat(dan["retention_until"]) == flagged_at.replace(
        year=flagged_at.year + 6
    )
    # Hana is a victim of impersonation: referred, never declined
    assert pg.store.view(ids["hana"])["decision"] == "refer"
    # Frank: both applicants searched, and the financial association recorded
    frank = pg.store.view(ids["frank"])
    assert frank["joint_subject_id"] and frank["joint_subject_id"] != frank["subject_id"]
    assert sorted((s["role"], s["agency"]) for s in frank["steps"]) == [
        ("applicant", "cifas"),
        ("applicant", "experian"),
        ("joint", "cifas"),
        ("joint", "experian"),
    ]
    with pg.store.session() as s:
        links = s.scalars(select(Association)).all()
        assert [(a.source, a.source_check_id) for a in links] == [
            ("joint_application", ids["frank"])
        ]
        assert {links[0].subject_a, links[0].subject_b} == {
            frank["subject_id"],
            frank["joint_subject_id"],
        }
    # A second run of a decided check (a duplicate delivery) changes nothing
    before = pg.store.footprint_count()
    assert asyncio.run(pg.runner.run(ids["alice"])).status == "skipped"
    assert (
        pg.store.footprint_count()
        == before
        == sum(len(pg.store.view(cid)["steps"]) for cid in ids.values())
    )


@pytest.mark.parametrize("subject", ["new", "known"])
def test_concurrent_submissions_of_one_idempotency_key_give_exactly_one_check(
    pg: PgWiring,
    subject: str,
) -> None:
    # "known": the applicant already has a subject row, so the race is decided by the unique
    # idempotency key; "new": by the unique identity hash of the subject inserted first.
    if subject == "known":
        pg.service.submit(request_for("alice"))
    request = request_for("alice")
    results = race(pg, [request] * 6)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, errors
    subs = [r for r in results if isinstance(r, Submitted)]
    assert len({r.check_id for r in subs}) == 1, subs
    assert sum(r.created for r in subs) == 1, subs
    check_id = subs[0].check_id
    assert pg.dispatcher.sent[-1:] == [check_id] and pg.dispatcher.sent.count(check_id) == 1
    with pg.store.session() as s:
        assert (
            s.scalar(
                select(func.count(Check.id)).where(
                    Check.idempotency_key == request["idempotency_key"]
                )
            )
            == 1
        )
        assert s.scalar(select(func.count(Subject.id))) == 1
    # ... and running it leaves one footprint per search
    assert asyncio.run(pg.runner.run(check_id)).status == "decided"
    assert pg.store.footprint_count(check_id) == 2


def test_concurrent_checks_for_one_new_person_under_different_keys_are_all_accepted(
    pg: PgWiring,
) -> None:
    base = request_for("alice")
    requests = [{**base, "idempotency_key": f"{base['idempotency_key']}-{i}"} for i in range(4)]
    results = race(pg, requests)
    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, [repr(e)[:160] for e in errors]
    assert len({r.check_id for r in results if isinstance(r, Submitted)}) == 4
    with pg.store.session() as s:
        assert s.scalar(select(func.count(Subject.id))) == 1


def test_concurrent_runs_of_one_check_search_each_agency_once(pg: PgWiring) -> None:
    # Two deliveries of the same message race on two workers: the lease lets only one search
    from checks.errors import CheckBusy

    sub = pg.service.submit(request_for("carol"))
    sandbox = pg.agencies.sandbox
    assert sandbox is not None
    sandbox.set_latency({"experian": 300})

    def run() -> str:
        try:
            return asyncio.run(pg.runner.run(sub.check_id)).status
        except CheckBusy:
            return "busy"

    with ThreadPoolExecutor(4) as pool:
        outcomes = sorted(pool.map(lambda _: run(), range(4)))
    assert outcomes.count("decided") == 1, outcomes
    assert set(outcomes) <= {"decided", "busy", "skipped"}, outcomes
    assert pg.store.footprint_count(sub.check_id) == 2
    assert len(sandbox.footprints("experian")) == 1
    assert len(sandbox.calls_to("experian", "search")) == 1


def test_a_step_outcome_confirms_the_claims_row_once_and_a_direct_one_gets_its_own_row(
    backend: PgWiring,
) -> None:
    """Completing a step touches its check and confirms its footprint together (one statement
    on PostgreSQL); a second completion writes nothing; a step completed without a claim's
    row gets a confirmed one."""
    store = backend.store

    def envelope(agency: str) -> ResultEnvelope:
        return ResultEnvelope(
            result=CreditResult(
                agency=agency, client_ref="r", score=900, score_band=None, identity_verified=True
            )
        )

    def footprints(check_id: str) -> list[Any]:
        with store.engine.connect() as c:
            return list(
                c.execute(
                    select(Footprint.step_id, Footprint.state, Footprint.purpose_code).where(
                        Footprint.check_id == check_id
                    )
                )
            )

    def progress(check_id: str) -> datetime:
        with store.engine.connect() as c:
            return c.execute(select(Check.progress_at).where(Check.id == check_id)).scalar_one()

    claimed_id = backend.service.submit(request_for("alice")).check_id
    claimed = store.claim(claimed_id, "w1", 30, lambda _inputs, _step: "CS")
    assert claimed is not None
    step = claimed.steps[0]
    before = progress(claimed_id)
    assert store.complete_step(step.id, envelope(step.agency), "QS")
    assert progress(claimed_id) > before
    rows = {r.step_id: r for r in footprints(claimed_id)}
    assert len(rows) == len(claimed.steps)
    assert (rows[step.id].state, rows[step.id].purpose_code) == ("confirmed", "QS")
    assert {r.state for s, r in rows.items() if s != step.id} == {"unknown"}
    # A duplicate delivery: nothing written, the row as it was.
    assert not store.complete_step(step.id, envelope(step.agency), "XX")
    again = {r.step_id: r for r in footprints(claimed_id)}
    assert (again[step.id].state, again[step.id].purpose_code) == ("confirmed", "QS")
    with pytest.raises(LookupError):
        store.complete_step(10**9, envelope(step.agency), "QS")

    # Never claimed: no unknown row to confirm, so a confirmed one is written.
    direct_id = backend.service.submit(request_for("alice")).check_id
    first = store.steps(direct_id)[0]
    assert footprints(direct_id) == []
    assert store.complete_step(first.id, envelope(first.agency), "QS")
    assert [(r.step_id, r.state, r.purpose_code) for r in footprints(direct_id)] == [
        (first.id, "confirmed", "QS")
    ]


def test_a_claim_takes_the_lease_and_starts_the_steps_in_one_go_or_not_at_all(
    backend: PgWiring,
) -> None:
    """On PostgreSQL the lease and the started steps are one statement: a claim refused (a live
    lease elsewhere) or rolled back (a key no longer configured) starts no step."""
    store = backend.store
    check_id = backend.service.submit(request_for("alice")).check_id

    def step_rows() -> list[tuple[str, int, int | None]]:
        return [(s.status, s.attempts, s.sent_in_run) for s in store.steps(check_id)]

    untouched = step_rows()
    assert {status for status, _, _ in untouched} == {"pending"}
    # A claim whose inputs cannot be decrypted is rolled back whole.
    keyless = Store(Settings(database_url=store.settings.database_url, encryption_keys=()))
    with pytest.raises(Exception, match="key"):
        keyless.claim(check_id, "w0", 30)
    keyless.dispose()
    assert step_rows() == untouched
    # The first claim starts every step, marked as possibly sent by its run.
    claimed = store.claim(check_id, "w1", 30)
    assert claimed is not None and claimed.run == 1
    assert [s.id for s in claimed.steps] == sorted(s.id for s in claimed.steps)
    assert step_rows() == [("running", 1, 1)] * len(untouched)
    assert [(s.status, s.attempts, s.sent_in_run) for s in claimed.steps] == step_rows()
    # Another worker's claim while the lease is live is refused and changes nothing.
    with pytest.raises(CheckBusy):
        store.claim(check_id, "w2", 30)
    assert step_rows() == [("running", 1, 1)] * len(untouched)


@pytest.mark.parametrize("flag", [None, Flag.FRAUD_RISK], ids=["plain", "flagged"])
def test_a_decision_writes_its_reasons_in_order_once(backend: PgWiring, flag: Flag | None) -> None:
    """On PostgreSQL the decision and its reasons are one statement: the reasons are written
    as given, and a duplicate decision (the check already ended) writes none."""
    store = backend.store
    check_id = backend.service.submit(request_for("alice")).check_id
    reasons = (
        PolicyReason("FIRST", "The first reason, with an agency.", "experian"),
        PolicyReason("SECOND", "Another, from no agency.", None),
        PolicyReason("THIRD", "And a third: ‘quoted’ text.", "cifas"),
    )
    verdict = Verdict(
        Decision.REFER, reasons, flag=flag, flagged_roles=(Role.APPLICANT,) if flag else ()
    )

    def written() -> list[tuple[int, str, str, str | None]]:
        with store.session() as s:
            rows = s.execute(
                select(Reason.position, Reason.code, Reason.text, Reason.agency)
                .where(Reason.check_id == check_id)
                .order_by(Reason.id)
            ).all()
        return [tuple(r) for r in rows]

    assert store.record_decision(check_id, verdict, owner="worker") is True
    expected = [(i, r.code, r.text, r.agency) for i, r in enumerate(reasons)]
    assert written() == expected
    view = backend.service.get(check_id)
    assert view["decision"] == "refer" and view["flagged"] is bool(flag)
    # Decided again (a duplicate delivery): nothing more is written.
    assert store.record_decision(check_id, verdict, owner="worker") is False
    assert written() == expected
