"""``/metrics``: Prometheus figures, derived from the database at scrape time.

Workers run in other processes (often on other machines), so their in-memory counters are not
here; instead every figure about checks, decisions, agency calls, retries and footprints is
counted from the database, which all of them write. That needs no multiprocess registry and
gives the same answer from any API process. Two figures are this process's own: the circuit
breakers (the in-process worker's, with the embedded broker) and the HTTP requests it served.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from checks.reporting import Reporting
from workers.queues import queue_depths

#: Agency call duration buckets, in seconds (agency answers take tens of ms to seconds).
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class ChecksCollector(Collector):
    """Collects the database-derived figures on each scrape."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.reporting = Reporting(runtime.store)

    def collect(self) -> Iterator[Metric]:
        """Yield every family (one aggregate query each)."""
        r = self.reporting
        yield _family(
            GaugeMetricFamily,
            "checks_checks",
            "Checks by status and purpose",
            ["status", "purpose"],
            r.checks_by_status_and_purpose(),
        )
        yield _family(
            CounterMetricFamily,
            "checks_decisions",
            "Decisions made, by decision and purpose",
            ["decision", "purpose"],
            r.decisions(),
        )

        latency = HistogramMetricFamily(
            "checks_agency_call_seconds",
            "Agency search duration (start to outcome, quick retries included), by outcome",
            labels=["agency", "outcome"],
        )
        for h in r.step_latency(LATENCY_BUCKETS):
            buckets = [(repr(b), n) for b, n in h.buckets] + [("+Inf", h.count)]
            latency.add_metric([h.agency, h.outcome], buckets, h.total_seconds)
        yield latency

        yield _family(
            GaugeMetricFamily,
            "checks_agency_steps",
            "Agency searches by status",
            ["agency", "status"],
            r.step_outcomes(),
        )
        yield _family(
            CounterMetricFamily,
            "checks_agency_retries",
            "Agency calls beyond each search's first",
            ["agency"],
            r.retries(),
        )
        yield _family(
            CounterMetricFamily,
            "checks_footprints",
            "Footprints written to the ledger",
            ["agency", "search_type"],
            r.footprints(),
        )

        breaker = GaugeMetricFamily(
            "checks_agency_breaker_open",
            "1 while this process's circuit breaker for the agency is open",
            labels=["agency"],
        )
        for name in sorted(self.runtime.agencies.names()):
            breaker.add_metric([name], 1.0 if breaker_open(self.runtime, name) else 0.0)
        yield breaker

        depth = GaugeMetricFamily("checks_queue_depth", "Messages waiting", labels=["queue"])
        try:
            for queue, n in queue_depths(self.runtime.broker).items():
                depth.add_metric([queue], n)
        except Exception:  # an unreachable broker must not break the scrape; /readyz says so
            pass
        yield depth


def _family(
    kind: type[GaugeMetricFamily | CounterMetricFamily],
    name: str,
    documentation: str,
    labels: list[str],
    rows: Iterable[tuple[Any, ...]],
) -> Metric:
    """A gauge or counter family from rows of label values followed by the figure."""
    family = kind(name, documentation, labels=labels)
    for *values, figure in rows:
        family.add_metric(list(values), figure)
    return family


def breaker_open(runtime: Any, agency: str) -> bool:
    """Whether this process's circuit breaker for ``agency`` is open."""
    return bool(runtime.agencies[agency].client.breaker.is_open)


class HttpMetrics:
    """This process's HTTP request counts and durations, by route template (no ids)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "checks_http_requests",
            "HTTP requests served",
            ["method", "route", "status"],
            registry=registry,
        )
        self.seconds = Histogram(
            "checks_http_request_seconds",
            "HTTP request duration",
            ["method", "route"],
            registry=registry,
        )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request."""
        self.requests.labels(method, route, str(status)).inc()
        self.seconds.labels(method, route).observe(seconds)


def build_registry(runtime: Any) -> tuple[CollectorRegistry, HttpMetrics]:
    """A registry of its own per app (tests build several apps in one process)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ChecksCollector(runtime))
    return registry, HttpMetrics(registry)
