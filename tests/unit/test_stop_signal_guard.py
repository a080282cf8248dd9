"""A worker process stops once per stop, however many copies of SIGTERM reach it."""

from __future__ import annotations

import signal
from types import FrameType

from workers.broker import StopSignalGuard


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _guard(clock: _Clock) -> tuple[StopSignalGuard, list[int], list[int]]:
    forwarded: list[int] = []
    exits: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        forwarded.append(signum)

    guard = StopSignalGuard(forward, window=5.0, clock=clock, hard_exit=exits.append)
    return guard, forwarded, exits


def test_the_group_signal_and_the_parents_forwarded_copy_make_one_graceful_stop() -> None:
    clock = _Clock()
    guard, forwarded, exits = _guard(clock)
    guard(signal.SIGTERM, None)  # kill -TERM -- -PGID reaches the worker process directly
    clock.now += 0.01
    guard(signal.SIGTERM, None)  # ... and its parent forwards another at once
    assert forwarded == [signal.SIGTERM] and exits == []


def test_a_deliberate_second_signal_later_ends_the_process_at_once() -> None:
    clock = _Clock()
    guard, forwarded, exits = _guard(clock)
    guard(signal.SIGTERM, None)
    clock.now += 6.0
    guard(signal.SIGTERM, None)
    assert forwarded == [signal.SIGTERM] and exits == [1]
