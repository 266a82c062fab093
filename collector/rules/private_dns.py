"""Private cluster DNS rules: the unsupported zone/FQDN combination (PDN-001)."""

from __future__ import annotations

from collections.abc import Iterator

from netaudit.collector.rules.rule import DataSource, Rule
from netaudit.collector.rules.settings import RuleSettings
from netaudit.v1 import audit_pb2

NO_PRIVATE_ZONE = "none"


def _no_zone_and_no_public_fqdn(
    rule: Rule, facts: audit_pb2.ClusterFacts, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """enablePrivateCluster ∧ privateDNSZone == none ∧ enablePrivateClusterPublicFQDN == false
    (domain.md §5 PDN-001, A-PRV). An unset public FQDN flag is not ``false``."""
    if not facts.HasField("inventory"):
        return
    inventory = facts.inventory
    access = inventory.api_server_access
    if not (
        access.enable_private_cluster
        and access.private_dns_zone.lower() == NO_PRIVATE_ZONE
        and access.HasField("enable_private_cluster_public_fqdn")
        and not access.enable_private_cluster_public_fqdn
    ):
        return
    yield rule.finding(
        facts,
        resource=facts.cluster_key or inventory.arm_resource_id.lower(),
        message=f"private cluster {inventory.name} has privateDNSZone=none and its public FQDN "
        "disabled: nothing resolves the API server name to its private endpoint",
        evidence={
            "enable_private_cluster": access.enable_private_cluster,
            "private_dns_zone": access.private_dns_zone,
            "enable_private_cluster_public_fqdn": access.enable_private_cluster_public_fqdn,
            "private_fqdn": inventory.private_fqdn,
        },
    )


PDN_001 = Rule(
    id="PDN-001",
    title="Unsupported DNS combo",
    severity=audit_pb2.SEVERITY_CRITICAL,
    rationale="With privateDNSZone none, nodes reach the API server through the public FQDN "
    "that resolves to the private IP; disabling that FQDN as well is an unsupported "
    "configuration in which the API server name cannot be resolved.",
    remediation="Re-enable the public FQDN (az aks update --enable-public-fqdn), or recreate "
    "the cluster with privateDNSZone system or a custom private DNS zone linked to the VNets "
    "that resolve it.",
    references=("https://learn.microsoft.com/azure/aks/private-clusters",),
    data_source=DataSource.ARM,
    check=_no_zone_and_no_public_fqdn,
)
