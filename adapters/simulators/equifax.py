"""The sandbox's Equifax, speaking the agency's wire format.

Test and sandbox code only: the production adapter (:mod:`adapters.equifax`) never imports it.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qs, unquote

import httpx

from adapters.equifax.wire import (
    CORRELATION_HEADER,
    NOTICE_PATH,
    REPORT_KEY,
    REPORT_PATH,
    SCOPE,
    SEARCH_TYPE_OF_PURPOSE,
    TOKEN_PATH,
    from_efx_date,
    to_efx_date,
)
from agencies.sandbox import (
    AgencySimulator,
    RecordedCall,
    SimulatorContext,
    required_text,
    route,
)

_SANDBOX_TOKEN_PREFIX = "sandbox-efx"
_SANDBOX_SECRET = "sandbox"
TOKEN_LIFETIME = 3600

#: status -> (efxErrorCode, description, additionalErrorDetails.code, message)
_ERRORS: Mapping[int, tuple[str, str, str, str]] = {
    400: ("400.01", "Invalid JSON", "INVALID_JSON", "The request body could not be parsed"),
    401: (
        "401.01",
        "Invalid or expired access token",
        "INVALID_TOKEN",
        "Obtain a new access token and retry",
    ),
    403: ("403.01", "Access denied", "ACCESS_DENIED", "Member is not entitled to this product"),
    429: ("429.01", "Too many requests", "RATE_LIMITED", "Request rate limit exceeded"),
    500: ("500.01", "Internal server error", "INTERNAL_ERROR", "Unexpected processing error"),
    503: (
        "503.01",
        "Service unavailable",
        "SERVICE_UNAVAILABLE",
        "The service is temporarily unavailable",
    ),
    504: ("504.01", "Gateway timeout", "GATEWAY_TIMEOUT", "The report service did not answer"),
}


def error_envelope(status: int, code: str, description: str, detail: str, message: str) -> bytes:
    """Equifax's error envelope, as the gateway and the report service send it."""
    return json.dumps(
        {
            "efxErrorCode": code,
            "description": description,
            "additionalErrorDetails": {
                "status": status,
                "code": detail,
                "message": message,
                "timeStamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            },
        }
    ).encode()


class _Refused(ValueError):
    """A report request the sandbox cannot serve: the status, code and message to answer."""

    def __init__(self, status: int, code: str, description: str, detail: str, message: str):
        super().__init__(message)
        self.status, self.code, self.description = status, code, description
        self.detail, self.message = detail, message

    def envelope(self) -> bytes:
        """The refusal in Equifax's error envelope."""
        return error_envelope(self.status, self.code, self.description, self.detail, self.message)


def _refused(status: int) -> _Refused:
    """The gateway's standard refusal with this status."""
    return _Refused(status, *_ERRORS[status])


def _invalid(message: str) -> _Refused:
    return _Refused(400, "400.02", "Invalid request", "INVALID_REQUEST", message)


class EquifaxSimulator(AgencySimulator):
    """The sandbox's Equifax: token and credit report endpoints, answering from fixtures."""

    agency = "equifax"

    def error_body(self, status: int) -> bytes:
        """Equifax's envelope ``{efxErrorCode, description, additionalErrorDetails}``."""
        code, description, detail, message = _ERRORS.get(
            status, (f"{status}.01", "Error", "ERROR", "Unexpected error")
        )
        return error_envelope(status, code, description, detail, message)

    def _oauth_error(
        self, ctx: SimulatorContext, status: int, error: str, why: str
    ) -> httpx.Response:
        ctx.record(RecordedCall(self.agency, "token", status=status))
        body = {"error": error, "error_description": why}
        return self.reply(status, json.dumps(body).encode())

    @route(TOKEN_PATH, "token")
    async def _token(self, request: httpx.Request, ctx: SimulatorContext) -> httpx.Response:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return self._oauth_error(ctx, 400, "invalid_request", "Body must be form-encoded")
        try:
            form = parse_qs(request.content.decode("ascii"), strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            return self._oauth_error(ctx, 400, "invalid_request", "Body could not be read")
        if form.get("grant_type") != ["client_credentials"]:
            return self._oauth_error(
                ctx, 400, "unsupported_grant_type", "Only client_credentials is supported"
            )
        if form.get("scope") != [SCOPE]:
            return self._oauth_error(ctx, 400, "invalid_scope", "Requested scope is not granted")
        if _basic_credentials(request.headers.get("authorization", "")) != (
            _SANDBOX_SECRET,
            _SANDBOX_SECRET,
        ):
            return self._oauth_error(ctx, 401, "invalid_client", "Client authentication failed")
        ctx.record(RecordedCall(self.agency, "token", status=200))
        answer = {
            "access_token": f"{_SANDBOX_TOKEN_PREFIX}-{uuid.uuid4().hex}",
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "issued_at": str(int(datetime.now(UTC).timestamp() * 1000)),
            "scope": SCOPE,
        }
        return self.reply(200, json.dumps(answer).encode())

    @route(REPORT_PATH, "search")
    async def _report(self, request: httpx.Request, ctx: SimulatorContext) -> httpx.Response:
        echo = {}
        if correlation := request.headers.get(CORRELATION_HEADER):
            echo[CORRELATION_HEADER] = correlation
        try:
            sent = _read_report_request(request)
        except _Refused as refused:
            return self.refuse(ctx, "search", refused.status, refused.envelope(), echo)
        persona = ctx.fixtures.match(sent.surname, sent.date_of_birth)
        ctx.record_search(sent.client_ref, SEARCH_TYPE_OF_PURPOSE[sent.purpose].value, persona)
        answer = json.loads(ctx.fixtures.read(self.agency, persona))
        report = answer["consumers"][REPORT_KEY][0]
        report["customerReferenceNumber"] = sent.client_ref
        report["customerNumber"] = sent.member_number
        report["reportReference"] = "EFXUK" + self.stable_reference(sent.client_ref, 12)
        report["subjectName"] = {
            "firstName": sent.forename.upper(),
            "lastName": sent.surname.upper(),
        }
        report["birthDate"] = to_efx_date(sent.date_of_birth)
        return self.reply(200, json.dumps(answer).encode(), echo)

    @route(NOTICE_PATH, "notice")
    async def _notice(self, request: httpx.Request, ctx: SimulatorContext) -> httpx.Response:
        try:
            _authorised(request)
            client_ref, people = _read_notice(request)
        except _Refused as refused:
            return self.refuse(ctx, "notice", refused.status, refused.envelope())
        found = tuple(ctx.fixtures.match(surname, dob) for surname, dob in people)
        answer = ctx.record_notice(client_ref, (found[0], found[1]))
        reasons = {
            "accepted": ("", ""),
            "refused": ("JOINT_ACCOUNT_OPEN", "A joint account between the consumers is open"),
            "pending": ("UNDER_REVIEW", "The amendment will be confirmed"),
        }
        code, description = reasons[answer]
        body = {
            "status": answer,
            "customerReferenceNumber": client_ref,
            "amendmentReference": "AMD" + self.stable_reference(client_ref, 12),
            "reasonCode": code,
            "reasonDescription": description,
        }
        return self.reply(200, json.dumps(body).encode())


def _authorised(request: httpx.Request) -> None:
    """Check the bearer token as Equifax's gateway would; raise :class:`_Refused`."""
    authorization = request.headers.get("authorization", "")
    if not authorization:
        raise _Refused(
            401,
            "401.03",
            "Missing mandatory parameter",
            "MISSING_PARAMETER",
            "Authorization header is required",
        )
    if not authorization.startswith(f"Bearer {_SANDBOX_TOKEN_PREFIX}-"):
        raise _refused(401)


def _read_notice(request: httpx.Request) -> tuple[str, list[tuple[str, date]]]:
    """(client reference, [(surname, date of birth)] of both consumers) of a notice."""
    try:
        body = json.loads(request.content)
    except ValueError:
        raise _refused(400) from None
    try:
        client_ref = required_text(body, "customerReferenceIdentifier", _invalid)
        config = body["customerConfiguration"]
        credentials = (
            required_text(config, "memberNumber", _invalid),
            required_text(config, "securityCode", _invalid),
        )
        from_efx_date(required_text(body["disassociation"], "effectiveDate", _invalid))
        consumers = body["consumers"]
        if not isinstance(consumers, list) or len(consumers) != 2:
            raise _invalid("consumers must list the two people")
        people = [
            (
                required_text(c["name"][0], "lastName", _invalid),
                from_efx_date(required_text(c, "dateOfBirth", _invalid)),
            )
            for c in consumers
        ]
    except (KeyError, TypeError, IndexError) as exc:
        raise _invalid(f"Mandatory field missing: {exc}") from None
    except ValueError as exc:
        if isinstance(exc, _Refused):
            raise
        raise _invalid("dates must be DDMMYYYY") from None
    if credentials != (_SANDBOX_SECRET, _SANDBOX_SECRET):
        raise _refused(403)
    return client_ref, people


def _basic_credentials(header: str) -> tuple[str, str] | None:
    """(client id, secret) from an HTTP Basic header, or None if it is not one."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        pair = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    client_id, sep, secret = pair.partition(":")
    return (unquote(client_id), unquote(secret)) if sep else None


@dataclass(frozen=True)
class _ReportRequest:
    """What the sandbox needs from a report request."""

    client_ref: str
    purpose: str
    member_number: str
    forename: str
    surname: str
    date_of_birth: date


def _read_report_request(request: httpx.Request) -> _ReportRequest:
    """Check a report request as Equifax's gateway and service would; raise :class:`_Refused`."""
    _authorised(request)
    try:
        body = json.loads(request.content)
    except ValueError:
        raise _refused(400) from None
    try:
        return _read_report_body(body)
    except (KeyError, TypeError, IndexError) as exc:
        raise _invalid(f"Mandatory field missing: {exc}") from None


def _read_report_body(body: Any) -> _ReportRequest:
    client_ref = required_text(body, "customerReferenceIdentifier", _invalid)
    config = body["customerConfiguration"]
    member_number = required_text(config, "memberNumber", _invalid)
    security_code = required_text(config, "securityCode", _invalid)
    purpose = required_text(config["endUserInformation"], "permissiblePurposeCode", _invalid)
    if purpose not in SEARCH_TYPE_OF_PURPOSE:
        raise _invalid(f"Unknown permissiblePurposeCode {purpose!r}")
    if not isinstance(config["models"], list) or not config["models"]:
        raise _invalid("customerConfiguration.models must name at least one model")
    consumers = body["consumers"]
    name = consumers["name"][0]
    surname = required_text(name, "lastName", _invalid)
    forename = required_text(name, "firstName", _invalid)
    try:
        date_of_birth = from_efx_date(required_text(consumers, "dateOfBirth", _invalid))
    except ValueError:
        raise _invalid("consumers.dateOfBirth must be DDMMYYYY") from None
    addresses = consumers["addresses"]
    if not isinstance(addresses, list) or not addresses:
        raise _invalid("consumers.addresses must list the current address")
    for address in addresses:
        required_text(address, "zip", _invalid)
        required_text(address, "city", _invalid)
    if (member_number, security_code) != (_SANDBOX_SECRET, _SANDBOX_SECRET):
        raise _refused(403)
    return _ReportRequest(client_ref, purpose, member_number, forename, surname, date_of_birth)
