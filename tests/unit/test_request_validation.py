"""Validation of the check request (SPEC.md, "Check request (JSON)").

Every test pins ``today`` so ages, future dates and the three-year address history do not
depend on the day the suite runs.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checks.errors import InvalidRequest
from checks.request import (
    Channel,
    CheckRequest,
    Purpose,
    load_check_request,
    parse_check_request,
)

TODAY = date(2026, 11, 23)

# The example from SPEC.md, verbatim; it is the contract callers copy from.
SPEC_EXAMPLE: dict[str, Any] = {
    "idempotency_key": "ORD-10001",
    "purpose": "new_order",
    "channel": "online",
    "product": {"code": "MOBILE-24M", "credit_amount": "720.00", "term_months": 24},
    "applicant": {
        "title": "Ms",
        "forename": "Jane",
        "middle_names": "",
        "surname": "Doe",
        "date_of_birth": "1985-03-14",
        "email": "jane@example.com",
        "phone": "+447700900123",
        "addresses": [
            {
                "line1": "10 High Street",
                "line2": "",
                "town": "Leeds",
                "postcode": "LS1 4AP",
                "from": "2021-06-01",
                "to": None,
            },
            {
                "line1": "4 Mill Lane",
                "line2": "",
                "town": "York",
                "postcode": "YO1 7HH",
                "from": "2016-02-01",
                "to": "2021-05-31",
            },
        ],
        "employment": {"status": "employed", "annual_income": "32000.00"},
        "device": {"ip": "203.0.113.7"},
    },
    "joint_applicant": None,
    "financial_associates": [],
    "delivery_address": None,
    "requested_by": "orders-service",
    "notify": None,
}


def a_valid_request() -> dict[str, Any]:
    """A fresh, mutable copy of the SPEC example."""
    return copy.deepcopy(SPEC_EXAMPLE)


def problems_of(data: object) -> dict[str, str]:
    """Validate ``data``, expecting rejection; map each offending field to its message."""
    with pytest.raises(InvalidRequest) as raised:
        parse_check_request(data, today=TODAY)
    return {problem.field: problem.message for problem in raised.value.problems}


# --- the happy path ---------------------------------------------------------------------------


def test_the_spec_example_is_valid_and_dumps_back_to_the_same_json() -> None:
    # Given the example request from the SPEC
    data = a_valid_request()

    # When it is validated
    request = parse_check_request(data, today=TODAY)

    # Then it is accepted and dumps back to exactly the submitted document
    assert request.purpose is Purpose.NEW_ORDER
    assert request.channel is Channel.ONLINE
    assert request.applicant.addresses[0].from_ == date(2021, 6, 1)
    assert request.model_dump(by_alias=True, mode="json") == SPEC_EXAMPLE


def test_the_spec_example_loads_from_json_text() -> None:
    # Given the SPEC example as JSON text
    text = json.dumps(SPEC_EXAMPLE, indent=2)

    # When it is loaded
    request = load_check_request(text, today=TODAY)

    # Then it is the same request as the one validated from the decoded document
    assert request == parse_check_request(a_valid_request(), today=TODAY)


def test_canonical_json_ignores_cosmetic_differences_so_idempotency_does_not_conflict() -> None:
    # Given the same request written two ways: lower-case postcode, spaced phone, "720"
    data = a_valid_request()
    data["applicant"]["addresses"][0]["postcode"] = " ls14ap "
    data["applicant"]["phone"] = "+44 7700 900123"
    data["product"]["credit_amount"] = "720"
    reordered = dict(reversed(list(a_valid_request().items())))

    # When both are validated
    cosmetic = parse_check_request(data, today=TODAY)
    original = parse_check_request(reordered, today=TODAY)

    # Then their canonical JSON is identical, with sorted keys and the JSON field names
    assert cosmetic.canonical_json() == original.canonical_json()
    canonical = json.loads(original.canonical_json())
    assert list(canonical) == sorted(canonical)
    assert canonical["applicant"]["addresses"][0]["from"] == "2021-06-01"


def test_canonical_json_differs_when_the_request_differs() -> None:
    # Given two requests that differ only in the amount of credit
    changed = a_valid_request()
    changed["product"]["credit_amount"] = "720.01"

    # When both are validated
    first = parse_check_request(a_valid_request(), today=TODAY)
    second = parse_check_request(changed, today=TODAY)

    # Then their canonical JSON differs, so reusing the key is a conflict
    assert first.canonical_json() != second.canonical_json()


def test_a_validated_request_cannot_be_changed() -> None:
    # Given a validated request
    request = parse_check_request(a_valid_request(), today=TODAY)

    # When someone tries to change it, then pydantic refuses (the request is evidence)
    with pytest.raises(ValueError):
        request.requested_by = "someone-else"


# --- postcodes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "postcode",
    ["12345", "SW1A1AAA", "QA1 1AA", "LS1 4CP", "LS1  4AP", "90210", "", "LS1-4AP"],
)
def test_a_postcode_that_is_not_british_is_rejected_with_its_field_path(postcode: str) -> None:
    # Given a request whose current address has a postcode that is not a UK one
    data = a_valid_request()
    data["applicant"]["addresses"][0]["postcode"] = postcode

    # When it is validated
    problems = problems_of(data)

    # Then exactly that field is reported
    assert list(problems) == ["applicant.addresses.0.postcode"]
    assert "UK postcode" in problems["applicant.addresses.0.postcode"]


@pytest.mark.parametrize(
    ("written", "normalised"),
    [
        ("ls14ap", "LS1 4AP"),
        ("Yo1 7hh", "YO1 7HH"),
        ("ec1a1bb", "EC1A 1BB"),
        ("W1A 0AX", "W1A 0AX"),
        ("m11ae", "M1 1AE"),
        ("gir0aa", "GIR 0AA"),
        ("  DN55 1PT ", "DN55 1PT"),
    ],
)
def test_a_uk_postcode_is_normalised_to_upper_case_with_one_space(
    written: str, normalised: str
) -> None:
    # Given a request with a postcode in any case, with or without its space
    data = a_valid_request()
    data["applicant"]["addresses"][1]["postcode"] = written

    # When it is validated
    request = parse_check_request(data, today=TODAY)

    # Then the postcode is stored in the Royal Mail form
    assert request.applicant.addresses[1].postcode == normalised


_FIRST = "ABCDEFGHIJKLMNOPRSTUWYZ"  # never Q, V, X
_SECOND = "ABCDEFGHKLMNOPQRSTUVWXY"  # never I, J, Z
_THIRD = "ABCDEFGHJKPSTUW"  # the letter in A9A
_FOURTH = "ABEHMNPRVWXY"  # the letter in AA9A
_INWARD = "ABDEFGHJLNPQRSTUWXYZ"  # never C, I, K, M, O, V
_DIGIT = "0123456789"


@st.composite
def uk_postcodes(draw: st.DrawFn) -> tuple[str, str]:
    """A UK postcode as a person might type it, and its normalised form."""
    shape = draw(st.sampled_from(["A9", "A99", "AA9", "AA99", "A9A", "AA9A"]))
    pools = {
        "A9": [_FIRST, _DIGIT],
        "A99": [_FIRST, _DIGIT, _DIGIT],
        "AA9": [_FIRST, _SECOND, _DIGIT],
        "AA99": [_FIRST, _SECOND, _DIGIT, _DIGIT],
        "A9A": [_FIRST, _DIGIT, _THIRD],
        "AA9A": [_FIRST, _SECOND, _DIGIT, _FOURTH],
    }[shape]
    outward = "".join(draw(st.sampled_from(pool)) for pool in pools)
    inward = draw(st.sampled_from(_DIGIT)) + "".join(
        draw(st.sampled_from(_INWARD)) for _ in range(2)
    )
    typed = outward + draw(st.sampled_from(["", " "])) + inward
    typed = "".join(c.lower() if draw(st.booleans()) else c for c in typed)
    return typed, f"{outward} {inward}"


@settings(max_examples=100, deadline=None)
@given(postcode=uk_postcodes())
def test_any_well_formed_uk_postcode_is_accepted_and_normalised(
    postcode: tuple[str, str],
) -> None:
    # Given a request with any postcode of a valid UK shape, in any case
    typed, normalised = postcode
    data = a_valid_request()
    data["applicant"]["addresses"][0]["postcode"] = typed

    # When it is validated
    request = parse_check_request(data, today=TODAY)

    # Then it is accepted in upper case with a single space before the inward code
    assert request.applicant.addresses[0].postcode == normalised


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
_PATHS = [
    (),
    ("purpose",),
    ("product",),
    ("product", "credit_amount"),
    ("product", "term_months"),
    ("applicant",),
    ("applicant", "date_of_birth"),
    ("applicant", "addresses"),
    ("applicant", "addresses", 0),
    ("applicant", "addresses", 1, "from"),
    ("applicant", "device"),
    ("joint_applicant",),
    ("notify",),
]


@settings(max_examples=100, deadline=None)
@given(path=st.sampled_from(_PATHS), junk=_JSON)
def test_junk_anywhere_in_a_request_is_either_accepted_or_rejected_never_a_crash(
    path: tuple[str | int, ...], junk: object
) -> None:
    # Given the SPEC example with one part (or the whole body) replaced by arbitrary JSON
    data: Any = a_valid_request()
    if path:
        parent = data
        for step in path[:-1]:
            parent = parent[step]
        parent[path[-1]] = junk
    else:
        data = junk

    # When it is validated
    try:
        request = parse_check_request(data, today=TODAY)
    except InvalidRequest as rejected:
        # Then a rejection names at least one field, each with a message
        assert rejected.problems
        assert all(p.field and p.message for p in rejected.problems)
    else:
        # Or an acceptance still yields a request that serialises
        assert isinstance(request, CheckRequest)
        json.loads(request.canonical_json())


# --- dates and ages ---------------------------------------------------------------------------


def test_an_applicant_under_18_is_rejected() -> None:
    # Given an applicant whose 18th birthday is tomorrow
    data = a_valid_request()
    data["applicant"]["date_of_birth"] = "2008-11-24"

    # When it is validated
    problems = problems_of(data)

    # Then the date of birth is reported with the rule, not the age (personal data)
    assert list(problems) == ["applicant.date_of_birth"]
    assert "18 or over" in problems["applicant.date_of_birth"]
    assert "17" not in problems["applicant.date_of_birth"]


def test_an_applicant_is_accepted_on_their_18th_birthday() -> None:
    # Given an applicant who turns 18 today
    data = a_valid_request()
    data["applicant"]["date_of_birth"] = "2008-11-23"

    # When it is validated, then it is accepted
    assert parse_check_request(data, today=TODAY).applicant.date_of_birth == date(2008, 11, 23)


def test_a_joint_applicant_under_18_is_rejected_with_the_joint_applicant_path() -> None:
    # Given a joint applicant who is 16
    data = a_valid_request()
    data["joint_applicant"] = copy.deepcopy(data["applicant"])
    data["joint_applicant"]["date_of_birth"] = "2010-01-01"

    # When it is validated
    problems = problems_of(data)

    # Then the joint applicant's date of birth is reported, not the applicant's
    assert list(problems) == ["joint_applicant.date_of_birth"]


def test_a_date_of_birth_in_the_future_is_rejected() -> None:
    # Given an applicant born tomorrow
    data = a_valid_request()
    data["applicant"]["date_of_birth"] = "2026-11-24"

    # When it is validated
    problems = problems_of(data)

    # Then the date is reported as being in the future
    assert "future" in problems["applicant.date_of_birth"]


def test_a_date_that_is_not_an_iso_string_is_rejected() -> None:
    # Given dates written as a timestamp, in UK order and as an impossible day
    data = a_valid_request()
    data["applicant"]["date_of_birth"] = 479606400
    data["applicant"]["addresses"][0]["from"] = "01/06/2021"
    data["applicant"]["addresses"][1]["to"] = "2021-02-30"

    # When it is validated
    problems = problems_of(data)

    # Then each is reported on its own field
    assert "ISO date" in problems["applicant.date_of_birth"]
    assert "ISO date" in problems["applicant.addresses.0.from"]
    assert "not a real date" in problems["applicant.addresses.1.to"]


def test_an_address_date_in_the_future_is_rejected() -> None:
    # Given a current address moved into next month
    data = a_valid_request()
    data["applicant"]["addresses"][0]["from"] = "2026-12-01"

    # When it is validated
    problems = problems_of(data)

    # Then the "from" date is reported under its JSON name
    assert list(problems) == ["applicant.addresses.0.from"]
    assert "future" in problems["applicant.addresses.0.from"]


def test_an_address_left_before_it_was_moved_into_is_rejected() -> None:
    # Given a previous address whose "to" is before its "from"
    data = a_valid_request()
    data["applicant"]["addresses"][1]["from"] = "2021-05-31"
    data["applicant"]["addresses"][1]["to"] = "2016-02-01"

    # When it is validated
    problems = problems_of(data)

    # Then the "to" date is reported
    assert list(problems) == ["applicant.addresses.1.to"]
    assert "before from" in problems["applicant.addresses.1.to"]


# --- address history --------------------------------------------------------------------------


def test_an_address_history_under_three_years_is_rejected_on_the_addresses_field() -> None:
    # Given addresses going back only to 1 December 2023 (three years back is 23 November)
    data = a_valid_request()
    data["applicant"]["addresses"][0]["from"] = "2024-06-01"
    data["applicant"]["addresses"][1]["from"] = "2023-12-01"
    data["applicant"]["addresses"][1]["to"] = "2024-05-31"

    # When it is validated
    problems = problems_of(data)

    # Then the history as a whole is reported
    assert list(problems) == ["applicant.addresses"]
    assert "3 years" in problems["applicant.addresses"]
    # naming the date needed, not the applicant's own moving dates (personal data)
    assert "2023-11-23" in problems["applicant.addresses"]
    assert "2023-12-01" not in problems["applicant.addresses"]


def test_an_address_history_of_exactly_three_years_is_accepted() -> None:
    # Given a single current address moved into exactly three years ago
    data = a_valid_request()
    data["applicant"]["addresses"] = data["applicant"]["addresses"][:1]
    data["applicant"]["addresses"][0]["from"] = "2023-11-23"

    # When it is validated, then it is accepted
    assert len(parse_check_request(data, today=TODAY).applicant.addresses) == 1


def test_a_gap_of_31_days_between_addresses_is_allowed() -> None:
    # Given a current address from 1 June 2024, needing the previous one to reach 2023,
    # and a previous address left on 30 April 2024 (all of May, 31 days, in between)
    data = a_valid_request()
    data["applicant"]["addresses"][0]["from"] = "2024-06-01"
    data["applicant"]["addresses"][1]["to"] = "2024-04-30"

    # When it is validated, then the month between tenancies is accepted
    assert parse_check_request(data, today=TODAY).applicant.addresses[1].to == date(2024, 4, 30)


def test_a_gap_of_more_than_31_days_breaks_the_address_history() -> None:
    # Given a current address from 1 June 2024, needing the previous one to reach 2023,
    # and a 32-day gap between the previous address and the current one
    data = a_valid_request()
    data["applicant"]["addresses"][0]["from"] = "2024-06-01"
    data["applicant"]["addresses"][1]["to"] = "2024-04-29"

    # When it is validated
    problems = problems_of(data)

    # Then the history is reported, naming the gap
    assert list(problems) == ["applicant.addresses"]
    assert "gap of 32 days" in problems["applicant.addresses"]


def test_the_current_address_must_be_listed_first_with_no_end_date() -> None:
    # Given the addresses in the wrong order (the previous one first)
    data = a_valid_request()
    data["applicant"]["addresses"].reverse()

    # When it is validated
    problems = problems_of(data)

    # Then both misplaced end dates are pointed at
    assert set(problems) == {"applicant.addresses.0.to", "applicant.addresses.1.to"}
    assert "must be null" in problems["applicant.addresses.0.to"]
    assert "is required" in problems["applicant.addresses.1.to"]


def test_an_empty_address_list_is_rejected() -> None:
    # Given an applicant with no addresses
    data = a_valid_request()
    data["applicant"]["addresses"] = []

    # When it is validated
    problems = problems_of(data)

    # Then the addresses field is reported
    assert list(problems) == ["applicant.addresses"]


# --- money and numbers ------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [720.0, 720, 0.1])
def test_money_as_a_json_number_is_rejected(amount: float) -> None:
    # Given a credit amount sent as a JSON number instead of a string
    data = a_valid_request()
    data["product"]["credit_amount"] = amount

    # When it is validated
    problems = problems_of(data)

    # Then the field is reported, saying a decimal string is needed
    assert list(problems) == ["product.credit_amount"]
    assert "decimal string" in problems["product.credit_amount"]
    assert "number" in problems["product.credit_amount"]


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        ("-1.00", "negative"),
        ("1.234", "2 decimal places"),
        ("10000000.00", "at most 9999999.99"),
        ("abc", "decimal amount"),
        ("1e3", "decimal amount"),
        ("£720", "decimal amount"),
        ("NaN", "decimal amount"),
    ],
)
def test_a_malformed_or_out_of_range_amount_is_rejected(amount: str, expected: str) -> None:
    # Given an income that is not a sensible amount of money
    data = a_valid_request()
    data["applicant"]["employment"]["annual_income"] = amount

    # When it is validated
    problems = problems_of(data)

    # Then the field is reported with the reason
    assert expected in problems["applicant.employment.annual_income"]


def test_the_largest_allowed_amount_and_zero_are_accepted() -> None:
    # Given the largest allowed credit amount and a zero income
    data = a_valid_request()
    data["product"]["credit_amount"] = "9999999.99"
    data["applicant"]["employment"]["annual_income"] = "0"

    # When it is validated
    request = parse_check_request(data, today=TODAY)

    # Then both are accepted, the income in pounds and pence
    assert str(request.product.credit_amount) == "9999999.99"
    assert request.model_dump(mode="json")["applicant"]["employment"]["annual_income"] == "0.00"


@pytest.mark.parametrize(("term", "expected"), [(0, "at least 1"), (121, "at most 120")])
def test_a_term_outside_1_to_120_months_is_rejected(term: int, expected: str) -> None:
    # Given a product term out of range
    data = a_valid_request()
    data["product"]["term_months"] = term

    # When it is validated
    problems = problems_of(data)

    # Then the term is reported with the limit
    assert list(problems) == ["product.term_months"]
    assert expected in problems["product.term_months"]


@pytest.mark.parametrize("term", [24.0, "24", True])
def test_a_term_that_is_not_a_whole_json_number_is_rejected(term: object) -> None:
    # Given a term written as a float, a string or a boolean
    data = a_valid_request()
    data["product"]["term_months"] = term

    # When it is validated, then it is rejected rather than coerced
    assert "whole number" in problems_of(data)["product.term_months"]


# --- strings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (("applicant", "forename"), "J" * 61, "at most 60 characters"),
        (("applicant", "surname"), "   ", "must not be empty"),
        (("applicant", "middle_names"), "M" * 61, "at most 60 characters"),
        (("applicant", "forename"), "Ja\nne", "control characters"),
        (("applicant", "email"), "jane.example.com", "email"),
        (("applicant", "email"), "a" * 250 + "@x.com", "at most 254 characters"),
        (("applicant", "phone"), "call me", "international number"),
        (("applicant", "phone"), "7700900123", "international number"),
        (("applicant", "device", "ip"), "999.1.1.1", "IPv4 or IPv6"),
        (("idempotency_key",), "ORD 10001", "letters, digits"),
        (("idempotency_key",), "K" * 129, "at most 128 characters"),
        (("requested_by",), "", "must not be empty"),
        (("product", "code"), "C" * 41, "at most 40 characters"),
        (("applicant", "addresses", 0, "line1"), "x" * 101, "at most 100 characters"),
        (("applicant", "addresses", 0, "town"), "T" * 61, "at most 60 characters"),
        (("purpose",), "loan", "must be one of"),
        (("channel",), "fax", "must be one of"),
        (("applicant", "employment", "status"), "busy", "must be one of"),
        (("applicant", "title"), 7, "must be a string"),
    ],
)
def test_a_bad_string_is_rejected_with_its_field_path(
    path: tuple[str | int, ...], value: object, expected: str
) -> None:
    # Given a request with one string field out of bounds or of the wrong shape
    data = a_valid_request()
    parent: Any = data
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value

    # When it is validated
    problems = problems_of(data)

    # Then that field, and only that field, is reported
    field = ".".join(str(key) for key in path)
    assert list(problems) == [field]
    assert expected in problems[field]


def test_surrounding_whitespace_is_stripped_and_numbers_are_normalised() -> None:
    # Given fields with stray spaces, a UK phone with spaces and a long-form IPv6 address
    data = a_valid_request()
    data["applicant"]["forename"] = "  Jane "
    data["applicant"]["phone"] = "07700 900123"
    data["applicant"]["device"] = {"ip": "2001:0db8:0000:0000:0000:0000:0000:0001"}

    # When it is validated
    request = parse_check_request(data, today=TODAY)

    # Then the stored values are trimmed and in their canonical forms
    assert request.applicant.forename == "Jane"
    assert request.applicant.phone == "07700900123"
    assert request.applicant.device is not None
    assert request.applicant.device.ip == "2001:db8::1"


def test_a_missing_required_field_is_reported_as_required() -> None:
    # Given a request with no applicant surname and no requested_by
    data = a_valid_request()
    del data["applicant"]["surname"]
    del data["requested_by"]

    # When it is validated
    problems = problems_of(data)

    # Then both are reported as required
    assert problems == {"applicant.surname": "is required", "requested_by": "is required"}


# --- unknown fields and the shape of the body -------------------------------------------------


def test_an_unknown_top_level_field_is_rejected_with_its_name() -> None:
    # Given a request with a misspelt optional field
    data = a_valid_request()
    data["joint_aplicant"] = None

    # When it is validated
    problems = problems_of(data)

    # Then the unknown field is named
    assert problems == {"joint_aplicant": "is not a known field"}


def test_an_unknown_nested_field_is_rejected_with_its_full_path() -> None:
    # Given unknown fields inside an address and a financial associate
    data = a_valid_request()
    data["applicant"]["addresses"][1]["county"] = "North Yorkshire"
    data["financial_associates"] = [copy.deepcopy(data["applicant"])]
    data["financial_associates"][0]["nickname"] = "JD"

    # When it is validated
    problems = problems_of(data)

    # Then each is reported at its full path (the associate's copy of "county" too)
    assert set(problems) == {
        "applicant.addresses.1.county",
        "financial_associates.0.addresses.1.county",
        "financial_associates.0.nickname",
    }


def test_the_python_attribute_name_is_not_accepted_in_place_of_the_json_name() -> None:
    # Given an address that says "from_" instead of "from"
    data = a_valid_request()
    data["applicant"]["addresses"][0]["from_"] = data["applicant"]["addresses"][0].pop("from")

    # When it is validated
    problems = problems_of(data)

    # Then "from" is missing and "from_" is unknown
    assert problems == {
        "applicant.addresses.0.from": "is required",
        "applicant.addresses.0.from_": "is not a known field",
    }


@pytest.mark.parametrize("body", [[], "request", 42, None])
def test_a_body_that_is_not_a_json_object_is_rejected(body: object) -> None:
    # Given a body that is a list, a string, a number or null
    # When it is validated
    problems = problems_of(body)

    # Then the whole document ("$") is reported
    assert list(problems) == ["$"]
    assert "JSON object" in problems["$"]


def test_a_nested_part_that_is_not_an_object_is_rejected() -> None:
    # Given an applicant that is a list and addresses that are a string
    data = a_valid_request()
    data["product"] = ["MOBILE-24M"]
    data["applicant"]["addresses"] = "10 High Street"

    # When it is validated
    problems = problems_of(data)

    # Then each is reported with the JSON type that was expected
    assert problems["product"] == "must be a JSON object, not a JSON array"
    assert problems["applicant.addresses"] == "must be a JSON array, not a JSON string"


def test_text_that_is_not_json_is_rejected_naming_the_line_and_column() -> None:
    # Given JSON text with a trailing comma on its third line
    text = '{\n  "purpose": "new_order",\n  "channel": "online",\n}'

    # When it is loaded
    with pytest.raises(InvalidRequest) as raised:
        load_check_request(text, today=TODAY)

    # Then one problem on "$" names where the text went wrong
    [problem] = raised.value.problems
    assert problem.field == "$"
    assert "line 4 column 1" in problem.message


def test_json_with_a_repeated_key_is_rejected() -> None:
    # Given JSON text where "purpose" appears twice
    text = json.dumps(SPEC_EXAMPLE)[:-1] + ', "purpose": "quotation"}'

    # When it is loaded
    with pytest.raises(InvalidRequest) as raised:
        load_check_request(text, today=TODAY)

    # Then it is refused rather than guessing which one was meant
    assert "'purpose' appears twice" in raised.value.problems[0].message


# --- several problems at once -----------------------------------------------------------------


def test_every_problem_in_a_request_is_reported_not_just_the_first() -> None:
    # Given a request with five independent problems in different parts
    data = a_valid_request()
    data["purpose"] = "loan"
    data["product"]["credit_amount"] = 720.0
    data["applicant"]["addresses"][0]["postcode"] = "NOT A POSTCODE"
    data["joint_applicant"] = copy.deepcopy(data["applicant"])
    data["joint_applicant"]["date_of_birth"] = "2015-05-05"
    data["joint_applicant"]["addresses"][0]["postcode"] = "LS1 4AP"
    data["notify"] = {"url": "ftp://example.com/outcome"}

    # When it is validated
    with pytest.raises(InvalidRequest) as raised:
        parse_check_request(data, today=TODAY)

    # Then all five are listed, each with its path, and the message joins them
    fields = [problem.field for problem in raised.value.problems]
    assert sorted(fields) == sorted(
        [
            "purpose",
            "product.credit_amount",
            "applicant.addresses.0.postcode",
            "joint_applicant.date_of_birth",
            "notify.url",
        ]
    )
    assert all(not p.message.startswith("Value error") for p in raised.value.problems)
    assert "product.credit_amount: must be a decimal string" in str(raised.value)


# --- notify -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "notify",
    [
        {"actor": "orders:check_finished"},
        {"actor": "orders.high-priority:on_outcome"},
        {"url": "https://orders.example.com/hooks/checks"},
    ],
)
def test_a_notify_actor_or_https_url_is_accepted(notify: dict[str, str]) -> None:
    # Given a request that asks to be told the outcome
    data = a_valid_request()
    data["notify"] = notify

    # When it is validated
    request = parse_check_request(data, today=TODAY)

    # Then the target is kept as given
    assert request.model_dump(mode="json", exclude_none=True)["notify"] == notify


@pytest.mark.parametrize(
    ("notify", "field", "expected"),
    [
        ({"url": "http://orders.example.com/hook"}, "notify.url", "must use https"),
        # Plain http leaves the outcome and its signature readable on the wire, even locally.
        ({"url": "http://127.0.0.1:8080/outcome"}, "notify.url", "must use https"),
        ({"url": "http://localhost/outcome"}, "notify.url", "must use https"),
        ({"url": "ftp://orders.example.com/hook"}, "notify.url", "https URL"),
        ({"url": "https://"}, "notify.url", "https URL"),
        ({"url": "https://user:pw@example.com/"}, "notify.url", "user name or password"),
        ({"actor": "check_finished"}, "notify.actor", "queue_name:actor_name"),
        ({"actor": "orders:check finished"}, "notify.actor", "queue_name:actor_name"),
        (
            {"actor": "orders:done", "url": "https://example.com/"},
            "notify",
            "exactly one",
        ),
        ({}, "notify", "exactly one"),
        ({"email": "ops@example.com"}, "notify.email", "not a known field"),
    ],
)
def test_a_bad_notify_target_is_rejected(notify: dict[str, str], field: str, expected: str) -> None:
    # Given a request with a notify target that is not allowed
    data = a_valid_request()
    data["notify"] = notify

    # When it is validated
    problems = problems_of(data)

    # Then the offending part of notify is reported
    assert expected in problems[field]
