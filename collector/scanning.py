"""Run an inventory refresh or a scan through the Celery workers and wait for it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from netaudit.collector.analysis.fleet import pool_subnet_ids
from netaudit.collector.analysis.forecast import UsagePoint, forecast_exhaustion
from netaudit.collector.analysis.ip_capacity import PoolCapacityUnknown
from netaudit.collector.analysis.range_capacity import GrowthPlan, cluster_ranges, plan_growth
from netaudit.collector.config import Settings
from netaudit.collector.errors import ConfigError, ScanFailed, ServiceUnavailable, UsageError
from netaudit.collector.reports.coverage import render_not_assessed, render_totals
from netaudit.collector.reports.ip_ranges import RangeRow
from netaudit.collector.reports.model import ClusterOutcome, Report, report_finding, rule_infos
from netaudit.collector.reports.table import render_findings_table
from netaudit.collector.store import ScanRecord, Store
from netaudit.collector.tasks import (
    USAGE_LOOKBACK,
    configure_app,
    enqueue_scan,
    require_broker,
    run_inventory_refresh,
    wait_for_worker,
)

Progress = Callable[[str], None]


def refresh_inventory(settings: Settings, timeout: float, progress: Progress) -> int:
    """Refresh every configured subscription in the workers; return the cluster count."""
    subscriptions = settings.azure.subscriptions
    if not subscriptions:
        raise ConfigError(
            "azure.subscriptions is empty: name the subscriptions to read "
            "(NETAUDIT_AZURE__SUBSCRIPTIONS=sub1,sub2 or azure.subscriptions in --config)"
        )
    deadline = time.monotonic() + timeout
    configure_app(settings)
    require_broker(settings, timeout)
    wait_for_worker(settings, deadline)
    progress(f"reading {len(subscriptions)} subscription(s) from Azure Resource Manager")
    try:
        return run_inventory_refresh(subscriptions, max(deadline - time.monotonic(), 0.1))
    except TimeoutError as exc:
        raise ServiceUnavailable(
            f"inventory refresh did not finish within {timeout:.0f} s: the workers are busy "
            "or cannot reach ARM; raise --timeout, or check the workers' logs"
        ) from exc


def run_scan(settings: Settings, store: Store, timeout: float, progress: Progress) -> ScanRecord:
    """Start a scan, wait until the workers finish it, return its record."""
    deadline = time.monotonic() + timeout
    configure_app(settings)
    require_broker(settings, timeout)
    wait_for_worker(settings, deadline)
    scan_id = store.start_scan()
    try:
        enqueue_scan(scan_id)
    except ServiceUnavailable:
        store.discard_scan(scan_id)
        raise
    progress(f"scan {scan_id}: evaluating rules over {len(store.cluster_keys())} cluster(s)")
    while time.monotonic() < deadline:
        record = store.scan(scan_id)
        if record is not None and record.finished_at is not None:
            if record.status != "succeeded":
                raise ScanFailed(f"scan {scan_id} failed: {record.error or record.status}")
            return record
        time.sleep(0.2)
    raise ServiceUnavailable(
        f"scan {scan_id} did not finish within {timeout:.0f} s: the workers are busy or "
        "stopped; it runs when they get to it (then `netaudit report`), or raise --timeout"
    )


@dataclass(frozen=True)
class ScanSummary:
    """What a scan found (the data: stdout) and its outcome totals (a summary: stderr)."""

    findings: str
    totals: str

    def __str__(self) -> str:
        return f"{self.findings}\n{self.totals}"


def scan_summary(store: Store, scan_id: int) -> ScanSummary:
    """The open findings, what could not be assessed and why, and the scan's outcome totals."""
    findings = [stored.finding for stored in store.open_findings()]
    names = {key: store.cluster_name(key) or key for key in store.cluster_keys()}
    parts = [render_findings_table(findings, names)]
    not_assessed = render_not_assessed(store.outcomes(), names)
    if not_assessed:
        parts.append(not_assessed)
    return ScanSummary("\n".join(parts), render_totals(store.scan_outcome_totals(scan_id)))


