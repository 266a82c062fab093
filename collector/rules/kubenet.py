"""Kubenet rules: retirement (KUB-001)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date

from netaudit.collector.rules.rule import DataSource, Rule
from netaudit.collector.rules.settings import RuleSettings
from netaudit.v1 import audit_pb2

KUBENET_RETIREMENT = date(2028, 3, 31)
"""AKS no longer supports kubenet from March 31, 2028 (A-KRET, Azure/AKS#4859)."""


def _kubenet_in_use(
    rule: Rule, facts: audit_pb2.ClusterFacts, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """networkPlugin == kubenet: medium, high from ``kubenet_urgent_days`` before retirement
    (domain.md §5 KUB-001), counted from the scan's evaluated_at."""
    if not facts.HasField("inventory"):
        return
    inventory = facts.inventory
    if inventory.network_profile.network_plugin.lower() != "kubenet":
        return
    evidence: dict[str, object] = {
        "network_plugin": inventory.network_profile.network_plugin,
        "retirement_date": KUBENET_RETIREMENT.isoformat(),
    }
    severity = audit_pb2.SEVERITY_MEDIUM
    when = "on"
    if facts.HasField("evaluated_at"):
        today = facts.evaluated_at.ToDatetime(tzinfo=UTC).date()
        days = (KUBENET_RETIREMENT - today).days
        evidence["days_remaining"] = days
        when = f"in {days} days, on" if days >= 0 else f"{-days} days ago, on"
        if days <= settings.kubenet_urgent_days:
            severity = audit_pb2.SEVERITY_HIGH
    yield rule.finding(
        facts,
        resource=facts.cluster_key or inventory.arm_resource_id.lower(),
        severity=severity,
        message=f"cluster {inventory.name} uses kubenet, which AKS retires {when} "
        f"{KUBENET_RETIREMENT.isoformat()}",
        evidence=evidence,
    )


KUB_001 = Rule(
    id="KUB-001",
    title="Kubenet in use (retiring 2028-03-31)",
    severity=audit_pb2.SEVERITY_MEDIUM,
    rationale="AKS stops supporting kubenet on 2028-03-31; clusters still on it must migrate "
    "their network plugin before then.",
    remediation="Migrate to Azure CNI Overlay (az aks update --network-plugin azure "
    "--network-plugin-mode overlay); a user-assigned identity is needed to detach the route "
    "table, and the Cilium dataplane can be enabled only after the move.",
    references=(
        "https://learn.microsoft.com/azure/aks/configure-kubenet",
        "https://learn.microsoft.com/azure/aks/update-azure-cni",
        "https://github.com/Azure/AKS/issues/4859",
    ),
    data_source=DataSource.ARM,
    check=_kubenet_in_use,
)
