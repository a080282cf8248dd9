"""The association rules as pure functions, with a frozen clock: no database, no broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agencies.contract import CreditResult, Role, ScoreBand, SearchType
from checks.associations import (
    AssociateCredit,
    AssociationSource,
    AssociationStatus,
    NoticeStatus,
    SameSubject,
    association_findings,
    current_associate_results,
    joint_application_links,
    pair,
    status_after_answers,
)
from checks.config import Settings
from checks.errors import InvalidRequest
from checks.policy import Decision, decide
from checks.request import parse_check_request
from checks.samples import person_fields
from tests.helpers import request_for
from workers.settings import WorkerSettings

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def credit(**kw: object) -> CreditResult:
    base: dict[str, object] = dict(
        agency="experian",
        client_ref="r",
        score=900,
        score_band=ScoreBand.GOOD,
        identity_verified=True,
    )
    return CreditResult.model_validate({**base, **kw})


def associate(result: CreditResult, searched_days_ago: int = 1, id_: int = 7) -> AssociateCredit:
    return AssociateCredit(
        id_, AssociationSource.JOINT_APPLICATION, NOW - timedelta(days=searched_days_ago), result
    )


def test_a_pair_is_stored_in_one_order_whoever_comes_first() -> None:
    assert pair("b", "a") == pair("a", "b") == ("a", "b")


def test_a_person_cannot_be_associated_with_themselves() -> None:
    with pytest.raises(SameSubject):
        pair("a", "a")


@pytest.mark.parametrize(
    ("has_joint", "types", "links"),
    [
        (True, [SearchType.HARD, SearchType.FRAUD], True),
        (True, [SearchType.SOFT], False),  # a joint quotation links nobody
        (True, [], False),
        (False, [SearchType.HARD], False),
    ],
)
def test_only_a_hard_joint_application_links_the_applicants(
    has_joint: bool, types: list[SearchType], links: bool
) -> None:
    assert joint_application_links(has_joint, types) is links


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([NoticeStatus.ACCEPTED] * 3, AssociationStatus.BROKEN),
        ([NoticeStatus.ACCEPTED, NoticeStatus.ACCEPTED, NoticeStatus.REFUSED], "breaking"),
        ([NoticeStatus.ACCEPTED, NoticeStatus.SENT, NoticeStatus.QUEUED], "breaking"),
        ([], "breaking"),
    ],
)
def test_an_association_is_broken_only_when_every_cra_accepted(
    statuses: list[NoticeStatus], expected: str
) -> None:
    assert status_after_answers(statuses) == expected


def test_an_associates_current_insolvency_refers_with_a_reason_naming_the_association() -> None:
    (finding,) = association_findings([associate(credit(insolvency_current=True))])
    assert finding.outcome is Decision.REFER
    assert finding.reason.code == "ASSOCIATE_INSOLVENCY"
    assert "association 7, joint application" in finding.reason.text
    assert finding.reason.agency == "experian"


def test_serious_adverse_data_refers_and_a_single_ccj_or_poor_score_does_not() -> None:
    assert [f.reason.code for f in association_findings([associate(credit(judgments=2))])] == [
        "ASSOCIATE_ADVERSE"
    ]
    assert [f.reason.code for f in association_findings([associate(credit(defaults=3))])] == [
        "ASSOCIATE_ADVERSE"
    ]
    mild = credit(judgments=1, defaults=1, score_band=ScoreBand.VERY_POOR)
    assert list(association_findings([associate(mild)])) == []


def test_an_associate_never_declines_the_applicant_on_their_own() -> None:
    clean = [(Role.APPLICANT, credit())]
    worst = credit(insolvency_current=True, judgments=5, defaults=9)
    verdict = decide(clean, associate_findings=association_findings([associate(worst)]))
    assert verdict.decision is Decision.REFER
    assert {r.code for r in verdict.reasons} == {"ASSOCIATE_INSOLVENCY", "ASSOCIATE_ADVERSE"}
    assert decide(clean).decision is Decision.ACCEPT


def test_only_associate_results_within_the_configured_age_are_used() -> None:
    fresh, old = associate(credit(), 89), associate(credit(), 91)
    assert current_associate_results([fresh, old], NOW, timedelta(days=90)) == [fresh]


def test_the_associate_result_age_is_configurable() -> None:
    env = {"CHECKS_ASSOCIATE_RESULT_MAX_AGE_DAYS": "30"}
    assert Settings.from_env(env).associate_result_max_age_days == 30
    assert Settings.from_env({}).associate_result_max_age_days == 90


def test_a_notices_retries_outlast_a_cra_down_for_an_hour_with_the_default_settings() -> None:
    ws = WorkerSettings.from_env({"CHECKS_BROKER_URL": "redis://127.0.0.1:6379/0"})
    assert ws.notice_retry_floor_ms() >= 3600 * 1000
    # The message must not age out before its retries have run.
    longest = sum(
        min(ws.notice_min_backoff_ms * 2 ** (n + 1), ws.notice_max_backoff_ms)
        for n in range(ws.notice_max_retries)
    )
    assert ws.notice_max_age_ms > longest


def test_a_retry_floor_counts_backoff_jittered_down_to_half_of_the_cap() -> None:
    ws = WorkerSettings(notice_max_retries=3, notice_min_backoff_ms=100, notice_max_backoff_ms=300)
    assert ws.notice_retry_floor_ms() == 100 + 150 + 150


def test_a_joint_applicant_who_is_the_applicant_is_invalid() -> None:
    req = request_for("alice", joint_applicant=person_fields_of("alice"))
    with pytest.raises(InvalidRequest) as caught:
        parse_check_request(req)
    assert [p.field for p in caught.value.problems] == ["joint_applicant"]


def test_a_declared_associate_who_is_the_applicant_is_invalid() -> None:
    req = request_for(
        "alice", financial_associates=[person_fields_of("bob"), person_fields_of("alice")]
    )
    with pytest.raises(InvalidRequest) as caught:
        parse_check_request(req)
    assert [p.field for p in caught.value.problems] == ["financial_associates.1"]


def person_fields_of(key: str) -> dict[str, object]:
    from agencies.sandbox import default_fixtures

    return person_fields(default_fixtures().persona(key))
