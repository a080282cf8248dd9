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

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from adapters.experian.wire import (
    CHECK_PATH,
    CODES,
    COUNT_DEFAULTS,
    COUNT_HARD_3M,
    COUNT_HARD_12M,
    COUNT_INSOLVENCY,
    COUNT_JUDGMENTS,
    CREDIT_SERVICE,
    HARD_MOBILE,
    IDENTITY_SERVICE,
    NOTICE_ANSWERS,
    NOTICE_PATH,
    REJECTED_CODE_PREFIX,
    REQUIRED_COUNTS,
    RULE_DECEASED,
    RULE_NOTICE_OF_CORRECTION,
    TOKEN_FIELDS,
    TOKEN_PATH,
    _element,
    _fraud_markers,
    _name_values,
    _now,
    _rule_triggered,
    build_check_body,
    build_notice_body,
    describe_error,
    parse_token,
    score_band,
)
from agencies.auth import BearerTokenAuth
from agencies.contract import CreditResult, DisassociationNotice, NoticeReceipt, SearchRequest
from agencies.credit import CreditAgencyAdapter, CreditCodes
from agencies.errors import PermanentAgencyError, UnusableResponse
from agencies.parsing import (
    MAX_ERROR_DETAIL,
    BadShape,
    array,
    count,
    field,
    obj,
    text,
)
from agencies.wire import token_request


class ExperianAdapter(CreditAgencyAdapter):
    """Credit searches at Experian (CrossCore-style JSON, OAuth bearer token)."""

    name: ClassVar[str] = "experian"
    credential_names: ClassVar[tuple[str, ...]] = (*TOKEN_FIELDS, "tenant_id")
    echo_field: ClassVar[str] = "clientReferenceId"
    correlation_header: ClassVar[str | None] = "X-Correlation-Id"
    codes: ClassVar[CreditCodes] = CODES

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
        mobile = request.product_code.strip().upper().startswith("MOBILE")
        return self.codes.code(request, application=HARD_MOBILE if mobile else None)

    async def run_search(self, request: SearchRequest, code: str) -> CreditResult:
        """Run one CrossCore credit check and map the answer to a :class:`CreditResult`."""
        application_type = code
        body = build_check_body(
            request,
            tenant_id=self.client.credentials.get("tenant_id", ""),
            application_type=application_type,
            message_time=_now(),
        )
        response = await self.post_json(CHECK_PATH, body, describe_error)
        return self.read_answer(response)

    def read_answer(self, response: httpx.Response) -> CreditResult:
        """Map a CrossCore answer to the contract; raise an agency error if it is unusable."""
        # Garbage, truncated bodies and bad encodings alike are "not valid JSON".
        return self.map_json(response, self._map)

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

        return self.credit_result(
            echoed,
            agency_ref,
            score,
            score_band(score),
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

    async def run_notice(self, notice: DisassociationNotice) -> NoticeReceipt:
        """Send a notice of disassociation as CrossCore JSON with our ``clientReferenceId``."""
        body = build_notice_body(
            notice,
            tenant_id=self.client.credentials.get("tenant_id", ""),
            message_time=_now(),
        )
        response = await self.post_json(NOTICE_PATH, body, describe_error)
        return self.map_json(response, self._map_notice)

    def _map_notice(self, data: Any) -> NoticeReceipt:
        header = obj(field(obj(data, "answer"), "responseHeader", "answer"), "responseHeader")
        if header.get("responseType") == "ERROR":
            self._raise_error(header)
        echoed = text(header, "clientReferenceId", "responseHeader")
        overall = obj(field(header, "overallResponse", "responseHeader"), "overallResponse")
        decision = text(overall, "decision", "overallResponse")
        if decision not in NOTICE_ANSWERS:
            raise BadShape(f"overallResponse.decision {decision!r} is not a notice answer")
        agency_ref = text(header, "expRequestId", "responseHeader")
        return self.receipt(
            echoed, NOTICE_ANSWERS[decision], agency_ref, str(overall.get("decisionText", ""))
        )

    def _raise_error(self, header: Mapping[str, Any]) -> None:
        code = str(header.get("responseCode", ""))
        message = str(header.get("responseMessage", ""))[:MAX_ERROR_DETAIL]
        detail = f"{code} {message}".strip() or "no detail"
        if code.startswith(REJECTED_CODE_PREFIX):
            raise PermanentAgencyError(self.name, f"request refused: {detail}")
        raise UnusableResponse(self.name, f"answered ERROR without a decision: {detail}")
