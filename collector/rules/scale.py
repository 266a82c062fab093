"""Scale rules (domain.md §5 SCL-*): AKS limits the configuration can exceed, and the Free tier."""

from __future__ import annotations

from collections.abc import Iterator

from netaudit.collector.analysis.ip_capacity import PoolCapacityUnknown, pool_node_count
from netaudit.collector.rules.cni import MAX_PODS_PER_NODE, agent_pool_resource
from netaudit.collector.rules.rule import DataSource, NotAssessed, Rule, Threshold, inventory
from netaudit.collector.rules.settings import RuleSettings
from netaudit.collector.rules.view import ClusterView
from netaudit.v1 import audit_pb2

MAX_NODES_PER_CLUSTER = 5000
"""Nodes across all pools of a cluster with VMSS and a Standard load balancer (A-QUO)."""

MAX_NODES_PER_POOL = 1000
"""Nodes per VMSS node pool (A-QUO; SDK ``count`` 0-1000)."""

MAX_POOLS_PER_CLUSTER = 100
"""Node pools per cluster (A-QUO)."""


def _scale_limits_exceeded(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """Σ N > 5000, any N > 1000, pools > 100 or any maxPods > 250, N being maxCount of an
    autoscaling pool and count otherwise (domain.md §5 SCL-001, §1.10)."""
    pools = view.require_inventory().agent_pools
    total = 0
    unknown: dict[str, str] = {}
    for pool in pools:
        try:
            nodes = pool_node_count(pool)
        except PoolCapacityUnknown as exc:
            unknown[pool.name] = str(exc)
            continue
        total += nodes
        problems = []
        if nodes > MAX_NODES_PER_POOL:
            problems.append(f"can grow to {nodes} nodes (limit {MAX_NODES_PER_POOL} per pool)")
        if pool.max_pods > MAX_PODS_PER_NODE:
            problems.append(f"has maxPods {pool.max_pods} (limit {MAX_PODS_PER_NODE})")
        if problems:
            yield rule.finding(
                view,
                resource=agent_pool_resource(view, pool.name),
                message=f"pool {pool.name} {' and '.join(problems)}",
                evidence={"pool": pool.name, "nodes": nodes, "max_pods": pool.max_pods},
            )
    cluster_problems = []
    if total > MAX_NODES_PER_CLUSTER:
        at_least = "at least " if unknown else ""
        cluster_problems.append(
            f"pools can grow to {at_least}{total} nodes (limit {MAX_NODES_PER_CLUSTER})"
        )
    if len(pools) > MAX_POOLS_PER_CLUSTER:
        cluster_problems.append(f"has {len(pools)} node pools (limit {MAX_POOLS_PER_CLUSTER})")
    if cluster_problems:
        yield rule.finding(
            view,
            resource=view.cluster_key,
            message=f"cluster {view.name}: {'; '.join(cluster_problems)}",
            evidence={"max_nodes": total, "pools": len(pools)},
        )
    if unknown:
        # the findings above stand; these pools' size and the cluster's total stay unjudged
        raise NotAssessed("; ".join(sorted(unknown.values())))


SCL_001 = Rule(
    id="SCL-001",
    title="Scale limits exceeded by config",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="AKS caps a cluster at 5,000 nodes, a pool at 1,000 nodes, a cluster at 100 "
    "pools and a node at 250 pods; an autoscaler maximum or pool layout beyond them fails "
    "when the cluster tries to reach it.",
    remediation="Keep maxCount per pool at or below 1,000 and their sum at or below 5,000 "
    "(az aks nodepool update --update-cluster-autoscaler --max-count ...), consolidate pools "
    "beyond 100, and create pools with --max-pods 250 or less.",
    references=("https://learn.microsoft.com/azure/aks/quotas-skus-regions",),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_scale_limits_exceeded,
)


FREE_TIER = "free"
"""``sku.tier`` is Free when the cluster does not set it (SDK ``ManagedClusterSKUTier``)."""


def _free_tier_too_big(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """sku.tier Free (or unset) ∧ Σ count > ``max_nodes`` (domain.md §5 SCL-002)."""
    inventory_ = view.require_inventory()
    tier = inventory_.sku_tier or "Free"
    if tier.lower() != FREE_TIER:
        return
    limit = rule.threshold("max_nodes", settings)
    nodes = sum(pool.count for pool in inventory_.agent_pools)
    if nodes <= limit:
        return
    yield rule.finding(
        view,
        resource=view.cluster_key,
        message=f"cluster {view.name} runs {nodes} nodes on the Free tier"
        f"{'' if inventory_.sku_tier else ' (sku.tier unset)'}, which is meant for at most "
        f"{limit:g} nodes and has no uptime SLA",
        evidence={
            "tier": inventory_.sku_tier or "(unset, Free)",
            "nodes": nodes,
            "threshold": limit,
        },
    )


SCL_002 = Rule(
    id="SCL-002",
    title="Free tier with >10 nodes",
    severity=audit_pb2.SEVERITY_MEDIUM,
    rationale="The Free tier's control plane is sized for small clusters (recommended up to "
    "10 nodes, 50 mutating / 100 read-only in-flight API requests) and has no financially "
    "backed uptime SLA; larger clusters get throttled API servers.",
    remediation="Move the cluster to the Standard tier: az aks update --tier standard.",
    references=(
        "https://learn.microsoft.com/azure/aks/quotas-skus-regions",
        "https://learn.microsoft.com/azure/aks/free-standard-pricing-tiers",
    ),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_free_tier_too_big,
    thresholds=(
        Threshold(
            "max_nodes",
            10,
            "Nodes (sum of the pools' current count) above which a Free-tier cluster is "
            "flagged: AKS recommends the Free tier for at most 10 nodes.",
        ),
    ),
)
