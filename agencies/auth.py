"""Token authentication as an ``httpx.Auth`` flow: fetch, reuse until near expiry, refresh once.

The flow yields the token request itself, so the token call goes through the same transport
(and the same sandbox) as the search, and a 401 on the search triggers exactly one refresh.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass

import httpx

from agencies.errors import AuthenticationFailed, TransientAgencyError, UnusableResponse


@dataclass(frozen=True)
class Token:
    """An access token and the monotonic time after which it must not be used."""

    value: str
    expires_at: float


class BearerTokenAuth(httpx.Auth):
    """OAuth-style bearer auth with proactive refresh and one refresh on a 401.

    ``build_token_request`` makes the agency's token request; ``parse_token`` reads its answer
    into (access token, lifetime in seconds). Wrong credentials fail at once: never a loop.
    """

    requires_response_body = True

    def __init__(
        self,
        agency: str,
        build_token_request: Callable[[], httpx.Request],
        parse_token: Callable[[httpx.Response], tuple[str, float]],
        *,
        refresh_margin: float = 180.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.agency = agency
        self.build_token_request = build_token_request
        self.parse_token = parse_token
        self.refresh_margin = refresh_margin
        self.clock = clock
        self.token: Token | None = None
        #: How many token requests this auth has made (tests assert on it).
        self.token_requests = 0
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    def _refresh_lock(self) -> asyncio.Lock:
        # An asyncio lock belongs to one event loop; tests may drive an adapter from several.
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        return self._lock

    def _needs_token(self) -> bool:
        return self.token is None or self.clock() >= self.token.expires_at - self.refresh_margin

    def _accept(self, response: httpx.Response) -> Token:
        status = response.status_code
        if status in (400, 401, 403):
            # Wrong credentials never get better by asking again: alert instead of looping.
            raise AuthenticationFailed(
                self.agency, f"token request refused with HTTP {status}", sent=False
            )
        if status == 429 or status >= 500:
            raise TransientAgencyError(
                self.agency, f"token service answered HTTP {status}", sent=False
            )
        try:
            value, lifetime = self.parse_token(response)
        except (KeyError, TypeError, ValueError) as exc:
            raise UnusableResponse(self.agency, "token answer is not readable", sent=False) from exc
        self.token = Token(value, self.clock() + float(lifetime))
        return self.token

    def _token_request(self) -> httpx.Request:
        self.token_requests += 1
        return self.build_token_request()

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        """Adapters are async; the sync flow exists only to fail clearly if misused."""
        raise RuntimeError("agency clients are asynchronous")
        yield request  # pragma: no cover

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Attach a valid token; on a 401, refresh once and resend."""
        token = self.token
        if token is None or self._needs_token():
            # One token request at a time: a hundred calls that start together without a token
            # wait for the first one's token instead of each asking for their own.
            async with self._refresh_lock():
                token = self.token
                if token is None or self._needs_token():
                    answer = yield self._token_request()
                    await answer.aread()  # this flow is async, so it reads token answers itself
                    token = self._accept(answer)
        request.headers["Authorization"] = f"Bearer {token.value}"
        response = yield request
        if response.status_code == 401:
            self.token = None
            answer = yield self._token_request()
            await answer.aread()
            token = self._accept(answer)
            request.headers["Authorization"] = f"Bearer {token.value}"
            yield request


class ApiKeyAuth(httpx.Auth):
    """A static API key in a header (Cifas, the retail alert scheme)."""

    def __init__(self, header: str, key: str) -> None:
        self.header = header
        self.key = key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        """Attach the key; a 401 is the caller's to report (no refresh is possible)."""
        request.headers[self.header] = self.key
        yield request
