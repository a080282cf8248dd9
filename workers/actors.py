"""The Dramatiq actors: thin, each one job; the work lives in ``checks``.

Importing this module sets up the broker from ``CHECKS_BROKER_URL`` and declares the actors.
"""

from __future__ import annotations

from typing import Any

import dramatiq
import structlog

from checks.association_service import NoticeNotAnswered
from checks.associations import AssociationNotFound
from checks.egress import NotifyTargetRefused
from checks.errors import CheckNotFound, StepsPending
from checks.review_service import FilingPending
from workers.associations import association_service, notice_stale_after
from workers.broker import CHECKS_QUEUE, HOUSEKEEPING_QUEUE, setup_broker
from workers.logs import configure_logging
from workers.notify import outcome_payload, post_signed, send_to_actor, signing_key
from workers.runtime import get_runtime
from workers.settings import WorkerSettings

configure_logging()
log = structlog.get_logger(__name__)

_settings = WorkerSettings.from_env()
broker = setup_broker(_settings)


@dramatiq.actor(
    broker=broker,
    queue_name=CHECKS_QUEUE,
    **_settings.check_retries(),
    max_age=_settings.max_age_ms,
    on_retry_exhausted="check_retries_exhausted",
    throws=(CheckNotFound,),
    # A stopping worker interrupts a running check rather than waiting for it: the run
    # releases its lease and the message is retried, so a stop takes seconds, not minutes.
    notify_shutdown=True,
)
async def run_check(check_id: str) -> None:
    """Run a check's unfinished steps; raise StepsPending so Retries tries again later."""
    rt = get_runtime()
    try:
        result = await rt.runner.run(check_id)
    except StepsPending as exc:
        log.info("check.retry_later", check_id=check_id, pending=str(exc)[:300])
        # Retry is Dramatiq's "try again later" without an error traceback in the log; the
        # Retries middleware still applies the backoff and max_retries.
        raise dramatiq.Retry(str(exc)[:500]) from exc
    if result.notify:  # ended, and the request asked to be told
        notify_requester.send(check_id)


@dramatiq.actor(broker=broker, queue_name=HOUSEKEEPING_QUEUE, max_retries=3)
def check_retries_exhausted(message_data: dict[str, Any], retry_info: dict[str, Any]) -> None:
    """Mark the check failed, naming each unfinished step: never a decline."""
    check_id = message_data["args"][0]
    attempts = int(retry_info.get("retries", 0)) + 1
    if get_runtime().runner.give_up(check_id, f"retries exhausted after {attempts} attempts"):
        notify_requester.send(check_id)


@dramatiq.actor(
    broker=broker,
    queue_name=HOUSEKEEPING_QUEUE,
    max_retries=8,
    min_backoff=2_000,
    max_backoff=300_000,
)
def notify_requester(check_id: str) -> None:
    """Send the outcome to the requester's actor or URL, if the request asked for it."""
    rt = get_runtime()
    notify = rt.store.notify_target(check_id)
    if not notify:
        return
    payload = outcome_payload(rt.store.view(check_id))
    kind = "actor" if "actor" in notify else "url"
    try:
        if kind == "actor":
            send_to_actor(rt.broker, notify["actor"], payload, rt.settings.notify_allowed_actors)
        else:
            post_signed(
                notify["url"],
                payload,
                signing_key(rt),
                allowed_hosts=rt.settings.notify_allowed_hosts,
            )
    except NotifyTargetRefused as exc:
        # A refused target stays refused: retrying would only knock on the same door.
        log.warning("check.notify_refused", check_id=check_id, target=kind)
        rt.store.audit_action(check_id, "notify_refused", target=kind, reason=str(exc))
        return
    rt.store.audit_action(check_id, "notified", target=kind)


@dramatiq.actor(broker=broker, queue_name=HOUSEKEEPING_QUEUE, max_retries=0)
def reconcile_checks() -> None:
    """Re-queue stuck checks, fail those past their deadline, re-send unfiled fraud cases."""
    rt = get_runtime()
    rt.service.reconcile(rt.stale_after, rt.deadline)
    rt.fraud.resend_stale_filings(rt.stale_after)
    association_service(rt).resend_stale(notice_stale_after(rt))


# -- human review and fraud filing -------------------------------------------------------------


@dramatiq.actor(broker=broker, queue_name=HOUSEKEEPING_QUEUE, **_settings.check_retries())
async def file_case(case_id: str) -> None:
    """File a confirmed fraud case to Cifas, once; retried while Cifas is unavailable.

    When the retries run out the case stays unfiled, and the reconciler sends this job again.
    """
    rt = get_runtime()
    try:
        await rt.fraud.file(case_id, rt.agencies)
    except FilingPending as exc:
        raise dramatiq.Retry(str(exc)[:500]) from exc


# -- financial associations: notices of disassociation ----------------------------------------


@dramatiq.actor(
    broker=broker,
    queue_name=HOUSEKEEPING_QUEUE,
    # A CRA down for hours still gets its notice: see WorkerSettings.notice_retry_floor_ms.
    **_settings.notice_retries(),
    on_retry_exhausted="disassociation_notice_exhausted",
    throws=(AssociationNotFound,),
)
async def send_disassociation_notice(notice_id: int) -> None:
    """Send one notice of disassociation to its CRA; retried until the CRA answers."""
    from workers.associations import association_service

    try:
        await association_service().deliver(notice_id)
    except NoticeNotAnswered as exc:
        # Not an error: the CRA is down or will confirm later. Retries applies the backoff.
        raise dramatiq.Retry(str(exc)[:300]) from exc


@dramatiq.actor(broker=broker, queue_name=HOUSEKEEPING_QUEUE, max_retries=3)
def disassociation_notice_exhausted(
    message_data: dict[str, Any], retry_info: dict[str, Any]
) -> None:
    """Record on the notice that its retries ran out (it stays queued, for an operator)."""
    from workers.associations import association_service

    attempts = int(retry_info.get("retries", 0)) + 1
    association_service().give_up(
        message_data["args"][0], f"retries exhausted after {attempts} attempts"
    )


# -- retention and the audit chain ------------------------------------------------------------


@dramatiq.actor(broker=broker, queue_name=HOUSEKEEPING_QUEUE, max_retries=0, time_limit=3_600_000)
def retention_daily() -> None:
    """Run the retention sweep once per day, whichever worker process gets there first.

    Sent every minute by each worker; the schedule row in the database lets one run per day
    (and a run whose process died is taken over after an hour; the sweep is resumable).
    """
    from checks.subjects import RetentionService

    report = RetentionService(get_runtime().store).run_daily()
    if report is not None:
        log.info(
            "retention.swept",
            purged_checks=len(report.purged_checks),
            purged_subjects=len(report.purged_subjects),
            kept_flagged=report.kept_flagged,
            kept_held=report.kept_held,
        )


@dramatiq.actor(broker=broker, queue_name=HOUSEKEEPING_QUEUE, max_retries=0)
def seal_audit_trail() -> None:
    """Give committed audit events their place in the hash chain (one sealer at a time)."""
    from checks.subjects import RetentionService

    RetentionService(get_runtime().store).seal_audit()
