"""Counters of what reaches the ingest port, kept by the process that serves it.

Ingest runs in the serving process, so these are process-local prometheus_client counters
in the registry /metrics renders (a restart starts them at zero, which rate() handles).
The servicer calls :meth:`IngestCounters.received` for every chunk's bytes and
:meth:`IngestCounters.rejected` with the status code when it refuses a stream or a report.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

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


class IngestCounters:
    def __init__(self, registry: CollectorRegistry | None) -> None:
        self._bytes = Counter(
            "netaudit_ingest_bytes",
            "Bytes of report chunk messages received over gRPC, before reassembly.",
            registry=registry,
        )
        self._rejections = Counter(
            "netaudit_ingest_rejections",
            "Streams and reports the ingest port refused, by the gRPC status code sent.",
            ["reason"],
            registry=registry,
        )
        for reason in (*REJECTION_REASONS, "other"):  # exported from the start, at 0
            self._rejections.labels(reason)

    def received(self, size_bytes: int) -> None:
        self._bytes.inc(max(size_bytes, 0))

    def rejected(self, status_code_name: str) -> None:
        """Count a refusal under its status code's name (``grpc.StatusCode.X.name``)."""
        reason = status_code_name.lower()
        self._rejections.labels(reason if reason in REJECTION_REASONS else "other").inc()
