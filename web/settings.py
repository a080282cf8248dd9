"""Settings of the HTTP API and console from the environment (``CHECKS_`` prefix)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from checks.config import ConfigError


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name} must be positive, not {raw!r}")
    return value


@dataclass(frozen=True)
class WebSettings:
    """Rate limits per token, the console's session lifetime and key, the longest long-poll."""

    #: Requests a second each token may make on average, and the burst it may spend at once.
    rate_per_second: float = 20.0
    rate_burst: int = 40
    #: A console session lasts this long after sign-in.
    session_seconds: int = 8 * 3600
    #: Key that signs console sessions and CSRF tokens; empty: derived from the encryption key.
    session_key: str = ""
    #: The longest ``?wait=`` a caller may ask for, in seconds.
    max_wait_seconds: float = 60.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WebSettings:
        """Read the settings from ``env`` (default: the process environment)."""
        env = os.environ if env is None else env
        return cls(
            rate_per_second=_number(env, "CHECKS_API_RATE_PER_SECOND", 20.0),
            rate_burst=int(_number(env, "CHECKS_API_RATE_BURST", 40)),
            session_seconds=int(_number(env, "CHECKS_SESSION_SECONDS", 8 * 3600)),
            session_key=env.get("CHECKS_SESSION_KEY", ""),
        )
