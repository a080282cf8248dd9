"""Per-agency call policy as data, and the retry rules the client applies from it."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import respx

from agencies.errors import PermanentAgencyError, TransientAgencyError
from agencies.http import AgencyClient, CircuitBreaker, HttpPolicy
from agencies.policies import AGENCY_POLICIES, policy_for
from agencies.registry import adapter_classes
from workers.settings import WorkerSettings


def test_every_registered_agency_has_a_row_and_adapters_use_it() -> None:
    for name, cls in adapter_classes().items():
        assert name in AGENCY_POLICIES, f"{name} has no policy row"
        assert cls.default_policy() == AGENCY_POLICIES[name]


def test_quick_retries_fit_well_inside_the_actor_time_limit() -> None:
    limit = WorkerSettings().time_limit_ms / 1000
    for name, p in AGENCY_POLICIES.items():
        worst = min(p.total_budget, (1 + p.quick_retries) * (p.call_timeout + p.backoff_max))
        assert worst < limit / 2, f"{name}: {worst}s of quick retries vs a {limit}s time limit"
        assert p.call_timeout <= 12, name


def test_policies_can_be_compared_and_overridden_field_by_field() -> None:
    experian = policy_for("experian")
    assert experian.with_overrides(quick_retries=0) != experian
    assert experian.with_overrides(quick_retries=0).read_timeout == experian.read_timeout
    assert policy_for("some-third-party") == HttpPolicy()


def _client(router: respx.MockRouter, **changes: object) -> AgencyClient:
    policy = HttpPolicy(backoff_initial=0.001, backoff_max=0.002).with_overrides(**changes)
    http = httpx.AsyncClient(
        base_url="https://agency.test", transport=httpx.MockTransport(router.async_handler)
    )
    return AgencyClient("agency", http, policy, CircuitBreaker(50, 30))


def _call(client: AgencyClient) -> httpx.Response:
    return asyncio.run(client.request("POST", "/search", json={}))


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_other_4xx_answers_are_never_retried(status: int) -> None:
    router = respx.MockRouter()
    route = router.post("https://agency.test/search").respond(status)
    with pytest.raises(PermanentAgencyError):
        _call(_client(router))
    assert route.call_count == 1


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_408_429_and_5xx_are_retried_quickly_then_succeed(status: int) -> None:
    router = respx.MockRouter()
    route = router.post("https://agency.test/search")
    route.side_effect = [httpx.Response(status), httpx.Response(200, json={"ok": True})]
    assert _call(_client(router)).json() == {"ok": True}
    assert route.call_count == 2


def test_quick_retries_pause_exponentially_from_the_first_try_and_stop_at_their_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given an agency that answers 503 every time, a policy of three quick retries, and no jitter
    monkeypatch.setattr("random.uniform", lambda a, b: 0.0)
    pauses: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds: float, *args: object) -> None:
        pauses.append(round(seconds, 3))
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    router = respx.MockRouter()
    route = router.post("https://agency.test/search").respond(503)
    # When a call is made
    with pytest.raises(TransientAgencyError):
        _call(_client(router, quick_retries=3, backoff_initial=0.1, backoff_max=0.3))
    # Then it was tried four times, pausing 0.1, 0.2 then 0.3 s (the cap) between tries
    assert route.call_count == 4
    assert pauses == [0.1, 0.2, 0.3]


def test_quick_retries_stop_once_the_calls_budget_is_spent() -> None:
    # Given an agency that answers 503 every time and a budget of 0.25 s for all tries
    router = respx.MockRouter()
    route = router.post("https://agency.test/search").respond(503)
    started = time.monotonic()
    with pytest.raises(TransientAgencyError):
        _call(
            _client(
                router, quick_retries=10, backoff_initial=0.1, backoff_max=0.1, total_budget=0.25
            )
        )
    # Then it stopped after the try that found the budget spent, not after ten retries
    assert 2 <= route.call_count <= 4 and time.monotonic() - started < 1.0


def test_a_429_is_retried_no_sooner_than_its_retry_after() -> None:
    router = respx.MockRouter()
    route = router.post("https://agency.test/search")
    route.side_effect = [
        httpx.Response(429, headers={"retry-after": "1"}),
        httpx.Response(200, json={}),
    ]
    started = time.monotonic()
    _call(_client(router, max_retry_after=2.0))
    assert time.monotonic() - started >= 1.0 and route.call_count == 2


def test_a_retry_after_longer_than_the_policy_allows_ends_the_attempt_at_once() -> None:
    router = respx.MockRouter()
    route = router.post("https://agency.test/search").respond(429, headers={"retry-after": "60"})
    with pytest.raises(TransientAgencyError) as caught:
        _call(_client(router, max_retry_after=2.0))
    assert route.call_count == 1 and caught.value.retry_after == 60


def test_the_breaker_opens_after_its_threshold_and_fails_fast_without_sending() -> None:
    router = respx.MockRouter()
    route = router.post("https://agency.test/search").respond(503)
    client = _client(router, quick_retries=0)
    client.breaker = CircuitBreaker(failures_to_open=3, reset_after=30)
    for _ in range(3):
        with pytest.raises(TransientAgencyError):
            _call(client)
    with pytest.raises(TransientAgencyError, match="circuit open"):
        _call(client)
    assert route.call_count == 3


def test_the_breaker_closes_again_on_its_own() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failures_to_open=2, reset_after=10, clock=lambda: now[0])
    breaker.record_failure("503")
    breaker.record_failure("503")
    assert breaker.is_open
    now[0] = 10.5
    breaker.check("agency")  # half-open: one trial call goes through
    breaker.record_success()
    assert not breaker.is_open
