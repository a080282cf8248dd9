"""Authentication for the API (bearer tokens) and the console (signed cookie sessions, CSRF).

The API reads ``Authorization: Bearer TOKEN`` on every request. The console signs a browser
in with the same token once and then keeps only a signed session cookie (HttpOnly,
SameSite=Strict) naming the token's id, so the secret never sits in the browser and revoking
the token ends the session at the next request. Console forms carry a CSRF token: an HMAC of a
random per-browser nonce kept in its own cookie, checked on every POST.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request

from checks.access import Action, RateLimiter, allowed
from checks.tokens import Principal, TokenService
from web.problems import ApiProblem

SESSION_COOKIE = "checks_session"
CSRF_COOKIE = "checks_csrf"


@dataclass(frozen=True)
class Signer:
    """HMAC-SHA256 signatures for session cookies and CSRF tokens."""

    key: bytes

    def sign(self, text: str) -> str:
        """A URL-safe signature of ``text``."""
        mac = hmac.new(self.key, text.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def verify(self, text: str, signature: str) -> bool:
        """Whether ``signature`` is ours for ``text`` (constant time)."""
        return hmac.compare_digest(self.sign(text), signature)

    def session_value(self, token_id: str, lifetime: int, now: float | None = None) -> str:
        """The session cookie for a token: its id and expiry, signed."""
        expires = int((time.time() if now is None else now) + lifetime)
        body = f"{token_id}.{expires}"
        return f"{body}.{self.sign('session|' + body)}"

    def session_token_id(self, value: str, now: float | None = None) -> str | None:
        """The token id in a valid, unexpired session cookie, else None."""
        parts = value.split(".")
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        token_id, expires, signature = parts
        if not self.verify(f"session|{token_id}.{expires}", signature):
            return None
        if int(expires) < (time.time() if now is None else now):
            return None
        return token_id

    def csrf_token(self, nonce: str) -> str:
        """The form token that goes with a browser's CSRF nonce."""
        return self.sign("csrf|" + nonce)


def new_nonce() -> str:
    """A fresh random CSRF nonce for a browser."""
    return secrets.token_urlsafe(24)


def _tokens(request: Request) -> TokenService:
    service: TokenService = request.app.state.tokens
    return service


def _limit(request: Request, principal: Principal) -> None:
    limiter: RateLimiter = request.app.state.rate_limiter
    wait = limiter.take(principal.token_id)
    if wait > 0:
        raise ApiProblem(
            429,
            "rate_limited",
            f"too many requests for this token; retry in {math.ceil(wait)} s",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )


def bearer_principal(request: Request) -> Principal:
    """The API caller from its bearer token; 401 without a valid one, 429 over its rate."""
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="checks"'}
    if scheme.lower() != "bearer" or not secret.strip():
        raise ApiProblem(
            401, "unauthenticated", "an Authorization: Bearer token is required", headers=challenge
        )
    principal = _tokens(request).authenticate(secret.strip())
    if principal is None:
        raise ApiProblem(
            401, "unauthenticated", "the token is not valid (unknown or revoked)", headers=challenge
        )
    _limit(request, principal)
    request.state.principal = principal
    return principal


def require(action: Action) -> Callable[[Request], Principal]:
    """A dependency: the authenticated caller, who must be allowed ``action`` (else 403)."""

    def dependency(request: Request) -> Principal:
        principal = bearer_principal(request)
        if not allowed(principal.role, action):
            raise ApiProblem(
                403, "forbidden", f"the {principal.role.value} role may not do {action.value}"
            )
        return principal

    return dependency


def session_principal(request: Request) -> Principal | None:
    """The console user from the session cookie, or None (signed out, expired or revoked)."""
    value = request.cookies.get(SESSION_COOKIE)
    if not value:
        return None
    signer: Signer = request.app.state.signer
    token_id = signer.session_token_id(value)
    if token_id is None:
        return None
    principal = _tokens(request).by_id(token_id)
    if principal is not None:
        _limit(request, principal)
    return principal


def csrf_valid(request: Request, submitted: str | None) -> bool:
    """Whether a posted form's CSRF token matches this browser's nonce cookie."""
    nonce = request.cookies.get(CSRF_COOKIE)
    if not nonce or not submitted:
        return False
    signer: Signer = request.app.state.signer
    return hmac.compare_digest(signer.csrf_token(nonce), submitted)
