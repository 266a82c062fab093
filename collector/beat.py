"""`netaudit beat`: the deployment's one scheduler of scans and inventory refreshes.

Beat only sends a trigger per interval; a worker starts the scan or refresh exactly as
`netaudit scan` and `netaudit inventory refresh` do. Run exactly one beat per deployment:
each sends its own triggers, so two beats scan twice as often. A second beat on the same
state folder is refused (an flock on `celerybeat.lock`, released when its process
dies); beats on separate machines cannot see each other.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from netaudit.collector.config import Settings
from netaudit.collector.errors import ConfigError, NetauditError

LOCKFILE_NAME = "celerybeat.lock"


class BeatAlreadyRunning(NetauditError):
    """Another beat holds the state folder: a refusal (exit 1), not a service to start."""


def check_schedule(settings: Settings) -> None:
    """Refuse a schedule that would start nothing, or refreshes of no subscription."""
    schedule = settings.schedule
    if not schedule.scan_interval_seconds and not schedule.inventory_interval_seconds:
        raise ConfigError(
            "nothing to schedule: schedule.scan_interval_seconds and "
            "schedule.inventory_interval_seconds are both 0; set one above 0"
        )
    if schedule.inventory_interval_seconds and not settings.azure.subscriptions:
        raise ConfigError(
            "schedule.inventory_interval_seconds needs azure.subscriptions: name the "
            "subscriptions to read, or set it to 0"
        )


@contextlib.contextmanager
def sole_beat(state_dir: Path) -> Iterator[None]:
    """Hold the state folder's beat lock while the block runs; BeatAlreadyRunning naming
    the running beat's pid when another process holds it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = (state_dir / LOCKFILE_NAME).resolve()
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise BeatAlreadyRunning(
                f"another netaudit beat (pid {owner}) runs on {state_dir.resolve()}: run "
                "exactly one per deployment"
            ) from error
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock
