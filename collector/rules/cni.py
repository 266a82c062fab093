"""CNI and IPAM rules (domain.md §5 CNI-*)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp

from netaudit.collector.analysis import role_grants
from netaudit.collector.analysis.address_ranges import (
    AKS_RESERVED_RANGES,
    NamedRange,
    overlapping,
    parse_networks,
)
from netaudit.collector.analysis.ip_capacity import (
    POD_SUBNET_BATCH,
    SubnetRequirement,
    SubnetRole,
    SubnetUtilisation,
    pool_model,
)
from netaudit.collector.analysis.network_model import STATIC_BLOCK, NetworkModel
from netaudit.collector.rules.rule import (
    DataSource,
    DoesNotApply,
    FleetGroup,
    NotAssessed,
    Rule,
    Threshold,
    inventory,
    report,
)
from netaudit.collector.rules.settings import RuleSettings
from netaudit.collector.rules.view import ClusterView, unknown_pools_reason
from netaudit.v1 import audit_pb2, inventory_pb2, report_pb2


def _node_subnet_too_small(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """networkPlugin=azure, no networkPluginMode, no pool podSubnetID; per vnetSubnetID:
    Σ(N+S)(maxPods+1) + other > usable(prefix) (domain.md §5 CNI-001, §1.3)."""
    if view.require_network_model() is not NetworkModel.AZURE_NODE_SUBNET:
        raise DoesNotApply
    requirements = view.requirements(SubnetRole.NODE)
    for requirement in requirements:
        if requirement.required > requirement.usable:
            yield rule.finding(
                view,
                resource=requirement.subnet_id.lower(),
                message=_too_small_message(requirement),
                evidence=_requirement_evidence(requirement),
            )
    unknown = unknown_pools_reason(requirements)
    if unknown:
        raise NotAssessed(unknown)


def _too_small_message(requirement: SubnetRequirement) -> str:
    terms = ", ".join(f"{t.pool} {t.formula()}" for t in requirement.pool_terms)
    others = "".join(f", {name} {count}" for name, count in requirement.other_consumers.items())
    return (
        f"subnet {_name(requirement.subnet_id)} ({', '.join(requirement.address_prefixes)}) "
        f"offers {requirement.usable} usable IPs but the cluster needs {requirement.required} "
        f"at max scale plus upgrade surge, (nodes+surge)*(maxPods+1): {terms}{others}"
    )


def _requirement_evidence(requirement: SubnetRequirement) -> dict[str, object]:
    evidence: dict[str, object] = {
        "required": requirement.required,
        "usable": requirement.usable,
        "prefix": ",".join(requirement.address_prefixes),
        "shortfall": requirement.shortfall,
    }
    for term in requirement.pool_terms:
        evidence[f"pool.{term.pool}"] = term.formula()
    for name, count in requirement.other_consumers.items():
        evidence[f"other.{name}"] = count
    return evidence


# -- fleet-wide parts: subnets shared by several clusters ----------------------------------

SHARED_NAMES_SHOWN = 10
"""Clusters named in a shared-subnet message; the evidence counts them all."""


def _cluster_name(claim: audit_pb2.FleetClaim) -> str:
    return claim.cluster_name or claim.cluster_key.rsplit("/", 1)[-1]


def _shared_subnet_findings(
    rule: Rule,
    group: FleetGroup,
    *,
    role: str,
    demand: Callable[[audit_pb2.SubnetClaim], int],
    capacity: Callable[[audit_pb2.SubnetClaim], int | None],
    applies: Callable[[audit_pb2.SubnetClaim], bool],
    offered: str,
) -> Iterator[audit_pb2.Finding]:
    """One finding per sharing cluster the rule applies to, when the clusters' summed
    ``demand`` on the subnet exceeds its ``capacity`` (usable or free IPs)."""
    claims = [c for c in group.claims if c.subnet.role == role]
    if len({c.cluster_key for c in claims}) < 2 or not any(applies(c.subnet) for c in claims):
        return
    capacity_ips = next(
        (cap for cap in (capacity(c.subnet) for c in claims) if cap is not None), None
    )
    if capacity_ips is None:
        return
    by_cluster: dict[str, int] = {}
    names: dict[str, str] = {}
    for claim in claims:
        by_cluster[claim.cluster_key] = by_cluster.get(claim.cluster_key, 0) + demand(claim.subnet)
        names[claim.cluster_key] = _cluster_name(claim)
    total = sum(by_cluster.values())
    if total <= capacity_ips:
        return
    ordered = sorted(by_cluster.items(), key=lambda item: (-item[1], names[item[0]]))
    shown = ", ".join(f"{names[key]} {ips}" for key, ips in ordered[:SHARED_NAMES_SHOWN])
    more = len(ordered) - SHARED_NAMES_SHOWN
    for claim in claims:
        if not applies(claim.subnet):
            continue
        evidence: dict[str, object] = {
            "required": total,
            offered: capacity_ips,
            "shortfall": total - capacity_ips,
            "clusters": len(by_cluster),
            "this_cluster": by_cluster[claim.cluster_key],
            "shared_with": ",".join(
                names[key] for key, _ in ordered[:SHARED_NAMES_SHOWN] if key != claim.cluster_key
            ),
        }
        yield rule.finding_for(
            claim.cluster_key,
            resource=group.resource,
            message=f"subnet {_name(group.resource)} is shared by {len(by_cluster)} clusters "
            f"that together need {total} IPs ({shown}{f' and {more} more' if more > 0 else ''}) "
            f"but it has {capacity_ips} {offered} IPs",
            evidence=evidence,
        )


def _claimed_ips(subnet: audit_pb2.SubnetClaim) -> int:
    return sum((p.nodes + p.surge) * p.ips_per_node for p in subnet.pools)


def _claimed_surge_ips(subnet: audit_pb2.SubnetClaim) -> int:
    return sum(p.surge * p.ips_per_node for p in subnet.pools)


def _claimed_batches(subnet: audit_pb2.SubnetClaim) -> int:
    return sum(
        POD_SUBNET_BATCH * (p.nodes + p.surge)
        for p in subnet.pools
        if p.pod_ip_allocation_mode.lower() != STATIC_BLOCK
    )


def _usable_of(subnet: audit_pb2.SubnetClaim) -> int | None:
    return subnet.usable


def _free_of(subnet: audit_pb2.SubnetClaim) -> int | None:
    return subnet.free if subnet.HasField("free") else None


def _shared_node_subnet_too_small(
    rule: Rule, group: FleetGroup, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """CNI-001 over the clusters sharing a node subnet: Σ_clusters Σ(N+S)·IPs per node >
    usable, for the sharers in Azure CNI node-subnet mode."""
    return _shared_subnet_findings(
        rule,
        group,
        role="node",
        demand=_claimed_ips,
        capacity=_usable_of,
        applies=lambda subnet: subnet.network_model == NetworkModel.AZURE_NODE_SUBNET,
        offered="usable",
    )


CNI_001 = Rule(
    id="CNI-001",
    title="Node subnet too small for max scale + surge (Azure CNI node-subnet)",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="With Azure CNI in node-subnet mode every node reserves maxPods + 1 IPs of its "
    "subnet up front; when the autoscaler's maximum plus upgrade surge does not fit, scaling "
    "and upgrades fail with InsufficientSubnetSize or SubnetIsFull.",
    remediation="Add a node pool on a larger subnet and drain the old one (a pool's subnet "
    "cannot be changed), lower maxCount, maxSurge or maxPods of new pools, or migrate to Azure "
    "CNI Overlay, whose nodes take one subnet IP each.",
    references=(
        "https://learn.microsoft.com/azure/aks/concepts-network-ip-address-planning",
        "https://learn.microsoft.com/azure/aks/upgrade-capacity-cost-planning",
        "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/connectivity/"
        "insufficientsubnetsize-error-advanced-networking",
    ),
    data_source=DataSource.ARM,
    reads=(
        inventory("cluster"),
        inventory("subnets"),
        # internal load-balancer frontends also take node-subnet IPs (A-IPP)
        report("services", optional=True),
    ),
    check=_node_subnet_too_small,
    fleet=("subnet", _shared_node_subnet_too_small),
)


def _utilisation_high(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """currentValue/limit of VirtualNetworks.list_usage for every node/pod subnet of the
    cluster: the base severity at >= ``high``, one level lower at >= ``medium`` (CNI-002)."""
    high = rule.threshold("high", settings)
    medium = rule.threshold("medium", settings)
    for usage in view.utilisation:
        if usage.ratio >= high:
            severity, threshold = rule.severity, high
        elif usage.ratio >= medium:
            severity, threshold = rule.graded(-1), medium
        else:
            continue
        yield rule.finding(
            view,
            resource=usage.subnet_id.lower(),
            severity=severity,
            message=f"{usage.role} subnet {_name(usage.subnet_id)} uses {usage.used} of "
            f"{usage.limit} IPs ({usage.ratio:.1%}), at or above {threshold:.0%}",
            evidence={
                "used": usage.used,
                "limit": usage.limit,
                "ratio": round(usage.ratio, 3),
                "threshold": threshold,
                "role": usage.role,
            },
        )


CNI_002 = Rule(
    id="CNI-002",
    title="Subnet IP utilisation high",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="A node or pod subnet close to full blocks the next scale-out, upgrade surge "
    "or pod IP batch; ARM's usage counters show it before the cluster fails.",
    remediation="Free or add addresses before the subnet fills: add a pool on a new, larger "
    "subnet, lower maxCount, or move to Azure CNI Overlay; pod subnets can be replaced by a "
    "bigger one for new pools.",
    references=(
        "https://learn.microsoft.com/rest/api/virtualnetwork/virtual-networks/list-usage",
        "https://learn.microsoft.com/azure/aks/concepts-network-ip-address-planning",
    ),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"), inventory("virtual_networks")),
    check=_utilisation_high,
    thresholds=(
        Threshold(
            "high",
            0.9,
            "Utilisation ratio (0..1) at or above which the finding has "
            "the base severity: at 90% one scale-out or surge can fill the subnet.",
        ),
        Threshold(
            "medium",
            0.8,
            "Utilisation ratio (0..1) at or above which the finding is "
            "one level below the base: 80% leaves time to plan a bigger subnet.",
        ),
    ),
)


def _name(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


def _usage_by_subnet(view: ClusterView) -> dict[str, SubnetUtilisation]:
    """ARM's usage row of each node/pod subnet of the cluster, by lower-cased subnet id."""
    return {usage.subnet_id.lower(): usage for usage in view.utilisation}


