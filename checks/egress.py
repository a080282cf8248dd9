"""Where an outcome may be sent: the address policy for requester-supplied URLs and actors.

A request's ``notify.url`` is chosen by the caller, so the worker's POST must not become a way
into our own network: only ``https``, and only to globally routable addresses, unless the host
is on the configured allow-list (``CHECKS_NOTIFY_ALLOWED_HOSTS``). The check is made on the
addresses a name resolves to, once, at connect time, and the connection is pinned to the
address that was checked, so a name that resolves differently a moment later (DNS rebinding)
cannot slip through. ``notify.actor`` may only name a configured ``queue:actor`` pair, so a
request cannot send messages to our own internal actors.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = [
    "IPAddress",
    "NotifyTarget",
    "NotifyTargetRefused",
    "Resolver",
    "actor_refusal",
    "address_refusal",
    "literal_address",
    "resolve_notify_target",
    "system_resolver",
    "url_refusal",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: ``(host, port) -> addresses``; tests pass a stub so that no real name is ever looked up.
Resolver = Callable[[str, int], Sequence[str]]

# The forms inet_aton accepts besides dotted decimal: 2852039166, 0251.0376.0251.0376,
# 0xA9FEA9FE, 169.254.43518. Browsers and libc resolvers treat them as addresses, so must we.
_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}\.?", re.I)


class NotifyTargetRefused(Exception):
    """The notification target is not allowed; the message says which rule, not the URL."""


@dataclass(frozen=True)
class NotifyTarget:
    """A checked target: connect to ``address`` only, presenting ``host`` (Host header, SNI)."""

    scheme: str
    host: str
    port: int
    address: IPAddress


def literal_address(host: str) -> IPAddress | None:
    """The address a host names literally (in any form a resolver would accept), or None."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if not _NUMERIC_HOST.fullmatch(host):
        return None
    try:
        # inet_aton parses without any network access.
        return ipaddress.IPv4Address(socket.inet_aton(host.rstrip(".")))
    except OSError:
        return None


def address_refusal(address: IPAddress) -> str | None:
    """Why an outcome may not be sent to this address, or None if it is globally routable."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo or (None, None))[1]
        if embedded is not None:
            # ::ffff:169.254.169.254 reaches the IPv4 address it embeds.
            return address_refusal(embedded)
    if address.is_loopback:
        return "is a loopback address"
    if address.is_link_local:
        return "is a link-local address (where cloud metadata services live)"
    if address.is_unspecified:
        return "is the unspecified address"
    if address.is_multicast:
        return "is a multicast address"
    if address.is_private:
        return "is a private network address"
    if address.is_reserved or not address.is_global:
        return "is a reserved or not globally routable address"
    return None


def _host_allowed(host: str, allowed_hosts: Collection[str]) -> bool:
    return host.lower().strip("[]").rstrip(".") in {h.lower().strip("[]") for h in allowed_hosts}


def url_refusal(url: str, allowed_hosts: Collection[str] = ()) -> str | None:
    """What is wrong with a notify URL before any lookup: scheme and literal addresses.

    Used at submit (a field error) and again at connect time (with the lookup).
    """
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if not host:
        return "must name a host"
    allowed = _host_allowed(host, allowed_hosts)
    if parts.scheme.lower() != "https" and not allowed:
        return "must use https"
    if not allowed and (host.rstrip(".") == "localhost" or host.rstrip(".").endswith(".localhost")):
        return "host is a loopback name"  # RFC 6761: always this machine, whatever DNS says
    address = literal_address(host)
    if address is None or allowed:
        return None
    if str(address) != host.strip("[]"):
        return "must not give an IP address in a numeric form other than dotted decimal"
    refusal = address_refusal(address)
    return f"host {refusal}" if refusal else None


def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for a host."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def resolve_notify_target(
    url: str,
    *,
    allowed_hosts: Collection[str] = (),
    resolve: Resolver = system_resolver,
) -> NotifyTarget:
    """Check a notify URL and resolve it once; raise :class:`NotifyTargetRefused` if refused.

    Every address the name resolves to must be allowed (a name with one public and one private
    address is refused: which one a connection would use is not ours to choose), unless the
    host is allow-listed. The caller connects to ``address`` and nowhere else.
    """
    if (why := url_refusal(url, allowed_hosts)) is not None:
        raise NotifyTargetRefused(f"notify.url {why}")
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    literal = literal_address(host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in resolve(host, port)]
        except (OSError, ValueError) as exc:
            raise NotifyTargetRefused(
                f"notify.url host could not be resolved ({type(exc).__name__})"
            ) from None
    if not addresses:
        raise NotifyTargetRefused("notify.url host resolved to no address")
    if not _host_allowed(host, allowed_hosts):
        for address in addresses:
            if (why := address_refusal(address)) is not None:
                raise NotifyTargetRefused(f"notify.url host resolves to an address that {why}")
    return NotifyTarget(scheme=scheme, host=host, port=port, address=addresses[0])


def actor_refusal(actor: str, allowed_actors: Collection[str]) -> str | None:
    """Why a ``queue:actor`` may not be sent the outcome, or None if it is configured."""
    if actor in allowed_actors:
        return None
    return "is not an allowed notification actor (see CHECKS_NOTIFY_ALLOWED_ACTORS)"
