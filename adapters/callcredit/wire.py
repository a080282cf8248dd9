"""Callcredit (TransUnion UK)'s wire format: constants, the request we send, and its error answers.

The adapter (:mod:`adapters.callcredit`) sends these and maps the answers to the contract.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from xml.etree.ElementTree import Element

import httpx

from agencies.contract import (
    Address,
    DisassociationNotice,
    Person,
    ScoreBand,
    SearchRequest,
)
from agencies.credit import CreditCodes
from agencies.errors import (
    AgencyError,
    AuthenticationFailed,
    PermanentAgencyError,
    UnusableResponse,
)
from agencies.parsing import (
    BadShape,
    local,
    parse_xml,
    text_body,
    xml_text,
)
from agencies.wire import band_for, score_bands, split_address

SEARCH_PATH = "/callreport/v7/search"
#: Notices of disassociation: a data-amendment operation of the same SOAP service (modelled).
NOTICE_PATH = "/callreport/v7/disassociate"
SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
CALLREPORT_NS = "urn:callcredit.co.uk/soap:callreport7"
#: SOAP 1.1 names the operation in a quoted SOAPAction header.
SOAP_ACTION = f'"{CALLREPORT_NS}/Search07a"'
NOTICE_SOAP_ACTION = f'"{CALLREPORT_NS}/Disassociate07a"'
#: SOAP 1.1 is always ``text/xml``; anything else is not a CallReport answer.
CONTENT_TYPE = "text/xml"
REQUEST_CONTENT_TYPE = "text/xml; charset=utf-8"

SCHEMA_VERSION = "7.2"
#: Bit mask of the datasets our account buys (511: all nine CallReport datasets).
DATASETS = "511"
#: Also search up to this many addresses Callcredit links to the given ones.
AUTOSEARCH_MAXIMUM = 3

#: Search purposes: a credit application leaves a hard footprint other lenders see; a
#: quotation search and credit management (a customer's existing account) leave soft ones
#: only the consumer sees.
CODES = CreditCodes(application="CA", quotation="QS", in_life="CM")
SEARCH_TYPE_OF_PURPOSE = CODES.search_types()

#: The scorecard class our account is configured with; other classes are ignored.
SCORE_CLASS = "1"
MAX_SCORE = 710
#: Lowest TransUnion UK score (0-710) in each band, best band first.
SCORE_BANDS = score_bands(628, 604, 566, 551)

#: In-band error modules: credentials, and a request refused as sent.
AUTH_MODULE = "auth"
REFUSED_MODULES = frozenset({"validation"})

#: Relayed Cifas records become the same ``fraud_markers`` names Experian relays, so the
#: policy's reasons read the same whichever bureau answered.
MARKER_PROTECTIVE_REGISTRATION = "CIFAS_PROTECTIVE_REGISTRATION"
MARKER_FRAUD = "CIFAS_FRAUD_MARKER"
_PR_CATEGORY = "PR"

_TRUE = frozenset({"1", "true", "yes", "y"})
_FALSE = frozenset({"0", "false", "no", "n"})
_MAX_DETAIL = 200
#: Characters XML 1.0 cannot represent (C0 controls other than tab, LF, CR; surrogates; FFFE/F).
_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def score_band(score: int) -> ScoreBand:
    """The contract's band for a TransUnion UK score on the 0-710 scale."""
    return band_for(score, SCORE_BANDS)


# -- the request ------------------------------------------------------------------------------


def _serialise(root: Element) -> bytes:
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data


def _add(parent: Element, tag: str, value: str | None = None) -> Element:
    el = ET.SubElement(parent, tag)
    if value is not None:
        # ElementTree escapes markup, but writes control characters as they are, and XML 1.0
        # cannot carry them at all: drop them so typed input never makes the envelope invalid.
        el.text = _NOT_XML_CHAR.sub("", value)
    return el


def wire_address(parent: Element, address: Address) -> Element:
    """Append one CallReport ``address``; a leading house number is split from the street."""
    el = _add(parent, "address")
    parts = split_address(address)
    # A part the address lacks is left out; a numbered first line always has its street2.
    if parts.number:
        _add(el, "buildingno", parts.number)
    if parts.name:
        _add(el, "buildingname", parts.name)
    _add(el, "street1", parts.street)
    if parts.number and not parts.name:
        _add(el, "street2", parts.rest)
    _add(el, "posttown", address.town.strip())
    _add(el, "postcode", address.postcode.strip().upper())
    return el


def wire_applicant(parent: Element, person: Person) -> Element:
    """Append the ``applicant`` of a credit request."""
    applicant = _add(parent, "applicant")
    for address in person.addresses:  # current address first, as the contract lists them
        wire_address(applicant, address)
    name = _add(applicant, "name")
    _add(name, "title", person.title)
    _add(name, "forename", person.forename)
    _add(name, "othernames", person.middle_names)
    _add(name, "surname", person.surname)
    _add(applicant, "dob", person.date_of_birth.isoformat())
    # No household override: other residents' data must not shape this person's decision
    # (living at the same address is not a financial association).
    _add(applicant, "hho", "0")
    # Opt out of associates' credit data; associate links (names only) are still reported.
    _add(applicant, "tpoptout", "1")
    return applicant


