"""Run an inventory refresh or a scan through the Celery workers and wait for it."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from netaudit.collector.analysis.fleet import pool_subnet_ids
from netaudit.collector.analysis.forecast import UsagePoint, forecast_exhaustion
from netaudit.collector.analysis.ip_capacity import PoolCapacityUnknown
from netaudit.collector.analysis.range_capacity import GrowthPlan, cluster_ranges, plan_growth
from netaudit.collector.config import Settings
from netaudit.collector.errors import ConfigError, ScanFailed, ServiceUnavailable, UsageError
from netaudit.collector.reports.changes import (
    CHANGES,
    NEW,
    RESOLVED,
    STILL_OPEN,
    Changes,
    change_since,
)
from netaudit.collector.reports.coverage import render_not_assessed, render_totals
from netaudit.collector.reports.ip_ranges import RangeRow
from netaudit.collector.reports.model import (
    ClusterOutcome,
    Report,
    ReportFinding,
    RuleInfo,
    report_finding,
    rule_infos,
)
from netaudit.collector.reports.table import FindingIdentity, render_findings_table
from netaudit.collector.scan_recovery import fail_overdue_scans
from netaudit.collector.store import ScanRecord, Store, StoredFinding
from netaudit.collector.tasks import (
    USAGE_LOOKBACK,
    begin_scan,
    configure_app,
    require_broker,
    run_inventory_refresh,
    wait_for_worker,
)

Progress = Callable[[str], None]
SCAN_SUCCEEDED = "succeeded"


def refresh_inventory(
    settings: Settings, timeout: float, progress: Progress, full: bool = False
) -> int:
    """Refresh every configured subscription in the workers (in detail only the clusters
    that changed, unless ``full``); return the cluster count. Each subscription that could
    not be read is one progress line."""
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
    how = "every cluster in full" if full else "in detail the clusters that changed"
    progress(f"reading {len(subscriptions)} subscription(s) from Azure Resource Manager ({how})")
    try:
        outcome = run_inventory_refresh(
            subscriptions, max(deadline - time.monotonic(), 0.1), full, progress
        )
    except TimeoutError as exc:
        raise ServiceUnavailable(
            f"inventory refresh did not finish within {timeout:.0f} s: the workers are busy "
            "or cannot reach ARM; raise --timeout, or check the workers' logs"
        ) from exc
    for gap in outcome.gaps:
        progress(f"not read: {gap}")
    return outcome.clusters


def run_scan(
    settings: Settings, store: Store, timeout: float | None, progress: Progress
) -> ScanRecord:
    """Start a scan, wait until the workers finish it, return its record. The broker and
    a worker are checked first, so a scan that cannot run leaves no row. `timeout`
    (default scan.deadline_seconds) bounds the whole command; at the deadline the scan is
    marked failed, so a scan whose tasks were lost does not stay running."""
    wait = settings.scan.deadline_seconds if timeout is None else timeout
    deadline = time.monotonic() + wait
    configure_app(settings)
    require_broker(settings, wait)
    wait_for_worker(settings, deadline)
    scan_id = begin_scan(store)
    if timeout is None:
        # the scan's own deadline runs from its row: waiting that long from here sees it
        # finished or past its deadline, never still running
        deadline = time.monotonic() + wait
    progress(f"scan {scan_id}: evaluating rules over {len(store.cluster_keys())} cluster(s)")
    record = _wait_finished(store, scan_id, deadline)
    if record is None or record.finished_at is None:
        fail_overdue_scans(store, settings.scan.deadline_seconds, datetime.now(UTC))
        record = store.scan(scan_id)
    if record is None or record.finished_at is None:
        raise ServiceUnavailable(
            f"scan {scan_id} did not finish within {wait:.0f} s: the workers are busy or "
            "stopped; it runs when they get to it (then `netaudit report`) or is failed at "
            f"scan.deadline_seconds ({settings.scan.deadline_seconds:g} s), or raise --timeout"
        )
    if record.status != "succeeded":
        raise ScanFailed(f"scan {scan_id} failed: {record.error or record.status}")
    return record


def _wait_finished(store: Store, scan_id: int, deadline: float) -> ScanRecord | None:
    """The scan's record once finished, or as it stands at `deadline` (monotonic)."""
    while True:
        record = store.scan(scan_id)
        if record is None or record.finished_at is not None or time.monotonic() >= deadline:
            return record
        time.sleep(0.2)


