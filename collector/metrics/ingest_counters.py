"""Counters of what reaches the ingest port, kept by the process that serves it.

Ingest runs in the serving process, so these are process-local prometheus_client counters
in the registry /metrics renders (a restart starts them at zero, which rate() handles).
The servicer calls :meth:`IngestCounters.received` for every chunk's bytes and
:meth:`IngestCounters.rejected` with one of :data:`REJECTION_REASONS` when it refuses a
stream or a report.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

REJECTION_REASONS = (
    "unauthenticated",
    "permission_denied",
    "contract_version",
    "invalid_argument",
    "too_large",
    "stale_report",
    "contradicts_inventory",
    "store_unavailable",
    "internal",
    "other",
)
"""Bounded: anything else is counted as "other"."""


class IngestCounters:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self._bytes = Counter(
            "netaudit_ingest_bytes",
            "Report bytes received over gRPC (chunk payloads, before reassembly).",
            registry=registry,
        )
        self._rejections = Counter(
            "netaudit_ingest_rejections",
            "Streams and reports the ingest port refused, by reason.",
            ["reason"],
            registry=registry,
        )
        for reason in REJECTION_REASONS:  # every reason exported from the start, at 0
            self._rejections.labels(reason)

    def received(self, size_bytes: int) -> None:
        self._bytes.inc(max(size_bytes, 0))

    def rejected(self, reason: str) -> None:
        self._rejections.labels(reason if reason in REJECTION_REASONS else "other").inc()
