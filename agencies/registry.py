"""The registry of agency adapters: built-ins by name, third parties by dotted path or entry point.

A third-party adapter registers under the ``checks.agencies`` entry-point group, or is named
directly as ``package.module:ClassName``.
"""

from __future__ import annotations

import functools
import importlib
from importlib.metadata import entry_points
from typing import Any

from agencies.contract import AgencyAdapter, AgencyKind

ENTRY_POINT_GROUP = "checks.agencies"

#: The built-in agencies, in the CRA fallback order where it matters. Each one's adapter is
#: ``adapters.<name>:<Name>Adapter``; its sandbox simulator is found the same way
#: (:mod:`agencies.simulators`).
BUILTIN_AGENCIES: tuple[str, ...] = ("experian", "cifas", "imrg", "equifax", "callcredit")


def builtin_paths(package: str, suffix: str) -> dict[str, str]:
    """Each built-in agency's ``<package>.<name>:<Name><suffix>`` class path, by name."""
    return {name: f"{package}.{name}:{name.title()}{suffix}" for name in BUILTIN_AGENCIES}


#: Built-in adapters by name, as ``module:Class`` paths.
BUILTIN_ADAPTERS: dict[str, str] = builtin_paths("adapters", "Adapter")

#: The order in which credit reference agencies are tried.
CRA_ORDER: tuple[str, ...] = ("experian", "equifax", "callcredit")


class UnknownAgency(LookupError):
    """No adapter is registered under that name."""


def import_class(path: str, base: type) -> type[Any]:
    """The class at ``module:Class``, which must subclass ``base`` (an abstract class too)."""
    module_name, _, attr = path.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise TypeError(f"{path} is not a {base.__name__}")
    return cls


def _import(path: str) -> type[AgencyAdapter]:
    return import_class(path, AgencyAdapter)


@functools.cache
def _entry_point_paths(group: str = ENTRY_POINT_GROUP) -> tuple[tuple[str, str], ...]:
    # Scanning the installed distributions reads every one's metadata (measured: 10 ms per
    # scan, 60 ms per submit, which plans by adapter kind); they do not change while a
    # process runs. ``_entry_point_paths.cache_clear()`` rescans.
    return tuple((ep.name, ep.value) for ep in entry_points(group=group))


def registered_paths(builtins: dict[str, str], group: str) -> dict[str, str]:
    """Every name in ``builtins`` and in the entry-point ``group``, with its dotted path
    (a built-in wins over an entry point of the same name)."""
    paths = dict(builtins)
    for name, value in _entry_point_paths(group):
        paths.setdefault(name, value)
    return paths


def adapter_paths() -> dict[str, str]:
    """Every known adapter name with its dotted path (built-ins, then entry points)."""
    return registered_paths(BUILTIN_ADAPTERS, ENTRY_POINT_GROUP)


def load_adapter(name_or_path: str) -> type[AgencyAdapter]:
    """The adapter class for a registered name or a ``module:Class`` path."""
    if ":" in name_or_path:
        return _import(name_or_path)
    try:
        return _import(adapter_paths()[name_or_path])
    except KeyError:
        known = ", ".join(sorted(adapter_paths()))
        raise UnknownAgency(f"no agency adapter {name_or_path!r}; known: {known}") from None


def adapter_classes() -> dict[str, type[AgencyAdapter]]:
    """Every registered adapter class by name."""
    return {name: load_adapter(name) for name in adapter_paths()}


def cras_in_order(available: set[str] | None = None) -> list[str]:
    """The credit reference agencies to try, in fallback order, limited to ``available``."""
    names = adapter_classes()
    order = [n for n in CRA_ORDER if n in names]
    order += sorted(n for n, c in names.items() if c.kind is AgencyKind.CRA and n not in order)
    return [n for n in order if available is None or n in available]
