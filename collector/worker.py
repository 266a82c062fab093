"""Runs Celery worker processes (prefork) for the collector's tasks."""

from __future__ import annotations

import socket

from netaudit.collector.config import Settings
from netaudit.collector.tasks import configure_app


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
    app.worker_main(worker_argv(concurrency, settings.log_level, settings.broker.queue, name))
