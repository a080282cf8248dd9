"""The ledger audit as a pure function: what counts as a mismatch, a duplicate, or neither."""

from __future__ import annotations

from checks.ledger import StepRecord, audit


def _step(check: str, agency: str, ref: str, state: str | None, slot: str = "credit") -> StepRecord:
    return StepRecord(check, slot, "applicant", agency, ref, "hard", state)


def test_a_ledger_equal_to_the_agencies_call_log_is_ok() -> None:
    report = audit(
        [
            _step("c1", "experian", "r1", "confirmed"),
            _step("c1", "cifas", "r2", "confirmed", slot="fraud"),
        ],
        {"experian": {"r1": "hard"}, "cifas": {"r2": "fraud"}},
    )
    assert report.ok and report.mismatches == 0
    assert (report.checks, report.ledger_rows, report.agency_searches) == (1, 2, 2)


def test_a_search_the_agency_holds_without_a_ledger_row_is_a_mismatch() -> None:
    report = audit([_step("c1", "experian", "r1", None)], {"experian": {"r1": "hard"}})
    assert not report.ok and [d.kind for d in report.missing] == ["missing_in_ledger"]


def test_a_confirmed_row_the_agency_does_not_hold_is_a_mismatch() -> None:
    report = audit([_step("c1", "experian", "r1", "confirmed")], {})
    assert report.mismatches == 1 and report.unseen_confirmed[0].client_ref == "r1"


def test_unknown_rows_are_never_mismatches_whether_or_not_the_agency_holds_them() -> None:
    report = audit(
        [_step("c1", "experian", "r1", "unknown"), _step("c2", "experian", "r2", "unknown")],
        {"experian": {"r1": "hard"}},
    )
    assert report.ok and (report.unknown_seen, report.unknown_unseen) == (1, 1)


def test_two_searches_the_agencies_hold_for_one_slot_are_a_duplicate() -> None:
    # A fallback after a possibly-sent search: two hard footprints for one application.
    report = audit(
        [_step("c1", "experian", "r1", "unknown"), _step("c1", "equifax", "r2", "confirmed")],
        {"experian": {"r1": "hard"}, "equifax": {"r2": "hard"}},
    )
    assert report.mismatches == 0 and not report.ok
    assert [(d.kind, d.agency) for d in report.duplicates] == [("duplicate", "equifax")]


def test_dual_bureau_slots_are_not_duplicates_of_each_other() -> None:
    report = audit(
        [
            _step("c1", "experian", "r1", "confirmed", slot="credit"),
            _step("c1", "equifax", "r2", "confirmed", slot="credit2"),
        ],
        {"experian": {"r1": "hard"}, "equifax": {"r2": "hard"}},
    )
    assert report.ok


def test_only_the_audited_checks_searches_are_compared() -> None:
    # The agency's log holds other checks' searches too; they are outside this audit.
    report = audit(
        [_step("c1", "experian", "r1", "confirmed")],
        {"experian": {"r1": "hard", "someone-else": "hard"}},
    )
    assert report.ok and report.agency_searches == 1
