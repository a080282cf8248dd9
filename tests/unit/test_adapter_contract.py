"""Every registered adapter against every sandbox fault and every persona, through the contract.

New adapters are picked up from the registry: the contract is the same whichever agency answers.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from agencies.contract import (
    AgencyAdapter,
    AlertResult,
    CreditResult,
    FraudResult,
    SearchRequest,
    SearchType,
)
from agencies.errors import (
    AgencyError,
    AuthenticationFailed,
    PermanentAgencyError,
    TransientAgencyError,
    UnusableResponse,
)
from agencies.registry import adapter_paths
from agencies.sandbox import default_fixtures
from tests import example_agency
from tests.adapter_harness import build, run_searches, sandbox_of, search_request, search_type_for

#: Every registered agency, plus the example agency the tests register (fixture below): a new
#: adapter gets this whole suite by being registered.
AGENCIES = sorted({*adapter_paths(), example_agency.NAME})


@pytest.fixture(autouse=True)
def _example_agency_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    example_agency.register_example(monkeypatch)


#: fault -> (error class or None for success, code, whether the request may have been searched)
FAULT_EFFECTS: dict[str, tuple[type[AgencyError] | None, str | None, bool | None]] = {
    "timeout": (TransientAgencyError, "agency_timeout", True),
    "http500": (TransientAgencyError, "agency_unavailable", True),
    "http503": (TransientAgencyError, "agency_unavailable", False),
    "http429": (TransientAgencyError, "agency_rate_limited", False),
    "http401": (AuthenticationFailed, "agency_auth_failed", False),
    "garbage": (UnusableResponse, "agency_bad_response", True),
    "truncated": (UnusableResponse, "agency_bad_response", True),
    "slow:400": (TransientAgencyError, "agency_timeout", True),
    "flaky:1": (None, None, None),
    "flaky:9": (TransientAgencyError, "agency_unavailable", False),
}


@pytest.mark.parametrize("agency", AGENCIES)
@pytest.mark.parametrize("fault", sorted(FAULT_EFFECTS))
def test_every_fault_has_its_documented_effect_at_every_agency(agency: str, fault: str) -> None:
    # Given the agency with one fault injected and a 0.2 s call budget (so slow:400 times out)
    agencies = build(agency, faults=f"{agency}={fault}", connect_timeout=0.1, read_timeout=0.1)
    request = search_request("alice", search_type=search_type_for(agencies, agency))
    expected, code, sent = FAULT_EFFECTS[fault]
    if expected is None:
        # Then a fault that clears within the quick retries costs one result
        [result] = run_searches(agencies, agency, request)
        assert result.agency == agency and result.client_ref == request.client_ref
        return
    # Then the error is of the documented class, with its code and whether it was sent
    with pytest.raises(expected) as caught:
        run_searches(agencies, agency, request)
    assert caught.value.code == code and caught.value.agency == agency
    assert caught.value.sent is sent
    assert agency in str(caught.value) and len(caught.value.message) > 5


PERSONAS = [p.key for p in default_fixtures().personas] + ["nobody"]


@pytest.mark.parametrize("agency", AGENCIES)
@pytest.mark.parametrize("persona", PERSONAS)
def test_every_persona_maps_to_the_contract_types_at_every_agency(
    agency: str, persona: str
) -> None:
    agencies = build(agency)
    request = search_request(
        None if persona == "nobody" else persona, search_type=search_type_for(agencies, agency)
    )
    [result] = run_searches(agencies, agency, request)
    assert isinstance(result, CreditResult | FraudResult | AlertResult)
    assert result.agency == agency and result.client_ref == request.client_ref
    # The sandbox recognised the persona (or gave the default file) and logged one search.
    assert sandbox_of(agencies).footprints(agency) == {request.client_ref}


@pytest.mark.parametrize("agency", AGENCIES)
def test_a_repeated_client_reference_is_one_search_at_the_agency(agency: str) -> None:
    agencies = build(agency)
    request = search_request("alice", search_type=search_type_for(agencies, agency))
    first, second = run_searches(agencies, agency, request, request)
    assert first == second
    assert len(sandbox_of(agencies).footprints(agency)) == 1


class _Tampering(httpx.AsyncBaseTransport):
    """Serves the sandbox, but replaces each search answer's body or content type."""

    def __init__(self, inner: httpx.AsyncBaseTransport, body: bytes | None, ctype: str | None):
        self.inner, self.body, self.ctype = inner, body, ctype

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if "token" in request.url.path or response.status_code != 200:
            return response
        original = await response.aread()
        headers = dict(response.headers)
        if self.ctype is not None:
            headers["content-type"] = self.ctype
        headers.pop("content-length", None)
        return httpx.Response(
            200, headers=headers, content=original if self.body is None else self.body
        )


HOSTILE = {
    "wrong content type": (None, "text/html"),
    "invalid utf-8": (b"\xff\xfe\xfa not utf-8 \xc3\x28", None),
    "entity bomb": (
        b'<?xml version="1.0"?><!DOCTYPE b [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><r>&b;</r>',
        None,
    ),
    "external entity": (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>',
        None,
    ),
    "empty body": (b"", None),
}


@pytest.mark.parametrize("agency", AGENCIES)
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_or_unreadable_answers_are_unusable_at_every_agency(agency: str, case: str) -> None:
    import asyncio

    from agencies.config import build_adapter
    from agencies.registry import load_adapter
    from tests.adapter_harness import FAST

    cls = load_adapter(agency)
    body, ctype = HOSTILE[case]
    sandbox = sandbox_of(build(agency))
    adapter = build_adapter(
        cls,
        cls.sandbox_base_url,
        _Tampering(sandbox.transport(), body, ctype),
        {k: "sandbox" for k in cls.credential_names},
        cls.default_policy().with_overrides(**FAST),
    )
    request = search_request("alice", search_type=search_type_for(build(agency), agency))
    with pytest.raises(UnusableResponse):
        asyncio.run(adapter.search(request))


@pytest.mark.parametrize("agency", AGENCIES)
def test_an_answer_echoing_another_search_is_never_returned_at_any_agency(
    agency: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an agency whose mapped answer carries another search's client reference
    from agencies.registry import load_adapter

    cls = load_adapter(agency)
    mapped = cls.run_search

    async def for_another_search(self: AgencyAdapter, request: SearchRequest, code: str) -> Any:
        result = await mapped(self, request, code)
        return result.model_copy(update={"client_ref": "CHK-OTHER"})

    monkeypatch.setattr(cls, "run_search", for_another_search)
    agencies = build(agency)
    request = search_request("alice", search_type=search_type_for(agencies, agency))
    # Then search() refuses it: the template checks the echo for every adapter
    with pytest.raises(UnusableResponse, match="CHK-OTHER"):
        run_searches(agencies, agency, request)


@pytest.mark.parametrize("agency", AGENCIES)
def test_a_search_type_the_agency_does_not_run_is_refused_before_sending(agency: str) -> None:
    from agencies.registry import load_adapter

    unsupported = sorted(set(SearchType) - load_adapter(agency).search_types)
    if not unsupported:
        pytest.skip(f"{agency} runs every search type")
    agencies = build(agency)
    request = search_request("alice", search_type=unsupported[0])
    with pytest.raises(PermanentAgencyError) as caught:
        run_searches(agencies, agency, request)
    assert caught.value.code == "unsupported_search" and caught.value.sent is False
    assert sandbox_of(agencies).footprints(agency) == set()
