"""The sandbox's Cifas, speaking the agency's wire format.

Test and sandbox code only: the production adapter (:mod:`adapters.cifas`) never imports it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx

from adapters.cifas import (
    API_KEY_HEADER,
    CASES_PATH,
    FRAUD_CATEGORIES,
    SEARCH_PATH,
)
from agencies.contract import (
    SearchType,
)
from agencies.sandbox import (
    AgencySimulator,
    Persona,
    RecordedCall,
    SimulatorContext,
    required_text,
    route,
)

_ERROR_TEXT: Mapping[int, str] = {
    400: "The request could not be read",
    401: "API key missing or not recognised",
    403: "Member is not permitted to use this service",
    429: "Too many requests",
    500: "Internal error",
    503: "Service temporarily unavailable",
}


#: Per operation: the member's reference field and the person's field.
_FIELDS: Mapping[str, tuple[str, str]] = {
    "search": ("memberSearchReference", "applicant"),
    "file": ("memberCaseReference", "subject"),
}


@dataclass(frozen=True)
class Call:
    """What a readable request names: the member's reference, and the persona it matches."""

    reference: str
    persona: Persona | None


class CifasSimulator(AgencySimulator):
    """The sandbox's Cifas: search and case filing, answering from fixtures."""

    agency = "cifas"

    def error_body(self, status: int) -> bytes:
        """Cifas's error envelope ``{"error": {"code", "message"}}``."""
        message = _ERROR_TEXT.get(status, "Error")
        return json.dumps({"error": {"code": f"NFD-{status}", "message": message}}).encode()

    def _read(
        self, ctx: SimulatorContext, operation: str, request: httpx.Request
    ) -> Call | httpx.Response:
        """The member's reference and the persona, or the refusal to answer (401
        without the API key, 400 for a request it cannot read)."""
        reference_field, person_field = _FIELDS[operation]

        def read(request: httpx.Request) -> Call:
            body = json.loads(request.content)
            reference = required_text(body, reference_field)
            required_text(body, "memberNumber")
            if operation == "file" and body["fraudcategory"] not in FRAUD_CATEGORIES:
                raise ValueError("unknown fraud category")
            surname, dob = _identity(body[person_field])
            return Call(reference, ctx.fixtures.match(surname, dob))

        authorised = bool(request.headers.get(API_KEY_HEADER, "").strip())
        return self.read_or_refuse(ctx, operation, request, read, authorised=authorised)

    @route(SEARCH_PATH, "search")
    async def _search(self, request: httpx.Request, ctx: SimulatorContext) -> httpx.Response:
        call = self._read(ctx, "search", request)
        if isinstance(call, httpx.Response):
            return call
        ctx.record_search(call.reference, SearchType.FRAUD.value, call.persona)
        answer = json.loads(ctx.fixtures.read(self.agency, call.persona))
        answer["searchReference"] = "NFDS" + self.stable_reference(call.reference, 10)
        answer["memberSearchReference"] = call.reference
        return self.reply(200, json.dumps(answer).encode())

    @route(CASES_PATH, "file")
    async def _file(self, request: httpx.Request, ctx: SimulatorContext) -> httpx.Response:
        call = self._read(ctx, "file", request)
        if isinstance(call, httpx.Response):
            return call
        reference, persona = call.reference, call.persona
        ctx.record(
            RecordedCall(
                self.agency,
                "file",
                client_ref=reference,
                persona=persona.key if persona else "",
                status=201,
            )
        )
        answer = {
            "casereferenceno": "CIF" + self.stable_reference(reference, 10),
            "memberCaseReference": reference,
            "status": "filed",
        }
        return self.reply(201, json.dumps(answer).encode())


def _identity(person: Any) -> tuple[str, date]:
    surname = required_text(person, "surname")
    return surname, date.fromisoformat(required_text(person, "dateOfBirth"))
