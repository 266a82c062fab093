"""The exhaustion forecast: Theil-Sen over a window, robust to bursts, silent without growth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from netaudit.collector.analysis.forecast import (
    UsagePoint,
    forecast_exhaustion,
    theil_sen_slope_per_day,
)

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def daily(*used: float, end: datetime = NOW) -> list[UsagePoint]:
    """One point a day, the last at ``end``."""
    start = end - timedelta(days=len(used) - 1)
    return [UsagePoint(start + timedelta(days=i), value) for i, value in enumerate(used)]


def test_steady_growth_of_ten_a_day_fills_the_rest_in_days() -> None:
    points = daily(100, 110, 120, 130, 140, 150, 160, 170)  # 170 used today
    result = forecast_exhaustion(points, 251, now=NOW)
    assert result is not None
    assert result.slope_per_day == pytest.approx(10)
    assert result.days_to_full == pytest.approx(8.1)
    assert result.full_at == NOW + timedelta(days=8.1)
    assert (result.points, result.window_days) == (8, 7)


def test_one_burst_does_not_move_the_trend() -> None:
    burst = daily(100, 110, 120, 250, 140, 150, 160, 170)  # a surge during an upgrade
    assert theil_sen_slope_per_day(burst) == pytest.approx(10)


@pytest.mark.parametrize(
    "used",
    [
        (150, 150, 150, 150, 150, 150, 150),  # flat
        (200, 190, 180, 170, 160, 150, 140),  # falling
        (100, 110, 120),  # too few points
    ],
)
def test_no_forecast_without_growth_or_enough_points(used: tuple[float, ...]) -> None:
    assert forecast_exhaustion(daily(*used), 251, now=NOW) is None


def test_points_outside_the_window_are_ignored() -> None:
    old = daily(0, 50, 100, 150, 200, 250, end=NOW - timedelta(days=30))
    recent = daily(200, 201, 202, 203, 204, 205, 206)
    result = forecast_exhaustion(old + recent, 251, now=NOW)
    assert result is not None and result.slope_per_day == pytest.approx(1)
    assert result.days_to_full == pytest.approx(45)


def test_a_range_already_full_is_full_now() -> None:
    result = forecast_exhaustion(daily(240, 245, 250, 255, 260, 265, 270), 251, now=NOW)
    assert result is not None and result.days_to_full == 0


def test_a_short_span_gives_no_forecast() -> None:
    hourly = [UsagePoint(NOW - timedelta(hours=h), 200 - h) for h in range(10)]
    assert forecast_exhaustion(hourly, 251, now=NOW) is None


def test_thousands_of_points_are_thinned_not_squared() -> None:
    points = [UsagePoint(NOW - timedelta(minutes=5 * i), 10_000 - i) for i in range(4000)]
    result = forecast_exhaustion(points, 20_000, now=NOW)
    assert result is not None
    assert result.slope_per_day == pytest.approx(288, rel=0.01)  # one address per 5 minutes
