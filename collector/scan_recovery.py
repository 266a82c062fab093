"""No scan stays `running`: scans whose tasks were lost are dispatched again or failed.

A scan's progress lives in the broker (its queued and unacked tasks, its chord's
counter). When the broker loses them, by a restart or a worker killed past what
redelivery covers, nothing would ever finish the scan. Two remedies, both safe because
every scan task is idempotent:

- right after `netaudit serve` restarts its embedded Redis, every running scan is
  dispatched again (`redispatch_running_scans`);
- a scan still running `scan.deadline_seconds` after it started is marked failed with
  the reason (`fail_overdue_scans`), by `netaudit serve` every SCAN_SWEEP_SECONDS and by
  the `netaudit scan` that waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

from netaudit.collector.config import SCAN_SWEEP_SECONDS, Settings
from netaudit.collector.errors import ServiceUnavailable
from netaudit.collector.store import Store, StoreError
from netaudit.collector.tasks import configure_app, enqueue_scan

log = logging.getLogger(__name__)


def overdue_reason(deadline_seconds: float) -> str:
    return (
        f"not finished within {deadline_seconds:g} s (scan.deadline_seconds): its tasks were "
        "lost (broker restarted, worker killed) or no worker is running"
    )


def fail_overdue_scans(store: Store, deadline_seconds: float, now: datetime) -> list[int]:
    """Mark failed every scan started more than `deadline_seconds` before `now`."""
    failed = store.fail_unfinished_scans(
        started_before=now - timedelta(seconds=deadline_seconds),
        error=overdue_reason(deadline_seconds),
        now=now,
    )
    for scan_id in failed:
        log.error("scan failed: past its deadline", extra={"scan_id": scan_id})
    return failed


def redispatch_running_scans(settings: Settings, store: Store) -> list[int]:
    """Send the first task of every running scan again; their ids."""
    configure_app(settings)
    scan_ids = [record.id for record in store.running_scans()]
    for scan_id in scan_ids:
        enqueue_scan(scan_id)
    if scan_ids:
        log.warning("scans dispatched again after the broker lost them", extra={"scans": scan_ids})
    return scan_ids


class ScanRecovery:
    """What `netaudit serve` runs: the periodic deadline sweep, and the re-dispatch its
    broker supervisor calls after a restart."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.settings = settings
        self.store = store

    def after_broker_restart(self) -> None:
        try:
            redispatch_running_scans(self.settings, self.store)
        except (ServiceUnavailable, StoreError) as exc:
            # the deadline sweep still ends these scans
            log.error("running scans could not be dispatched again: %s", exc)

    def sweep(self) -> list[int]:
        try:
            return fail_overdue_scans(
                self.store, self.settings.scan.deadline_seconds, datetime.now(UTC)
            )
        except StoreError as exc:
            log.error("overdue scans could not be checked: %s", exc)
            return []

    async def sweep_until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.to_thread(self.sweep)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SCAN_SWEEP_SECONDS)
