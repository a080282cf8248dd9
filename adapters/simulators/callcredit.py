"""The sandbox's Callcredit, speaking the agency's wire format.

Test and sandbox code only: the production adapter (:mod:`adapters.callcredit`) never imports it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from xml.etree.ElementTree import Element

import httpx

from adapters.callcredit import CallcreditAdapter
from adapters.callcredit.wire import (
    AUTH_MODULE,
    CALLREPORT_NS,
    CONTENT_TYPE,
    NOTICE_PATH,
    NOTICE_SOAP_ACTION,
    SCHEMA_VERSION,
    SEARCH_PATH,
    SEARCH_TYPE_OF_PURPOSE,
    SOAP_ACTION,
    SOAP_ENV_NS,
    _add,
    _serialise,
)
from agencies.parsing import (
    BadShape,
    find,
    find_all,
    must,
    parse_xml,
    xml_text,
)
from agencies.sandbox import (
    AgencySimulator,
    SimulatorContext,
    route,
)

#: The only credentials the sandbox accepts (build_agencies gives every credential this value).
SANDBOX_CREDENTIAL = "sandbox"

#: The header CallReport states its charset in, on every answer it builds itself.
_CHARSET: Mapping[str, str] = {"content-type": f"{CONTENT_TYPE}; charset=utf-8"}

_HTTP_ERRORS: Mapping[int, tuple[str, str, str, str]] = {
    # status: (faultcode, faultstring, error element, module)
    400: ("soap:Client", "The request could not be read", "Error", "validation"),
    401: ("soap:Client", "Authentication failed", "Error", "auth"),
    403: ("soap:Client", "Access to CallReport is not enabled", "Error", "auth"),
    429: ("soap:Server", "Too many requests", "FatalError", ""),
    500: ("soap:Server", "Internal processing error", "FatalError", ""),
    503: ("soap:Server", "Service temporarily unavailable", "FatalError", ""),
}


def _soap_document() -> tuple[Element, Element]:
    envelope = ET.Element("soap:Envelope", {"xmlns:soap": SOAP_ENV_NS})
    return envelope, _add(envelope, "soap:Body")


def _errors_element(parent: Element, kind: str, module: str, code: str, message: str) -> None:
    errors = ET.SubElement(parent, "Errors", {"xmlns": CALLREPORT_NS})
    attributes = {"code": code, **({"module": module} if module else {})}
    ET.SubElement(errors, kind, attributes).text = message


def fault_xml(status: int) -> bytes:
    """A SOAP 1.1 fault with Callcredit's ``Errors`` as its detail, for an HTTP error."""
    faultcode, faultstring, kind, module = _HTTP_ERRORS.get(
        status, ("soap:Server", "Error", "FatalError", "")
    )
    envelope, body = _soap_document()
    fault = _add(body, "soap:Fault")
    _add(fault, "faultcode", faultcode)
    _add(fault, "faultstring", faultstring)
    _errors_element(_add(fault, "detail"), kind, module, f"E{status}", faultstring)
    return _serialise(envelope)


def in_band_error_xml(module: str, code: str, message: str) -> bytes:
    """A ``Search07aResponse`` carrying ``Errors/Error``, sent with HTTP 200 as Callcredit does."""
    envelope, body = _soap_document()
    response = ET.SubElement(body, "Search07aResponse", {"xmlns": CALLREPORT_NS})
    _errors_element(_add(response, "SearchResult"), "Error", module, code, message)
    return _serialise(envelope)


class _Unreadable(ValueError):
    """The sandbox cannot read the envelope at all (answered with a SOAP Client fault)."""


class _Refused(Exception):  # noqa: N818 (a refusal, not an error of the sandbox's)
    """A readable request Callcredit refuses in-band: its ``Errors`` answer, sent with HTTP 200."""

    def __init__(self, module: str, code: str, message: str) -> None:
        super().__init__(message)
        self.answer = in_band_error_xml(module, code, message)


