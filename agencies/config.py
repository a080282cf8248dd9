"""Agency settings from the environment, and the factory that builds ready adapters.

``CHECKS_AGENCY_MODE`` is ``sandbox`` (answers from fixtures, in process) or ``live`` (real
HTTP to ``CHECKS_<AGENCY>_BASE_URL`` with credentials from ``CHECKS_<AGENCY>_<NAME>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

import httpx
from pydantic import Field
from pydantic.fields import FieldInfo
from pydantic_settings import PydanticBaseSettingsSource

from agencies.contract import AgencyAdapter
from agencies.errors import AgencyConfigError
from agencies.faults import Fault, parse_faults, parse_latency
from agencies.http import AgencyClient, CircuitBreaker, HttpPolicy
from agencies.registry import adapter_classes
from agencies.transport import AiohttpTransport
from checks.config import EnvSettings, FromText

if TYPE_CHECKING:
    from agencies.sandbox import FixtureStore, Sandbox

AgencyMode = Literal["sandbox", "live"]


class InvalidAgencySetting(AgencyConfigError):
    """A variable's value is malformed (invalid input: ``checkctl`` exits 2 naming it)."""


def _mode(variable: str, raw: str) -> str:
    mode = raw.strip().lower() or "sandbox"
    if mode not in ("sandbox", "live"):
        raise InvalidAgencySetting(f"{variable} must be 'sandbox' or 'live', not {mode!r}")
    return mode


def _known_agencies(variable: str, agencies: set[str]) -> None:
    """A misspelt agency would otherwise be a fault that silently never fires."""
    known = set(adapter_classes())
    if unknown := sorted(agencies - known):
        raise InvalidAgencySetting(
            f"{variable}: unknown agency {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(sorted(known))}"
        )


def _latency(variable: str, raw: str) -> dict[str, int]:
    try:
        latency = parse_latency(raw)
    except ValueError as exc:
        raise InvalidAgencySetting(f"{variable}: {exc}") from exc
    _known_agencies(variable, set(latency) - {"*"})
    return latency


def _faults(variable: str, raw: str) -> dict[str, tuple[Fault, ...]]:
    try:
        faults = parse_faults(raw)
    except ValueError as exc:
        raise InvalidAgencySetting(f"{variable}: {exc}") from exc
    _known_agencies(variable, set(faults))
    return faults


