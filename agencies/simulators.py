"""The sandbox's own registry of simulators: built-ins by name, third parties by entry point.

Adapters do not know their simulators (production code carries no test fake); the sandbox
looks one up here by agency name. A third-party agency registers its simulator under the
``checks.simulators`` entry-point group (or a test adds it to :data:`BUILTIN_SIMULATORS`).
"""

from __future__ import annotations

import functools
import importlib
from importlib.metadata import entry_points

from agencies.sandbox import AgencySimulator

ENTRY_POINT_GROUP = "checks.simulators"

#: The built-in agencies' simulators, as ``module:Class`` paths.
BUILTIN_SIMULATORS: dict[str, str] = {
    "experian": "adapters.simulators.experian:ExperianSimulator",
    "cifas": "adapters.simulators.cifas:CifasSimulator",
    "imrg": "adapters.simulators.imrg:ImrgSimulator",
    "equifax": "adapters.simulators.equifax:EquifaxSimulator",
    "callcredit": "adapters.simulators.callcredit:CallcreditSimulator",
}


class NoSimulator(LookupError):
    """The sandbox has no simulator for that agency."""


@functools.cache
def _entry_point_paths() -> tuple[tuple[str, str], ...]:
    # Installed distributions do not change while a process runs: scan them once.
    return tuple((ep.name, ep.value) for ep in entry_points(group=ENTRY_POINT_GROUP))


def simulator_paths() -> dict[str, str]:
    """Every known simulator by agency name (built-ins, then entry points)."""
    paths = dict(BUILTIN_SIMULATORS)
    for name, value in _entry_point_paths():
        paths.setdefault(name, value)
    return paths


def load_simulator(agency: str) -> AgencySimulator:
    """A new simulator for ``agency``; :class:`NoSimulator` if none is registered."""
    try:
        path = simulator_paths()[agency]
    except KeyError:
        raise NoSimulator(f"the sandbox has no simulator for agency {agency!r}") from None
    module_name, _, attr = path.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, AgencySimulator)):
        raise TypeError(f"{path} is not an AgencySimulator")
    return cls()
