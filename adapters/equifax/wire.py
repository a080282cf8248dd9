"""Equifax's wire format: constants, the request we send, and its error answers.

The adapter (:mod:`adapters.equifax`) sends these and maps the answers to the contract.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date
from typing import Any

import httpx

from agencies.contract import (
    Address,
    DisassociationNotice,
    Person,
    ScoreBand,
    SearchRequest,
)
from agencies.credit import CreditCodes
from agencies.parsing import BadShape, array, count, field, obj, text
from agencies.wire import band_for, parse_bearer_token, present_parts, score_bands

TOKEN_PATH = "/v2/oauth/token"
REPORT_PATH = "/business/consumer-credit/v1/reports/credit-report"
#: Notices of disassociation go to Equifax's data-amendment service (modelled, AGENCIES.md).
NOTICE_PATH = "/business/consumer-credit/v1/data-amendments/disassociations"
#: The OAuth scope granting the consumer credit report product.
SCOPE = "https://api.equifax.co.uk/business/consumer-credit/v1"
CORRELATION_HEADER = "efx-client-correlation-id"
#: Refresh a token this many seconds before the expiry Equifax stated (lifetime about 1 h).
TOKEN_REFRESH_MARGIN = 60.0

#: Where the reports sit in the answer: ``consumers.<REPORT_KEY>[]``.
REPORT_KEY = "equifaxUKConsumerCreditReport"
#: The score model the request asks for, and the ``type`` it comes back as.
SCORE_MODEL = "UKCS1000"
MODEL_TYPE_SCORE = "SCORE"
MAX_SCORE = 1000
STATUS_COMPLETED = "completed"

#: Permissible purpose codes: a credit application leaves a hard footprint; a quotation and
#: account management (a customer's existing account) leave soft ones.
CODES = CreditCodes(application="CA", quotation="QS", in_life="AM")
SEARCH_TYPE_OF_PURPOSE = CODES.search_types()

#: Lowest Equifax UK score (0-1000) in each band, best band first.
SCORE_BANDS = score_bands(811, 671, 531, 439)

#: Identity scan results; only PASS means name, date of birth and address were verified.
IDENTITY_PASS = "PASS"
IDENTITY_RESULTS = frozenset({IDENTITY_PASS, "REFER", "FAIL"})
#: Insolvency statuses Equifax reports. An unknown one is refused rather than read as
#: "not current", which could accept someone it should not.
INSOLVENCY_CURRENT = "current"
INSOLVENCY_STATUSES = frozenset(
    {INSOLVENCY_CURRENT, "discharged", "completed", "revoked", "annulled", "terminated"}
)
#: Footprint types in ``searches[].type``.
FOOTPRINT_HARD = "HARD"
FOOTPRINT_SOFT = "SOFT"
#: Windows, in calendar months before the report date, that hard searches are counted in.
RECENT_MONTHS = 3
YEAR_MONTHS = 12

_MAX_DETAIL = 200


def score_band(score: int) -> ScoreBand:
    """The contract's band for an Equifax UK score on the 0-1000 scale."""
    return band_for(score, SCORE_BANDS)


def to_efx_date(day: date) -> str:
    """A date as Equifax UK writes it: ``DDMMYYYY``."""
    return day.strftime("%d%m%Y")


def from_efx_date(value: str) -> date:
    """Read a ``DDMMYYYY`` date; raise ``ValueError`` if it is not one."""
    if len(value) != 8 or not (value.isascii() and value.isdigit()):
        raise ValueError(f"{value!r} is not a DDMMYYYY date")
    return date(int(value[4:]), int(value[2:4]), int(value[:2]))


def months_before(day: date, months: int) -> date:
    """The same day ``months`` calendar months earlier, clamped to the month's last day."""
    index = day.year * 12 + (day.month - 1) - months
    year, month0 = divmod(index, 12)
    last = calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(day.day, last))


def describe_error(response: httpx.Response) -> str:
    """A short description of an Equifax error answer, for the error message.

    Reads the Equifax envelope (``efxErrorCode``, ``description``, and the
    ``additionalErrorDetails.message`` when it adds something) and, from the token endpoint,
    OAuth's ``{error, error_description}``.
    """
    try:
        data = response.json()
    except ValueError:
        return ""
    if not isinstance(data, dict):
        return ""
    if "efxErrorCode" in data:
        parts = [str(data.get(k) or "") for k in ("efxErrorCode", "description")]
        summary = " ".join(p for p in parts if p)
        details = data.get("additionalErrorDetails")
        message = str(details.get("message") or "") if isinstance(details, dict) else ""
        if message and message != data.get("description"):
            summary = f"{summary}: {message}" if summary else message
        return summary[:_MAX_DETAIL]
    if "error" in data:
        parts = [str(data.get(k) or "") for k in ("error", "error_description")]
        return ": ".join(p for p in parts if p)[:_MAX_DETAIL]
    return ""


#: The token answer is the shared OAuth shape.
parse_token = parse_bearer_token


def consumer_of(person: Person) -> dict[str, Any]:
    """One consumer: name, date of birth (``DDMMYYYY``) and address history, current first."""
    return {
        "name": [
            {
                "identifier": "current",
                "firstName": person.forename,
                "middleName": person.middle_names,
                "lastName": person.surname,
            }
        ],
        "dateOfBirth": to_efx_date(person.date_of_birth),
        "addresses": [
            wire_address(address, "current" if i == 0 else "former")
            for i, address in enumerate(person.addresses)
        ],
    }


