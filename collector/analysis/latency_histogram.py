"""Quantiles of a Prometheus histogram (cumulative buckets), as PromQL's
``histogram_quantile`` estimates them: linear interpolation inside the bucket that holds
the rank, the highest finite bound when the rank falls in the +Inf bucket."""

from __future__ import annotations

import math
from collections.abc import Iterable

from netaudit.v1 import report_pb2


def merged(
    histograms: Iterable[Iterable[report_pb2.HistogramBucket]],
) -> list[report_pb2.HistogramBucket]:
    """Several histograms with the same bounds summed bucket by bucket (bounds sorted)."""
    counts: dict[float, float] = {}
    for buckets in histograms:
        for bucket in buckets:
            counts[bucket.upper_bound] = (
                counts.get(bucket.upper_bound, 0.0) + bucket.cumulative_count
            )
    return [
        report_pb2.HistogramBucket(upper_bound=bound, cumulative_count=count)
        for bound, count in sorted(counts.items())
    ]


def quantile(q: float, buckets: list[report_pb2.HistogramBucket]) -> float | None:
    """The ``q`` quantile (0..1) of cumulative ``buckets`` sorted by bound, the last +Inf;
    None without observations or without a +Inf bucket (not a complete histogram)."""
    if not buckets or not math.isinf(buckets[-1].upper_bound):
        return None
    total = buckets[-1].cumulative_count
    if total <= 0:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for index, bucket in enumerate(buckets):
        if bucket.cumulative_count >= rank:
            if math.isinf(bucket.upper_bound):
                return buckets[index - 1].upper_bound if index > 0 else None
            if bucket.cumulative_count == lower_count:
                return bucket.upper_bound
            share = (rank - lower_count) / (bucket.cumulative_count - lower_count)
            return lower_bound + (bucket.upper_bound - lower_bound) * share
        lower_bound, lower_count = bucket.upper_bound, bucket.cumulative_count
    return None
