"""The sandbox's Experian, speaking the agency's wire format.

Test and sandbox code only: the production adapter (:mod:`adapters.experian`) never imports it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import httpx

from adapters.experian.wire import (
    CHECK_PATH,
    NOTICE_PATH,
    NOTICE_REQUEST_TYPE,
    SEARCH_TYPE_OF_CODE,
    TOKEN_FIELDS,
    TOKEN_PATH,
    _now,
)
from agencies.sandbox import (
    AgencySimulator,
    Reader,
    RecordedCall,
    SimulatorContext,
    route,
)

_SANDBOX_TOKEN_PREFIX = "sandbox-token"
_Sent = TypeVar("_Sent")

_ERROR_TEXT: Mapping[int, tuple[str, str]] = {
    400: ("R0102", "Invalid request format"),
    401: ("Unauthorized", "Invalid or expired access token"),
    403: ("Forbidden", "Access to this resource is denied"),
    429: ("TooManyRequests", "Rate limit exceeded"),
    500: ("R0901", "Internal processing error"),
    503: ("R0903", "Service temporarily unavailable"),
}


class ExperianSimulator(AgencySimulator):
    """The sandbox's Experian: token and CrossCore check endpoints, answering from fixtures."""

    agency = "experian"

    def error_body(self, status: int) -> bytes:
        """Gateway errors (auth, throttling) as ``{"errors": [...]}``, the rest as CrossCore."""
        code, message = _ERROR_TEXT.get(status, (f"R09{status % 100:02d}", "Error"))
        if status in (401, 403, 429):
            body: dict[str, Any] = {"errors": [{"errorType": code, "message": message}]}
        else:
            body = {
                "responseHeader": {
                    "responseCode": code,
                    "responseType": "ERROR",
                    "responseMessage": message,
                }
            }
        return json.dumps(body).encode()

    def _read(
        self, ctx: SimulatorContext, operation: str, request: httpx.Request, read: Reader[_Sent]
    ) -> _Sent | httpx.Response:
        """What ``read`` makes of a request with a token the sandbox issued (else a 401)."""
        token = str(request.headers.get("authorization", ""))
        authorised = token.startswith(f"Bearer {_SANDBOX_TOKEN_PREFIX}")
        return self.read_or_refuse(ctx, operation, request, read, authorised=authorised)

    @route(TOKEN_PATH, "token")
    async def _token(self, request: httpx.Request, ctx: SimulatorContext) -> httpx.Response:
        try:
            sent = json.loads(request.content)
            complete = isinstance(sent, dict) and all(
                isinstance(sent.get(k), str) and sent[k] for k in TOKEN_FIELDS
            )
        except ValueError:
            complete = False
        if not complete:
            return self.refuse(ctx, "token", 401)
        ctx.record(RecordedCall(self.agency, "token", status=200))
        answer = {
            "access_token": f"{_SANDBOX_TOKEN_PREFIX}-{uuid.uuid4().hex}",
            "token_type": "Bearer",
            "issued_at": str(int(datetime.now(UTC).timestamp() * 1000)),
            "expires_in": "1800",
            "refresh_token": uuid.uuid4().hex,
        }
        return self.reply(200, json.dumps(answer).encode())

    @route(CHECK_PATH, "search")
    async def _check(self, request: httpx.Request, ctx: SimulatorContext) -> httpx.Response:
        sent = self._read(ctx, "search", request, _read_check)
        if isinstance(sent, httpx.Response):
            return sent
        client_ref, application_type, surname, dob = sent
        persona = ctx.fixtures.match(surname, dob)
        ctx.record_search(client_ref, SEARCH_TYPE_OF_CODE[application_type].value, persona)
        answer = json.loads(ctx.fixtures.read(self.agency, persona))
        header = answer["responseHeader"]
        header["clientReferenceId"] = client_ref
        header["expRequestId"] = "RB" + self.stable_reference(client_ref, 10)
        header["messageTime"] = _now()
        return self.reply(
            200,
            json.dumps(answer).encode(),
            {"x-correlation-id": request.headers["x-correlation-id"]},
        )

    @route(NOTICE_PATH, "notice")
    async def _notice(self, request: httpx.Request, ctx: SimulatorContext) -> httpx.Response:
        sent = self._read(ctx, "notice", request, _read_notice)
        if isinstance(sent, httpx.Response):
            return sent
        client_ref, people = sent
        found = tuple(ctx.fixtures.match(surname, dob) for surname, dob in people)
        answer = ctx.record_notice(client_ref, (found[0], found[1]))
        texts = {
            "accepted": "Financial association removed",
            "refused": "Joint account open: association retained",
            "pending": "Notice received; confirmation to follow",
        }
        body = {
            "responseHeader": {
                "clientReferenceId": client_ref,
                "expRequestId": "DA" + self.stable_reference(client_ref, 10),
                "messageTime": _now(),
                "responseCode": "R0000",
                "responseType": "INFO",
                "responseMessage": "OK",
                "overallResponse": {"decision": answer.upper(), "decisionText": texts[answer]},
            }
        }
        return self.reply(200, json.dumps(body).encode())


def _read_notice(request: httpx.Request) -> tuple[str, list[tuple[str, date]]]:
    """(clientReferenceId, [(surname, date of birth)] of both people) of a notice."""
    if not request.headers.get("x-correlation-id"):
        raise ValueError("X-Correlation-Id header missing")
    body = json.loads(request.content)
    header = body["header"]
    client_ref = header["clientReferenceId"]
    if header["requestType"] != NOTICE_REQUEST_TYPE or not isinstance(client_ref, str):
        raise ValueError("not a disassociation")
    if not client_ref:
        raise ValueError("clientReferenceId missing")
    payload = body["payload"]
    link = payload["disassociation"]
    date.fromisoformat(link["linkEndDate"])
    contacts = {c["id"]: c for c in payload["contacts"]}
    people = []
    for key in ("contactId", "associateContactId"):
        person = contacts[link[key]]["person"]
        surname = person["names"][0]["surName"]
        if not isinstance(surname, str) or not surname:
            raise ValueError("surName missing")
        people.append((surname, date.fromisoformat(person["personDetails"]["dateOfBirth"])))
    return client_ref, people


def _read_check(request: httpx.Request) -> tuple[str, str, str, date]:
    """(clientReferenceId, application type, surname, date of birth) of a check request."""
    if not request.headers.get("x-correlation-id"):
        raise ValueError("X-Correlation-Id header missing")
    body = json.loads(request.content)
    header = body["header"]
    client_ref = header["clientReferenceId"]
    if not isinstance(client_ref, str) or not client_ref or not isinstance(header["tenantId"], str):
        raise ValueError("header incomplete")
    application = body["payload"]["application"]
    application_type = application["type"]
    if application_type not in SEARCH_TYPE_OF_CODE:
        raise ValueError(f"unknown application type {application_type!r}")
    contact_id = application["applicants"][0]["contactId"]
    contact = next(c for c in body["payload"]["contacts"] if c["id"] == contact_id)
    person = contact["person"]
    surname = person["names"][0]["surName"]
    if not isinstance(surname, str) or not surname:
        raise ValueError("surName missing")
    dob = date.fromisoformat(person["personDetails"]["dateOfBirth"])
    return client_ref, application_type, surname, dob
