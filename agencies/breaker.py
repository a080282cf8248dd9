"""The circuit breaker in front of each agency: fail fast while an agency keeps failing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from agencies.errors import CircuitOpen


@dataclass
class CircuitBreaker:
    """Counts consecutive transient failures; while open, calls fail fast without being sent.

    It closes again on its own: after ``reset_after`` seconds one trial call is let through.
    State is per process, which is fine: it only saves time, correctness never depends on it.
    """

    failures_to_open: int
    reset_after: float
    clock: Callable[[], float] = time.monotonic
    _failures: int = 0
    _opened_at: float | None = None
    _last_error: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, agency: str) -> None:
        """Raise :class:`CircuitOpen` if calls should not be sent now."""
        with self._lock:
            if self._opened_at is None:
                return
            waited = self.clock() - self._opened_at
            if waited >= self.reset_after:
                # Half-open: let this call through as the trial; a failure re-opens at once.
                self._opened_at = None
                self._failures = self.failures_to_open - 1
                return
            raise CircuitOpen(agency, self.reset_after - waited, self._last_error)

    def record_success(self) -> None:
        """A usable answer closes the breaker."""
        with self._lock:
            self._failures = 0
            self._opened_at = None

    def record_failure(self, error: str = "") -> None:
        """A transient failure counts towards opening the breaker."""
        with self._lock:
            self._failures += 1
            self._last_error = error or self._last_error
            if self._failures >= self.failures_to_open:
                self._opened_at = self.clock()

    @property
    def is_open(self) -> bool:
        """Whether calls are currently refused."""
        with self._lock:
            return self._opened_at is not None and (
                self.clock() - self._opened_at < self.reset_after
            )
