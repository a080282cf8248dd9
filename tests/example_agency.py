"""A tiny example agency, registered only by the tests that use it (never in production).

It shows what a sixth agency needs: an adapter (wire format in, contract result out) and a
simulator for the sandbox. Registered by :func:`register_example`, it gets the whole contract
test suite (faults x personas x hostile answers) with no test written for it.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

import httpx
import pytest

from agencies.contract import (
    AgencyAdapter,
    AgencyKind,
    FraudMatch,
    FraudResult,
    SearchRequest,
    SearchType,
)
from agencies.parsing import array, describe_json_error, json_answer, obj, reading, text
from agencies.sandbox import (
    AgencySimulator,
    SimRoute,
    SimulatorContext,
    required_text,
)

NAME = "example"
SEARCH_PATH = "/v1/search"
API_KEY_HEADER = "X-Example-Key"


def describe_error(response: httpx.Response) -> str:
    """The agency's error envelope ``{"error": {"code", "message"}}`` in one line."""
    return describe_json_error(response, "error.code", "error.message")


class ExampleAdapter(AgencyAdapter):
    """A fraud database searched by surname and date of birth (JSON, API key)."""

    name: ClassVar[str] = NAME
    kind: ClassVar[AgencyKind] = AgencyKind.FRAUD
    sandbox_base_url: ClassVar[str] = "https://sandbox.example.test"
    credential_names: ClassVar[tuple[str, ...]] = ("api_key",)
    search_types: ClassVar[frozenset[SearchType]] = frozenset({SearchType.FRAUD})
    echo_field: ClassVar[str] = "reference"
    api_key_header: ClassVar[str | None] = API_KEY_HEADER

    async def run_search(self, request: SearchRequest, code: str) -> FraudResult:
        """Send the search; map the answer (``search()`` checks the echoed reference)."""
        person = request.person
        body = {
            "reference": request.client_ref,
            "surname": person.surname,
            "dateOfBirth": person.date_of_birth.isoformat(),
        }
        response = await self.client.request(
            "POST", SEARCH_PATH, json=body, describe_error=describe_error
        )
        data = json_answer(self.name, response)
        with reading(self.name):
            root = obj(data, "answer")
            matches = tuple(
                FraudMatch(
                    case_ref=text(obj(m, f"matches[{i}]"), "caseId", f"matches[{i}]"),
                    case_type=text(obj(m, f"matches[{i}]"), "type", f"matches[{i}]"),
                    subject_role="applicant",
                )
                for i, m in enumerate(array(root, "matches", "answer"))
            )
            return FraudResult(
                agency=self.name,
                client_ref=text(root, "reference", "answer"),
                agency_ref=text(root, "searchId", "answer"),
                matches=matches,
            )


class ExampleSimulator(AgencySimulator):
    """The sandbox's example agency: a flagged persona has one case, anyone else none."""

    agency = NAME

    def routes(self) -> list[SimRoute]:
        """The one search endpoint."""
        return [SimRoute("POST", SEARCH_PATH, "search", self._search)]

    def error_body(self, status: int) -> bytes:
        """The agency's error envelope."""
        return json.dumps({"error": {"code": f"http_{status}", "message": "Error"}}).encode()

    async def _search(self, request: httpx.Request, ctx: SimulatorContext) -> httpx.Response:
        if request.headers.get(API_KEY_HEADER) != "sandbox":
            return self.refuse(ctx, "search", 401)
        try:
            body: Any = json.loads(request.content)
            reference = required_text(body, "reference")
            persona = ctx.fixtures.match(
                required_text(body, "surname"), required_text(body, "dateOfBirth")
            )
        except (ValueError, KeyError, TypeError):
            return self.refuse(ctx, "search", 400)
        ctx.record_search(reference, SearchType.FRAUD.value, persona)
        flagged = persona is not None and persona.flagged
        cases = [{"caseId": "EX-1", "type": "Identity Fraud"}] if flagged else []
        answer = {
            "reference": reference,
            "searchId": "EXS" + self.stable_reference(reference, 8),
            "matches": cases,
        }
        return self.reply(200, json.dumps(answer).encode())


def register_example(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register the example adapter and its simulator for one test, as a plug-in would."""
    from agencies import registry, simulators

    monkeypatch.setitem(registry.BUILTIN_ADAPTERS, NAME, f"{__name__}:ExampleAdapter")
    monkeypatch.setitem(simulators.BUILTIN_SIMULATORS, NAME, f"{__name__}:ExampleSimulator")
