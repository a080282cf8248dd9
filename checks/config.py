"""Domain settings from the environment (see the configuration table in the README)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class ConfigError(ValueError):
    """A setting could not be read; the message names the variable."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    """What the domain needs: where the store is, the keys, and the timing rules."""

    database_url: str
    #: Fernet keys, newest first; empty means the development key (with a warning).
    encryption_keys: tuple[str, ...] = ()
    #: Unflagged records are purged this many days after the decision.
    retention_days: int = 365
    #: Records flagged as fraud or money-laundering risk are kept this many years from the flag.
    flagged_retention_years: int = 6
    #: The reconciler re-queues a non-terminal check with no progress for this long.
    stale_after_seconds: int = 900
    #: A check not terminal this long after it was submitted is failed by the reconciler.
    deadline_seconds: int = 6 * 3600
    #: A running check's lease, renewed every third of it; a dead worker's lapses this fast.
    lease_seconds: int = 60
    #: Key for signing HTTPS notifications (defaults to one derived from the encryption key).
    notify_signing_key: str = ""
    #: A financial associate's credit result is used in a decision for this many days after
    #: it was searched; older adverse data may have changed.
    associate_result_max_age_days: int = 90

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings from ``env`` (default: the process environment)."""
        env = os.environ if env is None else env
        url = env.get("CHECKS_DATABASE_URL", "").strip() or default_database_url()
        keys = tuple(
            k.strip() for k in env.get("CHECKS_ENCRYPTION_KEYS", "").split(",") if k.strip()
        )
        return cls(
            database_url=url,
            encryption_keys=keys,
            retention_days=_int(env, "CHECKS_RETENTION_DAYS", 365),
            stale_after_seconds=_int(env, "CHECKS_STALE_AFTER_SECONDS", 900),
            deadline_seconds=_int(env, "CHECKS_DEADLINE_SECONDS", 6 * 3600),
            lease_seconds=_int(env, "CHECKS_LEASE_SECONDS", 60),
            notify_signing_key=env.get("CHECKS_NOTIFY_SIGNING_KEY", ""),
            associate_result_max_age_days=_int(env, "CHECKS_ASSOCIATE_RESULT_MAX_AGE_DAYS", 90),
        )


def default_database_url() -> str:
    """A SQLite file in the working directory: the embedded default."""
    return f"sqlite:///{Path.cwd() / 'checks.db'}"
