"""Experian's wire format: constants, the request we send, and its error answers.

The adapter (:mod:`adapters.experian`) sends these and maps the answers to the contract.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from agencies.contract import (
    Address,
    DisassociationNotice,
    NoticeAnswer,
    Person,
    Role,
    ScoreBand,
    SearchRequest,
)
from agencies.credit import CreditCodes
from agencies.parsing import (
    MAX_ERROR_DETAIL,
    BadShape,
    array,
    describe_json_error,
    field,
    obj,
    text,
)
from agencies.wire import band_for, parse_bearer_token, present_parts, score_bands

TOKEN_PATH = "/oauth2/v1/token"
CHECK_PATH = "/decisionanalytics/crosscore/v1/application"
#: Notices of disassociation go to Experian's data-amendment channel (modelled, AGENCIES.md).
NOTICE_PATH = "/decisionanalytics/crosscore/v1/disassociation"
NOTICE_REQUEST_TYPE = "Disassociation"
#: ``overallResponse.decision`` of a notice, as the contract's answer.
NOTICE_ANSWERS: Mapping[str, NoticeAnswer] = {
    "ACCEPTED": NoticeAnswer.ACCEPTED,
    "REFUSED": NoticeAnswer.REFUSED,
    "PENDING": NoticeAnswer.PENDING,
}
#: The JSON fields of the token request.
TOKEN_FIELDS = ("username", "password", "client_id", "client_secret")

#: The CrossCore workflow our account is configured with: credit decision plus identity.
REQUEST_TYPE = "CreditCheck"
CREDIT_SERVICE = "Delphi"
IDENTITY_SERVICE = "Authenticate"

#: Application type codes: telecoms mobile / fixed line are hard searches, QT is a quotation
#: and AM account management (a customer's existing account); both of those are soft.
HARD_MOBILE = "TM"
CODES = CreditCodes(
    application="TF", quotation="QT", in_life="AM", more_applications=(HARD_MOBILE,)
)
SEARCH_TYPE_OF_CODE = CODES.search_types()

#: Lowest Experian score (0-999) in each band, best band first.
SCORE_BANDS = score_bands(961, 881, 721, 561)

#: ``dataCounts`` of the credit element that the contract needs; every one must be present,
#: because reading a missing CCJ count as zero could accept someone it should not.
COUNT_JUDGMENTS = "CCJCount"
COUNT_INSOLVENCY = "CurrentInsolvency"
COUNT_DEFAULTS = "DefaultCount"
COUNT_HARD_3M = "HardSearches3Months"
COUNT_HARD_12M = "HardSearches12Months"
REQUIRED_COUNTS = (COUNT_JUDGMENTS, COUNT_INSOLVENCY, COUNT_DEFAULTS, COUNT_HARD_3M, COUNT_HARD_12M)

#: Rules that carry a signal of their own; each must be present (triggered or not), because
#: reading a missing one as "not triggered" could pass over what a person must see.
RULE_DECEASED = "AUTH_DECEASED"  # Authenticate: the identity is on a deceased register
RULE_NOTICE_OF_CORRECTION = "DEL_NOTICE_OF_CORRECTION"  # Delphi: the person's own statement

#: Rules whose id starts with this are Cifas markers Experian relays; triggered ones become
#: ``fraud_markers`` (e.g. ``CIFAS_PROTECTIVE_REGISTRATION``).
CIFAS_RULE_PREFIX = "CIFAS"

#: Error response codes that mean the request itself was refused (validation), so repeating
#: it unchanged cannot help. Any other ERROR leaves us without a decision we can read.
REJECTED_CODE_PREFIX = "R01"

#: CrossCore's application sources and our channels each stands for (any other channel is
#: sent as it is, in capitals).
_SOURCES: Mapping[str, tuple[str, ...]] = {
    "WEB": ("online",),
    "BRANCH": ("store", "retail"),
    "TELEPHONE": ("phone", "telesales"),
}
_CHANNEL_SOURCES = {channel: source for source, names in _SOURCES.items() for channel in names}


def score_band(score: int) -> ScoreBand:
    """The contract's band for an Experian score on the 0-999 scale."""
    return band_for(score, SCORE_BANDS)


def describe_error(response: httpx.Response) -> str:
    """A short description of an Experian error answer, for the error message.

    CrossCore errors come as a ``responseHeader`` with ``responseType`` ERROR; the API
    gateway in front of it (token, throttling, auth) answers ``{"errors": [...]}``.
    """
    return describe_json_error(
        response, "responseHeader.responseCode", "responseHeader.responseMessage"
    ) or describe_json_error(response, "errors.0.errorType", "errors.0.message", sep=": ")


#: The token answer is the shared OAuth shape.
parse_token = parse_bearer_token


