"""The Python API for order flows: submit a check, read it, wait for its outcome.

The service never imports a broker: it is given a :class:`Dispatcher` that queues one message
per check (the ``workers`` package provides the Dramatiq one). The check is committed before
the message is sent, so a lost message is only ever a delay: the reconciler re-queues it.

Example (configured from the environment)::

    from workers.runtime import get_runtime
    service = get_runtime().service
    sub = service.submit(request_json_dict)
    outcome = service.wait(sub.check_id, timeout=60)
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

import structlog

from checks.egress import actor_refusal, url_refusal
from checks.errors import InvalidRequest, Problem
from checks.inputs import inputs_from_request
from checks.keys import KeyService
from checks.outbox import Outbox
from checks.plans import PlanInput, plan_steps
from checks.reader import CheckReader as CheckReader  # where callers have imported them
from checks.reader import WaitTimeout as WaitTimeout
from checks.request import CheckRequest, Notify, parse_check_request
from checks.store import Store
from checks.submit_store import Submitted

log = structlog.get_logger(__name__)


#: How old an unsent outbox message must be before a sweep sends it.
OUTBOX_GRACE = timedelta(seconds=5)


class Dispatcher(Protocol):
    """Queues the work for a check (one message per check)."""

    def send_run(self, check_id: str) -> None:
        """Queue a run of the check."""


@dataclass(frozen=True)
class ReconcileReport:
    """What one reconciliation pass did."""

    requeued: list[str]
    failed: list[str]
    #: Checks whose message was in the outbox, never sent, and now has been.
    resent: list[str] = field(default_factory=list)
    #: Checks whose message the broker did not take now; they stay in the outbox.
    unsent: list[str] = field(default_factory=list)


class CheckService(CheckReader):
    """Submit, read, wait for, rerun and reconcile checks."""

    def __init__(
        self,
        store: Store,
        dispatcher: Dispatcher,
        available_agencies: Collection[str],
        broker_name: str = "the broker",
    ) -> None:
        super().__init__(store)
        self.dispatcher = dispatcher
        self.available_agencies = set(available_agencies)
        # Through self.dispatcher at send time, so a dispatcher swapped later is the one used.
        self.outbox = Outbox(store, lambda cid: self.dispatcher.send_run(cid), broker_name)

    def submit(self, data: object, *, actor: str | None = None) -> Submitted:
        """Validate and queue a check; the same idempotency key returns the same check.

        ``actor`` is who is acting, for the audit trail (``cli:<user>``, ``token:<name>``);
        the request's own ``requested_by`` is kept as data, never trusted as the actor.

        Raises :class:`~checks.errors.InvalidRequest` (writing nothing) if the request is bad.
        """
        request = data if isinstance(data, CheckRequest) else parse_check_request(data)
        if request.notify is not None:
            self._check_notify(request.notify)
        inputs = inputs_from_request(request)
        plan = plan_steps(
            PlanInput(
                purpose=inputs.purpose,
                channel=inputs.channel,
                credit_amount=inputs.credit_amount,
                has_joint=inputs.joint is not None,
                delivery_differs=inputs.delivery_differs,
            ),
            self.available_agencies,
        )
        submitted = self.store.create_check(
            idempotency_key=request.idempotency_key,
            canonical_request=request.canonical_json(),
            inputs=inputs,
            plan=plan,
            # requested_by is what the caller says (data); the audit actor is who acted.
            requested_by=request.requested_by,
            actor=actor or "api",
            notify=request.notify.model_dump(mode="json", exclude_none=True)
            if request.notify
            else None,
        )
        if submitted.created:
            log.info("check.submitted", check_id=submitted.check_id, steps=len(plan))
        else:
            log.info("check.duplicate_submission", check_id=submitted.check_id)
        # Sent after the commit, from the outbox: a new check's message, or one that an earlier
        # submission with this key stored but could not send (BrokerUnavailable if not now).
        self.outbox.send_now(submitted.check_id)
        return submitted

    def _check_notify(self, notify: Notify) -> None:
        """Refuse a notify target the configuration does not allow (a field error)."""
        settings = self.store.settings
        problems: list[Problem] = []
        if notify.actor is not None:
            why = actor_refusal(notify.actor, settings.notify_allowed_actors)
            if why:
                problems.append(Problem("notify.actor", why))
        if notify.url is not None:
            why = url_refusal(notify.url, settings.notify_allowed_hosts)
            if why:
                problems.append(Problem("notify.url", why))
        if problems:
            raise InvalidRequest(problems)

    def rerun(self, check_id: str, actor: str) -> list[str]:
        """Reopen a failed check and queue it; only unfinished steps are searched again."""
        # Reopening a check no configured key can read would only fail it again.
        KeyService(self.store).require_readable(check_id)
        again = self.store.prepare_rerun(check_id, actor)
        self.outbox.add(check_id)
        self.outbox.send_now(check_id)
        log.info("check.rerun", check_id=check_id, agencies=again)
        return again

    def reconcile(self, stale_after: timedelta, deadline: timedelta) -> ReconcileReport:
        """Fail checks past their deadline; re-queue the others that made no progress."""
        failed = [
            cid
            for cid in self.store.overdue(deadline)
            if self.store.mark_failed(
                cid, f"not finished within the deadline of {deadline}", actor="reconciler"
            )
        ]
        # Messages the broker never took (down at submit): a few seconds' grace so that a
        # submission still sending its own message is not raced.
        swept = self.outbox.flush(older_than=OUTBOX_GRACE)
        requeued = self.store.claim_stale(stale_after)
        # Through the outbox too: with the broker down they wait there for the next sweep
        # rather than for the next stale period.
        unsent = list(swept.unsent)
        for cid in requeued:
            self.outbox.add(cid)
            if not unsent:  # one failure is enough to know the broker is down
                unsent += self.outbox.flush(cid).unsent
            else:
                unsent.append(cid)
        if requeued or failed or swept.sent or unsent:
            log.warning(
                "reconcile.acted",
                requeued=len(requeued),
                failed=len(failed),
                resent=len(swept.sent),
                unsent=len(unsent),
            )
        return ReconcileReport(requeued, failed, swept.sent, unsent)
