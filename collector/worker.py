"""Runs the Celery processes of the collector: the workers (prefork) that execute its
tasks, and the beat that schedules scans and inventory refreshes."""

from __future__ import annotations

import logging
import socket
from typing import Any

from netaudit.collector.config import ScheduleSettings, Settings
from netaudit.collector.tasks import (
    configure_app,
    require_broker,
    scheduled_inventory_refresh,
    scheduled_scan,
)

log = logging.getLogger(__name__)

BROKER_CONNECT_TIMEOUT_SECONDS = 10.0
"""How long `netaudit worker` waits for the broker at start before it exits 3: long enough
for a broker that is starting alongside it, short enough to say at once that none is there."""


def worker_argv(concurrency: int, loglevel: str, queue: str, name: str | None = None) -> list[str]:
    return [
        "worker",
        "--pool=prefork",
        f"--concurrency={concurrency}",
        f"--loglevel={loglevel}",
        "--without-gossip",
        "--without-mingle",
        f"--queues={queue}",
        f"--hostname={name or f'netaudit@{socket.gethostname()}'}",
    ]


def run_worker(settings: Settings, concurrency: int, name: str | None = None) -> None:
    """Block running a worker until it receives SIGTERM/SIGINT."""
    app = configure_app(settings)
    require_broker(settings, BROKER_CONNECT_TIMEOUT_SECONDS)
    app.worker_main(worker_argv(concurrency, settings.log_level, settings.broker.queue, name))


def beat_schedule(schedule: ScheduleSettings) -> dict[str, dict[str, Any]]:
    """Celery's beat_schedule: one entry per interval above 0. A trigger expires after its
    interval, so triggers queued while no worker runs do not all start at once later."""
    intervals = {
        "scan": (scheduled_scan.name, schedule.scan_interval_seconds),
        "inventory-refresh": (
            scheduled_inventory_refresh.name,
            schedule.inventory_interval_seconds,
        ),
    }
    return {
        entry: {"task": task, "schedule": interval, "options": {"expires": interval}}
        for entry, (task, interval) in intervals.items()
        if interval > 0
    }


def run_beat(settings: Settings) -> None:
    """Block sending the scheduled triggers until SIGTERM/SIGINT (Celery's own handlers:
    the schedule file is saved, then the call returns)."""
    app = configure_app(settings)
    app.conf.beat_schedule = beat_schedule(settings.schedule)
    schedule_file = settings.beat_schedule_file
    log.info(
        "beat started",
        extra={
            "schedule_file": str(schedule_file),
            "scan_interval_seconds": settings.schedule.scan_interval_seconds,
            "inventory_interval_seconds": settings.schedule.inventory_interval_seconds,
        },
    )
    app.Beat(schedule=str(schedule_file), loglevel=settings.log_level, quiet=True).run()
    log.info("beat stopped", extra={"schedule_file": str(schedule_file)})
