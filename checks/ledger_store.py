"""The store's side of the ledger audit: each step of a set of checks with its ledger row."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from checks.ledger import LedgerAudit, StepRecord, audit
from checks.models import Check, Footprint, Step
from checks.store import Store

#: Check ids per query (bound parameters stay well under every driver's limit).
CHUNK = 500


def step_records(
    store: Store, check_ids: Sequence[str] | None = None, since: datetime | None = None
) -> list[StepRecord]:
    """Every step (superseded ones too) of the given checks, or of those created since."""
    base = (
        select(
            Step.check_id,
            Step.slot,
            Step.role,
            Step.agency,
            Step.client_ref,
            Step.search_type,
            Footprint.state.label("ledger_state"),
        )
        .outerjoin(Footprint, Footprint.step_id == Step.id)
        .order_by(Step.id)
    )
    queries = []
    if check_ids is not None:
        ids = list(check_ids)
        queries = [
            base.where(Step.check_id.in_(ids[i : i + CHUNK])) for i in range(0, len(ids), CHUNK)
        ]
    else:
        checks = select(Check.id)
        if since is not None:
            checks = checks.where(Check.created_at >= since)
        queries = [base.where(Step.check_id.in_(checks))]
    records: list[StepRecord] = []
    with store.transaction() as c:
        for query in queries:
            # The query selects exactly the record's fields, by name.
            records += [StepRecord(**r._mapping) for r in c.execute(query)]
    return records


def audit_ledger(
    store: Store,
    agency_searches: Mapping[str, Mapping[str, Any]],
    check_ids: Sequence[str] | None = None,
    since: datetime | None = None,
) -> LedgerAudit:
    """Audit the ledger of these checks (or all, or those since) against an agency call log.

    ``agency_searches`` is agency -> client reference -> anything, e.g.
    ``Sandbox.searches()`` in process or ``sandbox_server.fetch_searches(url)`` over HTTP.
    """
    return audit(step_records(store, check_ids, since), agency_searches)
