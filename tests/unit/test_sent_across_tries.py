"""Whether a call may have reached the agency covers every quick retry, not only the last."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import respx

from agencies.errors import TransientAgencyError
from agencies.http import AgencyClient, CircuitBreaker, HttpPolicy


def _client(router: respx.MockRouter, breaker: CircuitBreaker) -> AgencyClient:
    http = httpx.AsyncClient(
        base_url="https://agency.test", transport=httpx.MockTransport(router.async_handler)
    )
    policy = HttpPolicy(backoff_initial=0.001, backoff_max=0.002, quick_retries=2)
    return AgencyClient("agency", http, policy, breaker)


def _fail(client: AgencyClient) -> TransientAgencyError:
    with pytest.raises(TransientAgencyError) as info:
        asyncio.run(client.request("POST", "/search", json={}))
    return info.value


def test_a_500_then_503s_is_reported_as_possibly_sent() -> None:
    router = respx.MockRouter()
    router.post("https://agency.test/search").mock(
        side_effect=[httpx.Response(500), httpx.Response(503), httpx.Response(503)]
    )
    exc = _fail(_client(router, CircuitBreaker(50, 30)))
    assert "503" in exc.message and exc.sent is True


def test_a_500_then_an_open_breaker_is_reported_as_possibly_sent() -> None:
    router = respx.MockRouter()
    router.post("https://agency.test/search").mock(return_value=httpx.Response(500))
    # The breaker opens after the first failure; the next quick retry fails fast with it.
    exc = _fail(_client(router, CircuitBreaker(1, 30)))
    assert exc.code == "agency_circuit_open" and exc.sent is True


def test_only_503s_are_reported_as_certainly_not_sent() -> None:
    router = respx.MockRouter()
    router.post("https://agency.test/search").mock(return_value=httpx.Response(503))
    assert _fail(_client(router, CircuitBreaker(50, 30))).sent is False
