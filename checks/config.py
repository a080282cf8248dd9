"""Settings from the environment (see the configuration table in the README).

Every part's settings are a pydantic-settings model over ``CHECKS_`` variables
(:class:`EnvSettings`): each default is the field's, written once. A field read from the
environment says how its text is read (:class:`FromText`, e.g. :data:`WholeNumber`); a malformed
value raises the rule's own error naming the variable (:class:`InvalidSetting`: ``checkctl``
exits 2 naming it). Constructed directly, a model takes only what it is given (tests); its
``from_env`` reads the process environment or a given mapping.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import Field, ValidationError, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUseDefault
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class ConfigError(ValueError):
    """A setting could not be read; the message names the variable."""


class InvalidSetting(ConfigError):
    """A variable's value is malformed (invalid input: ``checkctl`` exits 2 naming it)."""


@dataclass(frozen=True)
class FromText:
    """How a field is read from its variable: ``parse(variable, text)`` gives the value.

    A parser raises ``PydanticUseDefault`` for "unset" (blank, say) and a :class:`ConfigError`
    (or any ``ValueError``) naming the variable for a malformed value.
    """

    parse: Callable[[str, str], Any]


def text(variable: str, raw: str) -> str:
    """Surrounding blanks dropped; blank means unset."""
    if not raw.strip():
        raise PydanticUseDefault()
    return raw.strip()


def whole_number(variable: str, raw: str) -> int:
    """A whole number; blank means unset."""
    value = text(variable, raw)
    try:
        return int(value)
    except ValueError:
        raise InvalidSetting(f"{variable} must be a whole number, not {value!r}") from None


def names(variable: str, raw: str) -> tuple[str, ...]:
    """A comma-separated list; set but with no item in it (``" , ,"``) is an error."""
    items = tuple(item.strip() for item in raw.split(",") if item.strip())
    if raw.strip() and not items:
        raise InvalidSetting(f"{variable} is set but lists nothing; unset it or give values")
    if not raw.strip() and raw:
        raise InvalidSetting(f"{variable} is set but empty; unset it or give values")
    return items


def _positive_whole_number(variable: str, raw: str) -> int:
    value = whole_number(variable, raw)
    if value <= 0:
        raise ConfigError(f"{variable} must be positive, not {value}")
    return value


def _milliseconds_or_off(variable: str, raw: str) -> int:
    value = whole_number(variable, raw)
    if value < 0:
        raise InvalidSetting(f"{variable} must be 0 (off) or more, not {value}")
    return value


def _host_names(variable: str, raw: str) -> tuple[str, ...]:
    return tuple(h.lower().strip("[]") for h in names(variable, raw))


WholeNumber = Annotated[int, FromText(whole_number)]
Names = Annotated[tuple[str, ...], FromText(names)]
Text = Annotated[str, FromText(text)]

#: The mapping ``from_env`` reads while it builds a model (None: constructed directly).
_reading: ContextVar[Mapping[str, str] | None] = ContextVar("settings_env", default=None)


