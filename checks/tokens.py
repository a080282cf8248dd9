"""API tokens in the store: issue (shown once), list, revoke, and authenticate a bearer secret.

The rules (roles, grants, how a secret is made and hashed) are in :mod:`checks.access`; this
module is their store part. Issuing and revoking are audited; the secret itself never is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from checks.access import Role, new_token, token_digest
from checks.errors import CheckError
from checks.models import ApiToken, utcnow
from checks.on_store import OnStore
from checks.store import Store


class TokenNameTaken(CheckError):
    """A token with that name exists already (names identify callers in the audit trail)."""


class TokenNotFound(CheckError):
    """No token has that name."""


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the token's id, name and role."""

    token_id: str
    name: str
    role: Role


@dataclass(frozen=True)
class IssuedToken:
    """A newly issued token; ``token`` is the only time the secret is available."""

    name: str
    role: Role
    token: str


@dataclass(frozen=True)
class TokenInfo:
    """A token as listed: never its secret nor its digest."""

    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None


class TokenService(OnStore):
    """Issue, list, revoke and authenticate API tokens."""

    def create(self, name: str, role: Role, *, actor: str) -> IssuedToken:
        """Issue a token; raises :class:`TokenNameTaken` if the name is in use."""
        secret = new_token()
        try:
            with self.store.session() as s:
                s.add(
                    ApiToken(
                        id=str(uuid.uuid4()),
                        name=name,
                        role=role.value,
                        token_hash=token_digest(secret),
                        created_at=utcnow(),
                    )
                )
                s.flush()
                Store._audit(s, actor, "token_created", None, token=name, role=role.value)
        except IntegrityError:
            raise TokenNameTaken(f"a token named {name!r} exists already") from None
        return IssuedToken(name, role, secret)

    def list(self) -> list[TokenInfo]:
        """Every token, oldest first, revoked ones included."""
        with self.store.session() as s:
            rows = s.scalars(select(ApiToken).order_by(ApiToken.created_at, ApiToken.name))
            return [TokenInfo(t.name, Role(t.role), t.created_at, t.revoked_at) for t in rows]

    def revoke(self, name: str, *, actor: str) -> bool:
        """Revoke a token; False if it was revoked already. Raises :class:`TokenNotFound`."""
        with self.store.session() as s:
            token = s.scalars(select(ApiToken).where(ApiToken.name == name)).first()
            if token is None:
                raise TokenNotFound(f"no token named {name!r}")
            if token.revoked_at is not None:
                return False
            token.revoked_at = utcnow()
            Store._audit(s, actor, "token_revoked", None, token=name)
        return True

    def authenticate(self, secret: str) -> Principal | None:
        """The caller a bearer secret belongs to, or None (unknown or revoked)."""
        # A plain statement, not the ORM: this runs on every API request.
        with self.store.transaction() as tx:
            row = tx.execute(
                select(ApiToken.id, ApiToken.name, ApiToken.role).where(
                    ApiToken.token_hash == token_digest(secret), ApiToken.revoked_at.is_(None)
                )
            ).first()
        return None if row is None else Principal(row.id, row.name, Role(row.role))

    def by_id(self, token_id: str) -> Principal | None:
        """The caller of a console session, or None once its token is revoked."""
        with self.store.session() as s:
            token = s.get(ApiToken, token_id)
            if token is None or token.revoked_at is not None:
                return None
            return Principal(token.id, token.name, Role(token.role))

    def record(self, principal: Principal, action: str, check_id: str | None = None) -> None:
        """Audit an action taken with a token (sign-in, sign-out) under its name."""
        self.store.audit_action(check_id, action, actor=principal.name)
