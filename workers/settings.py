"""Worker and broker settings from the environment (``CHECKS_`` prefix)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from checks.config import ConfigError, EnvSettings, FromText, WholeNumber, text

_BROKER_SCHEMES = ("stub:", "redis:", "rediss:", "amqp:", "amqps:")


def _broker_url(variable: str, raw: str) -> str:
    url = text(variable, raw)
    if not url.startswith(_BROKER_SCHEMES):
        raise ConfigError(f"{variable} must be redis://..., amqp://... or stub://, not {url!r}")
    return url


class WorkerSettings(EnvSettings):
    """Broker URL, retry policy across attempts, and Redis redelivery tuning."""

    broker_url: Annotated[str, FromText(_broker_url)] = "stub://"
    #: Dramatiq Retries: bounded attempts with a backoff in minutes (seconds in stub mode).
    max_retries: WholeNumber = 5
    min_backoff_ms: WholeNumber = Field(
        default=60_000, validation_alias="CHECKS_RETRY_MIN_BACKOFF_MS"
    )
    max_backoff_ms: WholeNumber = Field(
        default=600_000, validation_alias="CHECKS_RETRY_MAX_BACKOFF_MS"
    )
    #: Messages older than this are dropped; the reconciler's deadline then fails the check.
    max_age_ms: WholeNumber = Field(
        default=6 * 3600 * 1000, validation_alias="CHECKS_MESSAGE_MAX_AGE_MS"
    )
    #: Per-message time limit; every HTTP call also has its own timeout.
    time_limit_ms: WholeNumber = 150_000
    #: Redis: how soon a dead worker's unacked messages are redelivered.
    heartbeat_timeout_ms: WholeNumber = Field(
        default=30_000, validation_alias="CHECKS_REDIS_HEARTBEAT_MS"
    )
    #: Per million commands.
    maintenance_chance: WholeNumber = Field(
        default=10_000, validation_alias="CHECKS_REDIS_MAINTENANCE_CHANCE"
    )
    #: Redis: most messages a worker process takes from the queue at once (see FairRedisBroker).
    fetch_batch: WholeNumber = Field(default=4, validation_alias="CHECKS_REDIS_FETCH_BATCH")
    #: How often a worker process sends the reconcile job.
    reconcile_every_s: WholeNumber = Field(
        default=60, validation_alias="CHECKS_RECONCILE_EVERY_SECONDS"
    )
    #: Notices of disassociation: retried far longer than a check (nobody is waiting on them,
    #: and a CRA down for hours must still get its notice); see :meth:`notice_retry_floor_ms`.
    notice_max_retries: WholeNumber = 40
    notice_min_backoff_ms: WholeNumber = 30_000
    notice_max_backoff_ms: WholeNumber = 900_000
    notice_max_age_ms: WholeNumber = 3 * 24 * 3600 * 1000

    @model_validator(mode="before")
    @classmethod
    def _in_process_backoff(cls, data: Any) -> Any:
        """In-process (stub) runs are interactive (demo, submit --wait): unless set, retries
        back off in seconds there, and notices as checks do."""
        if not isinstance(data, dict):
            return data
        given = {name: value for name, value in data.items() if _is_set(value)}
        for name, field in cls.model_fields.items():
            if field.validation_alias in given:
                given[name] = given.pop(str(field.validation_alias))
        if not str(given.get("broker_url", "stub:")).strip().startswith("stub:"):
            return data
        given.setdefault("min_backoff_ms", 1_000)
        given.setdefault("max_backoff_ms", 5_000)
        given.setdefault("notice_min_backoff_ms", given["min_backoff_ms"])
        given.setdefault("notice_max_backoff_ms", given["max_backoff_ms"])
        return given

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

    def check_retries(self) -> dict[str, Any]:
        """Dramatiq's retry options for a check's jobs (``run_check``, ``file_case``)."""
        return _retry_options(
            self.max_retries, self.min_backoff_ms, self.max_backoff_ms, self.time_limit_ms
        )

    def notice_retries(self) -> dict[str, Any]:
        """Dramatiq's retry options for a notice of disassociation, with its own message age."""
        options = _retry_options(
            self.notice_max_retries,
            self.notice_min_backoff_ms,
            self.notice_max_backoff_ms,
            self.time_limit_ms,
        )
        return options | {"max_age": self.notice_max_age_ms}

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


def _is_set(value: object) -> bool:
    """A blank variable is as good as unset."""
    return not (isinstance(value, str) and not value.strip())


def _retry_options(
    max_retries: int, min_backoff_ms: int, max_backoff_ms: int, time_limit_ms: int
) -> dict[str, Any]:
    """The keyword arguments ``dramatiq.actor`` takes for bounded attempts with a backoff."""
    return {
        "max_retries": max_retries,
        "min_backoff": min_backoff_ms,
        "max_backoff": max_backoff_ms,
        "time_limit": time_limit_ms,
    }
