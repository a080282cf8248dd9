"""Outcome notifications cannot reach inside: refused before connecting, pinned when allowed.

Every connection in these tests goes to a loopback listener that counts them; names are
resolved by a stub resolver, never by DNS.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from checks.egress import NotifyTargetRefused
from checks.errors import InvalidRequest
from tests.helpers import request_for
from workers.notify import post_signed
from workers.runtime import Runtime


@dataclass
class Listener:
    """A loopback TCP listener that counts connections and answers 204 to each request."""

    port: int
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.1)
    found = Listener(port=server.getsockname()[1])
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            found.connections += 1
            with conn:
                conn.settimeout(2)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                found.requests.append(data)
                conn.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield found
    stop.set()
    thread.join(2)
    server.close()


def _to_loopback(host: str, port: int) -> list[str]:
    """The stub resolver: every test name is loopback."""
    return ["127.0.0.1"]


@pytest.mark.parametrize(
    "url",
    [
        "https://hook.test:{port}/outcome",  # a name that resolves to loopback
        "https://127.0.0.1:{port}/outcome",
        "https://2130706433:{port}/outcome",  # 127.0.0.1 as a decimal number
        "https://0177.0.0.1:{port}/outcome",  # 127.0.0.1 in octal
        "http://hook.test:{port}/outcome",  # plain http
    ],
)
def test_a_refused_target_is_refused_before_any_connection(listener: Listener, url: str) -> None:
    with pytest.raises(NotifyTargetRefused):
        post_signed(url.format(port=listener.port), {"id": "c"}, b"k", resolve=_to_loopback)
    assert listener.connections == 0


def test_an_allow_listed_host_is_posted_to_at_the_checked_address(listener: Listener) -> None:
    # Given a resolver that would answer differently on a second lookup (DNS rebinding)
    answers = iter([["127.0.0.1"], ["10.0.0.1"]])
    lookups: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        lookups.append(host)
        return next(answers)

    # When the outcome is posted to an allow-listed name
    post_signed(
        f"http://hook.test:{listener.port}/outcome",
        {"id": "c"},
        b"k",
        allowed_hosts={"hook.test"},
        resolve=rebinding,
    )
    # Then the name was resolved once and the connection went to the address checked
    assert lookups == ["hook.test"]
    assert listener.connections == 1
    # presenting the name it was given as the Host
    assert f"host: hook.test:{listener.port}".encode() in listener.requests[0].lower()


def test_submit_refuses_internal_notify_targets_naming_the_field(runtime: Runtime) -> None:
    cases = {
        "notify.url": {"url": "https://169.254.169.254/latest/meta-data/"},
        "notify.actor": {"actor": "checks:run_check"},
    }
    for field_name, notify in cases.items():
        with pytest.raises(InvalidRequest) as raised:
            runtime.service.submit(request_for("alice", notify=notify))
        assert [p.field for p in raised.value.problems] == [field_name]
    assert runtime.store.find() == []


def test_an_actor_no_longer_allowed_is_not_sent_the_outcome(
    runtime: Runtime, stub_broker: object
) -> None:
    from workers.actors import notify_requester

    # Given a check submitted while its notify actor was allowed
    allowed = runtime.settings.model_copy(update={"notify_allowed_actors": ("checks:run_check",)})
    runtime.settings = runtime.store.settings = allowed
    sub = runtime.service.submit(request_for("alice", notify={"actor": "checks:run_check"}))
    # When the allow-list no longer has it and the outcome is sent
    runtime.settings = runtime.store.settings = allowed.model_copy(
        update={"notify_allowed_actors": ()}
    )
    before = stub_broker.queues["checks"].qsize()  # type: ignore[attr-defined]
    notify_requester(sub.check_id)
    # Then no message reaches the internal actor, and the refusal is audited
    assert stub_broker.queues["checks"].qsize() == before  # type: ignore[attr-defined]
    actions = [e["action"] for e in runtime.service.get(sub.check_id)["timeline"]]
    assert "notify_refused" in actions
