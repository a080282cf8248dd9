"""An actor module outside the product, for ``checkctl worker MODULE`` to load (a test aid)."""

from __future__ import annotations

from pathlib import Path

import dramatiq

from workers.actors import broker

EXTRA_QUEUE = "extra_actors_test"


@dramatiq.actor(broker=broker, queue_name=EXTRA_QUEUE, max_retries=0)
def write_marker(path: str, text: str) -> None:
    """Write ``text`` to ``path``: proof that this module's actor ran in the worker."""
    Path(path).write_text(text, encoding="utf-8")
