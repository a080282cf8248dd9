"""The sandbox's own registry of simulators: built-ins by name, third parties by entry point.

Adapters do not know their simulators (production code carries no test fake); the sandbox
looks one up here by agency name. A third-party agency registers its simulator under the
``checks.simulators`` entry-point group (or a test adds it to :data:`BUILTIN_SIMULATORS`).
"""

from __future__ import annotations

from agencies.registry import builtin_paths, import_class, registered_paths
from agencies.sandbox import AgencySimulator

ENTRY_POINT_GROUP = "checks.simulators"

#: The built-in agencies' simulators, as ``module:Class`` paths.
BUILTIN_SIMULATORS: dict[str, str] = builtin_paths("adapters.simulators", "Simulator")


class NoSimulator(LookupError):
    """The sandbox has no simulator for that agency."""


def simulator_paths() -> dict[str, str]:
    """Every known simulator by agency name (built-ins, then entry points)."""
    return registered_paths(BUILTIN_SIMULATORS, ENTRY_POINT_GROUP)


def load_simulator(agency: str) -> AgencySimulator:
    """A new simulator for ``agency``; :class:`NoSimulator` if none is registered."""
    try:
        path = simulator_paths()[agency]
    except KeyError:
        raise NoSimulator(f"the sandbox has no simulator for agency {agency!r}") from None
    simulator: AgencySimulator = import_class(path, AgencySimulator)()
    return simulator
