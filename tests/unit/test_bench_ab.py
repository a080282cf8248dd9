"""bench.ab reads bench.cpu_per_check's line (today's and the older one without the harness)."""

from __future__ import annotations

import pytest

from bench.ab import order, parse, ratios

NOW = (
    "3000 checks in 12.2 s (246.6/s, first start to last end); CPU per check (ms): workers 4.38, "
    "simulator 0.94, harness 0.16, postgresql 1.39, redis 0.16, rest -0.02; machine 7.38, "
    "without the simulator 6.44; stack 6.87"
)
OLDER = (
    "2000 checks in 9.0 s (221.4/s, first start to last end); CPU per check (ms): workers 4.91, "
    "simulator 1.04, postgresql 1.62, redis 0.19, rest 0.52; machine 8.28, "
    "without the simulator 7.24; stack 7.76"
)


def test_every_figure_of_the_line_is_read_under_its_own_name() -> None:
    figures = parse(NOW)
    assert figures == {
        "checks/s": 246.6,
        "workers": 4.38,
        "simulator": 0.94,
        "harness": 0.16,
        "postgresql": 1.39,
        "redis": 0.16,
        "rest": -0.02,
        "machine": 7.38,
        "without the simulator": 6.44,
        "stack": 6.87,
    }
    assert ratios(figures)["workers / simulator"] == pytest.approx(4.38 / 0.94)


def test_a_line_from_before_the_harness_part_is_read_too() -> None:
    figures = parse(OLDER)
    assert figures["simulator"] == 1.04 and figures["machine"] == 8.28
    assert "harness" not in figures


def test_a_line_that_is_not_a_result_is_refused() -> None:
    with pytest.raises(ValueError, match="not a bench.cpu_per_check result"):
        parse("Traceback (most recent call last):")


def test_each_version_runs_first_as_often_as_second() -> None:
    assert order(2) == ["A", "B", "B", "A"]
    assert order(3) == ["A", "B", "B", "A", "A", "B"]
