"""Where the machine's CPU goes during a measurement: read from /proc before and after.

Split into the worker processes, the agency simulator (the agencies' stand-in: not our cost in
production), the harness (this process: it queues the checks and waits for them, as an order flow
on another machine would), PostgreSQL (the backends serving the benchmark's database plus the
server's background processes: WAL writer, checkpointer, autovacuum), the Redis server, and the
rest of the machine (the kernel, and anything else running: on a shared machine, other people's
work). PostgreSQL's background processes and Redis serve every database on the server, so they
count other users' work too; the workers and the simulator are ours alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
#: What the split is reported in, in this order.
PARTS = ("workers", "simulator", "harness", "postgresql", "redis", "rest")


def process_cpu(pid: int) -> float:
    """User + system seconds of one process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_busy() -> float:
    """Seconds of CPU the whole machine spent not idle."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / TICK


def _cmdline(pid: str) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def server_pids(database: str) -> dict[str, list[int]]:
    """PostgreSQL processes serving ``database`` or the whole server, and Redis servers."""
    found: dict[str, list[int]] = {"postgresql": [], "redis": []}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        cmd = _cmdline(entry.name)
        if cmd.startswith("postgres: "):
            # "postgres: 15/main: <user> <db> <host>(<port>) <state>" for a backend; a
            # background process names no client. Other databases' backends are left out.
            is_backend = "(" in cmd and ")" in cmd
            if not is_backend or f" {database} " in cmd:
                found["postgresql"].append(int(entry.name))
        elif cmd.startswith("postgres ") or "/postgres " in cmd:
            found["postgresql"].append(int(entry.name))  # the postmaster
        elif "redis-server" in cmd:
            found["redis"].append(int(entry.name))
    return found


@dataclass
class CpuMeter:
    """CPU seconds spent by each part between :meth:`start` and :meth:`stop`."""

    workers: list[int]
    simulator: int
    database: str
    _before: dict[int, float] = field(default_factory=dict)
    _busy: float = 0.0

    def _groups(self) -> dict[str, list[int]]:
        return {
            "workers": self.workers,
            "simulator": [self.simulator],
            "harness": [os.getpid()],
            **server_pids(self.database),
        }

    def start(self) -> None:
        """Take the first reading."""
        self._before = {p: process_cpu(p) for pids in self._groups().values() for p in pids}
        self._busy = machine_busy()

    def stop(self) -> dict[str, float]:
        """CPU seconds per part since :meth:`start` (a process that started since counts whole)."""
        machine = machine_busy() - self._busy
        spent = {
            part: sum(process_cpu(p) - self._before.get(p, 0.0) for p in pids)
            for part, pids in self._groups().items()
        }
        spent["rest"] = machine - sum(spent.values())
        spent["machine"] = machine
        return spent


def per_check_ms(spent: dict[str, float], checks: int) -> dict[str, float]:
    """CPU milliseconds per check of each part, the machine's, the machine's without the
    simulator (what a check would cost against real agencies), and the stack's (every part but
    the rest)."""
    per = {k: round(v * 1000 / checks, 2) for k, v in spent.items()}
    per["machine_without_simulator"] = round(per["machine"] - per["simulator"], 2)
    # The stack's own processes, without the rest: the steadier figure on a shared machine.
    per["stack"] = round(sum(per[k] for k in PARTS if k != "rest"), 2)
    return per


def describe(per: dict[str, float]) -> str:
    """One line: the split, the machine, and the machine without the simulator."""
    parts = ", ".join(f"{k} {per[k]:.2f}" for k in PARTS)
    return (
        f"CPU per check (ms): {parts}; machine {per['machine']:.2f}, "
        f"without the simulator {per['machine_without_simulator']:.2f}; stack {per['stack']:.2f}"
    )
