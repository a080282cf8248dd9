"""The address policy for notify URLs and actors, as functions: no lookup, no connection."""

from __future__ import annotations

import ipaddress

import pytest

from checks.egress import (
    NotifyTargetRefused,
    actor_refusal,
    address_refusal,
    literal_address,
    resolve_notify_target,
    url_refusal,
)


def _no_lookup(host: str, port: int) -> list[str]:
    raise AssertionError(f"a literal address must not be looked up ({host})")


SSRF_MATRIX = {
    "cloud metadata": "https://169.254.169.254/latest/meta-data/",
    "private 10/8": "https://10.0.0.1/hook",
    "private 172.16/12": "https://172.16.5.4/hook",
    "private 192.168/16": "https://192.168.1.1/hook",
    "carrier-grade NAT": "https://100.64.0.1/hook",
    "loopback": "https://127.0.0.1/hook",
    "loopback elsewhere in 127/8": "https://127.1.2.3:8443/hook",
    "unspecified": "https://0.0.0.0/hook",
    "IPv6 loopback": "https://[::1]/hook",
    "IPv6 link-local": "https://[fe80::1]/hook",
    "IPv6 unique local": "https://[fd00:ec2::254]/hook",
    "IPv4-mapped IPv6 metadata": "https://[::ffff:169.254.169.254]/hook",
    "decimal IPv4 (metadata)": "https://2852039166/",
    "octal IPv4 (metadata)": "https://0251.0376.0251.0376/",
    "hex IPv4 (loopback)": "https://0x7f000001/",
    "short dotted IPv4 (loopback)": "https://127.1/",
    "multicast": "https://224.0.0.1/",
    "localhost": "https://localhost:8443/hook",
    "a .localhost name": "https://api.localhost/hook",
}


@pytest.mark.parametrize("url", SSRF_MATRIX.values(), ids=SSRF_MATRIX.keys())
def test_internal_addresses_in_any_form_are_refused_at_submit_and_at_connect(url: str) -> None:
    # At submit: a field error without any lookup
    assert url_refusal(url) is not None
    # At connect: refused before resolving or connecting
    with pytest.raises(NotifyTargetRefused):
        resolve_notify_target(url, resolve=_no_lookup)


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2852039166", "169.254.169.254"),
        ("0251.0376.0251.0376", "169.254.169.254"),
        ("0xA9FEA9FE", "169.254.169.254"),
        ("127.1", "127.0.0.1"),
        ("[::1]", "::1"),
        ("orders.example.com", None),
        ("1e100.example", None),
    ],
)
def test_numeric_host_forms_are_read_as_the_address_a_resolver_would_use(
    host: str, address: str | None
) -> None:
    found = literal_address(host)
    assert (str(found) if found else None) == address


def test_a_public_address_is_allowed() -> None:
    # (only inspected, never connected to)
    assert address_refusal(ipaddress.ip_address("192.0.2.1")) is not None  # documentation net
    assert address_refusal(ipaddress.ip_address("8.8.8.8")) is None


def test_plain_http_is_refused_unless_the_host_is_allow_listed() -> None:
    assert url_refusal("http://orders.example.com/hook") == "must use https"
    assert url_refusal("http://hook.test/x", allowed_hosts=["hook.test"]) is None


def test_a_name_resolving_to_loopback_is_refused() -> None:
    # Given a name that the (stub) resolver maps to loopback
    def resolver(host: str, port: int) -> list[str]:
        return {"rebind.test": ["127.0.0.1"]}[host]

    with pytest.raises(NotifyTargetRefused, match="loopback"):
        resolve_notify_target("https://rebind.test/hook", resolve=resolver)


def test_a_name_with_one_private_address_among_public_ones_is_refused() -> None:
    def resolver(host: str, port: int) -> list[str]:
        return ["8.8.8.8", "10.1.2.3"]

    with pytest.raises(NotifyTargetRefused, match="private"):
        resolve_notify_target("https://mixed.test/hook", resolve=resolver)


def test_an_allow_listed_host_may_resolve_to_loopback_and_the_target_is_pinned() -> None:
    calls: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"]

    target = resolve_notify_target(
        "https://Hook.Test:8443/x", allowed_hosts=["hook.test"], resolve=resolver
    )
    assert (target.host, target.port, str(target.address)) == ("hook.test", 8443, "127.0.0.1")
    assert calls == ["hook.test"]


def test_a_lookup_failure_is_a_refusal_not_a_crash() -> None:
    def resolver(host: str, port: int) -> list[str]:
        raise OSError("no such name")

    with pytest.raises(NotifyTargetRefused, match="could not be resolved"):
        resolve_notify_target("https://nowhere.test/", resolve=resolver)


@pytest.mark.parametrize(
    "actor", ["checks:run_check", "housekeeping:check_retries_exhausted", "orders:other"]
)
def test_only_configured_queue_actor_pairs_may_be_notified(actor: str) -> None:
    allowed = ["orders:check_outcome"]
    assert actor_refusal(actor, allowed) is not None
    assert actor_refusal("orders:check_outcome", allowed) is None
