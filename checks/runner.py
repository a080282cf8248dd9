"""Running one check: search every unfinished step concurrently, then decide.

The runner is broker-agnostic: the ``run_check`` actor calls :meth:`CheckRunner.run`, and so
can a test, without Dramatiq. Every step outcome is written as it arrives (result and footprint
in one transaction), so a crash loses at most the step that was in the air, and that one is
retried with the same client reference.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import socket
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, Literal, TypeVar

import structlog
from sqlalchemy import Connection

from agencies.config import Agencies
from agencies.contract import AgencyKind, ResultEnvelope, Role, SearchResult
from agencies.errors import AgencyError, TransientAgencyError
from checks import direct
from checks.associations import (
    AssociateCredit,
    association_findings,
    current_associate_results,
)
from checks.crypto import EncryptionKeyError
from checks.errors import StepsPending
from checks.group_commit import GroupCommit
from checks.inputs import CheckInputs
from checks.keys import missing_key_message
from checks.models import utcnow
from checks.names import refer_mixed_script_names
from checks.plans import fallback_agency
from checks.policy import PolicyThresholds, Verdict, decide
from checks.states import STEP_OPEN, StepStatus
from checks.store import ClaimedCheck, StepState, Store

log = structlog.get_logger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RunResult:
    """How one run ended."""

    check_id: str
    status: Literal["decided", "failed", "skipped"]
    #: The check ended and its request asked to be told the outcome.
    notify: bool = False


def new_owner() -> str:
    """A lease owner id unique to this run: host, process and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class _Outcomes:
    """What the outcomes read at the end of a run said: a verdict (written), or the steps
    that failed or are still open (nothing written)."""

    verdict: Verdict | None = None
    failed: tuple[StepState, ...] = ()
    pending: tuple[StepState, ...] = ()


