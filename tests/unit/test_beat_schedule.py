"""`netaudit beat`'s schedule: one entry per interval above 0, and the schedules refused."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from netaudit.collector.beat import BeatAlreadyRunning, check_schedule, sole_beat
from netaudit.collector.config import CONFIG_ENV, Settings, load_settings
from netaudit.collector.errors import ConfigError
from netaudit.collector.worker import beat_schedule

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.upper().startswith("NETAUDIT_"):
            monkeypatch.delenv(name)
    monkeypatch.delenv(CONFIG_ENV, raising=False)


def _settings(scan: float, inventory: float, subscriptions: list[str]) -> Settings:
    return load_settings(
        schedule={"scan_interval_seconds": scan, "inventory_interval_seconds": inventory},
        azure={"subscriptions": subscriptions},
    )


SCHEDULES: list[tuple[str, float, float, dict[str, tuple[str, float]]]] = [
    (
        "both",
        3600,
        900,
        {
            "scan": ("netaudit.scheduled_scan", 3600),
            "inventory-refresh": ("netaudit.scheduled_inventory_refresh", 900),
        },
    ),
    ("scans only", 2, 0, {"scan": ("netaudit.scheduled_scan", 2)}),
    (
        "refreshes only",
        0,
        1.5,
        {"inventory-refresh": ("netaudit.scheduled_inventory_refresh", 1.5)},
    ),
]


@pytest.mark.parametrize(
    ("scan", "inventory", "expected"),
    [case[1:] for case in SCHEDULES],
    ids=[case[0] for case in SCHEDULES],
)
def test_each_interval_above_zero_is_one_entry_that_expires_after_it(
    scan: float, inventory: float, expected: dict[str, tuple[str, float]]
) -> None:
    settings = _settings(scan, inventory, [SUBSCRIPTION])
    check_schedule(settings)
    entries = beat_schedule(settings.schedule)
    assert {name: (e["task"], e["schedule"]) for name, e in entries.items()} == expected
    assert all(e["options"]["expires"] == e["schedule"] for e in entries.values())


REFUSED: list[tuple[str, dict[str, Any], str]] = [
    (
        "nothing scheduled",
        {"scan": 0, "inventory": 0, "subscriptions": [SUBSCRIPTION]},
        "nothing to schedule",
    ),
    (
        "refreshes of no subscription",
        {"scan": 60, "inventory": 60, "subscriptions": []},
        "schedule.inventory_interval_seconds needs azure.subscriptions",
    ),
]


@pytest.mark.parametrize(
    ("given", "message"), [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED]
)
def test_a_schedule_that_cannot_work_is_one_config_line(
    given: dict[str, Any], message: str
) -> None:
    settings = _settings(given["scan"], given["inventory"], given["subscriptions"])
    with pytest.raises(ConfigError) as raised:
        check_schedule(settings)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
    assert raised.value.exit_code == 2


def test_a_negative_interval_is_refused_naming_its_key() -> None:
    with pytest.raises(ConfigError, match=r"schedule\.scan_interval_seconds"):
        _settings(-1, 0, [])


def test_the_schedule_file_lives_in_the_state_folder(tmp_path: Path) -> None:
    settings = load_settings(state_dir=tmp_path / "state")
    assert settings.beat_schedule_file.parent == (tmp_path / "state").resolve()


def test_one_beat_per_state_folder_and_the_lock_is_released_after(tmp_path: Path) -> None:
    running = pytest.raises(BeatAlreadyRunning, match=f"pid {os.getpid()}")
    with sole_beat(tmp_path), running, sole_beat(tmp_path):
        pass
    with sole_beat(tmp_path):  # released: taken again
        pass
