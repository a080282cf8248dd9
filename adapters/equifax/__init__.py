"""Equifax UK: consumer credit reports as JSON behind an OAuth2 client-credentials token.

The wire format follows AGENCIES.md. A token comes from ``POST /v2/oauth/token`` (form-encoded
``grant_type=client_credentials`` and a ``scope``, the client id and secret as HTTP Basic) and
is reused until the expiry it states. The report comes from ``POST
/business/consumer-credit/v1/reports/credit-report``: the request names the consumer, the
member's configuration and the permissible purpose (``CA`` credit application: a hard search;
``QS`` quotation or ``AM`` account management: soft searches). The answer is shaped like
Equifax's US consumer credit report (``consumers.equifaxUSConsumerCreditReport``) but UK:
``consumers.equifaxUKConsumerCreditReport[]`` with a 0-1000 score model, an identity scan,
court judgments, insolvencies, defaults, the search footprints themselves (we count the hard
ones), linked addresses, financial associates (not read: no one else's name is kept in a
person's result), notices of correction, a deceased indicator and relayed Cifas markers. Dates
are Equifax's compact eight digits, day first in the UK (``DDMMYYYY``).

Errors come in Equifax's envelope ``{efxErrorCode, description, additionalErrorDetails{status,
code, message, timeStamp}}``; the token endpoint answers OAuth's own ``{error,
error_description}``. :class:`EquifaxSimulator` speaks all of it from ``fixtures/equifax/``.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from adapters.equifax.wire import (
    CODES,
    CORRELATION_HEADER,
    IDENTITY_PASS,
    NOTICE_PATH,
    REPORT_KEY,
    REPORT_PATH,
    SCOPE,
    STATUS_COMPLETED,
    TOKEN_PATH,
    TOKEN_REFRESH_MARGIN,
    _cifas_markers,
    _deceased,
    _efx_date,
    _hard_searches,
    _identity_result,
    _insolvency_current,
    _objects,
    _score,
    build_notice_body,
    build_report_body,
    describe_error,
    parse_token,
    score_band,
)
from agencies.auth import BearerTokenAuth
from agencies.contract import CreditResult, DisassociationNotice, NoticeReceipt, SearchRequest
from agencies.credit import CreditAgencyAdapter, CreditCodes
from agencies.parsing import BadShape, array, field, obj, text
from agencies.wire import notice_answer, token_request


class EquifaxAdapter(CreditAgencyAdapter):
    """Credit searches at Equifax UK (consumer credit report JSON, OAuth2 client credentials)."""

    name: ClassVar[str] = "equifax"
    credential_names: ClassVar[tuple[str, ...]] = (
        "client_id",
        "client_secret",
        "member_number",
        "security_code",
    )
    echo_field: ClassVar[str] = "customerReferenceNumber"
    correlation_header: ClassVar[str | None] = CORRELATION_HEADER
    codes: ClassVar[CreditCodes] = CODES

    @classmethod
    def make_auth(
        cls,
        base_url: str,
        credentials: Mapping[str, str],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> BearerTokenAuth:
        """A client-credentials token from ``POST /v2/oauth/token``, reused until shortly
        before the expiry it states and refreshed once on a 401. ``clock`` is for tests."""
        token_url = base_url.rstrip("/") + TOKEN_PATH
        # RFC 6749 2.3.1: id and secret are form-encoded before they are joined for Basic.
        client_id = quote(credentials.get("client_id", ""), safe="")
        secret = quote(credentials.get("client_secret", ""), safe="")
        pair = f"{client_id}:{secret}"
        basic = base64.b64encode(pair.encode()).decode("ascii")
        form = {"grant_type": "client_credentials", "scope": SCOPE}
        build = token_request(
            cls.default_policy(),
            token_url,
            data=form,
            headers={"Authorization": f"Basic {basic}", "Accept": "application/json"},
        )
        return BearerTokenAuth(
            cls.name,
            build,
            parse_token,
            refresh_margin=TOKEN_REFRESH_MARGIN,
            clock=clock,
        )

    async def run_search(self, request: SearchRequest, code: str) -> CreditResult:
        """Fetch one consumer credit report and map it to a :class:`CreditResult`."""
        purpose = code
        body = build_report_body(
            request,
            member_number=self.client.credentials.get("member_number", ""),
            security_code=self.client.credentials.get("security_code", ""),
            purpose_code=purpose,
        )
        response = await self.post_json(REPORT_PATH, body, describe_error)
        return self.read_answer(response)

    async def run_notice(self, notice: DisassociationNotice) -> NoticeReceipt:
        """Send a notice of disassociation; errors come back in Equifax's envelope."""
        body = build_notice_body(
            notice,
            member_number=self.client.credentials.get("member_number", ""),
            security_code=self.client.credentials.get("security_code", ""),
        )
        response = await self.post_json(NOTICE_PATH, body, describe_error)
        return self.map_json(response, self._map_notice)

    def _map_notice(self, data: Any) -> NoticeReceipt:
        root = obj(data, "answer")
        return self.receipt(
            text(root, "customerReferenceNumber", "answer"),
            notice_answer(text(root, "status", "answer"), "status"),
            text(root, "amendmentReference", "answer"),
            str(root.get("reasonDescription", "")),
        )

    def read_answer(self, response: httpx.Response) -> CreditResult:
        """Map a credit report answer to the contract; raise an agency error if unusable."""
        return self.map_json(response, self._map)

    def _map(self, data: Any) -> CreditResult:
        root = obj(data, "answer")
        status = text(root, "status", "answer")
        if status != STATUS_COMPLETED:
            raise BadShape(f"status is {status!r}, not {STATUS_COMPLETED!r}")
        consumers = obj(field(root, "consumers", "answer"), "consumers")
        reports = array(consumers, REPORT_KEY, "consumers")
        if not reports:
            raise BadShape(f"consumers.{REPORT_KEY} is empty")
        where = f"{REPORT_KEY}[0]"
        report = obj(reports[0], where)
        echoed = text(report, "customerReferenceNumber", where)
        agency_ref = text(report, "reportReference", where)
        if not agency_ref:
            raise BadShape(f"{where}.reportReference is empty")
        report_date = _efx_date(report, "reportDate", where)
        score = _score(report, where)
        hard_3m, hard_12m = _hard_searches(report, where, report_date)
        return self.credit_result(
            echoed,
            agency_ref,
            score,
            score_band(score),
            identity_verified=_identity_result(report, where) == IDENTITY_PASS,
            # Every entry on the file counts: Equifax drops them after six years itself.
            judgments=len(_objects(report, "courtJudgments", where)),
            insolvency_current=_insolvency_current(report, where),
            defaults=len(_objects(report, "defaults", where)),
            hard_searches_3m=hard_3m,
            hard_searches_12m=hard_12m,
            fraud_markers=_cifas_markers(report, where, report_date),
            # Each notice is the person's own statement about an entry: any one is enough.
            notice_of_correction=bool(_objects(report, "noticesOfCorrection", where)),
            deceased=_deceased(report, where),
        )
