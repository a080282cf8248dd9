"""A harness for adapter tests: sandboxed agencies, persona searches, and what was sent.

Every adapter's tests use it, so each test file is about its agency's format, not set-up.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import httpx

from agencies.config import Agencies, AgencySettings, build_agencies
from agencies.contract import (
    Address,
    AlertResult,
    CreditResult,
    FraudResult,
    Person,
    Role,
    SearchRequest,
    SearchType,
)
from agencies.sandbox import Sandbox, default_fixtures

#: Quick retries in microseconds, and no waiting on Retry-After.
FAST: dict[str, float | int] = {
    "backoff_initial": 0.001,
    "backoff_max": 0.005,
    "max_retry_after": 0.0,
    "breaker_reset": 0.05,
}

ADDRESSES = (
    Address(line1="10 High Street", town="Leeds", postcode="LS1 4AP", from_date=date(2021, 6, 1)),
    Address(
        line1="4 Mill Lane",
        town="York",
        postcode="YO1 7HH",
        from_date=date(2016, 2, 1),
        to_date=date(2021, 5, 31),
    ),
)

Result = CreditResult | FraudResult | AlertResult


def build(
    agency: str | None = None,
    *,
    faults: str | None = None,
    latency: str | None = None,
    **policy: float | int,
) -> Agencies:
    """Sandboxed agencies, all with FAST policies; ``policy`` changes ``agency``'s further."""
    from agencies.registry import adapter_paths
    from agencies.sandbox import parse_faults, parse_latency

    overrides: dict[str, Mapping[str, float | int]] = {n: dict(FAST) for n in adapter_paths()}
    if agency:
        overrides[agency] = {**FAST, **policy}
    return build_agencies(
        AgencySettings(
            policy_overrides=overrides,
            faults=parse_faults(faults),
            latency_ms=parse_latency(latency),
        )
    )


def sandbox_of(agencies: Agencies) -> Sandbox:
    """The sandbox behind sandboxed agencies."""
    assert agencies.sandbox is not None
    return agencies.sandbox


def person(key: str | None) -> Person:
    """The persona with that key, or (None) an applicant who matches no persona."""
    if key is None:
        return Person(
            forename="Jane",
            surname="Doe",
            date_of_birth=date(1985, 3, 14),
            email="jane@example.com",
            phone="+447700900123",
            addresses=ADDRESSES,
            ip="203.0.113.7",
        )
    p = default_fixtures().persona(key)
    return Person(
        forename=p.forename,
        surname=p.surname,
        date_of_birth=p.date_of_birth,
        email=f"{p.forename.lower()}@example.com",
        phone="+447700900123",
        addresses=ADDRESSES,
        ip="203.0.113.7",
    )


def search_request(
    key: str | None = "alice",
    *,
    client_ref: str = "c0ffee00c0ffee00c0ffee00c0ffee00",
    search_type: SearchType = SearchType.HARD,
    product_code: str = "MOBILE-24M",
    role: Role = Role.APPLICANT,
    channel: str = "online",
    delivery_address: Address | None = None,
) -> SearchRequest:
    """A search for one persona."""
    return SearchRequest(
        client_ref=client_ref,
        search_type=search_type,
        purpose="new_order" if search_type is not SearchType.SOFT else "quotation",
        role=role,
        person=person(key),
        product_code=product_code,
        credit_amount=Decimal("720.00"),
        term_months=24,
        channel=channel,
        delivery_address=delivery_address,
    )


def search_type_for(agencies: Agencies, agency: str) -> SearchType:
    """HARD for a credit reference agency, FRAUD for the others."""
    from agencies.contract import AgencyKind

    kind = type(agencies[agency]).kind
    return SearchType.HARD if kind is AgencyKind.CRA else SearchType.FRAUD


def run_searches(agencies: Agencies, agency: str, *requests: SearchRequest) -> list[Result]:
    """Run searches one after another in one event loop, then close the clients."""

    async def go() -> list[Result]:
        try:
            return [await agencies[agency].search(r) for r in requests]
        finally:
            await agencies.aclose()

    return asyncio.run(go())


def sent(agencies: Agencies, agency: str, path_suffix: str = "") -> list[httpx.Request]:
    """Requests the sandbox received for an agency (optionally only paths ending so)."""
    base = sandbox_of(agencies).base_urls[agency]
    return [
        call.request
        for call in sandbox_of(agencies).router.calls
        if str(call.request.url).startswith(base)
        and str(call.request.url.path).endswith(path_suffix)
    ]


def json_of(request: httpx.Request) -> Any:
    """A sent request's JSON body."""
    return json.loads(request.content)