def _soap_request(operation: str, credentials: Mapping[str, str]) -> tuple[Element, Element]:
    """A SOAP 1.1 envelope with the credentials header, and its (empty) operation element."""
    envelope = ET.Element("soap:Envelope", {"xmlns:soap": SOAP_ENV_NS})
    header = _add(envelope, "soap:Header")
    headers = ET.SubElement(header, "callcreditheaders", {"xmlns": CALLREPORT_NS})
    for key in ("company", "username", "password"):
        _add(headers, key, credentials.get(key, ""))
    body = _add(envelope, "soap:Body")
    return envelope, ET.SubElement(body, operation, {"xmlns": CALLREPORT_NS})


def build_search_envelope(
    request: SearchRequest, *, credentials: Mapping[str, str], purpose: str
) -> bytes:
    """The SOAP 1.1 ``Search07a`` envelope for one search, as UTF-8 bytes.

    Built with ElementTree, so every value the applicant typed is escaped; prefixes are
    written literally (``soap:``, a default namespace for Callcredit's elements) rather than
    registered globally.
    """
    envelope, search = _soap_request("Search07a", credentials)
    definition = _add(search, "SearchDefinition")
    _add(definition, "yourreference", request.client_ref)
    credit = ET.SubElement(
        definition, "creditrequest", {"schemaversion": SCHEMA_VERSION, "datasets": DATASETS}
    )
    _add(credit, "score", "1")
    _add(credit, "purpose", purpose)
    _add(credit, "autosearch", "1")
    _add(credit, "autosearchmaximum", str(AUTOSEARCH_MAXIMUM))
    wire_applicant(credit, request.person)
    return _serialise(envelope)


def wire_person(parent: Element, tag: str, person: Person) -> Element:
    """Append one person of a notice: addresses (current first), name and date of birth."""
    el = _add(parent, tag)
    for address in person.addresses:
        wire_address(el, address)
    name = _add(el, "name")
    _add(name, "forename", person.forename)
    _add(name, "othernames", person.middle_names)
    _add(name, "surname", person.surname)
    _add(el, "dob", person.date_of_birth.isoformat())
    return el


def build_notice_envelope(notice: DisassociationNotice, *, credentials: Mapping[str, str]) -> bytes:
    """The SOAP 1.1 ``Disassociate07a`` envelope: credentials header, both people, end date."""
    envelope, operation = _soap_request("Disassociate07a", credentials)
    definition = _add(operation, "DisassociationDefinition")
    # Callcredit recognises a resent notice by it, as it does a repeated search.
    _add(definition, "yourreference", notice.client_ref)
    _add(definition, "linkenddate", notice.ended_on.isoformat())
    _add(definition, "requestedby", notice.requested_by)
    wire_person(definition, "applicant", notice.person)
    wire_person(definition, "associate", notice.associate)
    return _serialise(envelope)


# -- errors -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Problem:
    kind: str  # "Error" or "FatalError"
    module: str
    code: str
    message: str

    def __str__(self) -> str:
        where = f"{self.module} " if self.module else ""
        code = f" {self.code}" if self.code else ""
        text = f": {self.message}" if self.message else ""
        return f"{where}{self.kind}{code}{text}"[:_MAX_DETAIL]


def _problems(body: Element) -> list[_Problem]:
    problems: list[_Problem] = []
    for container in body.iter():
        if local(container.tag) != "Errors":
            continue
        for child in container:
            kind = local(child.tag)
            if kind in ("Error", "FatalError"):
                problems.append(
                    _Problem(
                        kind,
                        child.get("module", "").strip().lower(),
                        child.get("code", "").strip(),
                        " ".join((child.text or "").split())[:_MAX_DETAIL],
                    )
                )
    return problems


def _fault(body: Element) -> tuple[str, str] | None:
    for el in body.iter():
        if local(el.tag) == "Fault":
            code = xml_text(el, "faultcode", default="")
            return code, " ".join(xml_text(el, "faultstring", default="").split())[:_MAX_DETAIL]
    return None


def in_band_error(agency: str, body: Element) -> AgencyError | None:
    """The error a CallReport answer reports instead of a result, or None if there is none.

    See the module docstring for the mapping. An empty ``<Errors/>`` is not an error.
    """
    problems = _problems(body)
    auth = [p for p in problems if p.kind == "Error" and p.module == AUTH_MODULE]
    if auth:
        return AuthenticationFailed(agency, f"credentials rejected: {auth[0]}", sent=False)
    fatal = [p for p in problems if p.kind == "FatalError"]
    if fatal:
        return UnusableResponse(agency, f"answered a FatalError instead of a report: {fatal[0]}")
    refused = [p for p in problems if p.module in REFUSED_MODULES]
    if refused:
        return PermanentAgencyError(agency, f"request refused: {refused[0]}", sent=False)
    if problems:
        return UnusableResponse(agency, f"answered an error instead of a report: {problems[0]}")
    fault = _fault(body)
    if fault is not None:
        code, message = fault
        detail = f"SOAP fault {code}: {message}".strip()
        if code.rsplit(":", 1)[-1] == "Client":
            return PermanentAgencyError(agency, f"request refused: {detail}", sent=False)
        return UnusableResponse(agency, f"answered a {detail}")
    return None


def describe_error(response: httpx.Response) -> str:
    """A short description of a Callcredit error answer (a SOAP fault or ``Errors``)."""
    try:
        root = parse_xml(text_body(response))
    except BadShape:
        return ""
    problems = _problems(root)
    fault = _fault(root)
    parts: list[str] = []
    if fault is not None:
        parts.append(" ".join(p for p in fault if p))
    if problems:
        parts.append(str(problems[0]))
    return "; ".join(parts)[:_MAX_DETAIL]
