"""The sandbox's fault and latency settings (``CHECKS_SANDBOX_FAULTS``, ``..._LATENCY_MS``).

Kept apart from :mod:`agencies.sandbox` so settings can be read without the respx router.
"""

from __future__ import annotations

from dataclasses import dataclass

FAULT_KINDS = ("timeout", "http500", "http503", "http429", "http401", "garbage", "truncated")
PARAM_FAULT_KINDS = ("slow", "flaky")


class SandboxConfigError(ValueError):
    """A latency or fault setting could not be read."""


@dataclass(frozen=True)
class Fault:
    """One injected fault: ``kind`` as in SPEC.md, ``arg`` for ``slow:MS`` and ``flaky:N``."""

    kind: str
    arg: int = 0

    def __str__(self) -> str:
        return f"{self.kind}:{self.arg}" if self.kind in PARAM_FAULT_KINDS else self.kind


def parse_faults(text: str | None) -> dict[str, tuple[Fault, ...]]:
    """Parse ``experian=http503;cifas=timeout`` (several faults for one agency: ``a,b``)."""
    faults: dict[str, tuple[Fault, ...]] = {}
    for part in (text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        agency, sep, spec = part.partition("=")
        if not sep or not agency.strip() or not spec.strip():
            raise SandboxConfigError(f"fault {part!r} is not AGENCY=FAULT")
        parsed: list[Fault] = []
        for item in spec.split(","):
            kind, _, arg = item.strip().partition(":")
            if kind in FAULT_KINDS and not arg:
                parsed.append(Fault(kind))
            elif kind in PARAM_FAULT_KINDS and arg.isdigit():
                parsed.append(Fault(kind, int(arg)))
            else:
                known = ", ".join([*FAULT_KINDS, "slow:MS", "flaky:N"])
                raise SandboxConfigError(f"unknown fault {item.strip()!r}; known: {known}")
        faults[agency.strip()] = tuple(parsed)
    return faults


def parse_latency(text: str | None) -> dict[str, int]:
    """Parse ``300`` (every agency) or ``experian=300,cifas=50`` into milliseconds by agency."""
    latency: dict[str, int] = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        agency, sep, value = part.rpartition("=")
        if not value.isdigit():
            raise SandboxConfigError(f"latency {part!r} is not MS or AGENCY=MS")
        latency[agency.strip() if sep else "*"] = int(value)
    return latency
