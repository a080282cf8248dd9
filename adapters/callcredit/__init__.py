"""Callcredit (TransUnion UK): CallReport-style credit searches, XML over SOAP 1.1.

The wire format follows AGENCIES.md. One ``POST /callreport/v7/search`` (``text/xml``,
``SOAPAction: "urn:callcredit.co.uk/soap:callreport7/Search07a"``) carries a SOAP envelope:

* ``Header/callcreditheaders{company, username, password}``: the credentials travel in the
  message itself, not in an HTTP header, so there is no token flow.
* ``Body/Search07a/SearchDefinition``: ``yourreference`` holds our client reference (Callcredit
  echoes it in ``jobdetails`` and recognises a repeated search by it), and
  ``creditrequest[@schemaversion="7.2", @datasets="511"]{score, purpose, autosearch,
  autosearchmaximum, applicant{address..., name, dob, hho, tpoptout}}``, current address first.

The answer is ``Search07aResponse/SearchResult/creditreport`` with ``jobdetails{searchid,
searchdate, yourreference}`` and one ``applicant`` holding ``summary`` (search, judgment,
insolvency, default and link totals), ``creditscores/creditscore`` (TransUnion UK's 0-710
scale; we read the score of class ``1``), ``addressconfs``, ``judgments``, ``bais``,
``searches`` (past footprints), ``addresslinks``, ``aliaslinks``, ``associatelinks`` (not
read: no one else's name is kept in a person's result), relayed ``cifas`` records, and the
CallValidate-style ``callvalidate{IdentityCheck, OtherChecks}``. ``summary/notices/nocflag``
(a notice of correction) and ``grodeceased``/``halomatch`` (deceased registers) are read.

Callcredit reports failures *inside an HTTP 200* as ``<Errors><Error module="...">`` and
``<FatalError>``. They are errors, never results; :func:`in_band_error` maps them:

==================================  ==========================================================
``Error module="auth"``             :class:`AuthenticationFailed` (``sent`` false: refused
                                    before any search, so no footprint)
``FatalError``                      :class:`UnusableResponse` (``sent`` true: Callcredit failed
                                    mid-way, the outcome is unknown; a later retry reuses
                                    ``yourreference`` so it is recognised)
``Error module="validation"``       :class:`PermanentAgencyError` (``sent`` false: the request
                                    was refused as sent, nothing was searched)
``Error`` of any other module       :class:`UnusableResponse` (we cannot tell what happened)
SOAP ``Fault`` in a 200             ``soap:Client`` as a validation refusal, otherwise unusable
==================================  ==========================================================

Every answer is read through :mod:`agencies.parsing` (defusedxml, size-bounded, strict
UTF-8), so entity bombs, external entities, bad encodings and wrong shapes all end as
:class:`UnusableResponse`. :class:`CallcreditSimulator` answers the same format from
``fixtures/callcredit/<persona>.xml`` for the sandbox.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar
from xml.etree.ElementTree import Element

import httpx

from adapters.callcredit.wire import (
    _FALSE,
    _PR_CATEGORY,
    _TRUE,
    CODES,
    CONTENT_TYPE,
    MARKER_FRAUD,
    MARKER_PROTECTIVE_REGISTRATION,
    MAX_SCORE,
    NOTICE_PATH,
    NOTICE_SOAP_ACTION,
    REQUEST_CONTENT_TYPE,
    SCORE_CLASS,
    SEARCH_PATH,
    SOAP_ACTION,
    build_notice_envelope,
    build_search_envelope,
    describe_error,
    in_band_error,
    score_band,
)
from agencies.contract import CreditResult, DisassociationNotice, NoticeReceipt, SearchRequest
from agencies.credit import CreditAgencyAdapter, CreditCodes
from agencies.parsing import (
    BadShape,
    find,
    find_all,
    local,
    must,
    reading,
    xml_body,
    xml_count,
    xml_text,
)
from agencies.wire import notice_answer

# -- reading the answer -----------------------------------------------------------------------


def _flag(el: Element, path: str) -> bool:
    raw = xml_text(el, path).lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise BadShape(f"<{path}> {raw!r} is not a yes/no flag")


def _score(applicant: Element) -> int:
    for creditscore in find_all(applicant, "creditscores/creditscore"):
        score = find(creditscore, "score")
        if score is not None and score.get("class", "").strip() == SCORE_CLASS:
            value = xml_count(creditscore, "score")
            if value > MAX_SCORE:
                raise BadShape(f"<score> {value} is outside 0-{MAX_SCORE}")
            return value
    raise BadShape(f'no <creditscores/creditscore/score class="{SCORE_CLASS}">')


def _identity_verified(applicant: Element) -> bool:
    check = must(applicant, "callvalidate/IdentityCheck")
    other = must(applicant, "callvalidate/OtherChecks")
    result = xml_text(other, "IdentityResult")
    if result.lower() not in ("pass", "fail"):
        raise BadShape(f"<IdentityResult> {result!r} is neither Pass nor Fail")
    # Someone on a deceased register is never verified, whatever else matched: that is
    # exactly what an impersonation looks like.
    return result.lower() == "pass" and _flag(check, "appverified") and not _deceased(applicant)


def _deceased(applicant: Element) -> bool:
    """On the General Register Office's deaths (``grodeceased``) or the Halo register."""
    check = must(applicant, "callvalidate/IdentityCheck")
    return _flag(check, "halomatch") or _flag(check, "grodeceased")


