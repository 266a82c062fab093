"""The ingest counters: bytes and rejections by a bounded set of reasons."""

from __future__ import annotations

import grpc
import pytest
from prometheus_client import CollectorRegistry

from netaudit.collector.metrics.ingest_counters import REJECTION_REASONS, IngestCounters


@pytest.mark.parametrize(
    ("reason", "counted_as"),
    [
        (grpc.StatusCode.UNAUTHENTICATED, "unauthenticated"),
        (grpc.StatusCode.FAILED_PRECONDITION, "failed_precondition"),
        (grpc.StatusCode.DATA_LOSS, "other"),
    ],
)
def test_a_rejection_is_counted_under_a_bounded_reason(
    reason: grpc.StatusCode, counted_as: str
) -> None:
    registry = CollectorRegistry()
    counters = IngestCounters(registry)
    counters.rejected(reason.name)
    counts = {
        r: registry.get_sample_value("netaudit_ingest_rejections_total", {"reason": r})
        for r in (*REJECTION_REASONS, "other")
    }
    assert counts == {r: 1.0 if r == counted_as else 0.0 for r in (*REJECTION_REASONS, "other")}


def test_received_bytes_add_up() -> None:
    registry = CollectorRegistry()
    counters = IngestCounters(registry)
    counters.received(1000)
    counters.received(24)
    assert registry.get_sample_value("netaudit_ingest_bytes_total") == 1024