def stored_report(store: Store) -> Report:
    """The open findings and the latest outcome of every (cluster, rule), for the report
    formats of ``scan`` and ``report``."""
    rules = rule_infos()
    names = {key: store.cluster_name(key) or key for key in store.cluster_keys()}
    findings = []
    for stored in store.open_findings():
        key = stored.finding.cluster_key
        info = rules.get(stored.finding.rule_id)
        findings.append(
            report_finding(
                stored.finding,
                key,
                names.get(key, key),
                digest=stored.fingerprint,
                first_seen=stored.first_seen,
                last_seen=stored.last_seen,
                references=info.references if info is not None else (),
            )
        )
    by_outcome: dict[str, list[ClusterOutcome]] = {"passed": [], "not_assessed": [], "error": []}
    for row in store.outcomes():
        if row.outcome in by_outcome:
            name = names.get(row.cluster_key, row.cluster_key)
            by_outcome[row.outcome].append(
                ClusterOutcome(row.rule_id, name, row.cluster_key, row.reason)
            )
    return Report(
        tuple(findings),
        tuple(by_outcome["passed"]),
        tuple(by_outcome["not_assessed"]),
        tuple(by_outcome["error"]),
        tuple(sorted(names.items(), key=lambda item: (item[1], item[0]))),
        rules,
    )


def resolve_cluster(store: Store, cluster: str) -> str:
    """A cluster key from its ARM id or its name (unique in the store)."""
    keys = store.cluster_keys()
    wanted = cluster.strip().lower()
    if wanted in keys:
        return wanted
    named = [key for key in keys if key.rsplit("/", 1)[-1] == wanted]
    if len(named) == 1:
        return named[0]
    if named:
        raise UsageError(
            f"cluster name {cluster} is ambiguous; give its ARM id: {', '.join(sorted(named))}"
        )
    raise UsageError(f"no cluster {cluster} in the store: refresh the inventory first")


def fleet_ranges(store: Store, cluster: str | None, now: datetime) -> list[RangeRow]:
    """Every range of the fleet (or one cluster) with its forecast from the usage history."""
    keys = [resolve_cluster(store, cluster)] if cluster else store.cluster_keys()
    inventories = store.inventories(keys)
    reports = store.latest_reports(keys)
    history = {
        usage.range_key: [
            UsagePoint(point.at.ToDatetime(tzinfo=UTC), point.used) for point in usage.points
        ]
        for usage in store.usage_history(
            {s for i in inventories.values() for s in pool_subnet_ids(i)},
            since=now - USAGE_LOOKBACK,
        )
    }
    rows = []
    for key, inventory in sorted(inventories.items()):
        stored = reports.get(key)
        name = inventory.name or key.rsplit("/", 1)[-1]
        for capacity in cluster_ranges(inventory, stored.report if stored else None):
            points = history.get(capacity.range_id, [])
            forecast = forecast_exhaustion(points, capacity.capacity, now=now) if points else None
            rows.append(RangeRow(name, capacity, forecast))
    return rows


def growth_plan(
    store: Store, cluster: str, nodes: int, max_pods: int | None, pool: str | None
) -> tuple[str, str, list[GrowthPlan]]:
    """(cluster name, pool name, plans) for growing ``pool`` of ``cluster`` to ``nodes``."""
    key = resolve_cluster(store, cluster)
    inventory = store.inventory(key)
    if inventory is None:
        raise UsageError(f"cluster {cluster} has no inventory: refresh it first")
    try:
        plans = plan_growth(inventory, nodes, max_pods=max_pods, pool=pool)
    except (ValueError, PoolCapacityUnknown) as exc:
        raise UsageError(str(exc)) from exc
    chosen = pool or (inventory.agent_pools[0].name if inventory.agent_pools else "?")
    return inventory.name or key, chosen, plans
