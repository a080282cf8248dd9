"""The store's write path: runs, step outcomes with their footprints, decisions, reruns.

Each public method is one transaction. The database is the source of truth: a check is written
before its message is queued, a step's outcome and its footprint are written together, and
leases live here, so any number of worker processes can share it safely. The engine and the
migrations are in :mod:`checks.database`, submissions in :mod:`checks.submit_store`, failed
tries and fallbacks in :mod:`checks.failure_store`, leases and reruns in
:mod:`checks.lease_store`, the reads in :mod:`checks.read_store`, and the reconciler's queries in
:mod:`checks.reconcile_store`; :class:`Store` is all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable

from agencies.contract import AgencyKind, ResultEnvelope, Role, SearchType
from checks import direct
from checks import statements as q
from checks.config import Settings
from checks.crypto import Cipher
from checks.errors import CheckBusy, CheckNotFound
from checks.failure_store import FailureStore
from checks.failure_store import StepWasSent as StepWasSent  # where callers have imported it
from checks.inputs import CheckInputs
from checks.lease_store import LeaseStore
from checks.models import Check, Step, SubjectFlag, utcnow
from checks.policy import Verdict
from checks.read_store import ReadStore
from checks.reconcile_store import ReconcileStore
from checks.retention import add_years as _add_years
from checks.states import STEP_OPEN, TERMINAL, FootprintState, StepStatus
from checks.submit_store import Submitted as Submitted  # where callers have imported it


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


@dataclass(frozen=True)
class StepOutcomes:
    """A check's steps and the results of the completed ones, read together."""

    steps: list[StepState]
    results: list[tuple[Role, Any]]
    #: Whether the applicant had an active association when they were read (True when it
    #: could not be told: a check with no steps), so a decision need not look for associates
    #: when there are none.
    has_associations: bool = True


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


