"""Run an inventory refresh or a scan through the Celery workers and wait for it."""

from __future__ import annotations

import time
from collections.abc import Callable

from netaudit.collector.config import Settings
from netaudit.collector.errors import ScanFailed, ServiceUnavailable
from netaudit.collector.reports.coverage import render_not_assessed, render_totals
from netaudit.collector.reports.table import render_findings_table
from netaudit.collector.store import ScanRecord, Store
from netaudit.collector.tasks import configure_app, enqueue_scan, run_inventory_refresh

Progress = Callable[[str], None]


def refresh_inventory(settings: Settings, timeout: float, progress: Progress) -> int:
    """Refresh every configured subscription in the workers; return the cluster count."""
    subscriptions = settings.azure.subscriptions
    if not subscriptions:
        raise ScanFailed("azure.subscriptions is empty: name the subscriptions to read")
    configure_app(settings)
    progress(f"reading {len(subscriptions)} subscription(s) from Azure Resource Manager")
    try:
        return run_inventory_refresh(subscriptions, timeout)
    except TimeoutError as exc:
        raise ServiceUnavailable(
            f"inventory refresh did not finish within {timeout:.0f} s: is a worker running "
            "(netaudit worker)?"
        ) from exc


def run_scan(settings: Settings, store: Store, timeout: float, progress: Progress) -> ScanRecord:
    """Start a scan, wait until the workers finish it, return its record."""
    configure_app(settings)
    scan_id = store.start_scan()
    progress(f"scan {scan_id}: evaluating rules over {len(store.cluster_keys())} cluster(s)")
    enqueue_scan(scan_id)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = store.scan(scan_id)
        if record is not None and record.finished_at is not None:
            if record.status != "succeeded":
                raise ScanFailed(f"scan {scan_id} failed: {record.error or record.status}")
            return record
        time.sleep(0.2)
    raise ScanFailed(
        f"scan {scan_id} did not finish within {timeout:.0f} s: is a worker running "
        "(netaudit worker) and the broker reachable?"
    )


def scan_summary(store: Store, scan_id: int) -> str:
    """The open findings, what could not be assessed and why, and the scan's outcome totals."""
    findings = [stored.finding for stored in store.open_findings()]
    names = {key: store.cluster_name(key) or key for key in store.cluster_keys()}
    parts = [render_findings_table(findings, names)]
    not_assessed = render_not_assessed(store.outcomes(), names)
    if not_assessed:
        parts.append(not_assessed)
    parts.append(render_totals(store.scan_outcome_totals(scan_id)))
    return "\n".join(parts)
