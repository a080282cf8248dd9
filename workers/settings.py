"""Worker and broker settings from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from checks.config import ConfigError, _int


@dataclass(frozen=True)
class WorkerSettings:
    """Broker URL, retry policy across attempts, and Redis redelivery tuning."""

    broker_url: str = "stub://"
    #: Dramatiq Retries: bounded attempts with a backoff in minutes (seconds in stub mode).
    max_retries: int = 5
    min_backoff_ms: int = 60_000
    max_backoff_ms: int = 600_000
    #: Messages older than this are dropped; the reconciler's deadline then fails the check.
    max_age_ms: int = 6 * 3600 * 1000
    #: Per-message time limit; every HTTP call also has its own timeout.
    time_limit_ms: int = 150_000
    #: Redis: how soon a dead worker's unacked messages are redelivered.
    heartbeat_timeout_ms: int = 30_000
    maintenance_chance: int = 10_000  # per million commands
    #: Redis: most messages a worker process takes from the queue at once (see FairRedisBroker).
    fetch_batch: int = 4
    #: How often a worker process sends the reconcile job.
    reconcile_every_s: int = 60
    #: Notices of disassociation: retried far longer than a check (nobody is waiting on them,
    #: and a CRA down for hours must still get its notice); see :meth:`notice_retry_floor_ms`.
    notice_max_retries: int = 40
    notice_min_backoff_ms: int = 30_000
    notice_max_backoff_ms: int = 900_000
    notice_max_age_ms: int = 3 * 24 * 3600 * 1000

    def notice_retry_floor_ms(self) -> int:
        """The least time a notice's retries span before they are exhausted.

        Dramatiq's backoff before retry ``n`` is ``min_backoff * 2**n`` jittered up to twice
        that, and once past ``max_backoff`` it is brought back to between half of it and all
        of it: so at least ``min(min_backoff * 2**n, max_backoff / 2)``.
        """
        return sum(
            min(self.notice_min_backoff_ms * 2**n, self.notice_max_backoff_ms // 2)
            for n in range(self.notice_max_retries)
        )

    @property
    def is_stub(self) -> bool:
        """Whether the in-process broker is used (no separate worker)."""
        return self.broker_url.startswith("stub:")

    @property
    def safe_broker_url(self) -> str:
        """The broker URL with any password hidden, for messages naming the broker."""
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(self.broker_url)
        if parts.password is None:
            return self.broker_url
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerSettings:
        """Read from ``env`` (default: the process environment)."""
        env = os.environ if env is None else env
        url = env.get("CHECKS_BROKER_URL", "").strip() or "stub://"
        if not url.startswith(("stub:", "redis:", "rediss:", "amqp:", "amqps:")):
            raise ConfigError(
                f"CHECKS_BROKER_URL must be redis://..., amqp://... or stub://, not {url!r}"
            )
        stub = url.startswith("stub:")
        # In-process runs are interactive (demo, submit --wait), so back off in seconds there.
        return cls(
            broker_url=url,
            max_retries=_int(env, "CHECKS_MAX_RETRIES", 5),
            min_backoff_ms=_int(env, "CHECKS_RETRY_MIN_BACKOFF_MS", 1_000 if stub else 60_000),
            max_backoff_ms=_int(env, "CHECKS_RETRY_MAX_BACKOFF_MS", 5_000 if stub else 600_000),
            max_age_ms=_int(env, "CHECKS_MESSAGE_MAX_AGE_MS", 6 * 3600 * 1000),
            time_limit_ms=_int(env, "CHECKS_TIME_LIMIT_MS", 150_000),
            heartbeat_timeout_ms=_int(env, "CHECKS_REDIS_HEARTBEAT_MS", 30_000),
            maintenance_chance=_int(env, "CHECKS_REDIS_MAINTENANCE_CHANCE", 10_000),
            fetch_batch=_int(env, "CHECKS_REDIS_FETCH_BATCH", 4),
            reconcile_every_s=_int(env, "CHECKS_RECONCILE_EVERY_SECONDS", 60),
            notice_max_retries=_int(env, "CHECKS_NOTICE_MAX_RETRIES", 40),
            # In-process (stub) runs wait for the answers, so retry in seconds there too.
            notice_min_backoff_ms=_int(
                env,
                "CHECKS_NOTICE_MIN_BACKOFF_MS",
                _int(env, "CHECKS_RETRY_MIN_BACKOFF_MS", 1_000) if stub else 30_000,
            ),
            notice_max_backoff_ms=_int(
                env,
                "CHECKS_NOTICE_MAX_BACKOFF_MS",
                _int(env, "CHECKS_RETRY_MAX_BACKOFF_MS", 5_000) if stub else 900_000,
            ),
            notice_max_age_ms=_int(env, "CHECKS_NOTICE_MAX_AGE_MS", 3 * 24 * 3600 * 1000),
        )
