"""Telling the requester the outcome: a Dramatiq message to their actor, or a signed POST.

A POST carries ``X-Checks-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` so
the receiver can check it came from us and is fresh.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import dramatiq
import httpx
import structlog
from dramatiq.message import Message

from checks.disclosure import customer_reasons
from checks.egress import (
    NotifyTargetRefused,
    Resolver,
    actor_refusal,
    resolve_notify_target,
    system_resolver,
)

if TYPE_CHECKING:
    from workers.runtime import Runtime

SIGNATURE_HEADER = "X-Checks-Signature"
log = structlog.get_logger(__name__)


def outcome_payload(view: dict[str, Any]) -> dict[str, Any]:
    """The outcome sent to the requester: ids, status, decision and customer-safe reasons.

    No personal data, and no tipping off: never the fraud flag, a case reference or a fraud
    reason (:mod:`checks.disclosure`).
    """
    return {
        "id": view["id"],
        "idempotency_key": view["idempotency_key"],
        "status": view["status"],
        "decision": view["decision"],
        "reasons": customer_reasons(view["reasons"]),
        "failure_reason": view["failure_reason"],
        # False once a person decided; for an automated decline, how to contest it.
        "automated": view.get("automated"),
        "how_to_contest": view.get("how_to_contest"),
    }


#: Signs outcome POSTs in sandbox mode when no key is configured; public, so never for live use
#: (live mode refuses to start without CHECKS_NOTIFY_SIGNING_KEY).
DEVELOPMENT_SIGNING_KEY = b"checks-development-notify-signing-key"


def signing_key(rt: Runtime) -> bytes:
    """``CHECKS_NOTIFY_SIGNING_KEY``; in sandbox mode without one, the development signing key.

    Its own setting, not derived from the encryption keys: a key rotation must not change what
    every receiver verifies against.
    """
    if rt.settings.notify_signing_key:
        return rt.settings.notify_signing_key.encode()
    log.warning("notify.development_signing_key", hint="set CHECKS_NOTIFY_SIGNING_KEY")
    return DEVELOPMENT_SIGNING_KEY


def signature(key: bytes, body: bytes, timestamp: int) -> str:
    """The signature header value for a body sent at ``timestamp``."""
    digest = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def send_to_actor(
    broker: dramatiq.Broker,
    target: str,
    payload: dict[str, Any],
    allowed_actors: Collection[str] = (),
) -> None:
    """Send the outcome as a message to ``queue_name:actor_name``, if that pair is allowed.

    Checked again here, not only at submit: a check stored before the allow-list changed
    must not reach an internal actor either.
    """
    if (why := actor_refusal(target, allowed_actors)) is not None:
        raise NotifyTargetRefused(f"notify.actor {why}")
    queue_name, _, actor_name = target.partition(":")
    broker.declare_queue(queue_name)
    broker.enqueue(
        Message(
            queue_name=queue_name, actor_name=actor_name, args=(payload,), kwargs={}, options={}
        )
    )


def post_signed(
    url: str,
    payload: dict[str, Any],
    key: bytes,
    *,
    timeout: float = 10.0,
    transport: httpx.BaseTransport | None = None,
    allowed_hosts: Collection[str] = (),
    resolve: Resolver = system_resolver,
) -> None:
    """POST the outcome with a signature; raise on anything but a 2xx so the actor retries.

    The target is checked and resolved once (:func:`checks.egress.resolve_notify_target`,
    which raises :class:`NotifyTargetRefused` before any connection), and the connection goes
    to that checked address: the host name is sent only as the Host header and the TLS server
    name, against which the certificate is still verified. Redirects are not followed.
    """
    target = resolve_notify_target(url, allowed_hosts=allowed_hosts, resolve=resolve)
    body = json.dumps(payload, sort_keys=True).encode()
    original = httpx.URL(url)
    pinned = original.copy_with(host=str(target.address))
    headers = {
        "host": original.netloc.decode("ascii"),
        "content-type": "application/json",
        SIGNATURE_HEADER: signature(key, body, int(time.time())),
    }
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    with httpx.Client(timeout=timeout, transport=transport, follow_redirects=False) as client:
        response = client.post(pinned, content=body, headers=headers, extensions=extensions)
        response.raise_for_status()
