"""Signed outcome POSTs to a real local HTTP server, and configuration errors at start."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from agencies.config import AgencyConfigError, AgencySettings, build_agencies
from checks.config import ConfigError
from workers.notify import SIGNATURE_HEADER, post_signed, signature
from workers.settings import WorkerSettings


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    """A real HTTP server on loopback that records what it is sent."""
    got: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers["content-length"]))
            got.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/outcomes", got
    server.shutdown()


def test_the_outcome_post_is_signed_so_the_receiver_can_verify_it(
    receiver: tuple[str, list[tuple[dict[str, str], bytes]]],
) -> None:
    url, got = receiver
    key = b"shared-secret"
    # (the loopback receiver is allow-listed, as CHECKS_NOTIFY_ALLOWED_HOSTS would do)
    post_signed(url, {"id": "c1", "decision": "accept"}, key, allowed_hosts={"127.0.0.1"})
    headers, body = got[0]
    assert json.loads(body) == {"id": "c1", "decision": "accept"}
    t, v1 = (part.split("=", 1)[1] for part in headers[SIGNATURE_HEADER.lower()].split(","))
    expected = hmac.new(key, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(v1, expected)
    assert signature(key, body, int(t)) == headers[SIGNATURE_HEADER.lower()]


def test_a_failing_receiver_raises_so_the_actor_retries() -> None:
    import httpx

    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(500)

    with pytest.raises(httpx.HTTPStatusError):
        post_signed(
            "https://orders.example/x",
            {"id": "c"},
            b"k",
            transport=httpx.MockTransport(refuse),
            # No real lookup and no network: the name maps to loopback (allow-listed) and the
            # mock transport answers.
            resolve=lambda host, port: ["127.0.0.1"],
            allowed_hosts={"orders.example"},
        )


def test_live_mode_without_credentials_fails_naming_every_missing_variable() -> None:
    settings = AgencySettings.from_env({"CHECKS_AGENCY_MODE": "live"})
    with pytest.raises(AgencyConfigError) as caught:
        build_agencies(settings)
    message = str(caught.value)
    for name in ("CHECKS_EXPERIAN_BASE_URL", "CHECKS_EXPERIAN_USERNAME", "CHECKS_CIFAS_API_KEY"):
        assert name in message


def test_bad_settings_are_refused_with_the_variable_named() -> None:
    with pytest.raises(AgencyConfigError, match="CHECKS_AGENCY_MODE"):
        AgencySettings.from_env({"CHECKS_AGENCY_MODE": "production"})
    with pytest.raises(AgencyConfigError, match="unknown fault"):
        AgencySettings.from_env({"CHECKS_SANDBOX_FAULTS": "experian=meltdown"})
    with pytest.raises(ConfigError, match="CHECKS_BROKER_URL"):
        WorkerSettings.from_env({"CHECKS_BROKER_URL": "kafka://x"})
    with pytest.raises(ConfigError, match="CHECKS_MAX_RETRIES"):
        WorkerSettings.from_env({"CHECKS_MAX_RETRIES": "many"})