def _free(usage: SubnetUtilisation) -> int:
    """IPs still free in a subnet: ``limit - currentValue`` of its usage row (SDK-NET)."""
    return usage.limit - usage.used


def _not_judged(requirements: list[SubnetRequirement], no_usage: list[str]) -> str | None:
    """Why part of the cluster could not be judged: unknown pools, subnets without usage."""
    reasons = []
    unknown = unknown_pools_reason(requirements)
    if unknown:
        reasons.append(unknown)
    if no_usage:
        reasons.append(
            "Azure Resource Manager returned no usage (currentValue/limit) for subnet "
            + ", ".join(sorted(no_usage))
        )
    return "; ".join(reasons) or None


def _upgrade_headroom(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """free(subnet) < Σ S·(IPs per node) of the cluster's pools on it (domain.md §5 CNI-003,
    §1.4): maxPods+1 per surge node in a legacy node subnet, 1 in the node subnet of the
    other models, and a pod subnet's batch or blocks for a surge node's pods."""
    view.require_network_model()
    usages = _usage_by_subnet(view)
    requirements: list[SubnetRequirement] = []
    no_usage: list[str] = []
    for role in (SubnetRole.NODE, SubnetRole.POD):
        for requirement in view.requirements(role):
            requirements.append(requirement)
            if requirement.surge_ips == 0:
                continue
            usage = usages.get(requirement.subnet_id.lower())
            if usage is None:
                no_usage.append(_name(requirement.subnet_id))
                continue
            free = _free(usage)
            if free < requirement.surge_ips:
                yield _headroom_finding(rule, view, requirement, usage, free)
    reason = _not_judged(requirements, no_usage)
    if reason:
        raise NotAssessed(reason)


def _headroom_finding(
    rule: Rule,
    view: ClusterView,
    requirement: SubnetRequirement,
    usage: SubnetUtilisation,
    free: int,
) -> audit_pb2.Finding:
    surging = [t for t in requirement.pool_terms if t.surge]
    terms = ", ".join(f"{t.pool} {t.surge}*{t.ips_per_node}" for t in surging)
    evidence: dict[str, object] = {
        "role": requirement.role,
        "free": free,
        "used": usage.used,
        "limit": usage.limit,
        "surge_ips": requirement.surge_ips,
        "surge_nodes": sum(t.surge for t in surging),
    }
    for term in surging:
        evidence[f"pool.{term.pool}"] = (
            f"{term.surge}*{term.ips_per_node}={term.surge * term.ips_per_node}"
        )
    return rule.finding(
        view,
        resource=requirement.subnet_id.lower(),
        message=f"{requirement.role} subnet {_name(requirement.subnet_id)} has {free} free IPs "
        f"({usage.used} of {usage.limit} in use) but an upgrade's surge nodes need "
        f"{requirement.surge_ips}, surge*(IPs per node): {terms}",
        evidence=evidence,
    )


def _shared_upgrade_headroom(
    rule: Rule, group: FleetGroup, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """CNI-003 over the clusters sharing a subnet: free < Σ_clusters Σ S·IPs per node."""
    for role in ("node", "pod"):
        yield from _shared_subnet_findings(
            rule,
            group,
            role=role,
            demand=_claimed_surge_ips,
            capacity=_free_of,
            applies=lambda subnet: True,
            offered="free",
        )


CNI_003 = Rule(
    id="CNI-003",
    title="Upgrade headroom insufficient",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="An upgrade first adds maxSurge nodes to each pool, and each takes its IPs "
    "(maxPods + 1 in a legacy Azure CNI node subnet, one elsewhere, plus its pod-subnet "
    "batch or blocks) before an old node is removed; without that many free IPs the upgrade "
    "fails with SubnetIsFull or InsufficientSubnetSize.",
    remediation="Free IPs in the subnet, or lower the surge for the upgrade (az aks nodepool "
    "update --max-surge 1, or --max-surge 0 --max-unavailable 1 to upgrade in place without "
    "surge IPs); longer term add a pool on a bigger subnet or move to Azure CNI Overlay.",
    references=(
        "https://learn.microsoft.com/azure/aks/upgrade-capacity-cost-planning",
        "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/connectivity/"
        "insufficientsubnetsize-error-advanced-networking",
        "https://learn.microsoft.com/troubleshoot/azure/azure-kubernetes/create-upgrade-delete/"
        "error-code-subnetisfull-upgrade",
    ),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"), inventory("subnets"), inventory("virtual_networks")),
    check=_upgrade_headroom,
    fleet=("subnet", _shared_upgrade_headroom),
)


def _legacy_node_subnet(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """networkPlugin=azure without networkPluginMode and without any pool podSubnetID
    (domain.md §5 CNI-004; the model of network_model.model_from_inventory)."""
    if view.require_network_model() is not NetworkModel.AZURE_NODE_SUBNET:
        return
    yield rule.finding(
        view,
        resource=view.cluster_key,
        message=f"cluster {view.name} uses Azure CNI in node-subnet mode, where every node "
        "reserves maxPods + 1 subnet IPs up front",
        evidence={
            "network_model": NetworkModel.AZURE_NODE_SUBNET,
            "model_from": view.network.source,
            "signals": "; ".join(view.network.evidence),
        },
    )


CNI_004 = Rule(
    id="CNI-004",
    title="Legacy node-subnet IPAM in use",
    severity=audit_pb2.SEVERITY_LOW,
    rationale="Azure CNI node-subnet mode gives pods VNet IPs reserved per node, which 'often "
    "leads to IP address exhaustion'; Azure CNI Overlay or Pod Subnet are the recommended "
    "models.",
    remediation="Migrate to Azure CNI Overlay: az aks update --network-plugin-mode overlay "
    "--pod-cidr <range outside the VNet>; or use a pod subnet for new pools.",
    references=(
        "https://learn.microsoft.com/azure/aks/concepts-network-legacy-cni",
        "https://learn.microsoft.com/azure/aks/update-azure-cni",
    ),
    data_source=DataSource.ARM,
    # ARM names the plugin; without an inventory the agent's node evidence does (incluster.md §5)
    reads=(inventory("cluster", either=True), report("nodes", either=True)),
    check=_legacy_node_subnet,
)


MAX_PODS_PER_NODE = 250
"""The most pods a node may run, any network model (A-QUO, domain.md §1.2)."""


def agent_pool_resource(view: ClusterView, pool: str) -> str:
    """A pool's stable resource id: the cluster's lower-cased ARM id + ``/agentpools/<name>``."""
    return f"{view.cluster_key}/agentpools/{pool.lower()}"


def _without_max_pods(pools: list[str]) -> NotAssessed:
    return NotAssessed(f"Azure Resource Manager gave no maxPods for pool {', '.join(pools)}")


def _max_pods_too_low(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """Any pool with maxPods below ``min_max_pods`` (domain.md §5 CNI-005)."""
    minimum = rule.threshold("min_max_pods", settings)
    unknown = []
    for pool in view.require_inventory().agent_pools:
        if pool.max_pods <= 0:
            unknown.append(pool.name)
        elif pool.max_pods < minimum:
            yield rule.finding(
                view,
                resource=agent_pool_resource(view, pool.name),
                message=f"pool {pool.name} runs at most {pool.max_pods} pods per node, below "
                f"{minimum:g}: DaemonSets and system pods leave little room for workloads, "
                "and maxPods cannot be raised on an existing pool",
                evidence={"pool": pool.name, "max_pods": pool.max_pods, "threshold": minimum},
            )
    if unknown:
        raise _without_max_pods(unknown)


CNI_005 = Rule(
    id="CNI-005",
    title="maxPods too low for DaemonSet overhead",
    severity=audit_pb2.SEVERITY_MEDIUM,
    rationale="Every node runs the AKS DaemonSets (CNI, kube-proxy, CSI, monitoring) before "
    "any workload; with few pods per node the pool needs many nodes for the same work, and "
    "maxPods 10 is only allowed with room for 30 pods per pool (PSRule Azure.AKS.NodeMinPods "
    "asks for 50).",
    remediation="maxPods is fixed when a pool is created: add a pool with a higher --max-pods "
    "(az aks nodepool add --max-pods 50 or more, within the subnet's capacity) and delete the "
    "old one.",
    references=(
        "https://learn.microsoft.com/azure/aks/concepts-network-ip-address-planning",
        "https://azure.github.io/PSRule.Rules.Azure/en/rules/Azure.AKS.NodeMinPods/",
    ),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_max_pods_too_low,
    thresholds=(
        Threshold(
            "min_max_pods",
            30,
            "Pools with maxPods below this (pods per node) are flagged: 30 is the legacy "
            "Azure CNI default, the least AKS sets itself.",
        ),
    ),
)


SUBNET_FULL = "NCUpdateSubnetFullError"
"""NodeNetworkConfig network container status when DNC found the pod subnet full (ACN-NNC)."""

NNC_RESOURCE = "nodenetworkconfigs.acn.azure.com/v1alpha"
"""The agent's gap resource for NodeNetworkConfigs: not served means none (no pod subnet)."""


EXHAUSTED = 1
"""cx_ipam_subnet_exhaustion_state when azure-cns considers the subnet exhausted (ACN-MET)."""
CNS_METRICS = report("azure_cns_metrics", optional=True)
"""azure-cns's :10092/metrics, per node: a node that could not be scraped may be the one
that sees its subnet exhausted."""


@dataclass
class _ExhaustedSubnet:
    name: str
    cidr: str
    arm_id: str = ""
    nnc_nodes: dict[str, report_pb2.Node] = field(default_factory=dict)
    cns_nodes: set[str] = field(default_factory=set)

    @property
    def resource(self) -> str:
        return _nc_subnet_resource(self.arm_id or self.name, self.name, self.cidr)


def _exhausted_subnets(agent: report_pb2.Report) -> list[_ExhaustedSubnet]:
    """Subnets that a NodeNetworkConfig marks NCUpdateSubnetFullError or a node's azure-cns
    reports exhausted, with the nodes that say so; one entry per subnet name and CIDR, so
    both signals about one subnet make one finding."""
    subnets: dict[tuple[str, str], _ExhaustedSubnet] = {}

    def entry(name: str, arm_id: str, cidr: str) -> _ExhaustedSubnet:
        name = name or arm_id.rstrip("/").rsplit("/", 1)[-1]
        found = subnets.setdefault((name.lower(), cidr), _ExhaustedSubnet(name, cidr))
        found.arm_id = found.arm_id or arm_id
        return found

    for node in agent.nodes:
        for container in node.node_network_config.network_containers:
            if container.status == SUBNET_FULL:
                subnet = entry(
                    container.subnet_name, container.subnet_id, container.subnet_address_space
                )
                subnet.nnc_nodes[node.name] = node
    for metrics in agent.cni.cns_metrics:
        for state in metrics.subnets:
            if state.exhaustion_state == EXHAUSTED:
                entry(state.subnet, state.podnet_arm_id, state.subnet_cidr).cns_nodes.add(
                    metrics.node
                )
    return sorted(subnets.values(), key=lambda subnet: subnet.resource)


def _pod_subnet_exhausted(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """Any NodeNetworkConfig network container with status NCUpdateSubnetFullError, or any
    node's azure-cns with cx_ipam_subnet_exhaustion_state == 1 (domain.md §5 CNI-006,
    ACN-NNC, ACN-MET); one finding per pod subnet, naming its nodes."""
    for subnet in _exhausted_subnets(view.require_report()):
        nodes = sorted({*subnet.nnc_nodes, *subnet.cns_nodes})
        signals = []
        evidence: dict[str, object] = {}
        if subnet.nnc_nodes:
            nnc = [node.node_network_config for node in subnet.nnc_nodes.values()]
            signals.append(
                f"the NodeNetworkConfig of {len(subnet.nnc_nodes)} node(s) reports {SUBNET_FULL}"
            )
            evidence["status"] = SUBNET_FULL
            evidence["requested_ips"] = sum(c.requested_ip_count for c in nnc)
            evidence["assigned_ips"] = sum(c.assigned_ip_count for c in nnc)
        if subnet.cns_nodes:
            signals.append(
                f"azure-cns on {len(subnet.cns_nodes)} node(s) reports "
                "cx_ipam_subnet_exhaustion_state 1"
            )
            evidence["cx_ipam_exhausted_nodes"] = ",".join(sorted(subnet.cns_nodes))
        evidence.update(
            subnet=subnet.name,
            subnet_cidr=subnet.cidr,
            nodes=len(nodes),
            node_names=",".join(nodes),
        )
        yield rule.finding(
            view,
            resource=subnet.resource,
            message=f"pod subnet {subnet.name} ({subnet.cidr or 'CIDR not reported'}) is full: "
            f"{' and '.join(signals)} ({', '.join(nodes)}), so they get no more pod IPs",
            evidence=evidence,
        )


def _nc_subnet_resource(subnet: str, name: str, cidr: str) -> str:
    """The subnet's lower-cased ARM id when the NC carries one, else its name and CIDR."""
    if subnet.lower().startswith("/subscriptions/"):
        return subnet.lower()
    return f"subnet {name} {cidr}".strip()


CNI_006 = Rule(
    id="CNI-006",
    title="Pod subnet exhausted (dynamic/static)",
    severity=audit_pb2.SEVERITY_CRITICAL,
    rationale="When the pod subnet has no IP (or /28 block) left, the network controller "
    "marks the node's NodeNetworkConfig NCUpdateSubnetFullError and new pods on it fail to "
    "start; azure-cns reports it as cx_ipam_subnet_exhaustion_state 1.",
    remediation="Add pod-subnet capacity: create pools on a new, larger pod subnet "
    "(az aks nodepool add --pod-subnet-id), lower maxCount or maxPods of the pools sharing "
    "it, or delete unused pods; check with kubectl -n kube-system get nnc -o wide.",
    references=(
        "https://learn.microsoft.com/azure/aks/configure-azure-cni-dynamic-ip-allocation",
        "https://github.com/Azure/azure-container-networking/blob/master/crd/nodenetworkconfig/"
        "api/v1alpha/nodenetworkconfig.go",
    ),
    data_source=DataSource.AGENT,
    reads=(
        report("nodes", "nodes/v1"),
        report("nodes", NNC_RESOURCE, not_served_means_none=True),
        CNS_METRICS,
    ),
    check=_pod_subnet_exhausted,
)


IP_SHORTFALL_LASTS = timedelta(minutes=10)
"""How long requested IPs must exceed assigned ones to be a finding (domain.md §5 CNI-007);
the scan also fetches the newest report committed at least this long before the latest."""
MAX_NODES_NAMED = 10
"""Nodes named in a CNI-007 finding; the rest are counted."""


@dataclass(frozen=True)
class _Observation:
    """One node's requested and fulfilled pod IPs as one signal saw them, and when."""

    requested: int
    fulfilled: int
    at: datetime

    @property
    def short(self) -> bool:
        return self.requested > self.fulfilled


def _nnc_observation(nnc: report_pb2.NodeNetworkConfig, gathered_at: Timestamp) -> _Observation:
    """spec.requestedIPCount against status.assignedIPCount, when the agent read them (its
    report's time for agents predating observed_at)."""
    stamp = nnc.observed_at if nnc.HasField("observed_at") else gathered_at
    return _Observation(nnc.requested_ip_count, nnc.assigned_ip_count, stamp.ToDatetime(tzinfo=UTC))


def _cns_observation(
    metrics: report_pb2.CnsNodeMetrics, gathered_at: Timestamp
) -> _Observation | None:
    """cx_ipam_requested_ips against cx_ipam_total_ips, when both were exported."""
    if not (metrics.HasField("requested_ips") and metrics.HasField("total_ips")):
        return None
    stamp = metrics.scraped_at if metrics.HasField("scraped_at") else gathered_at
    return _Observation(metrics.requested_ips, metrics.total_ips, stamp.ToDatetime(tzinfo=UTC))


def _present(
    observations: Iterable[tuple[str, _Observation | None]],
) -> dict[str, _Observation]:
    return {node: seen for node, seen in observations if seen is not None}


NNC_SIGNAL, CNS_SIGNAL = "NodeNetworkConfig", "cx_ipam"


def _signals(facts: audit_pb2.ClusterFacts) -> dict[str, tuple[dict[str, _Observation], ...]]:
    """Per signal: (nodes now, the same nodes in the earlier report)."""
    latest, earlier = facts.report, facts.earlier_node_network_configs
    return {
        NNC_SIGNAL: (
            _present(
                (n.name, _nnc_observation(n.node_network_config, latest.gathered_at))
                for n in latest.nodes
                if n.HasField("node_network_config")
            ),
            _present(
                (name, _nnc_observation(nnc, earlier.report_gathered_at))
                for name, nnc in earlier.by_node.items()
            ),
        ),
        CNS_SIGNAL: (
            _present(
                (m.node, _cns_observation(m, latest.gathered_at)) for m in latest.cni.cns_metrics
            ),
            _present(
                (name, _cns_observation(m, earlier.report_gathered_at))
                for name, m in earlier.cns_by_node.items()
            ),
        ),
    }


def _require_lasting(facts: audit_pb2.ClusterFacts) -> None:
    """NotAssessed unless the collector received the two reports at least
    IP_SHORTFALL_LASTS apart: its own receive times decide, not the agent's clock."""
    earlier = facts.earlier_node_network_configs
    if not (facts.HasField("report_received_at") and earlier.HasField("report_received_at")):
        raise NotAssessed("the receive times of the two reports are not known")
    apart = facts.report_received_at.ToDatetime() - earlier.report_received_at.ToDatetime()
    if apart < IP_SHORTFALL_LASTS:
        raise NotAssessed(
            f"the shortfall was seen in two reports received {int(apart.total_seconds() // 60)} "
            f"minutes apart, fewer than {IP_SHORTFALL_LASTS.seconds // 60}: not shown to last"
        )


def _ip_requests_not_fulfilled(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """A node requesting more pod IPs than it holds, by either signal (NodeNetworkConfig
    spec.requestedIPCount > status.assignedIPCount, or azure-cns cx_ipam_requested_ips >
    cx_ipam_total_ips), in the latest report and in an earlier one received at least 10
    minutes before (domain.md §5 CNI-007). Two observations, not every one between: a
    shortfall that cleared and came back in between still counts. No shortfall now passes on
    one observation; a shortfall now with no earlier observation of the node, or with
    observations received closer than 10 minutes, is not assessed (it may be transient)."""
    view.require_report()
    signals = _signals(view.facts)
    short_now = {
        signal: {name: seen for name, seen in now.items() if seen.short}
        for signal, (now, _) in signals.items()
    }
    if not any(short_now.values()):
        return
    lasting: dict[str, dict[str, tuple[_Observation, _Observation]]] = {}
    observed_before = False
    for signal, nodes in short_now.items():
        before = signals[signal][1]
        observed_before |= any(name in before for name in nodes)
        lasting[signal] = {
            name: (before[name], seen)
            for name, seen in nodes.items()
            if name in before and before[name].short
        }
    if not observed_before:
        short = len({name for nodes in short_now.values() for name in nodes})
        raise NotAssessed(
            f"{short} node(s) request more IPs than they are assigned now, but no "
            f"report at least {IP_SHORTFALL_LASTS.seconds // 60} minutes older observed them: "
            "it may be transient"
        )
    if not any(lasting.values()):
        return
    _require_lasting(view.facts)
    yield _shortfall_finding(rule, view, lasting)


def _shortfall_finding(
    rule: Rule,
    view: ClusterView,
    lasting: dict[str, dict[str, tuple[_Observation, _Observation]]],
) -> audit_pb2.Finding:
    names = sorted({name for nodes in lasting.values() for name in nodes})
    pairs = [pair for nodes in lasting.values() for pair in nodes.values()]
    since = min(before.at for before, _ in pairs)
    latest = max(now.at for _, now in pairs)
    minutes = int((latest - since).total_seconds() // 60)
    shown = ", ".join(names[:MAX_NODES_NAMED]) + (" …" if len(names) > MAX_NODES_NAMED else "")
    evidence: dict[str, object] = {
        "nodes": len(names),
        "node_names": ",".join(names[:MAX_NODES_NAMED]),
    }
    said = []
    nnc = [now for _, now in lasting[NNC_SIGNAL].values()]
    if nnc:
        evidence["requested_ips"] = sum(seen.requested for seen in nnc)
        evidence["assigned_ips"] = sum(seen.fulfilled for seen in nnc)
        said.append(
            f"NodeNetworkConfig {evidence['requested_ips']} requested, "
            f"{evidence['assigned_ips']} assigned"
        )
    cns = [now for _, now in lasting[CNS_SIGNAL].values()]
    if cns:
        evidence["cx_ipam_requested_ips"] = sum(seen.requested for seen in cns)
        evidence["cx_ipam_total_ips"] = sum(seen.fulfilled for seen in cns)
        evidence["cx_ipam_node_names"] = ",".join(sorted(lasting[CNS_SIGNAL])[:MAX_NODES_NAMED])
        said.append(
            f"azure-cns {evidence['cx_ipam_requested_ips']} requested, "
            f"{evidence['cx_ipam_total_ips']} in the pool"
        )
    evidence["first_observed_short"] = since.isoformat()
    evidence["last_observed_short"] = latest.isoformat()
    return rule.finding(
        view,
        resource=view.cluster_key,
        message=f"{len(names)} node(s) of cluster {view.name} have requested more pod IPs than "
        f"they were assigned for at least {minutes} minutes ({shown}): {'; '.join(said)}",
        evidence=evidence,
    )


CNI_007 = Rule(
    id="CNI-007",
    title="IP requests not fulfilled",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale=(
        "A node whose requested pod IPs stay above the assigned ones for minutes cannot start"
        " new pods; azure-cns guidance is to alert when requested and total IPs do not "
        "converge. Judged from two reports at least 10 minutes apart, by the NodeNetworkConfigs "
        "(requestedIPCount, assignedIPCount) and by azure-cns's cx_ipam_requested_ips and "
        "cx_ipam_total_ips."
    ),
    remediation=(
        "Check the NodeNetworkConfig status and the azure-cns logs on the node (kubectl -n "
        "kube-system get nnc -o wide); free or enlarge the pod subnet if the error is "
        "SubnetFull."
    ),
    references=(
        "https://learn.microsoft.com/azure/aks/configure-azure-cni-dynamic-ip-allocation",
        "https://github.com/Azure/azure-container-networking/blob/master/cns/doc/examples/metrics/README.md",
    ),
    data_source=DataSource.AGENT,
    reads=(
        report("nodes", "nodes/v1"),
        report("nodes", NNC_RESOURCE, not_served_means_none=True),
        CNS_METRICS,
    ),
    check=_ip_requests_not_fulfilled,
)


def _pod_subnet_headroom(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """Pod subnets of pools not in StaticBlock mode: free(podSubnet) < 16·Σ(N+S) of those
    pools (domain.md §5 CNI-008, §1.5); each pool sized by its own mode (pool_model)."""
    model = view.require_network_model()
    pools = {pool.name: pool for pool in view.require_inventory().agent_pools}
    dynamic = {
        name
        for name, pool in pools.items()
        if pool_model(pool, model) is NetworkModel.AZURE_POD_SUBNET_DYNAMIC
    }
    usages = _usage_by_subnet(view)
    judged: list[SubnetRequirement] = []
    no_usage: list[str] = []
    for requirement in view.requirements(SubnetRole.POD):
        terms = [t for t in requirement.pool_terms if t.pool in dynamic]
        unknown = {p: why for p, why in requirement.unknown_pools.items() if p in dynamic}
        if not terms and not unknown:
            continue
        judged.append(replace(requirement, pool_terms=tuple(terms), unknown_pools=unknown))
        if not terms:
            continue
        usage = usages.get(requirement.subnet_id.lower())
        if usage is None:
            no_usage.append(_name(requirement.subnet_id))
            continue
        nodes = sum(t.nodes + t.surge for t in terms)
        needed = POD_SUBNET_BATCH * nodes
        free = _free(usage)
        if free < needed:
            evidence: dict[str, object] = {
                "free": free,
                "used": usage.used,
                "limit": usage.limit,
                "needed": needed,
                "nodes_with_surge": nodes,
            }
            for term in terms:
                evidence[f"pool.{term.pool}"] = (
                    f"({term.nodes}+{term.surge})*{POD_SUBNET_BATCH}"
                    f"={(term.nodes + term.surge) * POD_SUBNET_BATCH}"
                )
            yield rule.finding(
                view,
                resource=requirement.subnet_id.lower(),
                message=f"pod subnet {_name(requirement.subnet_id)} has {free} free IPs but "
                f"its dynamic-allocation pools need at least {needed}, "
                f"{POD_SUBNET_BATCH} per node at max scale plus surge ({nodes} nodes)",
                evidence=evidence,
            )
    reason = _not_judged(judged, no_usage)
    if reason:
        raise NotAssessed(reason)


def _shared_pod_subnet_headroom(
    rule: Rule, group: FleetGroup, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """CNI-008 over the clusters sharing a pod subnet: free < 16·Σ_clusters Σ(N+S) of the
    pools not in static block mode."""
    return _shared_subnet_findings(
        rule,
        group,
        role="pod",
        demand=_claimed_batches,
        capacity=_free_of,
        applies=lambda subnet: any(
            p.pod_ip_allocation_mode.lower() != STATIC_BLOCK for p in subnet.pools
        ),
        offered="free",
    )


CNI_008 = Rule(
    id="CNI-008",
    title="Pod subnet below 16 IPs/node headroom",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="With dynamic pod IP allocation a node takes 16 pod-subnet IPs at start and "
    "another 16 whenever fewer than 8 are unallocated; a pod subnet without 16 free IPs per "
    "node at max scale plus surge stops new nodes from getting pod IPs.",
    remediation="Give the pools more pod-subnet space: add pools on a new, larger pod subnet "
    "(az aks nodepool add --pod-subnet-id), or lower maxCount of the pools sharing it.",
    references=(
        "https://learn.microsoft.com/azure/aks/configure-azure-cni-dynamic-ip-allocation",
        "https://learn.microsoft.com/azure/aks/concepts-network-azure-cni-pod-subnet",
    ),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"), inventory("subnets"), inventory("virtual_networks")),
    check=_pod_subnet_headroom,
    fleet=("subnet", _shared_pod_subnet_headroom),
)


def _static_block_waste(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """podIPAllocationMode=StaticBlock ∧ (maxPods+1) % 16 != 0 (domain.md §5 CNI-009, §1.6)."""
    unknown = []
    for pool in view.require_inventory().agent_pools:
        if pool.pod_ip_allocation_mode.lower() != STATIC_BLOCK:
            continue
        if pool.max_pods <= 0:
            unknown.append(pool.name)
            continue
        per_node = pool.max_pods + 1
        if per_node % POD_SUBNET_BATCH == 0:
            continue
        blocks = math.ceil(per_node / POD_SUBNET_BATCH)
        wasted = blocks * POD_SUBNET_BATCH - per_node
        ideal = _ideal_static_block_max_pods(blocks)
        yield rule.finding(
            view,
            resource=agent_pool_resource(view, pool.name),
            message=f"static-block pool {pool.name} has maxPods {pool.max_pods}: each node "
            f"takes {blocks} /28 blocks and leaves {wasted} of their IPs unused; maxPods "
            f"{ideal} (16N - 1) wastes none",
            evidence={
                "pool": pool.name,
                "max_pods": pool.max_pods,
                "blocks_per_node": blocks,
                "wasted_ips_per_node": wasted,
                "ideal_max_pods": ideal,
            },
        )
    if unknown:
        raise _without_max_pods(unknown)


def _ideal_static_block_max_pods(blocks: int) -> int:
    """16N - 1 for the node's N blocks, or one block fewer when that passes the 250 limit."""
    ideal = blocks * POD_SUBNET_BATCH - 1
    return ideal if ideal <= MAX_PODS_PER_NODE else ideal - POD_SUBNET_BATCH


CNI_009 = Rule(
    id="CNI-009",
    title="StaticBlock maxPods wastes IPs",
    severity=audit_pb2.SEVERITY_LOW,
    rationale="Static block allocation gives each node whole /28 blocks (16 IPs) for maxPods "
    "+ 1 addresses; unless maxPods is 16N - 1 the last block is partly unused on every node "
    "(maxPods 30 wastes 1 IP per node, 32 wastes 15).",
    remediation="Create new static-block pools with maxPods = 16N - 1 (15, 31, 47, ..., 239) "
    "and move the workloads; maxPods cannot be changed on an existing pool.",
    references=("https://learn.microsoft.com/azure/aks/concepts-network-azure-cni-pod-subnet",),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_static_block_waste,
)


DEFAULT_ALLOCATION_MODE = "DynamicIndividual"
"""``podIPAllocationMode`` when a pool does not set it (SDK ``PodIPAllocationMode``)."""


def _mixed_allocation_modes(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """Pools of this cluster on the same podSubnetID with different podIPAllocationMode
    (domain.md §5 CNI-010, §1.6); the fleet-wide step compares other clusters' pools."""
    by_subnet: dict[str, dict[str, list[str]]] = {}
    for pool in view.require_inventory().agent_pools:
        if not pool.pod_subnet_id:
            continue
        mode = pool.pod_ip_allocation_mode or DEFAULT_ALLOCATION_MODE
        modes = by_subnet.setdefault(pool.pod_subnet_id.lower(), {})
        # ARM is inconsistent about case: group by the mode lower-cased, keep its first spelling
        spelled = next((m for m in modes if m.lower() == mode.lower()), mode)
        modes.setdefault(spelled, []).append(pool.name)
    for subnet_id, modes in sorted(by_subnet.items()):
        if len(modes) < 2:
            continue
        described = "; ".join(f"{mode}: {', '.join(pools)}" for mode, pools in modes.items())
        evidence: dict[str, object] = {"modes": ",".join(modes)}
        for mode, pools in modes.items():
            evidence[f"pools.{mode}"] = ",".join(pools)
        yield rule.finding(
            view,
            resource=subnet_id,
            message=f"pod subnet {_name(subnet_id)} is used by pools with different pod IP "
            f"allocation modes ({described}); a subnet supports one mode",
            evidence=evidence,
        )


def _shared_mixed_allocation_modes(
    rule: Rule, group: FleetGroup, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """CNI-010 over the clusters sharing a pod subnet: pools of any of them with different
    podIPAllocationMode (A-PSN: one mode per subnet)."""
    claims = [c for c in group.claims if c.subnet.role == "pod"]
    if len({c.cluster_key for c in claims}) < 2:
        return
    modes: dict[str, list[str]] = {}
    for claim in claims:
        for pool in claim.subnet.pools:
            mode = (pool.pod_ip_allocation_mode or DEFAULT_ALLOCATION_MODE).lower()
            modes.setdefault(mode, []).append(f"{_cluster_name(claim)}/{pool.pool}")
    if len(modes) < 2:
        return
    described = "; ".join(
        f"{mode}: {', '.join(sorted(pools)[:SHARED_NAMES_SHOWN])}"
        for mode, pools in sorted(modes.items())
    )
    for key in sorted({c.cluster_key for c in claims}):
        yield rule.finding_for(
            key,
            resource=group.resource,
            message=f"pod subnet {_name(group.resource)} is shared by clusters whose pools use "
            f"different pod IP allocation modes ({described}); a subnet supports one mode",
            evidence={
                "modes": ",".join(sorted(modes)),
                "clusters": len({c.cluster_key for c in claims}),
                **{f"pools.{mode}": len(pools) for mode, pools in sorted(modes.items())},
            },
        )


CNI_010 = Rule(
    id="CNI-010",
    title="Mixed allocation modes on one pod subnet",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="A pod subnet serves either dynamic (DynamicIndividual) or static block "
    "allocation, never both; pools of different modes on one subnet fail to get pod IPs.",
    remediation="Give each allocation mode its own pod subnet: add the pools of one mode on a "
    "new subnet (az aks nodepool add --pod-subnet-id ... --pod-ip-allocation-mode ...) and "
    "delete the old ones.",
    references=("https://learn.microsoft.com/azure/aks/concepts-network-azure-cni-pod-subnet",),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_mixed_allocation_modes,
    fleet=("subnet", _shared_mixed_allocation_modes),
)


def _node_subnet_delegated(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """Any vnetSubnetID of the pools whose subnet has delegations (domain.md §5 CNI-011)."""
    inventory_ = view.require_inventory()
    subnets = {subnet.id.lower(): subnet for subnet in inventory_.subnets}
    pools_by_subnet: dict[str, list[str]] = {}
    for pool in inventory_.agent_pools:
        if pool.vnet_subnet_id:
            pools_by_subnet.setdefault(pool.vnet_subnet_id.lower(), []).append(pool.name)
    unread = []
    for subnet_id, pools in sorted(pools_by_subnet.items()):
        subnet = subnets.get(subnet_id)
        if subnet is None:
            unread.append(_name(subnet_id))
        elif subnet.delegations:
            yield rule.finding(
                view,
                resource=subnet_id,
                message=f"node subnet {subnet.name or _name(subnet_id)} of pool "
                f"{', '.join(pools)} is delegated to {', '.join(subnet.delegations)}; AKS "
                "node subnets must not be delegated",
                evidence={"delegations": ",".join(subnet.delegations), "pools": ",".join(pools)},
            )
    if unread:
        raise NotAssessed(
            f"Azure Resource Manager returned no subnet {', '.join(unread)} of the node pools"
        )


CNI_011 = Rule(
    id="CNI-011",
    title="Node subnet is delegated",
    severity=audit_pb2.SEVERITY_CRITICAL,
    rationale="A subnet delegated to a service belongs to that service; AKS does not support "
    "nodes in it, so node creation, scaling and upgrades fail.",
    remediation="Move the pools to a subnet without delegation (az aks nodepool add "
    "--vnet-subnet-id <undelegated subnet>, then delete the old pool), or remove the "
    "delegation if nothing else uses it (az network vnet subnet update --remove delegations).",
    references=("https://learn.microsoft.com/azure/aks/concepts-network-cni-overview",),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"), inventory("subnets")),
    check=_node_subnet_delegated,
)


def _cluster_identity_lacks_subnet_role(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """For each BYO node or pod subnet of the pools: no assignment of Network Contributor
    (or Contributor / Owner) to the cluster identity at the subnet or above it (domain.md
    §5 CNI-012, A-CNIO). A custom role makes the subnet unknown, not compliant."""
    cluster = view.require_inventory()
    subnets = _unique_ids(
        subnet_id
        for pool in cluster.agent_pools
        for subnet_id in (pool.vnet_subnet_id, pool.pod_subnet_id)
        if subnet_id
    )
    if not subnets:
        raise DoesNotApply  # the AKS-managed VNet: AKS grants itself
    principals = role_grants.cluster_principal_ids(cluster)
    if not principals:
        raise NotAssessed(_no_principal_reason(cluster))
    unknown = []
    for subnet_id in subnets:
        read = role_grants.assignments_at(cluster, subnet_id)
        if read is None:
            unknown.append(f"role assignments at {subnet_id} were not read")
            continue
        held = role_grants.grant(read, principals, role_grants.NETWORK_ROLES)
        if held.held:
            continue
        if held.unknown:
            unknown.append(
                f"the cluster identity holds only roles whose permissions are not read "
                f"({held.unknown_roles()}) at {subnet_id}"
            )
            continue
        pools = sorted(
            p.name
            for p in cluster.agent_pools
            if subnet_id.lower() in {p.vnet_subnet_id.lower(), p.pod_subnet_id.lower()}
        )
        yield rule.finding(
            view,
            resource=subnet_id,
            message=f"the cluster identity of {cluster.name} holds no Network Contributor "
            f"(nor Contributor / Owner) on subnet {subnet_id.rsplit('/', 1)[-1]} or above it; "
            "AKS cannot join nodes or load balancers to it",
            evidence={
                "principal_ids": ",".join(principals),
                "pools": ",".join(pools),
                "assignments_read": len(read.assignments),
            },
        )
    if unknown:
        raise NotAssessed("; ".join(unknown))


def _no_principal_reason(cluster: inventory_pb2.ClusterInventory) -> str:
    if role_grants.uses_service_principal(cluster):
        return (
            "the cluster uses a service principal (client id "
            f"{cluster.identity.service_principal_client_id}); its object id, which role "
            "assignments name, is not in the managed cluster body"
        )
    return "the managed cluster body names no object id for the cluster identity"


def _unique_ids(ids: Iterable[str]) -> list[str]:
    """Ids without repeats, compared case-insensitively, the first spelling kept."""
    seen: dict[str, str] = {}
    for resource_id in ids:
        seen.setdefault(resource_id.lower(), resource_id)
    return list(seen.values())


CNI_012 = Rule(
    id="CNI-012",
    title="Cluster identity lacks subnet permission",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale=(
        "With a BYO subnet the cluster identity needs Network Contributor (or "
        "subnets/join/action) on it; without it scaling and load balancer changes fail."
    ),
    remediation=(
        "Grant the role: az role assignment create --assignee <cluster identity> --role "
        "'Network Contributor' --scope <subnet id>."
    ),
    references=("https://learn.microsoft.com/azure/aks/concepts-network-cni-overview",),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"), inventory("role_assignments")),
    check=_cluster_identity_lacks_subnet_role,
)


def _reserved_ranges_used(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """podCidr(s), serviceCidr(s) or VNet prefixes overlapping 169.254/16, 172.30/16,
    172.31/16 or 192.0.2/24 (domain.md §5 CNI-013, §1.1); one finding for the cluster's
    own ranges and one per VNet."""
    inventory_ = view.require_inventory()
    profile = inventory_.network_profile
    invalid: list[str] = []
    cluster_ranges = [
        *_named(profile.pod_cidrs, "pod CIDR", invalid),
        *_named(profile.service_cidrs, "service CIDR", invalid),
    ]
    finding = _reserved_finding(
        rule, view, view.cluster_key, f"cluster {view.name}", cluster_ranges
    )
    if finding is not None:
        yield finding
    for vnet in inventory_.virtual_networks:
        name = vnet.name or _name(vnet.id)
        ranges = _named(vnet.address_prefixes, f"VNet {name} address space", invalid)
        finding = _reserved_finding(rule, view, vnet.id.lower(), f"VNet {name}", ranges)
        if finding is not None:
            yield finding
    if invalid:
        raise NotAssessed(f"address ranges do not parse: {', '.join(invalid)}")


def _named(values: Iterable[str], what: str, invalid: list[str]) -> list[NamedRange]:
    networks, bad = parse_networks(values)
    invalid.extend(f"{value} ({what})" for value in bad)
    return [NamedRange(network, what) for network in networks]


def _reserved_finding(
    rule: Rule, view: ClusterView, resource: str, owner: str, ranges: list[NamedRange]
) -> audit_pb2.Finding | None:
    reserved = [NamedRange(block, "reserved by AKS") for block in AKS_RESERVED_RANGES]
    clashes = [(r, overlapping(r.network, reserved)) for r in ranges]
    clashes = [(r, blocks) for r, blocks in clashes if blocks]
    if not clashes:
        return None
    described = "; ".join(
        f"{r} overlaps {', '.join(str(b.network) for b in blocks)}" for r, blocks in clashes
    )
    evidence: dict[str, object] = {
        "reserved": ",".join(dict.fromkeys(str(b.network) for _, blocks in clashes for b in blocks))
    }
    for r, blocks in clashes:
        evidence[f"{r.what}.{r.network}"] = ",".join(str(b.network) for b in blocks)
    return rule.finding(
        view,
        resource=resource,
        message=f"{owner} uses address ranges AKS reserves: {described}",
        evidence=evidence,
    )


CNI_013 = Rule(
    id="CNI-013",
    title="Address range in AKS-reserved blocks",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="169.254.0.0/16, 172.30.0.0/16, 172.31.0.0/16 and 192.0.2.0/24 are used by AKS "
    "and Azure themselves; pod, service or VNet ranges overlapping them are rejected or "
    "break node and pod traffic to those addresses.",
    remediation="Choose ranges outside the reserved blocks: a new cluster (or, for Overlay, "
    "a pod CIDR change) for pod and service CIDRs; for a VNet, remove the overlapping address "
    "space once no subnet uses it (az network vnet update --address-prefixes ...).",
    references=(
        "https://learn.microsoft.com/azure/aks/concepts-network-cni-overview",
        "https://learn.microsoft.com/azure/aks/concepts-network-legacy-cni",
    ),
    data_source=DataSource.ARM,
    # the cluster's own ranges are judged even when a VNet could not be read
    reads=(inventory("cluster"), inventory("virtual_networks", optional=True)),
    check=_reserved_ranges_used,
)


def _pod_subnet_other_vnet(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """Per pool: VNet(podSubnetID) ≠ VNet(vnetSubnetID), from the subnet ids (domain.md §5
    CNI-014)."""
    for pool in view.require_inventory().agent_pools:
        if not (pool.pod_subnet_id and pool.vnet_subnet_id):
            continue
        pod_vnet = _vnet_of(pool.pod_subnet_id)
        node_vnet = _vnet_of(pool.vnet_subnet_id)
        if pod_vnet.lower() == node_vnet.lower():
            continue
        yield rule.finding(
            view,
            resource=agent_pool_resource(view, pool.name),
            message=f"pool {pool.name} has its pod subnet in VNet {_name(pod_vnet)} but its "
            f"node subnet in VNet {_name(node_vnet)}; both must be in the same VNet",
            evidence={
                "pool": pool.name,
                "pod_subnet": pool.pod_subnet_id.lower(),
                "node_subnet": pool.vnet_subnet_id.lower(),
                "pod_vnet": pod_vnet.lower(),
                "node_vnet": node_vnet.lower(),
            },
        )


def _vnet_of(subnet_id: str) -> str:
    """The VNet id of a subnet id (the part before ``/subnets/``)."""
    index = subnet_id.lower().find("/subnets/")
    return subnet_id[:index] if index >= 0 else subnet_id


CNI_014 = Rule(
    id="CNI-014",
    title="Pod subnet in different VNet than node subnet",
    severity=audit_pb2.SEVERITY_CRITICAL,
    rationale="Dynamic and static-block pod subnets must be in the node subnet's VNet; a pod "
    "subnet elsewhere leaves the pool without working pod networking.",
    remediation="Create the pool again with a pod subnet in the node subnet's VNet "
    "(az aks nodepool add --vnet-subnet-id ... --pod-subnet-id <subnet in the same VNet>) and "
    "delete the old pool.",
    references=("https://learn.microsoft.com/azure/aks/configure-azure-cni-dynamic-ip-allocation",),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_pod_subnet_other_vnet,
)