def build_notice_body(
    notice: DisassociationNotice, *, member_number: str, security_code: str
) -> dict[str, Any]:
    """A notice of disassociation: both consumers, the date the link ended, who asked."""
    return {
        "consumers": [consumer_of(notice.person), consumer_of(notice.associate)],
        # Echoed as customerReferenceNumber; a resend with it is recognised, not re-recorded.
        "customerReferenceIdentifier": notice.client_ref,
        "customerConfiguration": {"memberNumber": member_number, "securityCode": security_code},
        "disassociation": {
            "effectiveDate": to_efx_date(notice.ended_on),
            "requestedBy": notice.requested_by,
        },
    }


def build_report_body(
    request: SearchRequest, *, member_number: str, security_code: str, purpose_code: str
) -> dict[str, Any]:
    """The credit report request for one search (see AGENCIES.md for the shape)."""
    return {
        "consumers": consumer_of(request.person),
        # Equifax echoes it as customerReferenceNumber, so a retry is recognised.
        "customerReferenceIdentifier": request.client_ref,
        "customerConfiguration": {
            "memberNumber": member_number,
            "securityCode": security_code,
            "endUserInformation": {"permissiblePurposeCode": purpose_code},
            "models": [{"identifier": SCORE_MODEL}],
        },
    }


def wire_address(address: Address, identifier: str) -> dict[str, str]:
    """One report address: a leading house number is split from its street; a line without
    one is a house name (UK addresses often have both)."""
    return {
        "identifier": identifier,
        # The report request leaves out what an address does not have rather than sending it empty.
        **present_parts(
            address, name="houseName", number="houseNumber", street="streetName", rest="locality"
        ),
        "city": address.town,
        "zip": address.postcode,
    }


# -- reading the report: every wrong shape becomes BadShape with the path in it -------------


def _efx_date(o: Mapping[str, Any], key: str, where: str) -> date:
    value = text(o, key, where)
    try:
        return from_efx_date(value)
    except ValueError:
        raise BadShape(f"{where}.{key} {value!r} is not a DDMMYYYY date") from None


def _objects(o: Mapping[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    """A required list of objects (an absent list is not read as "none on file")."""
    return [obj(item, f"{where}.{key}[{i}]") for i, item in enumerate(array(o, key, where))]


def _score(report: Mapping[str, Any], where: str) -> int:
    for i, model in enumerate(_objects(report, "models", where)):
        at = f"{where}.models[{i}]"
        if text(model, "type", at) == MODEL_TYPE_SCORE:
            score = count(field(model, "score", at), f"{at}.score")
            if score > MAX_SCORE:
                raise BadShape(f"{at}.score {score} is outside 0-{MAX_SCORE}")
            return score
    raise BadShape(f"{where}.models has no {MODEL_TYPE_SCORE} model")


def _identity_result(report: Mapping[str, Any], where: str) -> str:
    scan = obj(field(report, "identityScan", where), f"{where}.identityScan")
    result = text(scan, "result", f"{where}.identityScan").strip().upper()
    if result not in IDENTITY_RESULTS:
        raise BadShape(f"{where}.identityScan.result {result!r} is not PASS, REFER or FAIL")
    return result


def _insolvency_current(report: Mapping[str, Any], where: str) -> bool:
    current = False
    for i, insolvency in enumerate(_objects(report, "insolvencies", where)):
        at = f"{where}.insolvencies[{i}]"
        status = text(insolvency, "status", at).strip().lower()
        if status not in INSOLVENCY_STATUSES:
            raise BadShape(f"{at}.status {status!r} is not a known insolvency status")
        current = current or status == INSOLVENCY_CURRENT
    return current


def _hard_searches(report: Mapping[str, Any], where: str, report_date: date) -> tuple[int, int]:
    """Hard footprints in the last 3 and 12 calendar months, counted from their dates.

    Counting from the dates (not a summary count) means the windows are ours and the same at
    every bureau: a search on the day exactly three months before the report still counts.
    """
    recent_from = months_before(report_date, RECENT_MONTHS)
    year_from = months_before(report_date, YEAR_MONTHS)
    recent = year = 0
    for i, search in enumerate(_objects(report, "searches", where)):
        at = f"{where}.searches[{i}]"
        kind = text(search, "type", at).strip().upper()
        if kind not in (FOOTPRINT_HARD, FOOTPRINT_SOFT):
            raise BadShape(f"{at}.type {kind!r} is neither HARD nor SOFT")
        searched_on = _efx_date(search, "searchDate", at)
        if kind == FOOTPRINT_HARD and searched_on >= year_from:
            year += 1
            if searched_on >= recent_from:
                recent += 1
    return recent, year


def _deceased(report: Mapping[str, Any], where: str) -> bool:
    at = f"{where}.identityScan"
    scan = obj(field(report, "identityScan", where), at)
    value = field(scan, "deceasedIndicator", at)
    if not isinstance(value, bool):
        raise BadShape(f"{at}.deceasedIndicator is not true or false")
    return value


def _cifas_markers(report: Mapping[str, Any], where: str, report_date: date) -> tuple[str, ...]:
    markers: list[str] = []
    for i, marker in enumerate(_objects(report, "cifasMarkers", where)):
        at = f"{where}.cifasMarkers[{i}]"
        kind = text(marker, "type", at).strip()
        if not kind:
            raise BadShape(f"{at}.type is empty")
        if marker.get("expiryDate") and _efx_date(marker, "expiryDate", at) < report_date:
            # A relayed marker past its expiry may no longer be used (a protective
            # registration lasts two years, then lapses).
            continue
        markers.append(f"Cifas {kind}")
    return tuple(dict.fromkeys(markers))
