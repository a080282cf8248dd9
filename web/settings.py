"""Settings of the HTTP API and console from the environment (``CHECKS_`` prefix)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from checks.config import ConfigError, EnvSettings, FromText, text


def _positive(variable: str, raw: str) -> float:
    given = text(variable, raw)
    try:
        value = float(given)
    except ValueError:
        raise ConfigError(f"{variable} must be a number, not {given!r}") from None
    if value <= 0:
        raise ConfigError(f"{variable} must be positive, not {given!r}")
    return value


def _positive_whole(variable: str, raw: str) -> int:
    """A positive number, its fraction dropped (``1.5`` is 1)."""
    return int(_positive(variable, raw))


def _as_is(variable: str, raw: str) -> str:
    return raw


#: A positive number; blank means unset.
Positive = Annotated[float, FromText(_positive)]
PositiveWhole = Annotated[int, FromText(_positive_whole)]


class WebSettings(EnvSettings):
    """Rate limits per token, the console's session lifetime and key, the longest long-poll."""

    #: Requests a second each token may make on average, and the burst it may spend at once.
    rate_per_second: Positive = Field(default=20.0, validation_alias="CHECKS_API_RATE_PER_SECOND")
    rate_burst: PositiveWhole = Field(default=40, validation_alias="CHECKS_API_RATE_BURST")
    #: A console session lasts this long after sign-in.
    session_seconds: PositiveWhole = 8 * 3600
    #: Key that signs console sessions and CSRF tokens; empty: derived from the encryption key.
    session_key: Annotated[str, FromText(_as_is)] = ""
    #: The longest ``?wait=`` a caller may ask for, in seconds (not read from the environment).
    max_wait_seconds: float = 60.0