def _searched_on(jobdetails: Element) -> date:
    """The day Callcredit ran the search (``jobdetails/searchdate``, an ISO date-time)."""
    raw = xml_text(jobdetails, "searchdate")
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        raise BadShape(f"<jobdetails/searchdate> {raw!r} is not an ISO date") from None


def _fraud_markers(applicant: Element, searched_on: date) -> tuple[str, ...]:
    markers: list[str] = []
    for record in find_all(applicant, "cifas/cifasrecord"):
        expiry = xml_text(record, "expirydate", default="")
        try:
            expired = bool(expiry) and date.fromisoformat(expiry) < searched_on
        except ValueError:
            raise BadShape(f"<cifasrecord/expirydate> {expiry!r} is not an ISO date") from None
        if expired:
            # A relayed record past its expiry may no longer be used (a protective
            # registration lasts two years, then lapses).
            continue
        category = xml_text(record, "fraudcategory", default="").upper()
        description = xml_text(record, "frauddesc", default="").casefold()
        protective = category == _PR_CATEGORY or description.startswith("protective registration")
        markers.append(MARKER_PROTECTIVE_REGISTRATION if protective else MARKER_FRAUD)
    return tuple(dict.fromkeys(markers))


class CallcreditAdapter(CreditAgencyAdapter):
    """Credit searches at Callcredit / TransUnion UK (CallReport-style XML over SOAP)."""

    name: ClassVar[str] = "callcredit"
    credential_names: ClassVar[tuple[str, ...]] = ("company", "username", "password")
    echo_field: ClassVar[str] = "yourreference"
    codes: ClassVar[CreditCodes] = CODES

    async def run_search(self, request: SearchRequest, code: str) -> CreditResult:
        """Run one CallReport search and map the answer to a :class:`CreditResult`."""
        envelope = build_search_envelope(request, credentials=self.client.credentials, purpose=code)
        return self.read_answer(await self._call(SEARCH_PATH, SOAP_ACTION, envelope))

    async def _call(self, path: str, action: str, envelope: bytes) -> httpx.Response:
        """POST one SOAP envelope with its action."""
        return await self.client.request(
            "POST",
            path,
            content=envelope,
            headers={
                "Content-Type": REQUEST_CONTENT_TYPE,
                "SOAPAction": action,
                "Accept": CONTENT_TYPE,
            },
            describe_error=describe_error,
        )

    def _result(self, response: httpx.Response, path: str) -> Element:
        """The element at ``path`` in a SOAP answer's body; an in-band error is raised."""
        root = xml_body(response)
        if local(root.tag) != "Envelope":
            raise BadShape(f"root is <{local(root.tag)}>, not a SOAP <Envelope>")
        body = must(root, "Body")
        error = in_band_error(self.name, body)
        if error is not None:
            raise error
        return must(body, path)

    async def run_notice(self, notice: DisassociationNotice) -> NoticeReceipt:
        """Send a ``Disassociate07a`` notice; in-band errors are errors, as for searches."""
        envelope = build_notice_envelope(notice, credentials=self.client.credentials)
        response = await self._call(NOTICE_PATH, NOTICE_SOAP_ACTION, envelope)
        with reading(self.name):
            result = self._result(response, "Disassociate07aResponse/DisassociationResult")
            return self.receipt(
                xml_text(result, "jobdetails/yourreference"),
                notice_answer(xml_text(result, "status").lower(), "<status>"),
                xml_text(result, "jobdetails/amendmentid", default=""),
                xml_text(result, "reason", default=""),
            )

    def read_answer(self, response: httpx.Response) -> CreditResult:
        """Map a CallReport answer to the contract; raise an agency error if it is not one."""
        with reading(self.name):
            return self._map(self._result(response, "Search07aResponse/SearchResult/creditreport"))

    def _map(self, report: Element) -> CreditResult:
        jobdetails = must(report, "jobdetails")
        echoed = xml_text(jobdetails, "yourreference")
        search_id = xml_text(jobdetails, "searchid")
        if not search_id:
            raise BadShape("<jobdetails/searchid> is empty")
        applicant = must(report, "applicant")
        summary = must(applicant, "summary")
        hard_3m = xml_count(summary, "searches/totalsearches3months")
        hard_12m = xml_count(summary, "searches/totalsearches12months")
        if hard_3m > hard_12m:
            raise BadShape(f"{hard_3m} searches in 3 months but {hard_12m} in 12 months")
        score = _score(applicant)
        return self.credit_result(
            echoed,
            search_id,
            score,
            score_band(score),
            identity_verified=_identity_verified(applicant),
            # Satisfied judgments stay on the file for six years, and lenders weigh them too.
            judgments=xml_count(summary, "judgments/totalactive")
            + xml_count(summary, "judgments/totalsatisfied"),
            insolvency_current=_flag(summary, "bais/currentlyinsolvent"),
            defaults=xml_count(summary, "share/totaldefaults"),
            # The totals count footprints lenders can see, i.e. application (hard) searches.
            hard_searches_3m=hard_3m,
            hard_searches_12m=hard_12m,
            fraud_markers=_fraud_markers(applicant, _searched_on(jobdetails)),
            notice_of_correction=_flag(summary, "notices/nocflag"),
            deceased=_deceased(applicant),
        )
