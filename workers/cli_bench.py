"""``checkctl bench``: the benchmark in a clone's ``bench/``, from the repository's root.

The benchmarks are not installed with the product (they start worker processes, create
databases and flush a Redis database); this command runs ``python -m bench`` with the same
options, so ``checkctl bench --quick`` is ``.venv/bin/python -m bench --quick``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import typer


def bench(ctx: typer.Context) -> None:
    """Throughput and latency against a no-op actor (run from a clone's root; --help for
    its options)."""
    from workers.cli import _fail

    root = Path.cwd()
    if not (root / "bench" / "__main__.py").is_file():
        _fail(
            "checkctl bench runs the benchmark in a clone's bench/ directory: "
            "run it from the repository's root",
            code=2,
        )
    if importlib.util.find_spec("psycopg") is None:  # it runs on PostgreSQL
        _fail(
            "checkctl bench needs PostgreSQL's driver, psycopg: "
            '.venv/bin/pip install -e ".[postgres]"',
            code=2,
        )
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from bench.__main__ import main as run

    raise typer.Exit(run(list(ctx.args), prog="checkctl bench"))
