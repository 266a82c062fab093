"""One cluster's share of the fleet's metric samples, computed from its facts.

Computed where the facts are loaded anyway (a scan's chunk of clusters, an inventory
refresh), stored per cluster, and merged by :mod:`fleet_snapshot`: the capacity math, the
forecast and the report's parsing run once per scan or refresh, never per scrape.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from netaudit.collector.analysis.forecast import UsagePoint, forecast_exhaustion
from netaudit.collector.analysis.range_capacity import (
    NODE_POD_CIDR_PREFIX,
    RangeCapacity,
    Unit,
    cluster_ranges,
)
from netaudit.collector.metrics import families
from netaudit.collector.metrics.labels import cluster_label_values
from netaudit.collector.metrics.shares import ClusterPart, RangeShare, Row
from netaudit.collector.rules.coredns import COREDNS_DEPLOYMENT, NAMESPACE
from netaudit.v1 import audit_pb2, inventory_pb2, report_pb2

ADDRESSES_PER_NODE_BLOCK = 1 << (32 - NODE_POD_CIDR_PREFIX)
"""Pod CIDRs are counted in nodes, each holding a /24: 256 addresses of the range."""
ANSWERED = "NOERROR"


def cluster_part(
    cluster_key: str,
    *,
    inventory: inventory_pb2.ClusterInventory | None,
    report: report_pb2.Report | None,
    usage: Iterable[audit_pb2.RangeUsage] = (),
    now: datetime,
) -> ClusterPart:
    """The cluster's ranges (with their forecasts from ``usage``) and per-cluster samples."""
    name = (inventory.name if inventory is not None else "") or (
        report.cluster.name if report is not None else ""
    )
    labels = cluster_label_values(cluster_key, name)
    history = {series.range_key: _points(series) for series in usage}
    ranges = (
        tuple(
            _share(r, history.get(r.range_id, []), now) for r in cluster_ranges(inventory, report)
        )
        if inventory is not None
        else ()
    )
    return ClusterPart(cluster_key, labels, ranges, _cluster_samples(labels, inventory, report))


def _points(series: audit_pb2.RangeUsage) -> list[UsagePoint]:
    return [UsagePoint(p.at.ToDatetime(tzinfo=UTC), p.used) for p in series.points]


def _share(capacity: RangeCapacity, points: Sequence[UsagePoint], now: datetime) -> RangeShare:
    scale = ADDRESSES_PER_NODE_BLOCK if capacity.unit is Unit.NODES else 1
    forecast = forecast_exhaustion(points, capacity.capacity, now=now) if points else None
    return RangeShare(
        kind=str(capacity.kind),
        range_id=capacity.range_id,
        ipam_mode=capacity.ipam_mode,
        capacity=capacity.capacity * scale,
        used=None if capacity.used is None else capacity.used * scale,
        required=None if capacity.required is None else capacity.required * scale,
        exhaustion_seconds=None if forecast is None else forecast.days_to_full * 86_400,
    )


def _cluster_samples(
    labels: tuple[str, str, str],
    inventory: inventory_pb2.ClusterInventory | None,
    report: report_pb2.Report | None,
) -> dict[str, list[Row]]:
    samples: dict[str, list[Row]] = {
        families.CLUSTER_INFO.name: [[*labels, *_info_values(inventory, report), 1]]
    }
    if report is None:
        return samples
    coredns = next(
        (
            w
            for w in report.coredns.deployments
            if w.namespace == NAMESPACE and w.name == COREDNS_DEPLOYMENT
        ),
        None,
    )
    if coredns is not None:
        samples[families.COREDNS_READY.name] = [[*labels, coredns.ready_replicas]]
    probes = report.coredns.probes
    samples[families.DNS_PROBE_FAILURES.name] = [
        [*labels, sum(1 for p in probes if not probe_answered(p))]
    ]
    slowest: dict[str, float] = {}
    for probe in probes:
        if probe_answered(probe):
            slowest[probe.name] = max(slowest.get(probe.name, 0.0), probe.latency_seconds)
    samples[families.DNS_PROBE_DURATION.name] = [
        [*labels, name, seconds] for name, seconds in sorted(slowest.items())
    ]
    gateways = report.gateway_api.gateways
    if gateways:
        states = [programmed_state(g) for g in gateways]
        samples[families.GATEWAYS.name] = [
            [*labels, state, states.count(state)] for state in ("true", "false", "unknown")
        ]
    return samples


def probe_answered(probe: report_pb2.DnsProbe) -> bool:
    """A probe that ran and got NOERROR: anything else (timeout, SERVFAIL, NXDOMAIN) fails."""
    return not probe.error and probe.rcode.upper() == ANSWERED


def programmed_state(gateway: report_pb2.Gateway) -> str:
    """The Gateway's Programmed condition as "true", "false" or "unknown" (missing, Unknown,
    or set for an older generation than the spec's)."""
    for condition in gateway.conditions:
        if condition.type != "Programmed":
            continue
        if condition.observed_generation and condition.observed_generation < gateway.generation:
            return "unknown"
        return {"True": "true", "False": "false"}.get(condition.status, "unknown")
    return "unknown"


def _info_values(
    inventory: inventory_pb2.ClusterInventory | None, report: report_pb2.Report | None
) -> list[str]:
    version = report.cluster.kubernetes_version if report is not None else ""
    if inventory is None:
        return ["", "", "", "", "", "", version]
    profile = inventory.network_profile
    private = inventory.api_server_access.enable_private_cluster
    return [
        profile.network_plugin.lower(),
        profile.network_plugin_mode.lower(),
        profile.network_policy.lower(),
        profile.network_dataplane.lower(),
        "true" if private else "false",
        dns_zone_mode(inventory) if private else "",
        inventory.kubernetes_version or version,
    ]


def dns_zone_mode(inventory: inventory_pb2.ClusterInventory) -> str:
    """A private cluster's privateDNSZone: "system" (also when unset, AKS's default),
    "none", or "custom" for a zone named by its ARM id."""
    zone = inventory.api_server_access.private_dns_zone.strip().lower()
    if zone in {"", "system"}:
        return "system"
    if zone == "none":
        return "none"
    return "custom"
