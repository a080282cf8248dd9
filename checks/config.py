"""Domain settings from the environment (see the configuration table in the README)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


class ConfigError(ValueError):
    """A setting could not be read; the message names the variable."""


class InvalidSetting(ConfigError):
    """A variable's value is malformed (invalid input: ``checkctl`` exits 2 naming it)."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidSetting(f"{name} must be a whole number, not {raw!r}") from None


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated variable; set but with no item in it (``" , ,"``) is an error."""
    raw = env.get(name, "")
    items = tuple(item.strip() for item in raw.split(",") if item.strip())
    if raw.strip() and not items:
        raise InvalidSetting(f"{name} is set but lists nothing; unset it or give values")
    if not raw.strip() and raw:
        raise InvalidSetting(f"{name} is set but empty; unset it or give values")
    return items


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
    #: Key for signing HTTPS notifications: its own secret, so that rotating the encryption
    #: keys does not change it and it is never derived from the public development key.
    notify_signing_key: str = ""
    #: A referral, contest or fraud proposal is due for a person's action this long after it
    #: was opened (the review service level).
    review_sla_hours: int = 48
    #: Host names (or addresses) an outcome may be POSTed to even when they resolve to a
    #: private or loopback address (an internal service, a test listener).
    notify_allowed_hosts: tuple[str, ...] = ()
    #: ``queue:actor`` pairs an outcome may be sent to; any other is refused at submit.
    notify_allowed_actors: tuple[str, ...] = ()
    #: A financial associate's credit result is used in a decision for this many days after
    #: it was searched; older adverse data may have changed.
    associate_result_max_age_days: int = 90
    #: A worker's writes are committed together every this many milliseconds (group commit);
    #: 0 commits each on its own; None: on PostgreSQL the default, on SQLite off.
    group_commit_ms: int | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read settings from ``env`` (default: the process environment)."""
        env = os.environ if env is None else env
        url = env.get("CHECKS_DATABASE_URL", "").strip() or default_database_url()
        keys = _list(env, "CHECKS_ENCRYPTION_KEYS")
        sla_hours = _int(env, "CHECKS_REVIEW_SLA_HOURS", 48)
        group_commit_ms = (
            _int(env, "CHECKS_GROUP_COMMIT_MS", 0)
            if env.get("CHECKS_GROUP_COMMIT_MS", "").strip()
            else None
        )
        if group_commit_ms is not None and group_commit_ms < 0:
            raise InvalidSetting(
                f"CHECKS_GROUP_COMMIT_MS must be 0 (off) or more, not {group_commit_ms}"
            )
        if sla_hours <= 0:
            raise ConfigError(f"CHECKS_REVIEW_SLA_HOURS must be positive, not {sla_hours}")
        return cls(
            database_url=url,
            encryption_keys=keys,
            retention_days=_int(env, "CHECKS_RETENTION_DAYS", 365),
            stale_after_seconds=_int(env, "CHECKS_STALE_AFTER_SECONDS", 900),
            deadline_seconds=_int(env, "CHECKS_DEADLINE_SECONDS", 6 * 3600),
            lease_seconds=_int(env, "CHECKS_LEASE_SECONDS", 60),
            notify_signing_key=env.get("CHECKS_NOTIFY_SIGNING_KEY", "").strip(),
            notify_allowed_hosts=tuple(
                h.lower().strip("[]") for h in _list(env, "CHECKS_NOTIFY_ALLOWED_HOSTS")
            ),
            notify_allowed_actors=_list(env, "CHECKS_NOTIFY_ALLOWED_ACTORS"),
            review_sla_hours=sla_hours,
            associate_result_max_age_days=_int(env, "CHECKS_ASSOCIATE_RESULT_MAX_AGE_DAYS", 90),
            group_commit_ms=group_commit_ms,
        )

    def validate_live(self, *, using_development_key: bool) -> None:
        """Live agency mode refuses the public development key and needs its own signing key.

        Raises :class:`ConfigError` naming every variable to set.
        """
        missing = []
        if using_development_key:
            missing.append("CHECKS_ENCRYPTION_KEYS (live mode refuses the development key)")
        if not self.notify_signing_key:
            missing.append("CHECKS_NOTIFY_SIGNING_KEY (required in live mode)")
        if missing:
            raise ConfigError("live agency mode needs: " + "; ".join(missing))


def default_database_url() -> str:
    """A SQLite file in the working directory: the embedded default."""
    return f"sqlite:///{Path.cwd() / 'checks.db'}"
