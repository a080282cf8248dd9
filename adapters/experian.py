"""Experian: CrossCore-style JSON decisions behind an OAuth password-grant token.

The wire format follows AGENCIES.md. One check call asks for two decision elements: the
``Delphi`` credit element (score on Experian's 0-999 scale, adverse data and search counts
as ``dataCounts``, relayed Cifas markers and a notice of correction as rules) and the
``Authenticate`` identity element (with its deceased-register rule). Financial associates
come as ``matches`` too; we do not read them, so no one else's name is kept in a person's
result. :class:`ExperianSimulator` answers the same format from
``fixtures/experian/<persona>.json`` for the sandbox.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import httpx

from agencies.auth import BearerTokenAuth
from agencies.contract import (
    IN_LIFE,
    Address,
    AgencyAdapter,
    AgencyKind,
    CreditResult,
    DisassociationNotice,
    NoticeAnswer,
    NoticeReceipt,
    Person,
    Role,
    ScoreBand,
    SearchRequest,
    SearchType,
)
from agencies.errors import PermanentAgencyError, UnusableResponse
from agencies.parsing import (
    MAX_ERROR_DETAIL,
    BadShape,
    array,
    count,
    describe_json_error,
    field,
    json_answer,
    obj,
    reading,
    text,
)
from agencies.wire import band_for, parse_bearer_token, split_address, token_request

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
HARD_FIXED_LINE = "TF"
QUOTATION = "QT"
ACCOUNT_MANAGEMENT = "AM"
SEARCH_TYPE_OF_CODE: Mapping[str, SearchType] = {
    HARD_MOBILE: SearchType.HARD,
    HARD_FIXED_LINE: SearchType.HARD,
    QUOTATION: SearchType.SOFT,
    ACCOUNT_MANAGEMENT: SearchType.SOFT,
}

#: Lowest Experian score (0-999) in each band, best band first.
SCORE_BANDS: tuple[tuple[int, ScoreBand], ...] = (
    (961, ScoreBand.EXCELLENT),
    (881, ScoreBand.GOOD),
    (721, ScoreBand.FAIR),
    (561, ScoreBand.POOR),
    (0, ScoreBand.VERY_POOR),
)

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

_CHANNEL_SOURCES: Mapping[str, str] = {
    "online": "WEB",
    "store": "BRANCH",
    "retail": "BRANCH",
    "phone": "TELEPHONE",
    "telesales": "TELEPHONE",
}


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


class ExperianAdapter(AgencyAdapter):
    """Credit searches at Experian (CrossCore-style JSON, OAuth bearer token)."""

    name: ClassVar[str] = "experian"
    kind: ClassVar[AgencyKind] = AgencyKind.CRA
    sandbox_base_url: ClassVar[str] = "https://sandbox.experian.test"
    credential_names: ClassVar[tuple[str, ...]] = (
        "username",
        "password",
        "client_id",
        "client_secret",
        "tenant_id",
    )
    echo_field: ClassVar[str] = "clientReferenceId"
    #: A credit reference agency runs credit searches; a fraud search is another agency's.
    search_types: ClassVar[frozenset[SearchType]] = frozenset({SearchType.HARD, SearchType.SOFT})

    @classmethod
    def make_auth(cls, base_url: str, credentials: Mapping[str, str]) -> httpx.Auth:
        """A bearer token from ``POST /oauth2/v1/token`` (password grant), reused until near
        expiry and refreshed once on a 401."""
        token_url = base_url.rstrip("/") + TOKEN_PATH
        body = {key: credentials.get(key, "") for key in TOKEN_FIELDS}
        build = token_request(
            cls.default_policy(),
            token_url,
            json=body,
            headers={"Accept": "application/json", "Grant_type": "password"},
        )
        return BearerTokenAuth(cls.name, build, parse_token)

    def purpose_code(self, request: SearchRequest) -> str:
        """``TM`` (mobile) or ``TF`` (fixed line) for a hard search; for a soft one ``AM``
        (account management) in life, else ``QT`` (quotation)."""
        if request.search_type is SearchType.HARD:
            mobile = request.product_code.strip().upper().startswith("MOBILE")
            return HARD_MOBILE if mobile else HARD_FIXED_LINE
        if request.search_type is SearchType.SOFT:
            return ACCOUNT_MANAGEMENT if request.purpose == IN_LIFE else QUOTATION
        raise ValueError(f"experian runs hard or soft searches, not {request.search_type.value}")

    async def run_search(self, request: SearchRequest, code: str) -> CreditResult:
        """Run one CrossCore credit check and map the answer to a :class:`CreditResult`."""
        application_type = code
        body = build_check_body(
            request,
            tenant_id=self.client.credentials.get("tenant_id", ""),
            application_type=application_type,
            message_time=_now(),
        )
        response = await self.client.request(
            "POST",
            CHECK_PATH,
            json=body,
            headers={"X-Correlation-Id": str(uuid.uuid4()), "Accept": "application/json"},
            describe_error=describe_error,
        )
        return self.read_answer(response)

    def read_answer(self, response: httpx.Response) -> CreditResult:
        """Map a CrossCore answer to the contract; raise an agency error if it is unusable."""
        # Garbage, truncated bodies and bad encodings alike are "not valid JSON".
        data = json_answer(self.name, response)
        with reading(self.name):
            return self._map(data)

    def _map(self, data: Any) -> CreditResult:
        root = obj(data, "answer")
        header = obj(field(root, "responseHeader", "answer"), "responseHeader")
        if header.get("responseType") == "ERROR":
            self._raise_error(header)
        # The reference the agency echoed: search() refuses an answer for another search.
        echoed = text(header, "clientReferenceId", "responseHeader")
        agency_ref = text(header, "expRequestId", "responseHeader")
        if not agency_ref:
            raise BadShape("responseHeader.expRequestId is empty")
        overall = obj(field(header, "overallResponse", "responseHeader"), "overallResponse")
        # Required by the format, though our policy makes the decision.
        text(overall, "decision", "overallResponse")

        payload = obj(field(root, "clientResponsePayload", "answer"), "clientResponsePayload")
        elements = [
            obj(item, f"decisionElements[{i}]")
            for i, item in enumerate(array(payload, "decisionElements", "clientResponsePayload"))
        ]
        credit = _element(elements, CREDIT_SERVICE)
        identity = _element(elements, IDENTITY_SERVICE)

        score = count(field(credit, "score", CREDIT_SERVICE), f"{CREDIT_SERVICE}.score")
        if score > 999:
            raise BadShape(f"{CREDIT_SERVICE}.score {score} is outside 0-999")
        counts = _name_values(credit, "dataCounts", CREDIT_SERVICE)
        missing = [name for name in REQUIRED_COUNTS if name not in counts]
        if missing:
            raise BadShape(f"{CREDIT_SERVICE}.dataCounts lacks {', '.join(missing)}")
        number = {name: count(counts[name], f"dataCounts.{name}") for name in REQUIRED_COUNTS}

        return CreditResult(
            agency=self.name,
            client_ref=echoed,
            agency_ref=agency_ref,
            score=score,
            score_band=score_band(score),
            # The identity element decides: ACCEPT means name, date of birth and address
            # were authenticated against primary data; anything else needs validation.
            identity_verified=text(identity, "decision", IDENTITY_SERVICE) == "ACCEPT",
            judgments=number[COUNT_JUDGMENTS],
            insolvency_current=number[COUNT_INSOLVENCY] > 0,
            defaults=number[COUNT_DEFAULTS],
            hard_searches_3m=number[COUNT_HARD_3M],
            hard_searches_12m=number[COUNT_HARD_12M],
            fraud_markers=_fraud_markers(elements),
            notice_of_correction=_rule_triggered(credit, RULE_NOTICE_OF_CORRECTION, CREDIT_SERVICE),
            deceased=_rule_triggered(identity, RULE_DECEASED, IDENTITY_SERVICE),
        )

    async def send_disassociation(self, notice: DisassociationNotice) -> NoticeReceipt:
        """Send a notice of disassociation as CrossCore JSON with our ``clientReferenceId``."""
        body = build_notice_body(
            notice,
            tenant_id=self.client.credentials.get("tenant_id", ""),
            message_time=_now(),
        )
        response = await self.client.request(
            "POST",
            NOTICE_PATH,
            json=body,
            headers={"X-Correlation-Id": str(uuid.uuid4()), "Accept": "application/json"},
            describe_error=describe_error,
        )
        data = json_answer(self.name, response)
        with reading(self.name):
            return self._map_notice(data, notice.client_ref)

    def _map_notice(self, data: Any, client_ref: str) -> NoticeReceipt:
        header = obj(field(obj(data, "answer"), "responseHeader", "answer"), "responseHeader")
        if header.get("responseType") == "ERROR":
            self._raise_error(header)
        self.ensure_echoed(text(header, "clientReferenceId", "responseHeader"), client_ref)
        overall = obj(field(header, "overallResponse", "responseHeader"), "overallResponse")
        decision = text(overall, "decision", "overallResponse")
        if decision not in NOTICE_ANSWERS:
            raise BadShape(f"overallResponse.decision {decision!r} is not a notice answer")
        return NoticeReceipt(
            agency=self.name,
            client_ref=client_ref,
            answer=NOTICE_ANSWERS[decision],
            agency_ref=text(header, "expRequestId", "responseHeader"),
            detail=str(overall.get("decisionText", ""))[:MAX_ERROR_DETAIL],
        )

    def _raise_error(self, header: Mapping[str, Any]) -> None:
        code = str(header.get("responseCode", ""))
        message = str(header.get("responseMessage", ""))[:MAX_ERROR_DETAIL]
        detail = f"{code} {message}".strip() or "no detail"
        if code.startswith(REJECTED_CODE_PREFIX):
            raise PermanentAgencyError(self.name, f"request refused: {detail}")
        raise UnusableResponse(self.name, f"answered ERROR without a decision: {detail}")


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
    parts = split_address(address)
    wire: dict[str, Any] = {"id": f"MAIN_ADDRESS_{number}", "addressType": address_type}
    # CrossCore leaves out what an address does not have rather than sending it empty.
    for key, value in (
        ("buildingName", parts.name),
        ("buildingNumber", parts.number),
        ("street", parts.street),
        ("street2", parts.rest),
    ):
        if value:
            wire[key] = value
    wire["postTown"] = address.town
    wire["postal"] = address.postcode
    return wire


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