class CheckRunner:
    """Runs checks against the configured agencies and records everything in the store.

    Given a ``writer``, the claim, each step's outcome and the decision are made through it
    (group commit: one transaction for the writes of every running check); otherwise each is
    a transaction of its own on the store's threads.
    """

    def __init__(
        self,
        store: Store,
        agencies: Agencies,
        *,
        lease_seconds: float = 60.0,
        thresholds: PolicyThresholds | None = None,
        store_threads: int = 16,
        writer: GroupCommit | None = None,
    ) -> None:
        self.store = store
        self.agencies = agencies
        self.lease_seconds = lease_seconds
        self.thresholds = thresholds
        # Store calls block; they run on threads of their own. Not the event loop's default
        # executor: that one also resolves host names for new agency connections, which must
        # not queue behind a burst of database work. More threads only contend for the GIL
        # (a burst of 100 checks at 1 s latency: p50 1.85 s with 8 or 24, 2.15 s with 64).
        self._store_threads = ThreadPoolExecutor(store_threads, thread_name_prefix="store")
        self.writer = writer

    async def _in_store(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a blocking store call on the store's threads, keeping the logging context."""
        call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._store_threads, call)

    async def _write(
        self, steps: Callable[..., direct.Steps[T]], /, *args: Any, **kwargs: Any
    ) -> T:
        """Make a write given as steps (``steps(conn, *args, **kwargs)``): through the writer
        if there is one (answered once durable), else as its own transaction on the store's
        threads."""
        if self.writer is None:
            return await self._in_store(self.store.run_steps, steps, *args, **kwargs)
        return await self.writer.write(lambda conn: steps(conn, *args, **kwargs))

    async def _fail_for_good(
        self, step: StepState, code: str, message: str, unsent_in_run: int | None = None
    ) -> None:
        """Fail a step that no retry can help (no adapter for its agency, a bug in the adapter)."""
        await self._in_store(
            self.store.fail_step,
            step.id,
            permanent=True,
            code=code,
            message=message,
            unsent_in_run=unsent_in_run,
            attempts=step.attempts,
        )

    async def run(self, check_id: str) -> RunResult:
        """Search what is unfinished, then decide, fail, or raise :class:`StepsPending`."""
        owner = new_owner()
        try:
            # Raises CheckBusy if another worker holds the lease: the message is retried later.
            claimed = await self._write(
                self.store.claim_steps, check_id, owner, self.lease_seconds, self._purpose_code
            )
        except EncryptionKeyError:
            # No retry can bring a key back: fail now, with the reason, not after six attempts.
            await self._in_store(self._key_missing, check_id)
            return RunResult(check_id, "failed")
        if claimed is None:
            log.info("check.skipped", check_id=check_id, why="already ended")
            return RunResult(check_id, "skipped")
        renewer = asyncio.create_task(self._keep_lease(check_id, owner))
        log.info(
            "check.running",
            check_id=check_id,
            open_steps=sum(s.status in STEP_OPEN for s in claimed.steps),
        )
        ended = False
        try:
            used = self._agencies_in_use(claimed.steps)
            # The results this run wrote, by step id: the decision reads the others back.
            written: dict[int, SearchResult] = {}
            steps = [
                self._run_step(claimed, st, used, written)
                for st in claimed.steps
                if st.status in STEP_OPEN
            ]
            await self._run_steps(steps)
            try:
                outcomes = await self._write(self._decide, check_id, person_names(claimed), written)
                result = await self._conclude(check_id, claimed.notify, outcomes)
            except EncryptionKeyError:  # a stored result under a key no longer configured
                await self._in_store(self._key_missing, check_id)
                ended = True
                return RunResult(check_id, "failed", claimed.notify)
            ended = True
            return result
        finally:
            renewer.cancel()
            if not ended:  # an ended check's lease was cleared with its outcome
                await self._in_store(self.store.release, check_id, owner)

    def _purpose_code(self, inputs: CheckInputs, step: StepState) -> str:
        """The agency's purpose code for a step, for its ledger row ("" if it cannot say)."""
        adapter = self.agencies.adapters.get(step.agency)
        if adapter is None:
            return ""
        try:
            return adapter.purpose_code(
                inputs.search_request(step.role, step.search_type, step.client_ref)
            )
        except ValueError:  # a search type the agency cannot run: refused before sending
            return ""

    async def _run_steps(self, steps: list[Coroutine[Any, Any, None]]) -> None:
        """Search every open step at once (a subclass may order them otherwise)."""
        await asyncio.gather(*steps)

    async def _keep_lease(self, check_id: str, owner: str) -> None:
        # A short lease renewed while working: if this worker dies, another can take over soon.
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            await self._in_store(self.store.renew, check_id, owner, self.lease_seconds)

    @staticmethod
    def _agencies_in_use(steps: tuple[StepState, ...]) -> dict[Role, set[str]]:
        used: dict[Role, set[str]] = {}
        for st in steps:
            if st.kind is AgencyKind.CRA:
                used.setdefault(st.role, set()).add(st.agency)
        return used

    async def _run_step(
        self,
        claimed: ClaimedCheck,
        step: StepState,
        used: dict[Role, set[str]],
        written: dict[int, SearchResult],
    ) -> None:
        while True:
            adapter = self.agencies.adapters.get(step.agency)
            if adapter is None:
                await self._fail_for_good(
                    step,
                    "agency_not_configured",
                    f"{step.agency}: no adapter is configured for this agency",
                    unsent_in_run=self._marked_here(claimed, step),
                )
                return
            # The claim (or the fallback) already marked the step running and counted the attempt.
            request = claimed.inputs.search_request(step.role, step.search_type, step.client_ref)
            asked = time.monotonic()
            try:
                result = await adapter.search(request)
            except AgencyError as exc:
                nxt = self._fallback(claimed, step, exc, used)
                if nxt is not None:
                    log.warning(
                        "step.fallback",
                        check_id=claimed.id,
                        slot=step.slot,
                        from_agency=step.agency,
                        to_agency=nxt,
                        code=exc.code,
                    )
                    used.setdefault(step.role, set()).add(nxt)
                    step = await self._in_store(
                        self.store.supersede,
                        step.id,
                        nxt,
                        str(exc),
                        run=claimed.run,
                        attempts=step.attempts,
                        purpose_code=self._purpose_code(claimed.inputs, replace(step, agency=nxt)),
                    )
                    continue
                log.warning(
                    "step.failed",
                    check_id=claimed.id,
                    agency=step.agency,
                    code=exc.code,
                    retryable=exc.retryable,
                )
                await self._in_store(
                    self.store.fail_step,
                    step.id,
                    permanent=not exc.retryable,
                    code=exc.code,
                    message=str(exc),
                    # Certainly not sent: this run's mark and unknown row are taken back.
                    unsent_in_run=None if exc.sent else self._marked_here(claimed, step),
                    attempts=step.attempts,
                )
                return
            except Exception as exc:  # an adapter bug must fail the step, not the worker
                log.exception(
                    "step.adapter_error",
                    check_id=claimed.id,
                    agency=step.agency,
                    error_type=type(exc).__name__,
                )
                await self._fail_for_good(
                    step,
                    "adapter_error",
                    f"{step.agency}: internal error in adapter ({type(exc).__name__})",
                )
                return
            answered = time.monotonic()
            envelope = ResultEnvelope(result=result)
            if await self._write(
                self.store.complete_step_steps, step.id, envelope, adapter.purpose_code(request)
            ):
                # Stored as this: read back, it is the same (``model_validate_json`` of its
                # JSON), so the decision need not decrypt and parse it again.
                written[step.id] = envelope.result
            log.info(
                "step.completed",
                check_id=claimed.id,
                agency=step.agency,
                search_type=step.search_type.value,
                agency_ms=round((answered - asked) * 1000),
            )
            return

    @staticmethod
    def _marked_here(claimed: ClaimedCheck, step: StepState) -> int | None:
        """This run's number if this run first marked the step as possibly sent, else None."""
        return claimed.run if step.sent_in_run == claimed.run else None

    def _fallback(
        self, claimed: ClaimedCheck, step: StepState, exc: AgencyError, used: dict[Role, set[str]]
    ) -> str | None:
        # Only a CRA that was certainly never searched may be replaced: falling back after an
        # unknown outcome could leave two hard footprints for one application. "Never" spans
        # every try of the step: this error (which covers every quick retry of this call) and
        # every earlier attempt, retry, redelivery or rerun, which the step's persisted
        # possibly-sent mark remembers. An open breaker now says nothing about an attempt
        # that timed out before it.
        if (
            step.kind is not AgencyKind.CRA
            or exc.sent
            or not isinstance(exc, TransientAgencyError)
            or self._marked_here(claimed, step) is None
        ):
            return None
        return fallback_agency(used.get(step.role, set()), self.agencies.names())

    def _decide(
        self,
        c: Connection,
        check_id: str,
        names: tuple[str, ...] = (),
        written: Mapping[int, SearchResult] | None = None,
    ) -> direct.Steps[_Outcomes]:
        """Read the outcomes and, if every step completed, write the decision: steps of one
        write on ``c``. ``written``: results this run stored, by step id."""
        found = yield from self.store.outcomes_steps(check_id, known=written)
        steps = [s for s in found.steps if s.status != StepStatus.SUPERSEDED]
        failed = tuple(s for s in steps if s.status == StepStatus.FAILED)
        if failed:
            return _Outcomes(failed=failed)
        pending = tuple(s for s in steps if s.status in STEP_OPEN)
        if pending:
            return _Outcomes(pending=pending)
        associates = self._associates(check_id, c) if found.has_associations else []
        verdict = decide(
            found.results, self.thresholds, association_findings(associates, self.thresholds)
        )
        # A name mixing scripts may be a homoglyph of someone the agencies know.
        verdict = refer_mixed_script_names(verdict, names)
        if (yield from self.store.record_decision_steps(c, check_id, verdict, owner="worker")):
            self.store.associations.record_uses(
                c, check_id, {a.association_id for a in associates}, utcnow()
            )
        return _Outcomes(verdict=verdict)

    async def _conclude(self, check_id: str, notify: bool, outcomes: _Outcomes) -> RunResult:
        """End the run as the outcomes say: decided, failed, or retried later."""
        if outcomes.pending:
            raise StepsPending(failure_summary(list(outcomes.pending)))
        if outcomes.failed:
            failed = list(outcomes.failed)
            await self._in_store(
                self.store.mark_failed, check_id, failure_summary(failed), actor="worker"
            )
            log.warning("check.failed", check_id=check_id, steps=[s.agency for s in failed])
            return RunResult(check_id, "failed", notify)
        assert outcomes.verdict is not None
        log.info(
            "check.decided",
            check_id=check_id,
            decision=outcomes.verdict.decision.value,
            flagged=outcomes.verdict.flag is not None,
        )
        return RunResult(check_id, "decided", notify)

    def _key_missing(self, check_id: str) -> None:
        log.error("check.encryption_key_missing", check_id=check_id)
        self.store.mark_failed(check_id, missing_key_message(check_id), actor="worker")

    def _associates(self, check_id: str, tx: Connection) -> list[AssociateCredit]:
        """The applicant's active associates' recent credit results (not the joint applicant's:
        their own searches are already in the decision)."""
        now = utcnow()
        max_age = timedelta(days=self.store.settings.associate_result_max_age_days)
        found = self.store.associations.associate_credit(tx, check_id, max_age=max_age, now=now)
        return current_associate_results(found, now, max_age)

    def give_up(self, check_id: str, why: str) -> bool:
        """Mark a check failed once retries are exhausted, naming each unfinished step."""
        steps = [s for s in self.store.steps(check_id) if s.status in STEP_OPEN]
        detail = failure_summary(steps) if steps else "no step outcome recorded"
        return self.store.mark_failed(check_id, f"{why}: {detail}", actor="worker")


def person_names(claimed: ClaimedCheck) -> tuple[str, ...]:
    """Every name of every person the check is about (for the mixed-script rule)."""
    people = [claimed.inputs.applicant, claimed.inputs.joint, *claimed.inputs.associates]
    return tuple(
        name
        for p in people
        if p is not None
        for name in (p.forename, p.middle_names, p.surname)
        if name
    )


def failure_summary(steps: list[StepState]) -> str:
    """One line per step: agency, slot, what went wrong and how many attempts were made."""
    return "; ".join(
        f"{s.agency} ({s.slot}): {s.error or s.status} after {s.attempts} attempt(s)" for s in steps
    )
