"""The kept-in-flight phase of ``python -m bench`` alone, and where a check's time goes.

    .venv/bin/python -m bench.kept_in_flight [--steps 100,200,300] [--split]

A fresh database, the HTTP sandbox at 1 s agency latency and two warm ``checkctl worker``
processes, as in the full run; for each K in ``--steps``, K checks kept in flight (a closed
loop) and the p50 and p95 from queueing to decision, stopping past 1.2 s. With ``--split``, the
last step's checks are split by the audit trail: queued to claimed (the ``started`` event),
claimed to the last step stored (``step_completed``: the agencies' answers and the writes
around them), and the last step to the decision (``finished_at``). To compare two versions,
run it in each version's tree (``PYTHONPATH`` set to it), alternated A B B A: this phase moves
with the host more than any other.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from datetime import datetime

from rich.console import Console
from rich.progress import Progress
from sqlalchemy import select

from bench import stop_on_sigterm
from bench.throughput import Bench, BenchConfig, percentile
from checks.models import AuditEvent, Check
from workers.logs import configure_logging

#: The parts a check's time is split into, in order.
PARTS = ("queued to claimed", "claimed to last step stored", "last step to decided", "in all")


def split(bench: Bench, k: int) -> dict[str, list[float]]:
    """Milliseconds of each part for the checks queued after the first ``k`` of the last loop."""
    assert bench.store is not None
    queued = bench.last_queued_at
    ids = list(queued)[k:]
    with bench.store.session() as s:
        events = s.execute(
            select(AuditEvent.check_id, AuditEvent.action, AuditEvent.at).where(
                AuditEvent.check_id.in_(ids), AuditEvent.action.in_(("started", "step_completed"))
            )
        ).all()
        finished = dict(
            s.execute(select(Check.id, Check.finished_at).where(Check.id.in_(ids))).tuples().all()
        )
    started: dict[str, datetime] = {}
    stored: dict[str, datetime] = {}
    for cid, action, at in events:
        if cid is None:  # not reached: the query names the checks
            continue
        if action == "started":
            started[cid] = min(at, started.get(cid, at))
        else:
            stored[cid] = max(at, stored.get(cid, at))
    parts: dict[str, list[float]] = {p: [] for p in PARTS}
    for cid in ids:
        done = finished.get(cid)
        if cid not in started or cid not in stored or done is None:
            continue
        spans = (
            (queued[cid], started[cid]),
            (started[cid], stored[cid]),
            (stored[cid], done),
            (queued[cid], done),
        )
        for part, (a, b) in zip(PARTS, spans, strict=True):
            parts[part].append((b - a).total_seconds() * 1000)
    return parts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.kept_in_flight")
    p.add_argument("--steps", default="100,200,300", help="the K's, comma-separated")
    p.add_argument("--split", action="store_true", help="where the last K's time went")
    args = p.parse_args(argv)
    stop_on_sigterm()
    configure_logging("ERROR")
    steps = tuple(int(x) for x in args.steps.split(","))
    console = Console(stderr=True)
    bench = Bench(BenchConfig(sustained_steps=steps), console)
    with bench.environment(), Progress(console=console) as progress:
        results, capacity = bench.measure_sustained(progress)
        parts = split(bench, int(results[-1]["in_flight"])) if args.split else {}
    for r in results:
        print(
            f"{int(r['in_flight'])} kept in flight (mean {r['mean_in_flight']:.0f}): "
            f"p50 {r['p50_s']:.3f} s, p95 {r['p95_s']:.3f} s"
        )
    print(f"largest with p50 <= 1.2 s: {capacity}")
    for part, ms in parts.items():
        if ms:
            print(
                f"  {part}: p50 {statistics.median(ms):.0f} ms, p90 {percentile(ms, 90):.0f}, "
                f"p99 {percentile(ms, 99):.0f} ({len(ms)} checks)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