class _Variables(PydanticBaseSettingsSource):
    """The model's variables as they are in a mapping, by their exact (upper-case) names."""

    def __init__(self, settings_cls: type[EnvSettings], env: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.variables = settings_cls.variables()
        self.env = env

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.env.get(self.variables.get(field_name, "")), field_name, False

    def __call__(self) -> dict[str, Any]:
        return {name: self.env[var] for name, var in self.variables.items() if var in self.env}


class EnvSettings(BaseSettings):
    """Base of the settings models: frozen, ``CHECKS_`` variables, errors naming them."""

    #: Defaults are not validated: each is already what its field holds.
    model_config = SettingsConfigDict(
        env_prefix="CHECKS_", frozen=True, populate_by_name=True, validate_default=False
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Self:
        """Read the settings from ``env`` (default: the process environment)."""
        with _reading_from(os.environ if env is None else env):
            try:
                return cls()
            except ValidationError as exc:
                raise cls._setting_error(exc) from None

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Field name -> variable, for every field read from the environment."""
        return {
            name: cls.variable(name)
            for name, field in cls.model_fields.items()
            if any(isinstance(rule, FromText) for rule in field.metadata)
        }

    @classmethod
    def variable(cls, field_name: str) -> str:
        """The variable a field is read from: its alias, else ``CHECKS_<NAME>``."""
        alias = cls.model_fields[field_name].validation_alias
        if isinstance(alias, str):
            return alias
        return f"{cls.model_config.get('env_prefix', '')}{field_name.upper()}"

    @classmethod
    def env_sources(cls, env: Mapping[str, str]) -> tuple[PydanticBaseSettingsSource, ...]:
        """Where ``from_env`` reads values from (a model may add its own)."""
        return (_Variables(cls, env),)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        env = _reading.get()
        return (init_settings,) if env is None else (init_settings, *cls.env_sources(env))

    @field_validator("*", mode="before")
    @classmethod
    def _from_text(cls, value: Any, info: ValidationInfo) -> Any:
        """A variable's text read by the field's rule; a value given in code passes as it is."""
        if isinstance(value, str) and info.field_name is not None:
            for rule in cls.model_fields[info.field_name].metadata:
                if isinstance(rule, FromText):
                    return rule.parse(cls.variable(info.field_name), value)
        return value

    @classmethod
    def _setting_error(cls, exc: ValidationError) -> ValueError:
        """The first rule's own error; any other failure as a ConfigError naming the field."""
        first = exc.errors()[0]
        error = first.get("ctx", {}).get("error")
        if isinstance(error, ValueError):
            return error
        field = str(first["loc"][0]) if first["loc"] else ""
        name = cls.variable(field) if field in cls.model_fields else field
        return ConfigError(f"{name}: {first['msg']}")


@contextmanager
def _reading_from(env: Mapping[str, str]) -> Iterator[None]:
    token = _reading.set(env)
    try:
        yield
    finally:
        _reading.reset(token)


def default_database_url() -> str:
    """A SQLite file in the working directory: the embedded default."""
    return f"sqlite:///{Path.cwd() / 'checks.db'}"


class Settings(EnvSettings):
    """What the domain needs: where the store is, the keys, and the timing rules."""

    database_url: Text = Field(default_factory=default_database_url)
    #: Fernet keys, newest first; empty means the development key (with a warning).
    encryption_keys: Names = ()
    #: Unflagged records are purged this many days after the decision.
    retention_days: WholeNumber = 365
    #: Records flagged as fraud or money-laundering risk are kept this many years from the flag.
    flagged_retention_years: int = 6
    #: The reconciler re-queues a non-terminal check with no progress for this long.
    stale_after_seconds: WholeNumber = 900
    #: A check not terminal this long after it was submitted is failed by the reconciler.
    deadline_seconds: WholeNumber = 6 * 3600
    #: A running check's lease, renewed every third of it; a dead worker's lapses this fast.
    lease_seconds: WholeNumber = 60
    #: Key for signing HTTPS notifications: its own secret, so that rotating the encryption
    #: keys does not change it and it is never derived from the public development key.
    notify_signing_key: Text = ""
    #: A referral, contest or fraud proposal is due for a person's action this long after it
    #: was opened (the review service level).
    review_sla_hours: Annotated[int, FromText(_positive_whole_number)] = 48
    #: Host names (or addresses) an outcome may be POSTed to even when they resolve to a
    #: private or loopback address (an internal service, a test listener).
    notify_allowed_hosts: Annotated[tuple[str, ...], FromText(_host_names)] = ()
    #: ``queue:actor`` pairs an outcome may be sent to; any other is refused at submit.
    notify_allowed_actors: Names = ()
    #: A financial associate's credit result is used in a decision for this many days after
    #: it was searched; older adverse data may have changed.
    associate_result_max_age_days: WholeNumber = 90
    #: A worker's writes are committed together every this many milliseconds (group commit);
    #: 0 commits each on its own; None: on PostgreSQL the default, on SQLite off.
    group_commit_ms: Annotated[int | None, FromText(_milliseconds_or_off)] = None

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
