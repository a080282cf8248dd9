"""The benchmark's actors, loaded into ``checkctl worker`` processes beside ``workers.actors``.

``checkctl worker bench.actors`` declares :func:`bench_noop` (the engine's own limit) and, with
``BENCH_RUNNER_MODE=sequential``, makes the process's runner call agencies one after another:
the naive baseline the benchmark compares concurrent checks with. Neither is in the product.
"""

from __future__ import annotations

import os
from collections.abc import Coroutine
from typing import Any

import dramatiq

from checks.runner import CheckRunner
from workers.actors import broker
from workers.runtime import get_runtime

BENCH_QUEUE = "bench"


@dramatiq.actor(broker=broker, queue_name=BENCH_QUEUE, max_retries=0)
def bench_noop() -> None:
    """Does nothing: the benchmark's measure of the engine's own limit.

    The benchmark watches the queue drain in Redis, so the actor adds no work of its own.
    """


class SequentialRunner(CheckRunner):
    """A runner that searches a check's agencies one after another, never at once."""

    async def _run_steps(self, steps: list[Coroutine[Any, Any, None]]) -> None:
        for step in steps:
            await step


def install_sequential_runner() -> None:
    """Replace this process's runner with a :class:`SequentialRunner` on the same store."""
    rt = get_runtime()
    rt.runner = SequentialRunner(rt.store, rt.agencies, lease_seconds=rt.settings.lease_seconds)


if os.environ.get("BENCH_RUNNER_MODE", "concurrent").strip() == "sequential":
    install_sequential_runner()
