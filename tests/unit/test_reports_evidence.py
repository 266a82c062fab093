"""Evidence as people read it in the text reports: durations, long values."""

from __future__ import annotations

import pytest

from netaudit.collector.reports.evidence import (
    MAX_VALUE_CHARS,
    duration_text,
    readable_evidence,
    readable_item,
)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (2_799_515, "32d 9h"),
        (86_400, "1d 0h"),
        (3_600, "1h 0m"),
        (18_180, "5h 3m"),
        (250, "4m 10s"),
        (42, "42 s"),
        (1.5, "1.5 s"),
        (0.0123, "12.3 ms"),
        (0, "0 ms"),
    ],
)
def test_a_duration_shows_its_two_largest_units(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text


@pytest.mark.parametrize(
    ("key", "value", "item"),
    [
        ("programmed.seconds", "2799515", "programmed=32d 9h"),
        ("p99_seconds", "0.0123", "p99=12.3 ms"),
        ("window_seconds", "3600", "window=1h 0m"),
        # not a duration after all: shown as it is, unit and all
        ("p99_seconds", "n/a", "p99_seconds=n/a"),
        ("skew_seconds", "-5", "skew_seconds=-5"),
        ("seconds_left", "90", "seconds_left=90"),
        ("ratio", "0.988", "ratio=0.988"),
        ("forward.args", ". 168.63.129.16", "forward.args=. 168.63.129.16"),
    ],
)
def test_an_item_carries_its_unit_in_the_value(key: str, value: str, item: str) -> None:
    assert readable_item(key, value) == item


def test_a_long_value_is_shortened_with_an_ellipsis() -> None:
    item = readable_item("latest", "x" * 500)
    value = item.removeprefix("latest=")
    assert len(value) == MAX_VALUE_CHARS
    assert value.endswith("…")
    assert readable_item("latest", "x" * MAX_VALUE_CHARS) == "latest=" + "x" * MAX_VALUE_CHARS


def test_items_come_in_key_order() -> None:
    assert readable_evidence({"used": "248", "limit": "251"}) == ["limit=251", "used=248"]
