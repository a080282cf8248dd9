"""The typed read model of a check gives the JSON view `show --json` has always printed."""

from __future__ import annotations

from checks.check_view import CheckView, ReasonView, StepView, TimelineEntry


def _view() -> CheckView:
    return CheckView(
        id="c1",
        idempotency_key="K",
        status="decided",
        decision="refer",
        reasons=(ReasonView("THIN_FILE", "Thin file", "experian"),),
        failure_reason=None,
        purpose="new_order",
        channel="store",
        product_code="P",
        credit_amount="720.00",
        requested_by=None,
        steps=(
            StepView(
                "experian",
                "credit:applicant:1",
                "applicant",
                "hard",
                "completed",
                1,
                None,
                "ref",
                False,
            ),
        ),
        footprints=(),
        flagged=False,
        flag_reason=None,
        flagged_at=None,
        retention_until=None,
        legal_hold=False,
        purged=False,
        subject_id=None,
        joint_subject_id=None,
        automated_decision=True,
        review_available=False,
        review={"automated": True, "version": 1, "review": None},
        created_at="2026-01-01T00:00:00+00:00",
        finished_at=None,
        runs=1,
        timeline=(TimelineEntry("2026-01-01T00:00:00+00:00", "api", "submitted", None),),
        associations=[],
    )


def test_the_view_keeps_the_show_json_keys_in_order_with_the_review_keys_in_place() -> None:
    keys = list(_view().as_dict())
    at = keys.index("review_available")
    assert keys[at + 1 : at + 4] == ["automated", "version", "review"]
    assert keys[:4] == ["id", "idempotency_key", "status", "decision"]
    assert keys[-5:] == ["created_at", "finished_at", "runs", "timeline", "associations"]


def test_nested_rows_become_plain_dicts() -> None:
    data = _view().as_dict()
    assert data["reasons"] == [{"code": "THIN_FILE", "text": "Thin file", "agency": "experian"}]
    assert data["steps"][0]["possibly_sent"] is False
    assert data["timeline"][0] == {
        "at": "2026-01-01T00:00:00+00:00",
        "actor": "api",
        "action": "submitted",
        "detail": None,
    }