class Store(FailureStore, LeaseStore, ReadStore, ReconcileStore):
    """Transactions over the checks database: every part of the store, and the runs."""

    def __init__(self, settings: Settings, cipher: Cipher | None = None) -> None:
        super().__init__(settings, cipher)
        # Imported here: the associations' store builds on this one.
        from checks.association_store import AssociationStore

        #: Financial associations: links and their evidence, uses, notices.
        self.associations = AssociationStore(self)

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
        return self.run_steps(self.claim_steps, check_id, owner, lease_seconds, purpose_code, tx=tx)

    def claim_steps(
        self,
        c: Connection,
        check_id: str,
        owner: str,
        lease_seconds: float,
        purpose_code: PurposeCode | None = None,
    ) -> direct.Steps[ClaimedCheck | None]:
        """:meth:`claim` as steps on ``c`` (for the group-commit writer)."""
        now = utcnow()
        until = now + timedelta(seconds=lease_seconds)
        params = dict(p_id=check_id, p_owner=owner, p_now=now, p_until=until)
        started: Sequence[Any] = ()
        if c.dialect.name == "postgresql":
            # One statement: the lease, and the steps started (a row per step).
            started = yield direct.Query(q.CLAIM_AND_START, params)
            row = started[0] if started else None
        else:  # SQLite cannot update through a CTE: the steps are started below
            found = yield direct.Query(q.CLAIM, params)
            row = found[0] if found else None
        if row is None:
            current = c.execute(
                select(Check.status, Check.lease_owner).where(Check.id == check_id)
            ).first()
            if current is None:
                raise CheckNotFound(check_id)
            if current.status in TERMINAL:
                return None
            raise CheckBusy(f"check {check_id} is being run by {current.lease_owner}")
        # Decrypted inside the claim's transaction: a key no longer configured
        # (EncryptionKeyError) rolls the claim back, leaving no step marked running.
        inputs = CheckInputs.model_validate_json(self.cipher.decrypt(row.request_enc or b""))
        # Searched now; until its outcome is written the outcome is unknown.
        if c.dialect.name != "postgresql":
            started = yield direct.Query(
                q.START_STEPS, dict(p_id=check_id, p_now=now, p_run=row.runs)
            )
        ordered = sorted((r for r in started if r.id is not None), key=lambda r: r.id)
        steps = tuple(self._state(r) for r in ordered)
        # The ledger row exists before the request can leave: a worker killed mid-request
        # leaves an unknown row, never a search the ledger does not show.
        marked = [s for s in steps if s.status in STEP_OPEN and s.sent_in_run == row.runs]
        if marked:
            yield direct.Insert(
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
            return [self._state(r) for r in direct.rows(c, q.STEP_STATE, dict(p_id=check_id))]

    @staticmethod
    def _touch(s: Session | Connection, check_id: str, now: datetime) -> Any:
        """Record progress on a check (the reconciler's staleness clock); returns its subjects."""
        return direct.one(s, q.TOUCH, dict(p_id=check_id, p_now=now))

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
        return self.run_steps(self.complete_step_steps, step_id, result, purpose_code, tx=tx)

    def complete_step_steps(
        self, c: Connection, step_id: int, result: ResultEnvelope, purpose_code: str
    ) -> direct.Steps[bool]:
        """:meth:`complete_step` as steps on ``c`` (for the group-commit writer)."""
        now = utcnow()
        sealed = self.cipher.encrypt(result.model_dump_json())
        params = dict(p_step=step_id, p_now=now, p_result=sealed, p_code=purpose_code)
        check: Any  # its subjects
        if c.dialect.name == "postgresql":
            # One statement: the step, its check's progress and its footprint (the touch and
            # the confirmation join the completed step: none if it was already completed).
            found = yield direct.Query(q.COMPLETE_STEP_AT_ONCE, params)
            step = check = found[0] if found else None
            confirmed = bool(step and step.confirmed)
        else:  # SQLite cannot update through a CTE: three statements
            step = direct.first(c, q.COMPLETE_STEP, params)
            check = step and self._touch(c, step.check_id, now)
            confirmed = bool(step and direct.first(c, q.CONFIRM_FOOTPRINT, params))
        if step is None:  # already completed: nothing more to write
            if c.scalar(select(Step.id).where(Step.id == step_id)) is None:
                raise LookupError(f"no step {step_id}")
            return False
        if not confirmed:
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

    def outcomes(
        self, check_id: str, tx: Connection | None = None, known: Mapping[int, Any] | None = None
    ) -> StepOutcomes:
        """Every step, the decrypted results of the completed ones, and whether the applicant
        has an active association, in one read.

        ``known``: results the caller itself stored, by step id (a run's own steps), taken as
        they are instead of decrypted and parsed again.
        """
        with self.transaction(tx) as c:
            return direct.run(c, self.outcomes_steps(check_id, known))

    def outcomes_steps(
        self, check_id: str, known: Mapping[int, Any] | None = None
    ) -> direct.Steps[StepOutcomes]:
        """:meth:`outcomes` as steps (for the group-commit writer)."""
        rows = yield direct.Query(q.STEP_OUTCOMES, dict(p_id=check_id))
        known = known or {}
        results = [
            (
                Role(r.role),
                known[r.id]
                if r.id in known
                else ResultEnvelope.model_validate_json(
                    self.cipher.decrypt(r.result_enc or b"")
                ).result,
            )
            for r in rows
            if r.status == StepStatus.COMPLETED
        ]
        return StepOutcomes(
            [self._state(r) for r in rows],
            results,
            has_associations=bool(rows[0].has_associations) if rows else True,
        )

    def record_decision(
        self, check_id: str, verdict: Verdict, owner: str, tx: Connection | None = None
    ) -> bool:
        """Write the decision, reasons, flag, retention date and associations; end the check.

        Returns False if the check had already ended (a duplicate delivery).
        """
        return self.run_steps(self.record_decision_steps, check_id, verdict, owner, tx=tx)

    def record_decision_steps(
        self, c: Connection, check_id: str, verdict: Verdict, owner: str
    ) -> direct.Steps[bool]:
        """:meth:`record_decision` as steps on ``c`` (for the group-commit writer)."""
        now = utcnow()
        st = self.settings
        params: dict[str, Any] = dict(p_id=check_id, p_now=now, p_decision=verdict.decision.value)
        stmt: Executable
        if verdict.flag is not None:
            stmt = q.DECIDE_FLAGGED
            params.update(
                p_flag=verdict.flag.value,
                p_keep_until=_add_years(now, st.flagged_retention_years),
            )
        else:
            stmt = q.DECIDE
            params.update(p_keep_until=now + timedelta(days=st.retention_days))
        # Reasons are only ever written here, with the statement that ends the check, so
        # an open check has none to replace. On PostgreSQL they go in that statement.
        together = bool(verdict.reasons) and c.dialect.name == "postgresql"
        if together:
            stmt = q.DECIDE_FLAGGED_WITH_REASONS if verdict.flag else q.DECIDE_WITH_REASONS
            params.update(
                p_positions=list(range(len(verdict.reasons))),
                p_codes=[r.code for r in verdict.reasons],
                p_texts=[r.text for r in verdict.reasons],
                p_agencies=[r.agency for r in verdict.reasons],
            )
        # A duplicate delivery finds the check already ended and matches no row.
        found = yield direct.Query(stmt, params)
        check = found[0] if found else None
        if check is None:
            if c.scalar(select(Check.id).where(Check.id == check_id)) is None:
                raise CheckNotFound(check_id)
            return False
        if verdict.reasons and not together:
            yield direct.Insert(
                q.REASONS,
                [
                    dict(check_id=check_id, position=i, code=r.code, text=r.text, agency=r.agency)
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
