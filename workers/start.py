"""`checkctl worker`'s start-up: Dramatiq's own main with this project's worker class.

Kept out of the command line so that `checkctl --help` never imports Dramatiq.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from workers.schedule import start_schedule


def run_worker(
    processes: int,
    threads: int,
    poll_ms: int,
    reconcile_every_s: int,
    modules: Sequence[str] = (),
) -> int:
    """Run the Dramatiq worker processes and the periodic schedule; return the exit code.

    ``modules`` are more actor modules to load beside ``workers.actors`` (as Dramatiq's own
    command line takes them): an order flow's notification actors, or the benchmark's.
    """
    import dramatiq.cli
    from dramatiq.cli import main as dramatiq_main
    from dramatiq.cli import make_argument_parser

    from workers.broker import STOP_TIMEOUT_MS, QuickPollWorker

    stop = start_schedule(reconcile_every_s)
    # Dramatiq's command line has no option for the consumers' idle poll (1 s by default, which
    # is added latency whenever a queue runs dry); the forked workers inherit this binding.
    dramatiq.cli.Worker = functools.partial(  # type: ignore[attr-defined,assignment]
        QuickPollWorker, poll_ms=poll_ms, guard_stop_signals=True
    )
    args = make_argument_parser().parse_args(  # type: ignore[no-untyped-call]
        [
            "workers.actors",
            *modules,
            "--processes",
            str(processes),
            "--threads",
            str(threads),
            "--worker-shutdown-timeout",
            str(STOP_TIMEOUT_MS),
            "--skip-logging",
        ]
    )
    try:
        code = dramatiq_main(args)  # type: ignore[no-untyped-call]
    finally:
        stop.set()
    return int(code or 0)
