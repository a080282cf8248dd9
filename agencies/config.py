"""Agency settings from the environment, and the factory that builds ready adapters.

``CHECKS_AGENCY_MODE`` is ``sandbox`` (answers from fixtures, in process) or ``live`` (real
HTTP to ``CHECKS_<AGENCY>_BASE_URL`` with credentials from ``CHECKS_<AGENCY>_<NAME>``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import httpx

from agencies.contract import AgencyAdapter
from agencies.errors import AgencyConfigError
from agencies.http import AgencyClient, CircuitBreaker, HttpPolicy
from agencies.registry import adapter_classes
from agencies.sandbox import Fault, FixtureStore, Sandbox, parse_faults, parse_latency
from agencies.transport import AiohttpTransport

AgencyMode = Literal["sandbox", "live"]


class InvalidAgencySetting(AgencyConfigError):
    """A variable's value is malformed (invalid input: ``checkctl`` exits 2 naming it)."""


@dataclass(frozen=True)
class AgencySettings:
    """Everything needed to build the agency adapters."""

    mode: AgencyMode = "sandbox"
    latency_ms: Mapping[str, int] = field(default_factory=dict)
    faults: Mapping[str, tuple[Fault, ...]] = field(default_factory=dict)
    base_urls: Mapping[str, str] = field(default_factory=dict)
    credentials: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: Per-agency policy changes, e.g. {"experian": {"quick_retries": 0}}.
    policy_overrides: Mapping[str, Mapping[str, float | int]] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AgencySettings:
        """Read settings from ``env`` (default: the process environment)."""
        env = os.environ if env is None else env
        mode = env.get("CHECKS_AGENCY_MODE", "sandbox").strip().lower() or "sandbox"
        if mode not in ("sandbox", "live"):
            raise InvalidAgencySetting(
                f"CHECKS_AGENCY_MODE must be 'sandbox' or 'live', not {mode!r}"
            )
        try:
            latency = parse_latency(env.get("CHECKS_SANDBOX_LATENCY_MS"))
        except ValueError as exc:
            raise InvalidAgencySetting(f"CHECKS_SANDBOX_LATENCY_MS: {exc}") from exc
        try:
            faults = parse_faults(env.get("CHECKS_SANDBOX_FAULTS"))
        except ValueError as exc:
            raise InvalidAgencySetting(f"CHECKS_SANDBOX_FAULTS: {exc}") from exc
        known = set(adapter_classes())
        for variable, agencies in (
            ("CHECKS_SANDBOX_FAULTS", set(faults)),
            ("CHECKS_SANDBOX_LATENCY_MS", set(latency) - {"*"}),
        ):
            # A misspelt agency would otherwise be a fault that silently never fires.
            if unknown := sorted(agencies - known):
                raise InvalidAgencySetting(
                    f"{variable}: unknown agency {', '.join(map(repr, unknown))}; "
                    f"known: {', '.join(sorted(known))}"
                )
        base_urls: dict[str, str] = {}
        credentials: dict[str, dict[str, str]] = {}
        for name, adapter in adapter_classes().items():
            prefix = f"CHECKS_{name.upper()}_"
            if url := env.get(prefix + "BASE_URL"):
                base_urls[name] = url
            credentials[name] = {
                key: env[prefix + key.upper()]
                for key in adapter.credential_names
                if env.get(prefix + key.upper())
            }
        return cls(
            mode=mode,  # type: ignore[arg-type]
            latency_ms=latency,
            faults=faults,
            base_urls=base_urls,
            credentials=credentials,
        )

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
