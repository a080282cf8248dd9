"""Every registered adapter against every sandbox fault and every persona, through the contract.

New adapters are picked up from the registry: the contract is the same whichever agency answers.
"""

from __future__ import annotations

import pytest

from agencies.contract import AlertResult, CreditResult, FraudResult
from agencies.errors import (
    AgencyError,
    AuthenticationFailed,
    TransientAgencyError,
    UnusableResponse,
)
from agencies.registry import adapter_paths
from agencies.sandbox import default_fixtures
from tests.adapter_harness import build, run_searches, sandbox_of, search_request, search_type_for

AGENCIES = sorted(adapter_paths())

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