@dataclass(frozen=True)
class _SentSearch:
    client_ref: str
    purpose: str
    forename: str
    surname: str
    dob: date


def _read_operation(request: httpx.Request, action: str, operation: str) -> Element:
    """The ``operation`` element of a SOAP request for ``action`` whose credentials are the
    sandbox's; raise :class:`_Unreadable` if it is not such a request at all."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != CONTENT_TYPE:
        raise _Unreadable(f"content type {content_type!r} is not text/xml")
    if request.headers.get("soapaction", "").strip() != action:
        raise _Unreadable("Server did not recognize the value of HTTP Header SOAPAction")
    try:
        root = parse_xml(request.content.decode("utf-8"))
    except (BadShape, UnicodeDecodeError) as exc:
        raise _Unreadable(str(exc)) from None
    if root.tag != f"{{{SOAP_ENV_NS}}}Envelope":
        raise _Unreadable("not a SOAP 1.1 envelope")
    headers = find(root, "Header/callcreditheaders")
    element = find(root, f"Body/{operation}")
    if headers is None or element is None or element.tag != f"{{{CALLREPORT_NS}}}{operation}":
        raise _Unreadable(f"no callcreditheaders or CallReport {operation}")
    credentials = CallcreditAdapter.credential_names
    if any(xml_text(headers, k, default="") != SANDBOX_CREDENTIAL for k in credentials):
        raise _Refused(AUTH_MODULE, "E0101", "Invalid company, username or password")
    return element


def _read_search(request: httpx.Request) -> _SentSearch:
    """What a Search07a request asks for; raise :class:`_Unreadable` if it is not one, or
    :class:`_Refused` if Callcredit would refuse it."""
    search = _read_operation(request, SOAP_ACTION, "Search07a")
    definition = find(search, "SearchDefinition")
    credit = None if definition is None else find(definition, "creditrequest")
    if definition is None or credit is None:
        raise _Refused("validation", "E0201", "SearchDefinition/creditrequest is missing")
    client_ref = xml_text(definition, "yourreference", default="")
    purpose = xml_text(credit, "purpose", default="")
    forename = xml_text(credit, "applicant/name/forename", default="")
    surname = xml_text(credit, "applicant/name/surname", default="")
    postcode = xml_text(credit, "applicant/address/postcode", default="")
    try:
        dob = date.fromisoformat(xml_text(credit, "applicant/dob", default=""))
    except ValueError:
        raise _Refused("validation", "E0210", "dob is not a YYYY-MM-DD date") from None
    if credit.get("schemaversion") != SCHEMA_VERSION or not credit.get("datasets", "").isdigit():
        raise _Refused("validation", "E0202", f"schemaversion must be {SCHEMA_VERSION}")
    if not client_ref:
        raise _Refused("validation", "E0203", "yourreference is required")
    if purpose not in SEARCH_TYPE_OF_PURPOSE:
        raise _Refused("validation", "E0204", "purpose is not a recognised search purpose")
    if not surname or not postcode:
        raise _Refused("validation", "E0205", "applicant surname and postcode are required")
    return _SentSearch(client_ref, purpose, forename, surname, dob)


class CallcreditSimulator(AgencySimulator):
    """The sandbox's Callcredit: one SOAP search endpoint answering from XML fixtures.

    Wrong credentials and invalid requests get Callcredit's in-band ``Errors`` inside an
    HTTP 200; an envelope it cannot read at all gets a 400 with a ``soap:Client`` fault.
    """

    agency = "callcredit"
    content_type = CONTENT_TYPE

    def error_body(self, status: int) -> bytes:
        """A SOAP fault whose detail holds Callcredit's ``Errors`` (``module="auth"`` on 401)."""
        return fault_xml(status)

    def _reply(self, status: int, body: bytes) -> httpx.Response:
        # CallReport states its charset on every answer it builds itself.
        return self.reply(status, body, _CHARSET)

    def _refuse(
        self, ctx: SimulatorContext, operation: str, exc: _Unreadable | _Refused
    ) -> httpx.Response:
        """Log and answer a request that is not readable (a 400 fault) or refused in-band."""
        if isinstance(exc, _Refused):
            return self.refuse(ctx, operation, 200, exc.answer, _CHARSET)
        return self.refuse(ctx, operation, 400, fault_xml(400), _CHARSET)

    @route(SEARCH_PATH, "search")
    async def _search(self, request: httpx.Request, ctx: SimulatorContext) -> httpx.Response:
        try:
            sent = _read_search(request)
        except (_Unreadable, _Refused) as exc:
            return self._refuse(ctx, "search", exc)
        persona = ctx.fixtures.match(sent.surname, sent.dob)
        search_type = SEARCH_TYPE_OF_PURPOSE[sent.purpose]
        ctx.record_search(sent.client_ref, search_type.value, persona)
        answer = parse_xml(ctx.fixtures.read(self.agency, persona, ".xml"))
        jobdetails = must(answer, "Body/Search07aResponse/SearchResult/creditreport/jobdetails")
        for path, value in (
            ("searchid", self.stable_reference(sent.client_ref, 12)),
            ("searchdate", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")),
            ("yourreference", sent.client_ref),
        ):
            must(jobdetails, path).text = value
        report = must(answer, "Body/Search07aResponse/SearchResult/creditreport")
        # The resident confirmed at the address is the applicant as searched (echoed).
        for resident in find_all(report, "applicant/addressconfs/resident"):
            for path, value in (("name/forename", sent.forename), ("name/surname", sent.surname)):
                el = find(resident, path)
                if el is not None:
                    el.text = value.upper()
        return self._reply(200, _serialise(answer))

    @route(NOTICE_PATH, "notice")
    async def _notice(self, request: httpx.Request, ctx: SimulatorContext) -> httpx.Response:
        try:
            client_ref, people = _read_notice(request)
        except (_Unreadable, _Refused) as exc:
            return self._refuse(ctx, "notice", exc)
        found = tuple(ctx.fixtures.match(surname, dob) for surname, dob in people)
        answer = ctx.record_notice(client_ref, (found[0], found[1]))
        envelope, body = _soap_document()
        response = ET.SubElement(body, "Disassociate07aResponse", {"xmlns": CALLREPORT_NS})
        result = _add(response, "DisassociationResult")
        jobdetails = _add(result, "jobdetails")
        _add(jobdetails, "yourreference", client_ref)
        _add(jobdetails, "amendmentid", "A" + self.stable_reference(client_ref, 12))
        _add(result, "status", answer.upper())
        reasons = {"refused": "Joint account open", "pending": "Awaiting confirmation"}
        _add(result, "reason", reasons.get(answer, ""))
        return self._reply(200, _serialise(envelope))


def _read_notice(request: httpx.Request) -> tuple[str, list[tuple[str, date]]]:
    """What a Disassociate07a request asks; raise :class:`_Unreadable` if it is not one, or
    :class:`_Refused` if Callcredit would refuse it."""
    definition = find(
        _read_operation(request, NOTICE_SOAP_ACTION, "Disassociate07a"), "DisassociationDefinition"
    )
    if definition is None:
        raise _Unreadable("no Disassociate07a/DisassociationDefinition")
    client_ref = xml_text(definition, "yourreference", default="")
    if not client_ref:
        raise _Refused("validation", "E0203", "yourreference is required")
    people = []
    try:
        date.fromisoformat(xml_text(definition, "linkenddate", default=""))
        for tag in ("applicant", "associate"):
            surname = xml_text(definition, f"{tag}/name/surname", default="")
            if not surname:
                raise _Refused("validation", "E0205", f"{tag} surname is required")
            people.append(
                (surname, date.fromisoformat(xml_text(definition, f"{tag}/dob", default="")))
            )
    except ValueError:
        raise _Refused("validation", "E0210", "dates must be YYYY-MM-DD") from None
    return client_ref, people
