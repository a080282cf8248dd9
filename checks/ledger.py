"""The ledger audit: our footprint ledger compared with what the agencies recorded.

Every search that may have reached an agency has a ledger row (``unknown`` until an answer
confirms it), so an agency never holds a search the ledger does not show, and a ``confirmed``
row always matches a search the agency holds. Pure functions over plain values: the store
supplies the steps and their rows (``checks.ledger_store``), the sandbox its call log;
:class:`LedgerService` puts the two together for the command line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from checks.on_store import OnStore
from checks.plain import FieldsAsDict
from checks.states import FootprintState

#: Ledger row states.
UNKNOWN, CONFIRMED = FootprintState.UNKNOWN, FootprintState.CONFIRMED


@dataclass(frozen=True)
class StepRecord:
    """One step of a check and its ledger row's state (None: no row, never possibly sent)."""

    check_id: str
    slot: str
    role: str
    agency: str
    client_ref: str
    search_type: str
    ledger_state: str | None


@dataclass(frozen=True)
class Discrepancy(FieldsAsDict):
    """One search on which the ledger and an agency disagree, or a repeated slot."""

    kind: str
    check_id: str
    agency: str
    client_ref: str


@dataclass(frozen=True)
class LedgerAudit:
    """The comparison for a set of checks. ``ok`` when the three problem lists are empty.

    - ``missing``: the agency holds a search the ledger has no row for (the ledger is short);
    - ``unseen_confirmed``: a confirmed row the agency does not hold (the ledger is wrong);
    - ``duplicates``: more than one search the agency holds for one slot of one check (a
      fallback after a possibly-sent search: two hard footprints for one application);
    - ``unknown_seen`` / ``unknown_unseen``: unknown rows the agency does / does not hold.
      Neither is wrong (an unknown row says "may have reached"); a rerun confirms the first.
    """

    checks: int
    ledger_rows: int
    agency_searches: int
    missing: list[Discrepancy] = field(default_factory=list)
    unseen_confirmed: list[Discrepancy] = field(default_factory=list)
    duplicates: list[Discrepancy] = field(default_factory=list)
    unknown_seen: int = 0
    unknown_unseen: int = 0

    @property
    def mismatches(self) -> int:
        """Searches on which the ledger and the agencies disagree (should be 0)."""
        return len(self.missing) + len(self.unseen_confirmed)

    @property
    def ok(self) -> bool:
        """No mismatch and no duplicate search."""
        return self.mismatches == 0 and not self.duplicates

    def as_dict(self) -> dict[str, Any]:
        """Plain form for JSON output (``checkctl ledger audit --json``)."""
        return {
            "ok": self.ok,
            "checks": self.checks,
            "ledger_rows": self.ledger_rows,
            "agency_searches": self.agency_searches,
            "mismatches": self.mismatches,
            "duplicate_searches": len(self.duplicates),
            "unknown_seen": self.unknown_seen,
            "unknown_unseen": self.unknown_unseen,
            "problems": [
                d.as_dict() for d in [*self.missing, *self.unseen_confirmed, *self.duplicates]
            ],
        }


def audit(
    steps: Iterable[StepRecord], agency_searches: Mapping[str, Mapping[str, Any]]
) -> LedgerAudit:
    """Compare the ledger rows of ``steps`` with ``agency_searches`` (agency -> client refs).

    Only agency searches under the client references of ``steps`` are considered, so any set
    of checks can be audited against an agency's whole call log.
    """
    records = list(steps)
    missing: list[Discrepancy] = []
    unseen_confirmed: list[Discrepancy] = []
    seen_per_slot: Counter[tuple[str, str, str]] = Counter()
    duplicates: list[Discrepancy] = []
    unknown_seen = unknown_unseen = rows = seen_total = 0
    for r in records:
        seen = r.client_ref in agency_searches.get(r.agency, {})
        rows += r.ledger_state is not None
        if seen:
            seen_total += 1
            slot = (r.check_id, r.role, r.slot)
            seen_per_slot[slot] += 1
            if seen_per_slot[slot] > 1:
                duplicates.append(Discrepancy("duplicate", r.check_id, r.agency, r.client_ref))
        if r.ledger_state is None and seen:
            missing.append(Discrepancy("missing_in_ledger", r.check_id, r.agency, r.client_ref))
        elif r.ledger_state == CONFIRMED and not seen:
            unseen_confirmed.append(
                Discrepancy("confirmed_not_at_agency", r.check_id, r.agency, r.client_ref)
            )
        elif r.ledger_state == UNKNOWN:
            unknown_seen += seen
            unknown_unseen += not seen
    return LedgerAudit(
        checks=len({r.check_id for r in records}),
        ledger_rows=rows,
        agency_searches=seen_total,
        missing=missing,
        unseen_confirmed=unseen_confirmed,
        duplicates=duplicates,
        unknown_seen=unknown_seen,
        unknown_unseen=unknown_unseen,
    )


class LedgerService(OnStore):
    """The ledger of a set of checks audited against an agency call log."""

    def audit(
        self,
        agency_searches: Mapping[str, Mapping[str, Any]],
        *,
        check_ids: Sequence[str] | None = None,
        since: datetime | None = None,
    ) -> LedgerAudit:
        """Audit these checks (or all, or those since) against ``agency_searches``."""
        from checks.ledger_store import audit_ledger  # the store's side; it imports this module

        return audit_ledger(self.store, agency_searches, check_ids, since)
