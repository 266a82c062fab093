"""Compute and store the metric samples when a scan or an inventory refresh runs.

Each chunk of a scan (and each subscription of a refresh) stores its clusters' parts;
the step that ends the scan or refresh merges every part into the snapshots /metrics
reads, in one write.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from netaudit.collector.analysis.fleet import pool_subnet_ids
from netaudit.collector.metrics import families
from netaudit.collector.metrics.cluster_part import cluster_part
from netaudit.collector.metrics.fleet_snapshot import FleetSnapshot
from netaudit.collector.metrics.labels import cluster_label_values, severity_name
from netaudit.collector.metrics.shares import ClusterPart, Row
from netaudit.collector.metrics.snapshot import Snapshot, encode, encode_rows
from netaudit.collector.store import Store

log = logging.getLogger(__name__)

PARTS_PER_PAGE = 1000
"""Parts decoded at a time when merging: the whole fleet's parts are never held at once."""
USAGE_LOOKBACK = timedelta(days=35)
"""Usage history read for the forecast: as far back as the store keeps it."""


def store_parts(store: Store, parts: Sequence[ClusterPart]) -> None:
    store.save_metric_parts({part.cluster_key: part.encode() for part in parts})


def refresh_parts(store: Store, cluster_keys: Sequence[str], *, now: datetime) -> None:
    """Recompute and store the parts of these clusters from the store (after a refresh
    changed their inventories): three reads for the whole batch."""
    inventories = store.inventories(cluster_keys)
    gone = {k for k in cluster_keys if k in inventories and inventories[k].HasField("deleted_at")}
    store.delete_metric_parts(sorted(gone))  # ARM deleted them: their series stop
    cluster_keys = [k for k in cluster_keys if k not in gone]
    reports = store.latest_reports(cluster_keys)
    subnets = {s for inventory in inventories.values() for s in pool_subnet_ids(inventory)}
    usage = {u.range_key: u for u in store.usage_history(subnets, since=now - USAGE_LOOKBACK)}
    parts = []
    for key in cluster_keys:
        inventory = inventories.get(key)
        stored = reports.get(key)
        mine = pool_subnet_ids(inventory) if inventory is not None else set()
        parts.append(
            cluster_part(
                key,
                inventory=inventory,
                report=stored.report if stored is not None else None,
                usage=[usage[s] for s in sorted(mine) if s in usage],
                now=now,
            )
        )
    store_parts(store, parts)


def publish(store: Store, *, scan_id: int | None = None) -> None:
    """Merge every stored part into the range and cluster snapshots; with ``scan_id``, also
    the findings snapshot of that (finishing) scan. One write replaces them together."""
    fleet = FleetSnapshot()
    after = ""
    while page := store.metric_parts(after=after, limit=PARTS_PER_PAGE):
        for _key, payload in page:
            fleet.add(ClusterPart.decode(payload))
        after = page[-1][0]
    snapshots = {
        "ranges": encode_rows(fleet.encoded_ranges(), families.RANGES),
        "clusters": encode_rows(fleet.encoded_clusters(), families.CLUSTERS),
    }
    if scan_id is not None and not _newer_scan_finished(store, scan_id):
        snapshots["findings"] = encode(
            findings_snapshot(store, scan_id, fleet.cluster_labels), families.FINDINGS
        )
    store.save_metric_snapshots(snapshots)
    log.info("metrics published", extra={"clusters": len(fleet.cluster_labels), "scan_id": scan_id})


def _newer_scan_finished(store: Store, scan_id: int) -> bool:
    """A late retry of an older scan's closing step must not replace the findings
    snapshot (rule evaluations) of a scan that finished after it."""
    newest = store.last_scan(finished=True)
    return newest is not None and newest.id > scan_id


def findings_snapshot(
    store: Store, scan_id: int, cluster_labels: Mapping[str, tuple[str, str, str]]
) -> Snapshot:
    """Open findings by rule and severity and by cluster and severity, and the scan's
    outcome totals."""
    by_rule: list[Row] = [
        [rule_id, severity_name(severity), count]
        for (rule_id, severity), count in sorted(store.open_finding_counts().items())
    ]
    by_cluster: list[Row] = [
        [*(cluster_labels.get(key) or cluster_label_values(key)), severity_name(severity), count]
        for (key, severity), count in sorted(store.open_findings_by_cluster().items())
    ]
    outcomes: list[Row] = [
        [rule_id, outcome, count]
        for (rule_id, outcome), count in sorted(store.scan_outcome_totals(scan_id).items())
    ]
    return {
        families.OPEN_FINDINGS.name: by_rule,
        families.CLUSTER_OPEN_FINDINGS.name: by_cluster,
        families.RULE_EVALUATIONS.name: outcomes,
    }