@dataclass(frozen=True)
class ScanSummary:
    """What a scan found (the data: stdout) and its outcome totals (a summary: stderr)."""

    findings: str
    totals: str

    def __str__(self) -> str:
        return f"{self.findings}\n{self.totals}"


def scan_summary(
    store: Store, scan_id: int, marks: Mapping[FindingIdentity, str] | None = None
) -> ScanSummary:
    """The open findings (with their waiver ``marks``), what could not be assessed and why,
    and the scan's outcome totals."""
    findings = [stored.finding for stored in store.open_findings()]
    names = {key: store.cluster_name(key) or key for key in store.cluster_keys()}
    parts = [render_findings_table(findings, names, marks)]
    not_assessed = render_not_assessed(store.outcomes(), names)
    if not_assessed:
        parts.append(not_assessed)
    return ScanSummary("\n".join(parts), render_totals(store.scan_outcome_totals(scan_id)))


def stored_report(store: Store) -> Report:
    """The open findings and the latest outcome of every (cluster, rule), for the report
    formats of ``scan`` and ``report``."""
    rules = rule_infos()
    names = {key: store.cluster_name(key) or key for key in store.cluster_keys()}
    findings = [_report_finding(stored, names, rules) for stored in store.open_findings()]
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


def _report_finding(
    stored: StoredFinding, names: Mapping[str, str], rules: Mapping[str, RuleInfo]
) -> ReportFinding:
    key = stored.finding.cluster_key
    info = rules.get(stored.finding.rule_id)
    return report_finding(
        stored.finding,
        key,
        names.get(key, key),
        digest=stored.fingerprint,
        first_seen=stored.first_seen,
        last_seen=stored.last_seen,
        references=info.references if info is not None else (),
    )


def changes_since(store: Store, scan_id: int, current: Report) -> Changes:
    """The findings new, resolved and still open since scan ``scan_id`` finished; the open
    ones as ``current`` (the store's open findings, waivers applied) shows them."""
    finished_at = _scan_finished_at(store, scan_id)
    open_now = {finding.fingerprint: finding for finding in current.findings}
    names = dict(current.clusters)
    groups: dict[str, list[ReportFinding]] = {change: [] for change in CHANGES}
    for stored in store.all_findings():
        change = change_since(stored.first_seen, stored.resolved_at, finished_at)
        if change is None:
            continue
        finding = open_now.get(stored.fingerprint)
        groups[change].append(finding or _report_finding(stored, names, current.rules))
    return Changes(
        scan_id,
        finished_at,
        tuple(groups[NEW]),
        tuple(groups[RESOLVED]),
        tuple(groups[STILL_OPEN]),
    )


def _scan_finished_at(store: Store, scan_id: int) -> datetime:
    """When the scan ``--since`` compares with finished: it must exist and have succeeded."""
    record = store.scan(scan_id)
    if record is None:
        last = store.last_scan(finished=True)
        hint = f" (the last finished scan is {last.id})" if last is not None else " (none yet)"
        raise UsageError(f"scan {scan_id} does not exist; give an id `netaudit scan` printed{hint}")
    if record.finished_at is None:
        raise UsageError(f"scan {scan_id} is still running; compare with a finished scan")
    if record.status != SCAN_SUCCEEDED:
        raise UsageError(
            f"scan {scan_id} {record.status}, so it did not judge every cluster; compare with "
            "a scan that succeeded"
        )
    return record.finished_at


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
