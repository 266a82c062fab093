"""Runs Celery worker processes (prefork) for the collector's tasks."""

from __future__ import annotations

import socket

from netaudit.collector.config import Settings
from netaudit.collector.tasks import configure_app, require_broker

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
