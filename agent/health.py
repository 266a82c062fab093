"""What the agent says about itself: the ``/healthz`` verdict and its ``/metrics``.

The runner and the stream tell ``AgentHealth`` what happened (a report
gathered, a report acknowledged, a reconnect); ``AgentMetrics`` renders that,
and the spool as it is on disk, at scrape time. Serving is in
``health_server.py``.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from netaudit.agent.gatherers.reads import NOT_SERVED
from netaudit.agent.spool import Spool
from netaudit.v1 import report_pb2

REPORT_SOURCE = "report"
"""The error source of a report that failed as a whole (not one gatherer's read)."""
OTHER_SOURCE = "other"
"""Where a gap from a source not declared up front is counted, so labels stay bounded."""
GATHER_DURATION_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
"""Seconds: from a small cluster's second or so up to twice the default 300 s interval."""

Clock = Callable[[], float]


@dataclass
class GatherDurations:
    """A histogram of gather durations: counts per bucket of ``GATHER_DURATION_BUCKETS``."""

    per_bucket: list[int] = field(default_factory=lambda: [0] * len(GATHER_DURATION_BUCKETS))
    beyond: int = 0
    total_seconds: float = 0.0

    def observe(self, seconds: float) -> None:
        index = bisect.bisect_left(GATHER_DURATION_BUCKETS, seconds)
        if index < len(self.per_bucket):
            self.per_bucket[index] += 1
        else:
            self.beyond += 1
        self.total_seconds += seconds

    def cumulative(self) -> list[tuple[str, float]]:
        """``(le, count)`` pairs as the exposition format wants them, ``+Inf`` last."""
        buckets, running = [], 0
        for bound, count in zip(GATHER_DURATION_BUCKETS, self.per_bucket, strict=True):
            running += count
            buckets.append((repr(bound), float(running)))
        buckets.append(("+Inf", float(running + self.beyond)))
        return buckets


@dataclass(frozen=True)
class Verdict:
    """What ``/healthz`` answers: healthy or not, and why in one line."""

    healthy: bool
    reason: str


class AgentHealth:
    """The agent's recent history, written by the runner and the stream, read at scrape time.

    ``wall`` dates the timestamps the metrics show; ``monotonic`` measures ages,
    so a clock step does not make the agent look stale or fresh.
    """

    def __init__(
        self,
        interval_seconds: float,
        unhealthy_after_intervals: float,
        sources: Iterable[str],
        *,
        wall: Clock = time.time,
        monotonic: Clock = time.monotonic,
    ) -> None:
        self.max_send_age_seconds = interval_seconds * unhealthy_after_intervals
        self._wall = wall
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._started = monotonic()
        self._gathered: tuple[float, float] | None = None  # (wall, monotonic)
        self._sent: tuple[float, float] | None = None
        self._report_bytes: int | None = None
        self._durations = GatherDurations()
        # Every source from the start, so a rate() sees the first error.
        self._errors = dict.fromkeys(sorted({*sources, REPORT_SOURCE, OTHER_SOURCE}), 0)
        self._reconnects = 0

    # -- what happened ------------------------------------------------------------

    def report_gathered(
        self, report: report_pb2.Report, size_bytes: int, duration_seconds: float
    ) -> None:
        failed = [gap.gatherer for gap in report.gaps if gap.reason != NOT_SERVED]
        with self._lock:
            for gatherer in failed:
                self._errors[self._source(gatherer)] += 1
            self._durations.observe(duration_seconds)
            self._gathered = (self._wall(), self._monotonic())
            self._report_bytes = size_bytes

    def gather_failed(self) -> None:
        with self._lock:
            self._errors[REPORT_SOURCE] += 1

    def report_acked(self, report_id: str) -> None:
        """The collector committed a report (or already had it): a successful send."""
        with self._lock:
            self._sent = (self._wall(), self._monotonic())

    def reconnecting(self) -> None:
        with self._lock:
            self._reconnects += 1

    def _source(self, gatherer: str) -> str:
        return gatherer if gatherer in self._errors else OTHER_SOURCE

    # -- what it means ------------------------------------------------------------

    def verdict(self) -> Verdict:
        """Healthy once a report was gathered, while the last acknowledged one is recent.

        Before the first acknowledgement the agent's start stands in for it, so a
        fresh agent is not unhealthy for the moment its first report is in flight.
        """
        with self._lock:
            gathered, sent = self._gathered, self._sent
        now = self._monotonic()
        limit = self.max_send_age_seconds
        if gathered is None:
            return Verdict(False, "no report gathered yet")
        if sent is None:
            waited = now - self._started
            if waited > limit:
                return Verdict(
                    False,
                    f"no report acknowledged by the collector in the {waited:.0f}s since start "
                    f"(limit {limit:g}s)",
                )
            return Verdict(True, "ok: first report not acknowledged yet")
        age = now - sent[1]
        if age > limit:
            return Verdict(
                False,
                f"last report acknowledged by the collector {age:.0f}s ago (limit {limit:g}s)",
            )
        return Verdict(True, "ok")

    def last_gathered_at(self) -> float | None:
        with self._lock:
            return self._gathered[0] if self._gathered else None

    def last_sent_at(self) -> float | None:
        with self._lock:
            return self._sent[0] if self._sent else None

    def report_bytes(self) -> int | None:
        with self._lock:
            return self._report_bytes

    def gather_durations(self) -> tuple[list[tuple[str, float]], float]:
        """Cumulative buckets and the sum of seconds."""
        with self._lock:
            return self._durations.cumulative(), self._durations.total_seconds

    def gather_errors(self) -> dict[str, int]:
        with self._lock:
            return dict(self._errors)

    def reconnects(self) -> int:
        with self._lock:
            return self._reconnects


class AgentMetrics(Collector):
    """The agent's own series, computed at scrape time from ``health`` and the spool."""

    def __init__(self, health: AgentHealth, spool: Spool) -> None:
        self._health = health
        self._spool = spool

    def collect(self) -> Iterator[Metric]:
        health = self._health
        yield _gauge(
            "netaudit_agent_last_gather_success_timestamp_seconds",
            "When the last report was gathered (Unix time); absent before the first.",
            health.last_gathered_at(),
        )
        yield _gauge(
            "netaudit_agent_last_send_success_timestamp_seconds",
            "When the collector last acknowledged a report (Unix time); absent before the first.",
            health.last_sent_at(),
        )
        yield _gauge(
            "netaudit_agent_report_size_bytes",
            "Size of the last report as sent (serialized protobuf).",
            health.report_bytes(),
        )
        pending = self._spool.pending()
        yield _gauge(
            "netaudit_agent_spool_files",
            "Reports waiting in the spool for the collector's acknowledgement.",
            len(pending),
        )
        yield _gauge(
            "netaudit_agent_spool_size_bytes",
            "Bytes of the reports waiting in the spool.",
            sum(entry.size for entry in pending),
        )
        yield _counter(
            "netaudit_agent_spool_dropped_reports",
            "Unsent reports dropped, oldest first, to keep the spool under its size cap.",
            self._spool.dropped_total,
        )
        buckets, total_seconds = health.gather_durations()
        durations = HistogramMetricFamily(
            "netaudit_agent_gather_duration_seconds",
            "Time to gather one report from the Kubernetes API and the DNS probes.",
        )
        durations.add_metric([], buckets, total_seconds)
        yield durations
        errors = CounterMetricFamily(
            "netaudit_agent_gather_errors",
            "Reads that failed while gathering (report gaps, without kinds the cluster does "
            'not serve), by gatherer; source="report" counts reports that failed as a whole.',
            labels=["source"],
        )
        for source, count in health.gather_errors().items():
            errors.add_metric([source], count)
        yield errors
        yield _counter(
            "netaudit_agent_collector_reconnects",
            "Times the stream to the collector failed or could not be opened, each followed "
            "by a reconnect after a backoff delay.",
            health.reconnects(),
        )


def _gauge(name: str, documentation: str, value: float | None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation)
    if value is not None:
        family.add_metric([], value)
    return family


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation)
    family.add_metric([], value)
    return family


def metrics_registry(health: AgentHealth, spool: Spool) -> CollectorRegistry:
    """A registry of the agent's series and its process's (memory, CPU, open files)."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(AgentMetrics(health, spool))
    ProcessCollector(registry=registry)
    return registry
