"""Every metric family the collector exports: name, type, help and label names.

Dashboards and alert rules are written against these names; a family is listed here
once, and the stored snapshots carry only label values and numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FamilyType(StrEnum):
    GAUGE = "gauge"
    COUNTER = "counter"


@dataclass(frozen=True)
class Family:
    name: str
    """The family's name; a counter's samples add ``_total`` to it."""
    type: FamilyType
    help: str
    labels: tuple[str, ...] = ()

    @property
    def sample_name(self) -> str:
        return f"{self.name}_total" if self.type is FamilyType.COUNTER else self.name


CLUSTER_LABELS = ("subscription_id", "resource_group", "cluster")
"""AKS cluster names are unique only within a resource group: per-cluster series carry all
three, so two clusters of one name never share a series."""

RANGE_LABELS = (
    "range_kind",
    "ipam_mode",
    "subscription_id",
    "resource_group",
    "virtual_network",
    "subnet",
    "cluster",
    "range",
)
"""Subnets and VNets carry their own subscription, group, VNet and subnet (cluster="" and
range=""); pod and service CIDRs their cluster's subscription, group and name, and the
CIDR as range."""


def _gauge(name: str, help: str, labels: tuple[str, ...] = ()) -> Family:
    return Family(name, FamilyType.GAUGE, help, labels)


# -- per range (snapshot "ranges") -------------------------------------------------------

RANGE_CAPACITY = _gauge(
    "netaudit_range_capacity_addresses",
    "Usable addresses of the range (subnets: ARM usages limit, 5 reserved per prefix; "
    "VNets: the 65,536 private IP limit; pod CIDRs: a /24 per node, kubenet at most 400).",
    RANGE_LABELS,
)
RANGE_USED = _gauge(
    "netaudit_range_used_addresses",
    "Addresses in use in the range (ARM usages; pod CIDRs: the /24s of the agent's nodes; "
    "service CIDRs: the ClusterIPs in it).",
    RANGE_LABELS,
)
RANGE_REQUIRED = _gauge(
    "netaudit_range_required_addresses",
    "Addresses the range needs at every pool's autoscaler maximum plus upgrade surge, summed "
    "over the clusters sharing it; absent when a pool's maximum is unknown.",
    RANGE_LABELS,
)
RANGE_UTILIZATION = _gauge(
    "netaudit_range_utilization_ratio",
    "Used over usable addresses of the range (0-1).",
    RANGE_LABELS,
)
RANGE_EXHAUSTION = _gauge(
    "netaudit_range_exhaustion_seconds",
    "Seconds from the last scan or refresh until the range is full at its Theil-Sen trend; "
    "absent without a forecast (too few points, or use flat or falling).",
    RANGE_LABELS,
)
RANGE_CLUSTER_INFO = _gauge(
    "netaudit_range_cluster_info",
    "1 for each cluster using the range: joins range series to cluster series.",
    (
        "range_kind",
        "subscription_id",
        "resource_group",
        "virtual_network",
        "subnet",
        "range",
        "cluster_subscription_id",
        "cluster_resource_group",
        "cluster",
    ),
)
RANGES = (
    RANGE_CAPACITY,
    RANGE_USED,
    RANGE_REQUIRED,
    RANGE_UTILIZATION,
    RANGE_EXHAUSTION,
    RANGE_CLUSTER_INFO,
)

# -- per cluster (snapshot "clusters") ---------------------------------------------------

CLUSTER_INFO = _gauge(
    "netaudit_cluster_info",
    "1 per cluster, labelled with its network plugin, mode, policy, dataplane, whether it "
    "is private, its private DNS zone mode and its Kubernetes version.",
    (
        *CLUSTER_LABELS,
        "network_plugin",
        "network_plugin_mode",
        "network_policy",
        "network_dataplane",
        "private_cluster",
        "dns_zone_mode",
        "kubernetes_version",
    ),
)
COREDNS_READY = _gauge(
    "netaudit_coredns_ready_replicas",
    "Ready replicas of Deployment kube-system/coredns in the latest agent report.",
    CLUSTER_LABELS,
)
DNS_PROBE_FAILURES = _gauge(
    "netaudit_dns_probe_failures",
    "DNS probes of the latest agent report that got no NOERROR answer.",
    CLUSTER_LABELS,
)
DNS_PROBE_DURATION = _gauge(
    "netaudit_dns_probe_duration_seconds",
    "Latency of the agent's DNS probe of a configured name (the slowest of its origins) "
    "in the latest report; absent for a probe that got no answer.",
    (*CLUSTER_LABELS, "probe"),
)
GATEWAYS = _gauge(
    "netaudit_gateways",
    "Gateway API Gateways of the cluster by their Programmed condition (true, false, "
    "unknown) in the latest agent report.",
    (*CLUSTER_LABELS, "programmed"),
)
CLUSTERS = (CLUSTER_INFO, COREDNS_READY, DNS_PROBE_FAILURES, DNS_PROBE_DURATION, GATEWAYS)

# -- findings (snapshot "findings", written when a scan finishes) -----------------------

OPEN_FINDINGS = _gauge(
    "netaudit_open_findings",
    "Open compliance findings by rule and severity.",
    ("rule_id", "severity"),
)
CLUSTER_OPEN_FINDINGS = _gauge(
    "netaudit_cluster_open_findings",
    "Open compliance findings of the cluster by severity.",
    (*CLUSTER_LABELS, "severity"),
)
RULE_EVALUATIONS = _gauge(
    "netaudit_rule_evaluations",
    "Clusters on which the last finished scan's evaluation of the rule ended in each "
    "outcome (findings, passed, not_assessed, error): how much was actually judged.",
    ("rule_id", "outcome"),
)
FINDINGS = (OPEN_FINDINGS, CLUSTER_OPEN_FINDINGS, RULE_EVALUATIONS)

STORED: dict[str, tuple[Family, ...]] = {
    "ranges": RANGES,
    "clusters": CLUSTERS,
    "findings": FINDINGS,
}
"""Snapshot kind -> the families it holds; each kind is replaced whole."""

# -- read from the store at scrape time (one row or a tiny aggregate each) --------------

AGENT_LAST_REPORT = _gauge(
    "netaudit_agent_last_report_timestamp_seconds",
    "When the collector last committed a report from the cluster's agent.",
    CLUSTER_LABELS,
)
LAST_SCAN = _gauge("netaudit_last_scan_timestamp_seconds", "When the last finished scan ended.")
SCAN_DURATION = _gauge(
    "netaudit_scan_duration_seconds", "Seconds the last finished scan took, start to end."
)
SCANS = Family(
    "netaudit_scans",
    FamilyType.COUNTER,
    "Scans finished, by status (succeeded, failed).",
    ("status",),
)
ARM_REQUESTS = Family(
    "netaudit_arm_requests",
    FamilyType.COUNTER,
    "HTTP requests the workers sent to Azure Resource Manager (retries included).",
)
ARM_THROTTLED = Family(
    "netaudit_arm_throttled_requests",
    FamilyType.COUNTER,
    "Requests Azure Resource Manager answered with 429 (throttled).",
)
STORED_COUNTERS = (ARM_REQUESTS, ARM_THROTTLED)
"""Fleet-wide totals kept in the store's counters table, by family name."""
STORE_UP = _gauge("netaudit_store_up", "1 when the store could be read for this scrape, else 0.")
STORE_SIZE = _gauge(
    "netaudit_store_size_bytes",
    "Size of the store's database on disk (SQLite: the file and its WAL).",
)
COLLECT_DURATION = _gauge(
    "netaudit_exporter_collect_duration_seconds",
    "Seconds spent reading the store for this scrape.",
)
