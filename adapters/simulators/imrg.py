"""The sandbox's IMRG-style alert scheme, speaking the agency's wire format.

Test and sandbox code only: the production adapter (:mod:`adapters.imrg`) never imports it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from adapters.imrg import (
    ALERTED_FILE,
    API_KEY_HEADER,
    SEARCH_PATH,
    normalise_postcode,
)
from agencies.contract import (
    SearchType,
)
from agencies.sandbox import (
    AgencySimulator,
    FixtureStore,
    Persona,
    SimulatorContext,
    required_text,
    route,
)

#: The only key the sandbox accepts: what ``build_agencies`` gives every credential there.
SANDBOX_API_KEY = "sandbox"

#: The scheme's error object for each HTTP error status, as ``{"error": ...}`` carries it.
_ERRORS: Mapping[int, Mapping[str, str]] = {
    400: {"code": "invalid_request", "message": "The search request could not be read"},
    401: {"code": "invalid_api_key", "message": "API key missing or not recognised"},
    403: {"code": "member_not_authorised", "message": "Member is not authorised to search alerts"},
    429: {"code": "rate_limited", "message": "Too many requests"},
    500: {"code": "internal_error", "message": "Internal error"},
    503: {"code": "service_unavailable", "message": "Service temporarily unavailable"},
}


class ImrgSimulator(AgencySimulator):
    """The sandbox's alert scheme: one search endpoint, answering from fixtures."""

    agency = "imrg"

    def error_body(self, status: int) -> bytes:
        """The scheme's error envelope ``{"error": {"code", "message"}}``."""
        error = _ERRORS.get(status, {"code": f"http_{status}", "message": "Error"})
        return json.dumps({"error": error}).encode()

    def _alerted_persona(
        self, fixtures: FixtureStore, identifiers: frozenset[tuple[str, str]]
    ) -> Persona | None:
        """The persona whose alerts were raised on any of these identifiers, if any."""
        for key, alerted in alerted_identifiers(fixtures.root / self.agency / ALERTED_FILE):
            if alerted & identifiers:
                return fixtures.persona(key)
        return None

    @route(SEARCH_PATH, "search")
    async def _search(self, request: httpx.Request, ctx: SimulatorContext) -> httpx.Response:
        authorised = request.headers.get(API_KEY_HEADER) == SANDBOX_API_KEY
        sent = self.read_or_refuse(ctx, "search", request, _read_search, authorised=authorised)
        if isinstance(sent, httpx.Response):
            return sent
        reference, identifiers = sent
        persona = self._alerted_persona(ctx.fixtures, identifiers)
        ctx.record_search(reference, SearchType.FRAUD.value, persona)
        answer = json.loads(ctx.fixtures.read(self.agency, persona))
        answer["searchReference"] = reference
        answer["searchId"] = "IMRGS" + self.stable_reference(reference, 10)
        return self.reply(200, json.dumps(answer).encode())


def identifier_keys(identifiers: Mapping[str, Any]) -> frozenset[tuple[str, str]]:
    """The identifiers of a search as normalised (type, value) pairs the scheme matches on.

    An address is its first line (case and spacing folded) plus its normalised postcode.
    """
    keys: set[tuple[str, str]] = set()
    address = identifiers.get("address")
    if isinstance(address, Mapping):
        line1 = " ".join(str(address.get("line1") or "").split()).casefold()
        postcode = normalise_postcode(str(address.get("postcode") or ""))
        if line1 and postcode:
            keys.add(("address", f"{line1}|{postcode}"))
    for kind in ("email", "ip", "deviceId"):
        value = identifiers.get(kind)
        if isinstance(value, str) and value.strip():
            keys.add((kind, value.strip().casefold()))
    return frozenset(keys)


@functools.cache
def alerted_identifiers(path: Path) -> tuple[tuple[str, frozenset[tuple[str, str]]], ...]:
    """Per persona key, the identifiers their alerts were raised on (read once per file)."""
    if not path.exists():
        return ()
    raw = json.loads(path.read_text(encoding="utf-8"))
    return tuple((key, identifier_keys(identifiers)) for key, identifiers in raw.items())


def _read_search(request: httpx.Request) -> tuple[str, frozenset[tuple[str, str]]]:
    """(searchReference, the normalised identifiers) of a search request."""
    body = json.loads(request.content)
    reference = required_text(body, "searchReference")
    required_text(body, "memberId")
    identifiers = body["identifiers"]
    address = identifiers["address"]
    # The scheme matches an address on its first line plus postcode: both are needed.
    required_text(address, "line1")
    required_text(address, "postcode")
    for key in ("email", "ip", "deviceId"):
        if identifiers[key] is not None and not isinstance(identifiers[key], str):
            raise ValueError(f"{key} is not a string")
    return reference, identifier_keys(identifiers)
