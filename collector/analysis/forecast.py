"""When does a range fill? A robust linear trend over its recent use (domain.md §1.11).

Theil-Sen: the median of the slopes between every pair of points, so one
burst (a surge during an upgrade, a batch job) does not move the forecast the
way it moves least squares. No forecast from fewer than ``min_points`` points
or a window shorter than ``min_span``, and none while use is flat or falling:
"never" is not a date.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from netaudit.v1 import audit_pb2, inventory_pb2

DEFAULT_WINDOW = timedelta(days=14)
DEFAULT_MIN_POINTS = 6
DEFAULT_MIN_SPAN = timedelta(hours=24)
MAX_PAIRS = 20_000
"""Theil-Sen is quadratic in points; beyond this many pairs the points are thinned evenly."""


@dataclass(frozen=True)
class UsagePoint:
    at: datetime
    used: float


@dataclass(frozen=True)
class Forecast:
    """Used addresses grow by ``slope_per_day``; the range is full after ``days_to_full``."""

    slope_per_day: float
    days_to_full: float
    full_at: datetime
    points: int
    window_days: float


def forecast_exhaustion(
    points: Sequence[UsagePoint],
    capacity: float,
    *,
    now: datetime,
    window: timedelta = DEFAULT_WINDOW,
    min_points: int = DEFAULT_MIN_POINTS,
    min_span: timedelta = DEFAULT_MIN_SPAN,
) -> Forecast | None:
    """The days until ``capacity`` is used at the trend of the points within ``window``
    before ``now``; None without enough points or without growth."""
    recent = sorted((p for p in points if now - window <= p.at <= now), key=lambda p: p.at)
    if len(recent) < min_points or recent[-1].at - recent[0].at < min_span:
        return None
    slope = theil_sen_slope_per_day(recent)
    if slope <= 0:
        return None
    latest = _level_now(recent, slope, now)
    days = max(capacity - latest, 0.0) / slope
    return Forecast(
        slope_per_day=slope,
        days_to_full=days,
        full_at=now + timedelta(days=days),
        points=len(recent),
        window_days=(recent[-1].at - recent[0].at).total_seconds() / 86_400,
    )


def theil_sen_slope_per_day(points: Sequence[UsagePoint]) -> float:
    """The median slope (per day) over all pairs of points taken at different times."""
    sample = _thinned(points)
    slopes = [
        (b.used - a.used) / ((b.at - a.at).total_seconds() / 86_400)
        for i, a in enumerate(sample)
        for b in sample[i + 1 :]
        if b.at != a.at
    ]
    return statistics.median(slopes) if slopes else 0.0


def _thinned(points: Sequence[UsagePoint]) -> Sequence[UsagePoint]:
    count = len(points)
    if count * (count - 1) // 2 <= MAX_PAIRS:
        return points
    keep = int((2 * MAX_PAIRS) ** 0.5)
    step = (count - 1) / (keep - 1)
    return [points[round(i * step)] for i in range(keep)]


def _level_now(points: Sequence[UsagePoint], slope: float, now: datetime) -> float:
    """The trend line's value now: the median intercept (Theil-Sen), evaluated at ``now``."""
    intercepts = [p.used - slope * (p.at - now).total_seconds() / 86_400 for p in points]
    return statistics.median(intercepts)


def usage_points(
    inventory: inventory_pb2.ClusterInventory, *, now: datetime
) -> list[audit_pb2.RangeUsage]:
    """One point per subnet usage row (with a limit) of this inventory, taken when it was
    refreshed (``now`` when it does not say): what a refresh adds to the usage history."""
    at = (
        inventory.refreshed_at.ToDatetime(tzinfo=UTC) if inventory.HasField("refreshed_at") else now
    )
    series: dict[str, audit_pb2.RangeUsage] = {}
    for vnet in inventory.virtual_networks:
        for usage in vnet.subnet_usages:
            if usage.limit <= 0:
                continue
            key = usage.subnet_id.lower()
            if key in series:
                continue
            entry = series[key] = audit_pb2.RangeUsage(range_key=key)
            point = entry.points.add(used=int(usage.current_value), capacity=int(usage.limit))
            point.at.FromDatetime(at)
    return list(series.values())