def build_check_body(
    request: SearchRequest, *, tenant_id: str, application_type: str, message_time: str
) -> dict[str, Any]:
    """The CrossCore request for one search (see AGENCIES.md for the shape)."""
    contact_id = "MAINCONTACT_1"
    contact = contact_of(contact_id, request.person)
    contacts = [contact]
    application: dict[str, Any] = {
        "type": application_type,
        "applicants": [
            {
                "id": "APPLICANT_1",
                "contactId": contact_id,
                "applicantType": ("CO_APPLICANT" if request.role is Role.JOINT else "APPLICANT"),
                # Only searches the applicant agreed to are ever sent.
                "consent": True,
            }
        ],
        "productDetails": {"productCode": request.product_code},
    }
    if request.associates:
        # People the applicant declared as financial associates travel as further contacts,
        # so Experian links the files as the privacy notice told the applicant it would.
        contacts += [
            contact_of(f"ASSOCIATE_{i}", p) for i, p in enumerate(request.associates, start=1)
        ]
        application["financialAssociates"] = [
            {"contactId": f"ASSOCIATE_{i}", "associationType": "DECLARED"}
            for i in range(1, len(request.associates) + 1)
        ]
    return {
        "header": {
            "tenantId": tenant_id,
            "requestType": REQUEST_TYPE,
            "clientReferenceId": request.client_ref,
            # Experian assigns it and returns it in the answer.
            "expRequestId": "",
            "messageTime": message_time,
            "options": {},
        },
        "payload": {
            "source": _CHANNEL_SOURCES.get(request.channel.lower(), request.channel.upper()),
            "contacts": contacts,
            "application": application,
        },
    }


def build_notice_body(
    notice: DisassociationNotice, *, tenant_id: str, message_time: str
) -> dict[str, Any]:
    """The CrossCore notice of disassociation: both people as contacts, and the end date."""
    return {
        "header": {
            "tenantId": tenant_id,
            "requestType": NOTICE_REQUEST_TYPE,
            # The same notice sent again carries the same reference, so it is recorded once.
            "clientReferenceId": notice.client_ref,
            "expRequestId": "",
            "messageTime": message_time,
        },
        "payload": {
            "contacts": [
                contact_of("MAINCONTACT_1", notice.person),
                contact_of("ASSOCIATE_1", notice.associate),
            ],
            "disassociation": {
                "contactId": "MAINCONTACT_1",
                "associateContactId": "ASSOCIATE_1",
                "linkEndDate": notice.ended_on.isoformat(),
                "requestedBy": notice.requested_by.upper(),
            },
        },
    }


def contact_of(contact_id: str, person: Person) -> dict[str, Any]:
    """One CrossCore contact: the person's name, date of birth and address history."""
    return {
        "id": contact_id,
        "person": {
            "personDetails": {"dateOfBirth": person.date_of_birth.isoformat()},
            "names": [
                {
                    "type": "CURRENT",
                    "firstName": person.forename,
                    "middleNames": person.middle_names,
                    "surName": person.surname,
                }
            ],
        },
        "addresses": [
            wire_address(address, "CURRENT" if i == 0 else "PREVIOUS", i + 1)
            for i, address in enumerate(person.addresses)
        ],
    }


def wire_address(address: Address, address_type: str, number: int) -> dict[str, Any]:
    """One CrossCore address; a leading house number is split from the street."""
    return {
        "id": f"MAIN_ADDRESS_{number}",
        "addressType": address_type,
        # CrossCore leaves out what an address does not have rather than sending it empty.
        **present_parts(
            address, name="buildingName", number="buildingNumber", street="street", rest="street2"
        ),
        "postTown": address.town,
        "postal": address.postcode,
    }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- reading the CrossCore answer ------------------------------------------------------------


def _pairs(parent: Mapping[str, Any], key: str, where: str) -> list[tuple[str, Any]]:
    pairs = []
    for i, item in enumerate(array(parent, key, where, optional=True)):
        entry = obj(item, f"{where}.{key}[{i}]")
        pairs.append((text(entry, "name", f"{where}.{key}[{i}]"), entry.get("value")))
    return pairs


def _name_values(parent: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    field(parent, key, where)
    return dict(_pairs(parent, key, where))


def _element(elements: list[dict[str, Any]], service: str) -> dict[str, Any]:
    for element in elements:
        if element.get("serviceName") == service:
            for i, item in enumerate(array(element, "warningsErrors", service, optional=True)):
                problem = obj(item, f"{service}.warningsErrors[{i}]")
                if problem.get("responseType") == "ERROR":
                    detail = str(problem.get("responseMessage", ""))[:MAX_ERROR_DETAIL]
                    raise BadShape(f"{service} element failed: {detail}")
            return element
    raise BadShape(f"no {service} decision element")


def _rules(element: dict[str, Any], where: str) -> list[tuple[str, bool]]:
    """(ruleId, triggered) for each rule of an element; triggered means a score above 0."""
    rules: list[tuple[str, bool]] = []
    for i, item in enumerate(array(element, "rules", where, optional=True)):
        rule = obj(item, f"{where}.rules[{i}]")
        rule_id = text(rule, "ruleId", f"{where}.rules[{i}]")
        score = rule.get("ruleScore", 0)
        if isinstance(score, bool) or not isinstance(score, int | float):
            raise BadShape(f"{where}.rules[{i}].ruleScore is not a number")
        rules.append((rule_id, score > 0))
    return rules


def _rule_triggered(element: dict[str, Any], rule_id: str, where: str) -> bool:
    for found, triggered in _rules(element, where):
        if found == rule_id:
            return triggered
    raise BadShape(f"{where}.rules lacks {rule_id}")


def _fraud_markers(elements: list[dict[str, Any]]) -> tuple[str, ...]:
    markers: list[str] = []
    for element in elements:
        where = str(element.get("serviceName", "element"))
        for rule_id, triggered in _rules(element, where):
            if triggered and rule_id.upper().startswith(CIFAS_RULE_PREFIX):
                markers.append(rule_id)
    return tuple(dict.fromkeys(markers))
