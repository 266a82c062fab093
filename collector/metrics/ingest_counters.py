"""Counters of what reaches the ingest port, kept by the process that serves it.

Ingest runs in the serving process, so these are process-local counters in the registry
/metrics renders (a restart starts them at zero, which rate() handles). The servicer
calls :meth:`IngestCounters.received` for every chunk's bytes, :meth:`reported` for every
report's outcome and :meth:`rejected` with the status code's name when it refuses a
stream or a report. A collector of plain counts rather than prometheus_client Counters:
those also export a ``_created`` gauge family per counter, which nobody reads.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

REJECTION_REASONS = (
    "unauthenticated",
    "permission_denied",
    "failed_precondition",
    "invalid_argument",
    "resource_exhausted",
    "aborted",
    "unavailable",
    "internal",
)
"""The gRPC status codes ingest refuses a stream or a report with (servicer.py), lower
case: a bounded set; any other is counted as "other"."""

REPORT_OUTCOMES = ("committed", "duplicate", "rejected")


class IngestCounters(Collector):
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self._lock = threading.Lock()
        self._bytes = 0
        self._rejections = dict.fromkeys((*REJECTION_REASONS, "other"), 0)
        self._reports = dict.fromkeys(REPORT_OUTCOMES, 0)
        if registry is not None:
            registry.register(self)

    def received(self, size_bytes: int) -> None:
        with self._lock:
            self._bytes += max(size_bytes, 0)

    def reported(self, outcome: str) -> None:
        with self._lock:
            self._reports[outcome] += 1

    def rejected(self, status_code_name: str) -> None:
        """Count a refusal under its status code's name (``grpc.StatusCode.X.name``)."""
        reason = status_code_name.lower()
        with self._lock:
            self._rejections[reason if reason in self._rejections else "other"] += 1

    def collect(self) -> Iterator[CounterMetricFamily]:
        with self._lock:
            received, rejections, reports = (
                self._bytes,
                dict(self._rejections),
                dict(self._reports),
            )
        yield CounterMetricFamily(
            "netaudit_ingest_bytes",
            "Bytes of report chunk messages received over gRPC, before reassembly.",
            value=received,
        )
        yield _labelled(
            "netaudit_ingest_rejections",
            "Streams and reports the ingest port refused, by the gRPC status code sent.",
            "reason",
            rejections,
        )
        yield _labelled(
            "netaudit_ingest_reports",
            "Reports received over gRPC, by outcome (committed, duplicate, rejected).",
            "outcome",
            reports,
        )


def _labelled(
    name: str, documentation: str, label: str, counts: dict[str, int]
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=[label])
    for value, count in counts.items():
        family.add_metric([value], count)
    return family
