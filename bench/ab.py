"""Two versions of the code, measured back to back and read against the simulator.

    .venv/bin/python -m bench.ab BEFORE AFTER [--pairs 3] [--checks 3000]

BEFORE and AFTER are each a git revision of this repository (``HEAD~1``, a branch, a commit),
taken with ``git archive`` into a temporary directory, or ``.`` for the working tree as it is.
Each run is ``python -m bench.cpu_per_check CHECKS`` inside that version's tree, with this
virtualenv; the runs alternate A B B A A B ..., so a drift of the machine's speed falls on both.

Why read against the simulator: on a shared or virtual machine the host's speed moves whole runs
by tens of per cent (seen: 6.4 and 10.3 ms per check, same code, adjacent runs), and every part
moves together. The simulator does the same work per check in both versions unless the change
touches it, so ``workers / simulator`` and ``postgresql / simulator`` from the same run cancel the
host's speed. When a change touches the simulator, read the machine figure instead, over more
pairs.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import ROOT, stop_on_sigterm

_FIGURE = re.compile(r"([a-z][a-z ]*?) (-?\d+\.\d+)")
_RATE = re.compile(r"\(([\d.]+)/s")


def parse(line: str) -> dict[str, float]:
    """The figures of one ``bench.cpu_per_check`` line: checks/s and each part's ms per check."""
    rate = _RATE.search(line)
    if rate is None or "CPU per check" not in line:
        raise ValueError(f"not a bench.cpu_per_check result: {line!r}")
    figures = {"checks/s": float(rate.group(1))}
    for name, value in _FIGURE.findall(line.split("CPU per check (ms):", 1)[1]):
        figures[name.strip()] = float(value)  # "without the simulator": the machine's, less it
    return figures


def tree(revision: str, into: Path) -> Path:
    """A directory holding ``revision`` (``.``: this working tree)."""
    if revision == ".":
        return ROOT
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run_once(where: Path, checks: int) -> dict[str, float]:
    """One ``bench.cpu_per_check`` run in ``where``."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.cpu_per_check", str(checks)],
        cwd=where,
        capture_output=True,
        text=True,
        check=True,
    )
    return parse(done.stdout.strip().splitlines()[-1])


def order(pairs: int) -> list[str]:
    """A B B A A B ...: each version as often first as second."""
    return [v for i in range(pairs) for v in (("A", "B") if i % 2 == 0 else ("B", "A"))]


def ratios(figures: dict[str, float]) -> dict[str, float]:
    """The parts read against the simulator in the same run."""
    sim = figures.get("simulator") or float("nan")
    return {f"{part} / simulator": figures[part] / sim for part in ("workers", "postgresql")}


def main(argv: list[str] | None = None) -> int:
    """Alternate the two versions and print each run, then the means and the change."""
    p = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.split("\n\n")[0])
    p.add_argument("before", help="git revision, or . for the working tree")
    p.add_argument("after", help="git revision, or . for the working tree")
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--checks", type=int, default=3000)
    args = p.parse_args(argv)
    stop_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp:
        trees = {"A": tree(args.before, Path(tmp) / "A"), "B": tree(args.after, Path(tmp) / "B")}
        runs: dict[str, list[dict[str, float]]] = {"A": [], "B": []}
        for version in order(args.pairs):
            figures = run_once(trees[version], args.checks)
            figures.update(ratios(figures))
            runs[version].append(figures)
            shown = ", ".join(f"{k} {v:.2f}" for k, v in figures.items())
            print(f"{version}: {shown}", flush=True)
    print(f"means of {args.pairs} runs each (A = {args.before}, B = {args.after}):")
    keys = ("checks/s", "machine", "simulator", "workers / simulator", "postgresql / simulator")
    for key in keys:
        a = statistics.mean(r[key] for r in runs["A"])
        b = statistics.mean(r[key] for r in runs["B"])
        print(f"  {key}: {a:.3f} -> {b:.3f} ({(b - a) / a * 100:+.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
