"""The shared wire pieces: one address splitting, one score banding, one token reading."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx
import pytest

from agencies.contract import Address, NoticeAnswer, Person, ScoreBand, SearchRequest, SearchType
from agencies.parsing import BadShape
from agencies.wire import (
    AddressParts,
    band_for,
    credit_purpose,
    notice_answer,
    parse_bearer_token,
    score_bands,
    split_address,
)


@pytest.mark.parametrize(
    ("line1", "line2", "expected"),
    [
        ("10 High Street", "", AddressParts(number="10", street="High Street")),
        ("10a, High Street", "Headingley", AddressParts("10a", "", "High Street", "Headingley")),
        ("10-12 High Street", "", AddressParts(number="10-12", street="High Street")),
        ("Rose Cottage", "4 Mill Lane", AddressParts("4", "Rose Cottage", "Mill Lane")),
        (
            "Flat 2, Mill House",
            "Mill Lane",
            AddressParts(name="Flat 2, Mill House", street="Mill Lane"),
        ),
        ("Rose Cottage", "", AddressParts(name="Rose Cottage")),
    ],
)
def test_an_address_splits_its_house_number_from_the_street_on_either_line(
    line1: str, line2: str, expected: AddressParts
) -> None:
    address = Address(line1=f" {line1} ", line2=line2, town="York", postcode="YO1 7HH")
    assert split_address(address) == expected


BANDS = ((900, ScoreBand.EXCELLENT), (500, ScoreBand.FAIR), (100, ScoreBand.POOR))


@pytest.mark.parametrize(
    ("score", "band"),
    [
        (999, ScoreBand.EXCELLENT),
        (900, ScoreBand.EXCELLENT),
        (899, ScoreBand.FAIR),
        (100, ScoreBand.POOR),
        (99, ScoreBand.VERY_POOR),
    ],
)
def test_a_score_falls_in_the_best_band_whose_lowest_score_it_reaches(
    score: int, band: ScoreBand
) -> None:
    assert band_for(score, BANDS) is band


@pytest.mark.parametrize(
    "answer",
    [
        {"expires_in": 60},
        {"access_token": "", "expires_in": 60},
        {"access_token": "t", "expires_in": True},
        {"access_token": "t", "expires_in": "0"},
        {"access_token": "t", "expires_in": 60, "token_type": "MAC"},
        ["t"],
    ],
)
def test_an_unusable_token_answer_is_refused(answer: object) -> None:
    with pytest.raises(ValueError):
        parse_bearer_token(httpx.Response(200, json=answer))


def test_a_token_answer_gives_the_token_and_its_lifetime() -> None:
    answer = {"access_token": "t", "expires_in": "120", "token_type": "bearer"}
    assert parse_bearer_token(httpx.Response(200, json=answer)) == ("t", 120.0)


def test_a_band_table_lists_each_bands_lowest_score_best_first() -> None:
    bands = score_bands(900, 800, 700, 600)
    assert band_for(800, bands) is ScoreBand.GOOD
    assert band_for(599, bands) is ScoreBand.VERY_POOR


def test_a_notice_answer_the_contract_does_not_know_is_a_bad_shape() -> None:
    assert notice_answer("pending", "status") is NoticeAnswer.PENDING
    with pytest.raises(BadShape, match="status 'maybe'"):
        notice_answer("maybe", "status")


@pytest.mark.parametrize(
    ("search_type", "purpose", "code"),
    [
        (SearchType.HARD, "new_order", "APP"),
        (SearchType.SOFT, "quotation", "QUOTE"),
        (SearchType.SOFT, "in_life", "ACCOUNT"),
    ],
)
def test_a_credit_search_gets_the_code_for_its_type_and_purpose(
    search_type: SearchType, purpose: str, code: str
) -> None:
    request = _request(search_type, purpose)
    assert credit_purpose(request, hard="APP", quotation="QUOTE", in_life="ACCOUNT") == code


def test_a_fraud_search_has_no_credit_purpose() -> None:
    with pytest.raises(ValueError, match="fraud"):
        credit_purpose(
            _request(SearchType.FRAUD, "new_order"), hard="A", quotation="Q", in_life="I"
        )


def _request(search_type: SearchType, purpose: str) -> SearchRequest:
    address = Address(line1="1 A Road", town="York", postcode="YO1 7HH")
    person = Person(forename="A", surname="B", date_of_birth=date(1980, 1, 1), addresses=(address,))
    return SearchRequest(
        client_ref="R1",
        search_type=search_type,
        purpose=purpose,
        person=person,
        product_code="MOBILE-24M",
        credit_amount=Decimal("1"),
        term_months=1,
        channel="online",
    )
