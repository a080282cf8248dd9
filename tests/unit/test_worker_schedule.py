"""The worker's periodic schedule: it sends its jobs each period and survives a broker blip."""

from __future__ import annotations

import threading

import pytest

import workers.schedule as schedule


def test_the_schedule_keeps_sending_after_a_failed_send_and_stops_on_its_event(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stop = threading.Event()
    calls: list[int] = []

    def send() -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("broker down")
        if len(calls) == 3:
            stop.set()

    monkeypatch.setattr(schedule, "send_periodic_jobs", send)
    schedule.run_schedule(0, stop)  # returns only once the event is set
    assert len(calls) == 3
    assert "reconcile schedule: ConnectionError" in capsys.readouterr().err


def test_a_started_schedule_runs_on_a_daemon_thread_until_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent = threading.Event()
    monkeypatch.setattr(schedule, "send_periodic_jobs", sent.set)
    stop = schedule.start_schedule(0)
    try:
        assert sent.wait(5)
        thread = next(t for t in threading.enumerate() if t.name == "reconcile-schedule")
        assert thread.daemon
    finally:
        stop.set()
    thread.join(5)
    assert not thread.is_alive()
