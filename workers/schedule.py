"""The periodic jobs a `checkctl worker` sends: reconcile, audit seal and daily sweep.

Every worker host may run this schedule: each job claims its turn in the database, so a job
runs once per period however many schedules send it.
"""

from __future__ import annotations

import sys
import threading


def send_periodic_jobs() -> None:
    """Send the reconcile, audit-seal and daily-sweep jobs once."""
    from workers.actors import reconcile_checks, retention_daily, seal_audit_trail

    reconcile_checks.send()
    # Each runs once per period whichever process gets it (claims in the database).
    seal_audit_trail.send()
    retention_daily.send()


def run_schedule(every: int, stop: threading.Event) -> None:
    """Send the periodic jobs every ``every`` seconds until ``stop`` is set."""
    while not stop.wait(every):
        try:
            send_periodic_jobs()
        except Exception as exc:  # a broker blip must not kill the schedule
            print(f"reconcile schedule: {type(exc).__name__}", file=sys.stderr, flush=True)


def start_schedule(every: int) -> threading.Event:
    """Run the schedule on a daemon thread; set the returned event to stop it."""
    stop = threading.Event()
    threading.Thread(
        target=run_schedule, args=(every, stop), name="reconcile-schedule", daemon=True
    ).start()
    return stop
