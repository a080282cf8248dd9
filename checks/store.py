"""The store: every read and write of checks, steps, footprints and the audit trail.

Each public method is one transaction. The database is the source of truth: a check is written
before its message is queued, a step's outcome and its footprint are written together, and
leases live here, so any number of worker processes can share it safely.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from agencies.contract import AgencyKind, ResultEnvelope, Role, SearchType
from checks import outbox
from checks import statements as q
from checks.associations import AssociationSource
from checks.audit_chain import event_digest
from checks.config import Settings
from checks.crypto import Cipher
from checks.errors import CheckBusy, CheckNotFound, IdempotencyConflict, NotRerunnable
from checks.group_commit import DEFERRED_AUDIT
from checks.identity import identity_hashes
from checks.inputs import CheckInputs
from checks.models import (
    Check,
    Footprint,
    Step,
    Subject,
    SubjectFlag,
    SubjectIdentity,
    utcnow,
)
from checks.plans import PlannedStep
from checks.policy import Verdict
from checks.schema_head import at_head
from checks.states import (
    IN_PROGRESS,
    RERUNNABLE_STEPS,
    STEP_OPEN,
    TERMINAL,
    CheckStatus,
    FootprintState,
    StepStatus,
)

if TYPE_CHECKING:
    from checks.association_store import AssociationStore

log = structlog.get_logger(__name__)


class StepWasSent(RuntimeError):
    """A step that may have reached its agency cannot be replaced by another agency."""


@dataclass(frozen=True)
class StepState:
    """A step as the runner sees it."""

    id: int
    slot: str
    kind: AgencyKind
    agency: str
    role: Role
    search_type: SearchType
    client_ref: str
    status: str
    attempts: int
    error: str | None
    #: The run that first may have sent this step's request (None: certainly never sent).
    sent_in_run: int | None = None


#: The agency's purpose code for a step's search (recorded in the ledger).
PurposeCode = Callable[["CheckInputs", StepState], str]


@dataclass(frozen=True)
class ClaimedCheck:
    """A check a worker holds the lease on, with its decrypted inputs and steps."""

    id: str
    inputs: CheckInputs
    steps: tuple[StepState, ...]
    #: The request asked to be told the outcome (an actor or a URL).
    notify: bool = False
    #: This run's number (``Check.runs``): steps with this ``sent_in_run`` were first marked
    #: as possibly sent by this run, so this run alone knows whether they really left.
    run: int = 0


@dataclass(frozen=True)
class Submitted:
    """The result of a submission: the check id and whether it was new."""

    check_id: str
    created: bool


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": 30, "check_same_thread": False}, pool_pre_ping=True
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            # WAL lets readers (checkctl show) proceed while a worker writes.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    # A worker runs store calls on 16 threads (CheckRunner) plus housekeeping actors: a pool
    # smaller than that opens and closes a connection (a PostgreSQL backend) per overflow use;
    # measured, 2.7 ms of machine CPU per check at 10 + 20 overflow.
    return create_engine(url, pool_pre_ping=True, pool_size=24, max_overflow=8)


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """An exclusive lock on a file beside a SQLite database (no-op for other databases).

    SQLite has no advisory lock, and Alembic's first ``CREATE TABLE alembic_version`` races
    between processes; a lock file serialises the migrations themselves.
    """
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    import fcntl

    try:
        handle = open(f"{database}.migrate-lock", "a+b")  # noqa: SIM115 - closed below
    except OSError:
        # No directory to put it in: connecting fails too, with the database's own error.
        yield
        return
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


_migrated: set[str] = set()
_migrate_lock = threading.Lock()


class Store:
    """Transactions over the checks database."""

    def __init__(self, settings: Settings, cipher: Cipher | None = None) -> None:
        self.settings = settings
        self.cipher = cipher or Cipher(settings.encryption_keys)
        self.engine = _engine(settings.database_url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Imported here: the associations' store builds on this one.
        from checks.association_store import AssociationStore

        #: Financial associations: links and their evidence, uses, notices.
        self.associations: AssociationStore = AssociationStore(self)

    # -- set-up ---------------------------------------------------------------------------

    def migrate(self) -> None:
        """Bring the schema to the latest Alembic revision (once per process and URL)."""
        with _migrate_lock:
            if self.settings.database_url in _migrated:
                return
            # Most commands find the schema current: say so without importing Alembic.
            with self.engine.connect() as conn:
                current = at_head(conn)
                conn.rollback()
            if current:
                _migrated.add(self.settings.database_url)
                return
            from alembic import command
            from alembic.config import Config

            cfg = Config()
            cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
            cfg.attributes["connection_url"] = self.settings.database_url
            # Several processes may start at once on a new database (20 parallel first submits):
            # one migrates, the others wait, then find nothing left to do.
            with _sqlite_file_lock(self.engine), self.engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(724311)")
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
            _migrated.add(self.settings.database_url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on error."""
        with self._sessions.begin() as s:
            yield s

    @contextmanager
    def transaction(self, tx: Connection | None = None) -> Iterator[Connection]:
        """One transaction of Core statements: what a worker runs for every check.

        The hot path (claim, step outcomes, decision) needs no object graph; plain statements
        with RETURNING take a fraction of the ORM's CPU and round trips. Given ``tx`` (a
        transaction already open), the statements join it instead: reading the outcomes and
        writing the decision is then one transaction, not two.
        """
        if tx is not None:
            yield tx
            return
        with self.engine.begin() as conn:
            yield conn

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()

    # -- audit ----------------------------------------------------------------------------

    @staticmethod
    def _audit(
        s: Session | Connection, actor: str, action: str, check_id: str | None, **detail: Any
    ) -> None:
        at, body = utcnow(), detail or None
        # The content's hash goes in with the row (no lock); the chain is sealed after commit.
        row = dict(
            at=at,
            actor=actor,
            action=action,
            check_id=check_id,
            detail=body,
            digest=event_digest(at, actor, action, check_id, body),
        )
        # In a group commit the batch's events go in together, in one statement.
        deferred = s.info.get(DEFERRED_AUDIT)
        if deferred is not None:
            deferred.append(row)
        else:
            s.execute(q.AUDIT, row)

    # -- submission -----------------------------------------------------------------------

    def _upsert_subject(self, s: Session, inputs_person: Any, now: datetime) -> str:
        # Found by any postcode of the address history, so a person who moved is one subject.
        stored, lookup = identity_hashes(self.cipher, inputs_person)
        pii = self.cipher.encrypt(inputs_person.model_dump_json())
        found = self._find_subject(s, lookup)
        if found is None:
            subject = Subject(
                id=str(uuid.uuid4()), identity_hash=stored[0], pii=pii, created_at=now
            )
            try:
                # A savepoint: two first checks for one new person may race to insert it.
                with s.begin_nested():
                    s.add(subject)
                found = subject
            except IntegrityError:
                found = self._find_subject(s, lookup)
                if found is None:
                    raise
        # Keep the newest details, and every postcode's hash under the newest key (rotation).
        found.pii = pii
        found.erased_at = found.purged_at = None
        known = set(
            s.scalars(
                select(SubjectIdentity.identity_hash).where(
                    SubjectIdentity.identity_hash.in_(stored)
                )
            )
        )
        for h in stored:
            if h in known:
                continue
            try:
                with s.begin_nested():
                    s.add(SubjectIdentity(subject_id=found.id, identity_hash=h, created_at=now))
            except IntegrityError:
                pass  # a concurrent check of the same person added it first
        return found.id

    @staticmethod
    def _find_subject(s: Session, hashes: Sequence[str]) -> Subject | None:
        """The oldest live subject matching any of the hashes (rows from before 0005 too)."""
        live = select(Subject).where(Subject.purged_at.is_(None)).order_by(Subject.created_at)
        # Two indexed lookups, not one OR (which PostgreSQL may answer with a table scan).
        ids = s.scalars(
            select(SubjectIdentity.subject_id).where(SubjectIdentity.identity_hash.in_(hashes))
        ).all()
        found = s.scalars(live.where(Subject.id.in_(ids))).first() if ids else None
        return found or s.scalars(live.where(Subject.identity_hash.in_(hashes))).first()

    def create_check(
        self,
        *,
        idempotency_key: str,
        canonical_request: str,
        inputs: CheckInputs,
        plan: Sequence[PlannedStep],
        requested_by: str,
        notify: dict[str, Any] | None,
        actor: str = "api",
    ) -> Submitted:
        """Insert a check, its subjects and its planned steps in one transaction.

        The same idempotency key returns the existing check; a different request under a key
        already used is refused rather than silently answered with another check's outcome.
        """
        digest = hashlib.sha256(canonical_request.encode()).hexdigest()
        existing = self._by_key(idempotency_key, digest)
        if existing is not None:
            return Submitted(existing, created=False)
        now = utcnow()
        check_id = str(uuid.uuid4())
        try:
            with self.session() as s:
                subject_id = self._upsert_subject(s, inputs.applicant, now)
                joint_id = self._upsert_subject(s, inputs.joint, now) if inputs.joint else None
                associate_ids = [self._upsert_subject(s, p, now) for p in inputs.associates]
                s.add(
                    Check(
                        id=check_id,
                        idempotency_key=idempotency_key,
                        request_digest=digest,
                        request_enc=self.cipher.encrypt(inputs.model_dump_json()),
                        purpose=inputs.purpose,
                        channel=inputs.channel,
                        product_code=inputs.product_code,
                        credit_amount=inputs.credit_amount,
                        requested_by=requested_by,
                        notify=notify,
                        subject_id=subject_id,
                        joint_subject_id=joint_id,
                        status=CheckStatus.QUEUED,
                        created_at=now,
                        updated_at=now,
                        progress_at=now,
                    )
                )
                s.flush()
                for p in plan:
                    s.add(self._new_step(check_id, p.slot, p.kind, p.agency, p.role, p.search_type))
                # The run message is recorded with the check and sent after the commit.
                outbox.record(s, check_id)
                self._audit(
                    s,
                    actor,
                    "submitted",
                    check_id,
                    requested_by=requested_by,
                    purpose=inputs.purpose,
                    steps=[p.slot + "@" + p.agency for p in plan],
                )
                # The applicant told us they are financially linked to these people.
                for associate_id in associate_ids:
                    self.associations.link(
                        s,
                        subject_id,
                        associate_id,
                        AssociationSource.DECLARED,
                        check_id=check_id,
                        actor=requested_by,
                        now=now,
                    )
        except IntegrityError:
            # A concurrent submission with the same key won the race: answer with its check.
            existing = self._by_key(idempotency_key, digest)
            if existing is None:
                raise
            return Submitted(existing, created=False)
        return Submitted(check_id, created=True)

    def _by_key(self, key: str, digest: str) -> str | None:
        with self.session() as s:
            row = s.execute(
                select(Check.id, Check.request_digest).where(Check.idempotency_key == key)
            ).first()
        if row is None:
            return None
        if row.request_digest != digest:
            raise IdempotencyConflict(
                f"idempotency_key {key!r} was already used for a different request (check {row.id})"
            )
        return str(row.id)

    @staticmethod
    def _new_step(
        check_id: str, slot: str, kind: AgencyKind, agency: str, role: Role, search_type: SearchType
    ) -> Step:
        return Step(
            check_id=check_id,
            slot=slot,
            kind=kind.value,
            agency=agency,
            role=role.value,
            search_type=search_type.value,
            # Stable for the life of the step: a retry sends the same reference, so an agency
            # that already searched recognises the repeat instead of leaving a second footprint.
            client_ref=uuid.uuid4().hex,
            status=StepStatus.PENDING,
            attempts=0,
        )

    # -- running --------------------------------------------------------------------------

    def claim(
        self,
        check_id: str,
        owner: str,
        lease_seconds: float,
        purpose_code: PurposeCode | None = None,
        tx: Connection | None = None,
    ) -> ClaimedCheck | None:
        """Take the lease on a check that is not terminal and not leased by a live worker.

        Returns None if the check is terminal; raises :class:`CheckBusy` if another worker
        holds a live lease on it. Every open step is marked running and its attempt counted,
        and, before any request leaves, marked as possibly sent with an ``unknown`` ledger row
        (``purpose_code`` gives the agency's code for it), in the same transaction (``tx``, if
        given: see :meth:`transaction`).
        """
        now = utcnow()
        until = now + timedelta(seconds=lease_seconds)
        with self.transaction(tx) as c:
            row = c.execute(
                q.CLAIM, dict(p_id=check_id, p_owner=owner, p_now=now, p_until=until)
            ).first()
            if row is None:
                current = c.execute(
                    select(Check.status, Check.lease_owner).where(Check.id == check_id)
                ).first()
                if current is None:
                    raise CheckNotFound(check_id)
                if current.status in TERMINAL:
                    return None
                raise CheckBusy(f"check {check_id} is being run by {current.lease_owner}")
            # Decrypted before any step is started: a key no longer configured (EncryptionKeyError)
            # rolls the claim back, leaving no step marked running.
            inputs = CheckInputs.model_validate_json(self.cipher.decrypt(row.request_enc or b""))
            # Searched now; until its outcome is written the outcome is unknown.
            started = c.execute(q.START_STEPS, dict(p_id=check_id, p_now=now, p_run=row.runs)).all()
            steps = tuple(self._state(r) for r in sorted(started, key=lambda r: r.id))
            # The ledger row exists before the request can leave: a worker killed mid-request
            # leaves an unknown row, never a search the ledger does not show.
            marked = [s for s in steps if s.status in STEP_OPEN and s.sent_in_run == row.runs]
            if marked:
                c.execute(
                    q.FOOTPRINT,
                    [
                        self._footprint_row(
                            check_id, row, st, purpose_code(inputs, st) if purpose_code else "", now
                        )
                        for st in marked
                    ],
                )
            if row.runs == 1:
                self._audit(c, owner, "started", check_id)
            else:
                self._audit(c, owner, "resumed", check_id, run=row.runs)
        return ClaimedCheck(check_id, inputs, steps, notify=bool(row.notify), run=row.runs)

    @staticmethod
    def _footprint_row(
        check_id: str, check: Any, step: StepState, purpose_code: str, now: datetime
    ) -> dict[str, Any]:
        """An ``unknown`` ledger row for a step about to be sent (``check``: its subjects)."""
        return dict(
            step_id=step.id,
            check_id=check_id,
            subject_id=(check.joint_subject_id if step.role is Role.JOINT else None)
            or check.subject_id,
            agency=step.agency,
            search_type=step.search_type.value,
            purpose_code=purpose_code,
            searched_at=now,
            client_ref=step.client_ref,
            state=FootprintState.UNKNOWN,
        )

    @staticmethod
    def _state(st: Any) -> StepState:
        # A Step, or a row of statements.STEP_STATE.
        return StepState(
            id=st.id,
            slot=st.slot,
            kind=AgencyKind(st.kind),
            agency=st.agency,
            role=Role(st.role),
            search_type=SearchType(st.search_type),
            client_ref=st.client_ref,
            status=st.status,
            attempts=st.attempts,
            error=st.error,
            sent_in_run=st.sent_in_run,
        )

    def steps(self, check_id: str) -> list[StepState]:
        """The check's steps now."""
        with self.transaction() as c:
            return [self._state(r) for r in c.execute(q.STEP_STATE, dict(p_id=check_id))]

    @staticmethod
    def _touch(s: Session | Connection, check_id: str, now: datetime) -> Any:
        """Record progress on a check (the reconciler's staleness clock); returns its subjects."""
        return s.execute(q.TOUCH, dict(p_id=check_id, p_now=now)).one()

    def complete_step(
        self,
        step_id: int,
        result: ResultEnvelope,
        purpose_code: str,
        tx: Connection | None = None,
    ) -> bool:
        """Record a step's result and confirm its footprint together.

        The footprint is the ``unknown`` row written when the step was claimed, now
        ``confirmed``: one row per search, however many tries it took. Returns False (and
        writes nothing) if the step was already completed, so a duplicate delivery can never
        add a second footprint. Given ``tx``, the writes join that transaction.
        """
        now = utcnow()
        sealed = self.cipher.encrypt(result.model_dump_json())
        with self.transaction(tx) as c:
            step = c.execute(
                q.COMPLETE_STEP, dict(p_step=step_id, p_now=now, p_result=sealed)
            ).first()
            if step is None:  # already completed: nothing more to write
                if c.scalar(select(Step.id).where(Step.id == step_id)) is None:
                    raise LookupError(f"no step {step_id}")
                return False
            check = self._touch(c, step.check_id, now)
            confirmed = c.execute(
                q.CONFIRM_FOOTPRINT, dict(p_step=step_id, p_now=now, p_code=purpose_code)
            ).first()
            if confirmed is None:
                # Completed without a claim's row (a step written directly): confirmed at once.
                c.execute(
                    q.FOOTPRINT,
                    dict(
                        step_id=step_id,
                        check_id=step.check_id,
                        subject_id=(check.joint_subject_id if step.role == "joint" else None)
                        or check.subject_id,
                        agency=step.agency,
                        search_type=step.search_type,
                        purpose_code=purpose_code,
                        searched_at=now,
                        client_ref=step.client_ref,
                        state=FootprintState.CONFIRMED,
                        confirmed_at=now,
                    ),
                )
            self._audit(
                c, "worker", "step_completed", step.check_id, agency=step.agency, slot=step.slot
            )
        return True

    def fail_step(
        self,
        step_id: int,
        *,
        permanent: bool,
        code: str,
        message: str,
        unsent_in_run: int | None = None,
        attempts: int = 0,
    ) -> None:
        """Record a failed try: ``retrying`` (transient) or ``failed`` (needs an operator).

        ``unsent_in_run``: the request was certainly not sent, and this run is the one that
        marked the step as possibly sent (at ``attempts``, as claimed); the mark and the unknown
        ledger row are taken back, in the same transaction. A mark from an earlier run stays
        (that run may have sent it), and so does one a later claim has taken over.
        """
        now = utcnow()
        with self.session() as s:
            step = s.get_one(Step, step_id)
            if step.status == StepStatus.COMPLETED:
                return
            if unsent_in_run is not None:
                self._unmark_sent(s, step_id, unsent_in_run, attempts)
                s.refresh(step)
            step.status = StepStatus.FAILED if permanent else StepStatus.RETRYING
            step.error_code = code
            step.error = message
            step.finished_at = now
            self._touch(s, step.check_id, now)
            self._audit(
                s,
                "worker",
                "step_failed" if permanent else "step_retrying",
                step.check_id,
                agency=step.agency,
                code=code,
            )

    @staticmethod
    def _unmark_sent(s: Session | Connection, step_id: int, run: int, attempts: int) -> bool:
        """Take back this run's possibly-sent mark and unknown row; False if not this run's."""
        params = dict(p_step=step_id, p_run=run, p_attempts=attempts)
        if s.execute(q.UNMARK_SENT, params).first() is None:
            return False
        s.execute(q.DROP_UNKNOWN_FOOTPRINT, dict(p_step=step_id))
        return True

    def supersede(
        self,
        step_id: int,
        next_agency: str,
        reason: str,
        *,
        run: int,
        attempts: int,
        purpose_code: str = "",
    ) -> StepState:
        """Give up on a step's agency (certainly not searched) and add one for the next CRA.

        Only a step this run marked as possibly sent can be superseded (an earlier run may have
        sent it: :class:`StepWasSent`). The new step is marked as possibly sent by ``run``, with
        its unknown ledger row, before its request leaves; all in one transaction.
        """
        now = utcnow()
        with self.session() as s:
            if not self._unmark_sent(s, step_id, run, attempts):
                raise StepWasSent(f"step {step_id} may have been sent by an earlier run")
            old = s.get_one(Step, step_id)
            old.status = StepStatus.SUPERSEDED
            old.error = reason
            old.finished_at = now
            new = self._new_step(
                old.check_id,
                old.slot,
                AgencyKind(old.kind),
                next_agency,
                Role(old.role),
                SearchType(old.search_type),
            )
            new.status, new.attempts, new.started_at = StepStatus.RUNNING, 1, now
            new.sent_in_run = run
            s.add(new)
            s.flush()
            check = self._touch(s, old.check_id, now)
            state = self._state(new)
            s.execute(
                q.FOOTPRINT, self._footprint_row(old.check_id, check, state, purpose_code, now)
            )
            self._audit(
                s,
                "worker",
                "fallback",
                old.check_id,
                slot=old.slot,
                from_agency=old.agency,
                to_agency=next_agency,
            )
            return state

    def outcomes(
        self, check_id: str, tx: Connection | None = None
    ) -> tuple[list[StepState], list[tuple[Role, Any]]]:
        """Every step, and the decrypted results of the completed ones, in one read."""
        with self.transaction(tx) as c:
            rows = c.execute(q.STEP_OUTCOMES, dict(p_id=check_id)).all()
        results = [
            (
                Role(r.role),
                ResultEnvelope.model_validate_json(self.cipher.decrypt(r.result_enc or b"")).result,
            )
            for r in rows
            if r.status == StepStatus.COMPLETED
        ]
        return [self._state(r) for r in rows], results

    def record_decision(
        self, check_id: str, verdict: Verdict, owner: str, tx: Connection | None = None
    ) -> bool:
        """Write the decision, reasons, flag, retention date and associations; end the check.

        Returns False if the check had already ended (a duplicate delivery).
        """
        now = utcnow()
        st = self.settings
        params: dict[str, Any] = dict(p_id=check_id, p_now=now, p_decision=verdict.decision.value)
        if verdict.flag is not None:
            stmt = q.DECIDE_FLAGGED
            params.update(
                p_flag=verdict.flag.value,
                p_keep_until=_add_years(now, st.flagged_retention_years),
            )
        else:
            stmt = q.DECIDE
            params.update(p_keep_until=now + timedelta(days=st.retention_days))
        with self.transaction(tx) as c:
            # A duplicate delivery finds the check already ended and matches no row.
            check = c.execute(stmt, params).first()
            if check is None:
                if c.scalar(select(Check.id).where(Check.id == check_id)) is None:
                    raise CheckNotFound(check_id)
                return False
            # Reasons are only ever written here, by the statement that ends the check, so an
            # open check has none to replace.
            if verdict.reasons:
                c.execute(
                    q.REASONS,
                    [
                        dict(
                            check_id=check_id, position=i, code=r.code, text=r.text, agency=r.agency
                        )
                        for i, r in enumerate(verdict.reasons)
                    ],
                )
            if verdict.flag is not None:
                # The flag belongs to the person the agency's match concerns: one row per
                # flagged person, never on their co-applicant.
                subjects = {Role.APPLICANT: check.subject_id, Role.JOINT: check.joint_subject_id}
                # A verdict that names no one (built by hand) concerns the applicant.
                roles = verdict.flagged_roles or (Role.APPLICANT,)
                rows = [
                    dict(
                        subject_id=subjects[role],
                        check_id=check_id,
                        reason=verdict.flag.value,
                        source="automated",
                        flagged_at=now,
                    )
                    for role in roles
                    if subjects[role] is not None
                ]
                if rows:
                    c.execute(insert(SubjectFlag), rows)
            if check.joint_subject_id:
                # Only a hard joint application links them (a joint quotation does not).
                self.associations.link_joint_application(
                    c, check_id, check.subject_id, check.joint_subject_id, now
                )
            self._audit(
                c,
                owner,
                "decided",
                check_id,
                decision=verdict.decision.value,
                flagged=verdict.flag is not None,
                flagged_roles=[r.value for r in verdict.flagged_roles],
                reasons=[r.code for r in verdict.reasons],
            )
        return True

    def mark_failed(self, check_id: str, reason: str, actor: str) -> bool:
        """End a check as failed with a specific reason; never a decline."""
        now = utcnow()
        with self.session() as s:
            check = s.get(Check, check_id, with_for_update=True)
            if check is None or check.status in TERMINAL:
                return False
            check.status = CheckStatus.FAILED
            check.failure_reason = reason
            check.finished_at = now
            check.updated_at = check.progress_at = now
            check.lease_owner = None
            check.lease_until = None
            check.retention_until = now + timedelta(days=self.settings.retention_days)
            self._audit(s, actor, "failed", check_id, reason=reason)
        return True

    def renew(self, check_id: str, owner: str, lease_seconds: float) -> bool:
        """Extend a lease this owner holds; False if it was lost."""
        now = utcnow()
        with self.session() as s:
            res = s.execute(
                update(Check)
                .where(Check.id == check_id, Check.lease_owner == owner)
                .values(lease_until=now + timedelta(seconds=lease_seconds))
            )
            return bool(res.rowcount)  # type: ignore[attr-defined]

    def release(self, check_id: str, owner: str) -> None:
        """Give up the lease so a retry (from any worker) can claim the check at once."""
        with self.session() as s:
            s.execute(
                update(Check)
                .where(Check.id == check_id, Check.lease_owner == owner)
                .values(lease_owner=None, lease_until=None, updated_at=utcnow())
            )

    # -- operators ------------------------------------------------------------------------

    def prepare_rerun(self, check_id: str, actor: str) -> list[str]:
        """Reopen a failed check: failed and retrying steps go back to pending.

        Completed steps are kept, so nothing already searched is searched again. Returns the
        agencies that will be searched.
        """
        now = utcnow()
        with self.session() as s:
            check = s.get(Check, check_id, with_for_update=True)
            if check is None:
                raise CheckNotFound(check_id)
            if check.purged_at is not None:
                raise NotRerunnable(f"check {check_id} was purged; its request is gone")
            if check.status != CheckStatus.FAILED:
                raise NotRerunnable(
                    f"check {check_id} is {check.status}; only failed checks can be rerun"
                )
            again: list[str] = []
            for step in check.steps:
                if step.status in RERUNNABLE_STEPS:
                    step.status = StepStatus.PENDING
                    again.append(step.agency)
            check.status = CheckStatus.QUEUED
            check.failure_reason = None
            check.finished_at = None
            check.updated_at = check.progress_at = now
            check.lease_owner = check.lease_until = None
            self._audit(s, actor, "rerun", check_id, agencies=again)
        return again

    def find(
        self,
        *,
        status: str | None = None,
        agency: str | None = None,
        since: datetime | None = None,
        limit: int = 1000,
        offset: int = 0,
        requested_by: str | None = None,
    ) -> list[Check]:
        """Checks matching the filters, newest first (``agency``: any step at that agency)."""
        with self.session() as s:
            # The id breaks ties between checks created in the same instant, so pages are stable.
            q = (
                select(Check)
                .order_by(Check.created_at.desc(), Check.id)
                .limit(limit)
                .offset(offset)
            )
            if requested_by is not None:
                q = q.where(Check.requested_by == requested_by)
            if status:
                q = q.where(Check.status == status)
            if since:
                q = q.where(Check.created_at >= since)
            if agency:
                q = q.where(Check.id.in_(select(Step.check_id).where(Step.agency == agency)))
            return list(s.scalars(q))

    def failed_for_agency(self, agency: str | None, since: datetime | None) -> list[str]:
        """Failed checks whose failure involves ``agency`` (any, if None)."""
        with self.session() as s:
            q = (
                select(Check.id)
                .where(Check.status == CheckStatus.FAILED)
                .order_by(Check.created_at)
            )
            if since:
                q = q.where(Check.created_at >= since)
            if agency:
                q = q.where(
                    Check.id.in_(
                        select(Step.check_id).where(
                            Step.agency == agency,
                            Step.status.in_(RERUNNABLE_STEPS),
                        )
                    )
                )
            return list(s.scalars(q))

    def status(self, check_id: str) -> str:
        """The check's status."""
        with self.session() as s:
            value = s.scalar(select(Check.status).where(Check.id == check_id))
        if value is None:
            raise CheckNotFound(check_id)
        return value

    def view(self, check_id: str) -> dict[str, Any]:
        """Everything ``checkctl show`` prints, without personal data (the typed read model's
        JSON: see :mod:`checks.check_view`)."""
        from checks.check_view import read_check_view  # it imports this module's models

        return read_check_view(self, check_id).as_dict()

    def notify_target(self, check_id: str) -> dict[str, Any] | None:
        """Where the requester asked for the outcome (``{"actor": ...}`` or ``{"url": ...}``)."""
        with self.session() as s:
            return s.scalar(select(Check.notify).where(Check.id == check_id))

    def audit_action(
        self, check_id: str | None, action: str, actor: str = "worker", **detail: Any
    ) -> None:
        """Record an action in the audit trail (no personal data in ``detail``)."""
        with self.session() as s:
            self._audit(s, actor, action, check_id, **detail)

    def footprint_count(self, check_id: str | None = None) -> int:
        """Rows in the footprint ledger (for one check, or all)."""
        with self.session() as s:
            q = select(func.count(Footprint.id))
            if check_id:
                q = q.where(Footprint.check_id == check_id)
            return int(s.scalar(q) or 0)

    # -- reconciliation -------------------------------------------------------------------

    def claim_stale(self, stale_after: timedelta, limit: int = 500) -> list[str]:
        """Checks not terminal, unleased and with no progress for ``stale_after``.

        Each is stamped as touched so that concurrent reconcilers re-queue it only once.
        """
        now = utcnow()
        cutoff = now - stale_after
        claimed: list[str] = []
        with self.session() as s:
            ids = s.scalars(
                select(Check.id)
                .where(
                    Check.status.in_(IN_PROGRESS),
                    Check.progress_at <= cutoff,
                    or_(Check.lease_until.is_(None), Check.lease_until < now),
                )
                .limit(limit)
            ).all()
            for cid in ids:
                res = s.execute(
                    update(Check)
                    .where(Check.id == cid, Check.progress_at <= cutoff)
                    .values(progress_at=now, updated_at=now)
                )
                if res.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append(cid)
                    self._audit(s, "reconciler", "requeued", cid)
        return claimed

    def overdue(self, deadline: timedelta) -> list[str]:
        """Non-terminal checks submitted longer ago than the deadline."""
        cutoff = utcnow() - deadline
        with self.session() as s:
            return list(
                s.scalars(
                    select(Check.id).where(
                        Check.status.in_(IN_PROGRESS), Check.created_at <= cutoff
                    )
                )
            )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _add_years(when: datetime, years: int) -> datetime:
    try:
        return when.replace(year=when.year + years)
    except ValueError:  # 29 February
        return when.replace(year=when.year + years, day=28)
