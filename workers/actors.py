"""The Dramatiq actors: thin, each one job; the work lives in ``checks``.

Importing this module sets up the broker from ``CHECKS_BROKER_URL`` and declares the actors.
"""

from __future__ import annotations

from typing import Any

import dramatiq
import structlog

from checks.errors import CheckNotFound, StepsPending
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
    max_retries=_settings.max_retries,
    min_backoff=_settings.min_backoff_ms,
    max_backoff=_settings.max_backoff_ms,
    max_age=_settings.max_age_ms,
    time_limit=_settings.time_limit_ms,
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
    if "actor" in notify:
        send_to_actor(rt.broker, notify["actor"], payload)
    elif "url" in notify:
        post_signed(notify["url"], payload, signing_key(rt))
    rt.store.audit_action(check_id, "notified", target="actor" if "actor" in notify else "url")


@dramatiq.actor(broker=broker, queue_name=HOUSEKEEPING_QUEUE, max_retries=0)
def reconcile_checks() -> None:
    """Re-queue stuck checks and fail those past their deadline."""
    rt = get_runtime()
    rt.service.reconcile(rt.stale_after, rt.deadline)


@dramatiq.actor(broker=broker, queue_name="bench", max_retries=0)
def bench_noop() -> None:
    """Does nothing: the benchmark's measure of the engine's own limit.

    The benchmark watches the queue drain in Redis, so the actor adds no work of its own.
    """
