"""AgencyClient sends through the transport itself: what httpx's client added must still go out."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Generator

import httpx
import pytest

from agencies.http import AgencyClient, HttpPolicy


class _Stream(httpx.AsyncByteStream):
    def __init__(self, body: bytes) -> None:
        self.body = body
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.body

    async def aclose(self) -> None:
        self.closed = True


class _Transport(httpx.AsyncBaseTransport):
    """Answers 401 to a request without the right key, else 200; keeps what it sent."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.keys: list[str | None] = []  # the flow may change a request after it is sent
        self.streams: list[_Stream] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.keys.append(request.headers.get("x-key"))
        ok = self.keys[-1] == "good"
        stream = _Stream(b'{"ok": true}' if ok else b'{"error": "key"}')
        self.streams.append(stream)
        return httpx.Response(
            200 if ok else 401, headers={"content-type": "application/json"}, stream=stream
        )


class _KeyAfter401(httpx.Auth):
    """Sends a stale key, then the good one after a 401 (a token refresh, in short)."""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        request.headers["x-key"] = "stale"
        response = yield request
        if response.status_code == 401:
            request.headers["x-key"] = "good"
            yield request


def _client(transport: _Transport, auth: httpx.Auth | None = None) -> AgencyClient:
    http = httpx.AsyncClient(
        base_url="https://agency.test/v1/", transport=transport, headers={"X-Member": "m1"}
    )
    return AgencyClient("agency", http, HttpPolicy(quick_retries=0), auth=auth)


def test_the_clients_headers_base_url_and_timeouts_go_out_and_a_calls_headers_win() -> None:
    transport = _Transport()
    client = _client(transport)
    headers = {"Accept": "application/json", "x-key": "good"}
    response = asyncio.run(client.request("POST", "search", json={"a": 1}, headers=headers))
    assert response.json() == {"ok": True}
    (sent,) = transport.requests
    assert str(sent.url) == "https://agency.test/v1/search"
    assert sent.headers["x-member"] == "m1" and "user-agent" in sent.headers
    assert sent.headers.get_list("accept") == ["application/json"]
    assert sent.content == b'{"a":1}'
    assert sent.extensions["timeout"] == {"connect": 3.0, "read": 6.0, "write": 6.0, "pool": 6.0}
    # The client's own headers are not changed by a call's.
    assert "x-key" not in client.http.headers


def test_an_answer_the_auth_flow_replies_to_is_closed_and_the_last_is_returned() -> None:
    transport = _Transport()
    response = asyncio.run(_client(transport, _KeyAfter401()).request("GET", "report"))
    assert response.status_code == 200 and response.json() == {"ok": True}
    assert transport.keys == ["stale", "good"]
    assert all(s.closed for s in transport.streams)  # the 401 freed, the answer read and freed


def test_a_closed_client_refuses_to_send_as_httpx_would() -> None:
    transport = _Transport()
    client = _client(transport)

    async def call_after_close() -> None:
        await client.http.aclose()
        await client.request("GET", "report")

    with pytest.raises(RuntimeError, match="client has been closed"):
        asyncio.run(call_after_close())
    assert transport.requests == []


class _Chunks(httpx.AsyncBaseTransport):
    """Answers with a body in chunks and no content-length, as a chunked answer comes."""

    def __init__(self, chunks: list[bytes], headers: dict[str, str]) -> None:
        self.chunks, self.headers = chunks, headers
        self.sent = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        async def body() -> AsyncIterator[bytes]:
            for chunk in self.chunks:
                self.sent += 1
                yield chunk

        class Body(httpx.AsyncByteStream):
            async def __aiter__(self) -> AsyncIterator[bytes]:
                async for chunk in body():
                    yield chunk

        return httpx.Response(200, headers=self.headers, stream=Body())


def _capped(transport: httpx.AsyncBaseTransport, limit: int) -> AgencyClient:
    http = httpx.AsyncClient(base_url="https://agency.test/", transport=transport)
    return AgencyClient(
        "agency", http, HttpPolicy(quick_retries=0, max_response_bytes=limit), auth=None
    )


def test_an_answer_without_a_length_is_refused_once_it_passes_the_cap_and_read_no_further() -> None:
    from agencies.errors import UnusableResponse

    transport = _Chunks(
        [b"[" + b"1," * 300, b"1," * 300, b"1]"], {"content-type": "application/json"}
    )
    with pytest.raises(UnusableResponse, match="larger than 1000 bytes"):
        asyncio.run(_capped(transport, 1000).request("GET", "/x"))
    assert transport.sent == 2  # the third chunk was never asked for


def test_a_compressed_answer_is_decoded_and_the_cap_counts_the_bytes_that_came() -> None:
    import gzip

    payload = b'{"ok": true, "pad": "' + b"a" * 5000 + b'"}'
    packed = gzip.compress(payload)
    headers = {"content-type": "application/json", "content-encoding": "gzip"}
    response = asyncio.run(
        _capped(_Chunks([packed[:20], packed[20:]], headers), 1000).request("GET", "/x")
    )
    assert len(packed) < 1000 < len(payload)
    assert response.json()["ok"] is True and response.content == payload
    assert response.request.url == "https://agency.test/x"