class _AgencyVariables(PydanticBaseSettingsSource):
    """``CHECKS_<AGENCY>_BASE_URL`` and ``CHECKS_<AGENCY>_<CREDENTIAL>`` of every agency."""

    def __init__(self, settings_cls: type[AgencySettings], env: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.env = env

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ reads both fields at once

    def __call__(self) -> dict[str, Any]:
        base_urls: dict[str, str] = {}
        credentials: dict[str, dict[str, str]] = {}
        for name, adapter in adapter_classes().items():
            prefix = f"CHECKS_{name.upper()}_"
            if url := self.env.get(prefix + "BASE_URL"):
                base_urls[name] = url
            credentials[name] = {
                key: self.env[prefix + key.upper()]
                for key in adapter.credential_names
                if self.env.get(prefix + key.upper())
            }
        return {"base_urls": base_urls, "credentials": credentials}


class AgencySettings(EnvSettings):
    """Everything needed to build the agency adapters."""

    mode: Annotated[AgencyMode, FromText(_mode)] = Field(
        default="sandbox", validation_alias="CHECKS_AGENCY_MODE"
    )
    latency_ms: Annotated[Mapping[str, int], FromText(_latency)] = Field(
        default_factory=dict, validation_alias="CHECKS_SANDBOX_LATENCY_MS"
    )
    faults: Annotated[Mapping[str, tuple[Fault, ...]], FromText(_faults)] = Field(
        default_factory=dict, validation_alias="CHECKS_SANDBOX_FAULTS"
    )
    base_urls: Mapping[str, str] = Field(default_factory=dict)
    credentials: Mapping[str, Mapping[str, str]] = Field(default_factory=dict)
    #: Per-agency policy changes, e.g. {"experian": {"quick_retries": 0}}.
    policy_overrides: Mapping[str, Mapping[str, float | int]] = Field(default_factory=dict)

    @classmethod
    def env_sources(cls, env: Mapping[str, str]) -> tuple[PydanticBaseSettingsSource, ...]:
        """The declared variables, and each registered agency's address and credentials."""
        return (*super().env_sources(env), _AgencyVariables(cls, env))

    def validate_live(self) -> None:
        """In live mode, fail with every missing variable named; no-op in sandbox mode."""
        if self.mode != "live":
            return
        missing: list[str] = []
        for name, adapter in adapter_classes().items():
            prefix = f"CHECKS_{name.upper()}_"
            if name not in self.base_urls:
                missing.append(prefix + "BASE_URL")
            have = self.credentials.get(name, {})
            missing += [prefix + k.upper() for k in adapter.credential_names if k not in have]
        if missing:
            raise AgencyConfigError(
                "CHECKS_AGENCY_MODE=live needs agency credentials; missing: " + ", ".join(missing)
            )


class Agencies:
    """The ready adapters by name, plus the sandbox when answers come from fixtures."""

    def __init__(self, adapters: Mapping[str, AgencyAdapter], sandbox: Sandbox | None) -> None:
        self.adapters = dict(adapters)
        self.sandbox = sandbox

    def __getitem__(self, name: str) -> AgencyAdapter:
        return self.adapters[name]

    def __contains__(self, name: object) -> bool:
        return name in self.adapters

    def names(self) -> set[str]:
        """Names of every available agency."""
        return set(self.adapters)

    async def aclose(self) -> None:
        """Close every HTTP client."""
        for adapter in self.adapters.values():
            await adapter.client.http.aclose()


def build_sandbox(
    settings: AgencySettings | None = None, fixtures: FixtureStore | None = None
) -> Sandbox:
    """A sandbox serving every registered agency, with the settings' latency and faults."""
    settings = settings or AgencySettings()
    from agencies.sandbox import Sandbox
    from agencies.simulators import load_simulator

    simulators = {
        name: (cls.sandbox_base_url, load_simulator(name))
        for name, cls in adapter_classes().items()
    }
    return Sandbox(
        simulators, fixtures=fixtures, latency_ms=settings.latency_ms, faults=settings.faults
    )


def build_agencies(
    settings: AgencySettings | None = None, *, sandbox: Sandbox | None = None
) -> Agencies:
    """Build every registered adapter with its client, policy, breaker and auth."""
    settings = settings or AgencySettings()
    settings.validate_live()
    if settings.mode == "sandbox" and sandbox is None:
        sandbox = build_sandbox(settings)
    adapters: dict[str, AgencyAdapter] = {}
    for name, cls in adapter_classes().items():
        policy: HttpPolicy = cls.default_policy().with_overrides(
            **settings.policy_overrides.get(name, {})
        )
        if settings.mode == "sandbox":
            assert sandbox is not None
            base_url = cls.sandbox_base_url
            transport: httpx.AsyncBaseTransport = sandbox.transport()
            credentials: Mapping[str, str] = {k: "sandbox" for k in cls.credential_names}
        else:
            base_url = settings.base_urls[name]
            # Hundreds of checks may be in flight per process: up to 2000 connections each.
            transport = AiohttpTransport(max_connections=2000)
            credentials = settings.credentials.get(name, {})
        adapters[name] = build_adapter(cls, base_url, transport, credentials, policy)
    return Agencies(adapters, sandbox if settings.mode == "sandbox" else None)


def build_adapter(
    cls: type[AgencyAdapter],
    base_url: str,
    transport: httpx.AsyncBaseTransport,
    credentials: Mapping[str, str],
    policy: HttpPolicy | None = None,
) -> AgencyAdapter:
    """One adapter with its client, policy, circuit breaker and authentication."""
    policy = policy or cls.default_policy()
    # Connection limits belong to the transport (a client's own are ignored when given one).
    http = httpx.AsyncClient(base_url=base_url, transport=transport)
    client = AgencyClient(
        cls.name,
        http,
        policy,
        CircuitBreaker(policy.breaker_failures, policy.breaker_reset),
        auth=cls.make_auth(base_url, credentials),
        credentials=credentials,
    )
    return cls(client)
