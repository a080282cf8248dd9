"""The statements a worker runs for every check, built once.

Building a statement (``update(...).where(...).values(...)``) and computing its cache key costs
more CPU than sending it; these are built at import, on the tables rather than the ORM classes
(no ORM layer in between), and executed with a dict of parameters. Parameter names start with
``p_`` because SQLAlchemy reserves column names for the SET clause.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    Integer,
    Select,
    String,
    Table,
    Text,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.sql.dml import ReturningUpdate

from agencies.contract import AgencyKind
from checks.associations import AssociationStatus
from checks.models import (
    Association,
    AuditEvent,
    Base,
    Check,
    Footprint,
    Reason,
    Step,
    UTCDateTime,
)
from checks.states import IN_PROGRESS, STEP_OPEN, CheckStatus, FootprintState, StepStatus
from checks.states import TERMINAL as TERMINAL  # re-exported for web.api (its old home)


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


CHECKS, STEPS, FOOTPRINTS = _table(Check), _table(Step), _table(Footprint)
checks, steps, footprints = CHECKS.c, STEPS.c, FOOTPRINTS.c


AUDIT = insert(_table(AuditEvent))
FOOTPRINT = insert(_table(Footprint))
REASONS_TABLE = _table(Reason)
REASONS = insert(REASONS_TABLE)

#: Take the lease on a queued or running check whose lease is free, expired or ours.
CLAIM = (
    update(CHECKS)
    .where(
        checks.id == bindparam("p_id"),
        checks.status.in_(IN_PROGRESS),
        or_(
            checks.lease_until.is_(None),
            checks.lease_until < bindparam("p_now", type_=UTCDateTime()),
            checks.lease_owner == bindparam("p_owner"),
        ),
    )
    .values(
        status=CheckStatus.RUNNING,
        lease_owner=bindparam("p_owner"),
        lease_until=bindparam("p_until"),
        runs=checks.runs + 1,
        updated_at=bindparam("p_now"),
        progress_at=bindparam("p_now"),
    )
    .returning(
        checks.request_enc,
        checks.runs,
        checks.notify,
        checks.subject_id,
        checks.joint_subject_id,
    )
)

_STEP_COLUMNS = (
    steps.id,
    steps.slot,
    steps.kind,
    steps.agency,
    steps.role,
    steps.search_type,
    steps.client_ref,
    steps.status,
    steps.attempts,
    steps.error,
    steps.sent_in_run,
)
_is_open = steps.status.in_(STEP_OPEN)


def _start_steps(run: Any) -> ReturningUpdate[Any]:
    """Every open step of check ``p_id`` is searched now (running, its attempt counted, marked
    as possibly sent by ``run`` unless an earlier run already was); returns every step's state
    (in no particular order), open or not, so a claim needs no second read."""
    return (
        update(STEPS)
        .where(steps.check_id == bindparam("p_id"))
        .values(
            status=case((_is_open, StepStatus.RUNNING), else_=steps.status),
            attempts=case((_is_open, steps.attempts + 1), else_=steps.attempts),
            started_at=case(
                (
                    _is_open,
                    func.coalesce(steps.started_at, bindparam("p_now", type_=UTCDateTime())),
                ),
                else_=steps.started_at,
            ),
            # Before any request leaves: a step an earlier run may have sent keeps that run.
            sent_in_run=case(
                (_is_open, func.coalesce(steps.sent_in_run, run)), else_=steps.sent_in_run
            ),
        )
        .returning(*_STEP_COLUMNS)
    )


#: The steps started by the run numbered ``p_run`` (after CLAIM, where SQLite needs two statements).
START_STEPS = _start_steps(bindparam("p_run"))

#: PostgreSQL: CLAIM and START_STEPS as one statement (data-modifying CTEs), one round trip where
#: there were two. The steps are started only if the claim took the lease (they join the claimed
#: row); a row per step, each carrying the claimed check's columns (one row with no step columns
#: if it has no step); no row if the claim failed.
_claimed = CLAIM.cte("claimed")
_started = _start_steps(_claimed.c.runs).where(_claimed.c.runs.is_not(None)).cte("started")
CLAIM_AND_START = select(_claimed, _started).select_from(_claimed.outerjoin(_started, true()))

#: The columns a StepState is built from, in step order.
STEP_STATE = select(*_STEP_COLUMNS).where(steps.check_id == bindparam("p_id")).order_by(steps.id)

#: A step's result; of two racing writers the second matches no row.
COMPLETE_STEP = (
    update(STEPS)
    .where(steps.id == bindparam("p_step"), steps.status != StepStatus.COMPLETED)
    .values(
        status=StepStatus.COMPLETED,
        error=None,
        error_code=None,
        finished_at=bindparam("p_now"),
        result_enc=bindparam("p_result"),
    )
    .returning(
        steps.check_id, steps.slot, steps.agency, steps.role, steps.search_type, steps.client_ref
    )
)

#: An answer confirms the unknown ledger row written before the request left (the same row).
CONFIRM_FOOTPRINT = (
    update(FOOTPRINTS)
    .where(footprints.step_id == bindparam("p_step"))
    .values(
        state=FootprintState.CONFIRMED,
        confirmed_at=bindparam("p_now"),
        purpose_code=bindparam("p_code"),
    )
    .returning(footprints.id)
)

#: A step this run marked and that was certainly not sent: no longer possibly sent ... unless
#: another run has claimed it since (its attempt count moved on: it may be sending now).
UNMARK_SENT = (
    update(STEPS)
    .where(
        steps.id == bindparam("p_step"),
        steps.sent_in_run == bindparam("p_run"),
        steps.attempts == bindparam("p_attempts"),
    )
    .values(sent_in_run=None)
    .returning(steps.id)
)
#: ... and its unknown ledger row goes (a confirmed one never does).
DROP_UNKNOWN_FOOTPRINT = delete(FOOTPRINTS).where(
    footprints.step_id == bindparam("p_step"), footprints.state == FootprintState.UNKNOWN
)

ASSOCIATIONS = _table(Association)
associations = ASSOCIATIONS.c

#: The active associations of a check's applicant, each with the check's two subjects.
CHECK_ASSOCIATIONS = (
    select(
        associations.id,
        associations.subject_a,
        associations.subject_b,
        associations.source,
        checks.subject_id,
        checks.joint_subject_id,
    )
    .select_from(
        CHECKS.join(
            ASSOCIATIONS,
            or_(
                associations.subject_a == checks.subject_id,
                associations.subject_b == checks.subject_id,
            ),
        )
    )
    .where(checks.id == bindparam("p_id"), associations.status == AssociationStatus.ACTIVE.value)
)

#: Every step's state and result, each row also saying whether the check's applicant has an
#: active association now: the decision reads the associates (CHECK_ASSOCIATIONS) only if so,
#: one round trip fewer for the many who have none.
STEP_OUTCOMES = STEP_STATE.add_columns(
    steps.result_enc, CHECK_ASSOCIATIONS.exists().label("has_associations")
)

#: A subject's latest completed credit search since ``p_since``, from another check than
#: ``p_id`` (``searched_at`` comes back naive UTC through :mod:`checks.direct`).
ASSOCIATE_CREDIT = (
    select(footprints.searched_at, steps.result_enc)
    .select_from(FOOTPRINTS.join(STEPS, steps.id == footprints.step_id))
    .where(
        footprints.subject_id == bindparam("p_subject"),
        footprints.check_id != bindparam("p_id"),
        footprints.searched_at >= bindparam("p_since", type_=UTCDateTime()),
        steps.kind == AgencyKind.CRA.value,
        steps.status == StepStatus.COMPLETED,
    )
    .order_by(footprints.searched_at.desc())
    .limit(1)
)

#: Progress on a check (the reconciler's staleness clock), returning whose check it is.
TOUCH = (
    update(CHECKS)
    .where(checks.id == bindparam("p_id"))
    .values(progress_at=bindparam("p_now"), updated_at=bindparam("p_now"))
    .returning(checks.subject_id, checks.joint_subject_id)
)


#: PostgreSQL: COMPLETE_STEP, TOUCH and CONFIRM_FOOTPRINT as one statement (data-modifying CTEs),
#: one round trip where there were three. The touch and the confirmation join the completed step,
#: so a step already completed changes nothing and returns no row; ``confirmed`` counts the
#: ledger rows confirmed (0: the step had no claim's row).
_completed = COMPLETE_STEP.cte("completed")
_touched = (
    update(CHECKS)
    .where(checks.id == _completed.c.check_id)
    .values(progress_at=bindparam("p_now"), updated_at=bindparam("p_now"))
    .returning(checks.subject_id, checks.joint_subject_id)
    .cte("touched")
)
_confirmed = (
    update(FOOTPRINTS)
    .where(footprints.step_id == bindparam("p_step"), footprints.check_id == _completed.c.check_id)
    .values(
        state=FootprintState.CONFIRMED,
        confirmed_at=bindparam("p_now"),
        purpose_code=bindparam("p_code"),
    )
    .returning(footprints.id)
    .cte("confirmed")
)
COMPLETE_STEP_AT_ONCE = select(
    _completed,
    _touched,
    select(func.count()).select_from(_confirmed).scalar_subquery().label("confirmed"),
)


def end_check(**values: Any) -> ReturningUpdate[Any]:
    """End a check that has not ended yet, setting ``values``; returns its subjects."""
    return (
        update(CHECKS)
        .where(checks.id == bindparam("p_id"), checks.status.not_in(TERMINAL))
        .values(**values)
        .returning(checks.subject_id, checks.joint_subject_id)
    )


_DECIDED = dict(
    status=CheckStatus.DECIDED,
    decision=bindparam("p_decision"),
    automated=True,
    finished_at=bindparam("p_now"),
    updated_at=bindparam("p_now"),
    progress_at=bindparam("p_now"),
    lease_owner=None,
    lease_until=None,
    failure_reason=None,
    retention_until=bindparam("p_keep_until"),
)
#: Decided, not flagged.
DECIDE = end_check(**_DECIDED)
#: Decided and flagged (fraud or money-laundering risk: kept six years from the flag).
DECIDE_FLAGGED = end_check(
    **_DECIDED, flagged=True, flag_reason=bindparam("p_flag"), flagged_at=bindparam("p_now")
)


def _with_reasons(end: ReturningUpdate[Any]) -> Select[Any]:
    """PostgreSQL: ``end`` (a decision) and its reasons in one statement (data-modifying
    CTEs), one round trip where there were two. The reasons come as arrays, one per column
    (``p_positions``, ``p_codes``, ``p_texts``, ``p_agencies``), and are inserted only if the
    check was ended by this statement; it returns what ``end`` returns (no row: not ended)."""
    ended = end.returning(checks.id.label("ended_id")).cte("ended")
    given = (
        func.unnest(
            bindparam("p_positions", type_=ARRAY(Integer)),
            bindparam("p_codes", type_=ARRAY(String)),
            bindparam("p_texts", type_=ARRAY(Text)),
            bindparam("p_agencies", type_=ARRAY(String)),
        )
        .table_valued("position", "code", "text", "agency")
        .render_derived(name="given")
    )
    added = insert(REASONS_TABLE).from_select(
        ["check_id", "position", "code", "text", "agency"],
        select(ended.c.ended_id, given.c.position, given.c.code, given.c.text, given.c.agency)
        .select_from(ended)
        .join(given, true()),
    )
    return select(ended.c.subject_id, ended.c.joint_subject_id).add_cte(added.cte("added"))


#: DECIDE and DECIDE_FLAGGED with their reasons, on PostgreSQL.
DECIDE_WITH_REASONS = _with_reasons(DECIDE)
DECIDE_FLAGGED_WITH_REASONS = _with_reasons(DECIDE_FLAGGED)
