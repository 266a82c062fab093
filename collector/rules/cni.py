"""CNI and IPAM rules: node subnet sizing (CNI-001) and subnet utilisation (CNI-002)."""

from __future__ import annotations

from collections.abc import Iterator

from netaudit.collector.analysis.ip_capacity import (
    SubnetRequirement,
    SubnetRole,
    subnet_requirements,
    subnet_utilisation,
)
from netaudit.collector.analysis.network_model import NetworkModel, model_from_inventory
from netaudit.collector.rules.rule import DataSource, Rule
from netaudit.collector.rules.settings import RuleSettings
from netaudit.v1 import audit_pb2


def _node_subnet_too_small(
    rule: Rule, facts: audit_pb2.ClusterFacts, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """networkPlugin=azure, no networkPluginMode, no pool podSubnetID; per vnetSubnetID:
    Σ(N+S)(maxPods+1) + other > usable(prefix) (domain.md §5 CNI-001, §1.3)."""
    if not facts.HasField("inventory"):
        return
    inventory = facts.inventory
    if model_from_inventory(inventory).model is not NetworkModel.AZURE_NODE_SUBNET:
        return
    report = facts.report if facts.HasField("report") else None
    for requirement in subnet_requirements(
        inventory, NetworkModel.AZURE_NODE_SUBNET, SubnetRole.NODE, report
    ):
        if requirement.required > requirement.usable:
            yield rule.finding(
                facts,
                resource=requirement.subnet_id.lower(),
                message=_too_small_message(requirement),
                evidence=_requirement_evidence(requirement),
            )


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
    check=_node_subnet_too_small,
)


def _utilisation_high(
    rule: Rule, facts: audit_pb2.ClusterFacts, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """currentValue/limit of VirtualNetworks.list_usage for every node/pod subnet of the
    cluster: high at >= utilisation_high, medium at >= utilisation_medium (CNI-002)."""
    if not facts.HasField("inventory"):
        return
    for usage in subnet_utilisation(facts.inventory):
        if usage.ratio >= settings.utilisation_high:
            severity = audit_pb2.SEVERITY_HIGH
            threshold = settings.utilisation_high
        elif usage.ratio >= settings.utilisation_medium:
            severity = audit_pb2.SEVERITY_MEDIUM
            threshold = settings.utilisation_medium
        else:
            continue
        yield rule.finding(
            facts,
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
    check=_utilisation_high,
)


def _name(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]
