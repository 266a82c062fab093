"""Windows node pool rules (domain.md §5 WIN-*): networking Windows cannot run on, Windows
Server retirements, and maxPods above the Windows recommendation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from netaudit.collector.analysis.agent_pools import (
    WINDOWS_2019,
    WINDOWS_2022,
    WindowsVersionUnknown,
    pool_resource_id,
    windows_os_sku,
    windows_pools,
)
from netaudit.collector.analysis.network_model import NetworkModel
from netaudit.collector.rules.rule import (
    URGENT_DAYS,
    DataSource,
    NotAssessed,
    Rule,
    Threshold,
    dated_severity,
    inventory,
)
from netaudit.collector.rules.settings import RuleSettings
from netaudit.collector.rules.view import ClusterView
from netaudit.v1 import audit_pb2, inventory_pb2

CILIUM = "cilium"


def _unsupported_networking(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """A Windows pool ∧ (kubenet or networkDataplane cilium), per pool (domain.md §5 WIN-001):
    kubenet has no Windows support (A-KUB, A-WIN) and Cilium is Linux-only (A-CIL)."""
    cluster = view.require_inventory()
    pools = windows_pools(cluster)
    if not pools:
        return
    reasons = []
    if view.require_network_model() is NetworkModel.KUBENET:
        reasons.append("kubenet, which does not support Windows nodes")
    dataplane = cluster.network_profile.network_dataplane
    if dataplane.lower() == CILIUM:
        reasons.append("the Cilium dataplane, which runs on Linux nodes only")
    if not reasons:
        return
    for pool in pools:
        yield rule.finding(
            view,
            resource=pool_resource_id(cluster, pool),
            message=f"Windows pool {pool.name} is on {' and on '.join(reasons)}",
            evidence={
                "pool": pool.name,
                "network_plugin": cluster.network_profile.network_plugin,
                "network_dataplane": dataplane or "(unset)",
            },
        )


WIN_001 = Rule(
    id="WIN-001",
    title="Windows pool on unsupported networking",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="Windows nodes need Azure CNI without the Cilium dataplane: kubenet does not "
    "support Windows and Azure CNI powered by Cilium is Linux-only, so Windows pods get no "
    "supported pod networking.",
    remediation="Run Windows workloads on a cluster with Azure CNI (Overlay or pod subnet) and "
    "the Azure dataplane; a kubenet cluster can first migrate to Azure CNI Overlay "
    "(az aks update --network-plugin azure --network-plugin-mode overlay).",
    references=(
        "https://learn.microsoft.com/azure/aks/configure-kubenet",
        "https://learn.microsoft.com/azure/aks/azure-cni-powered-by-cilium",
        "https://learn.microsoft.com/azure/aks/windows-best-practices",
    ),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_unsupported_networking,
)


def _pools_with_sku(
    cluster: inventory_pb2.ClusterInventory, sku: str
) -> tuple[list[inventory_pb2.AgentPool], list[str]]:
    """The Windows pools running ``sku``, and why some pools' version is unknown."""
    matching, unknown = [], []
    for pool in windows_pools(cluster):
        try:
            if windows_os_sku(pool, cluster.kubernetes_version) == sku:
                matching.append(pool)
        except WindowsVersionUnknown as exc:
            unknown.append(str(exc))
    return matching, unknown


def _retiring_sku(
    rule: Rule, view: ClusterView, settings: RuleSettings, sku: str, label: str, when: date
) -> Iterator[audit_pb2.Finding]:
    cluster = view.require_inventory()
    pools, unknown = _pools_with_sku(cluster, sku)
    if pools:
        severity, days = dated_severity(rule, view, settings, when)
        period = f"in {days} days, on" if days >= 0 else f"{-days} days ago, on"
        for pool in pools:
            yield rule.finding(
                view,
                resource=pool_resource_id(cluster, pool),
                severity=severity,
                message=f"Windows pool {pool.name} runs {label}, {period} {when.isoformat()}",
                evidence={
                    "pool": pool.name,
                    "os_sku": pool.os_sku or f"(unset; {sku} by default)",
                    "kubernetes_version": pool.orchestrator_version or cluster.kubernetes_version,
                    "date": when.isoformat(),
                    "days_remaining": days,
                },
            )
    if unknown:
        raise NotAssessed("; ".join(unknown))


WS2019_IMAGES_REMOVED = date(2027, 4, 1)
"""Windows Server 2019 on AKS: unsupported since 2026-03-01, node images removed
2027-04-01; not available from Kubernetes 1.33 (A-WIN faq, Azure/AKS#4091)."""


def _windows_2019(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """osSKU == Windows2019, or unset on a pool on Kubernetes <= 1.24 (domain.md §5 WIN-002):
    high, critical from ``urgent_days`` before the images are removed."""
    yield from _retiring_sku(
        rule,
        view,
        settings,
        WINDOWS_2019,
        "Windows Server 2019, out of support, whose node images AKS removes",
        WS2019_IMAGES_REMOVED,
    )


WIN_002 = Rule(
    id="WIN-002",
    title="Windows Server 2019 node pool",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="AKS stopped supporting Windows Server 2019 on 2026-03-01 and removes its node "
    "images on 2027-04-01; such pools cannot be upgraded to Kubernetes 1.33 and can no "
    "longer scale or be reimaged after the images are gone.",
    remediation="Add a Windows Server 2022 (or 2025) pool (az aks nodepool add --os-type "
    "Windows --os-sku Windows2022 ...), move the workloads (update nodeSelectors that pin "
    "the OS build) and delete the Windows2019 pool.",
    references=(
        "https://learn.microsoft.com/azure/aks/faq",
        "https://learn.microsoft.com/azure/aks/upgrade-windows-os",
        "https://github.com/Azure/AKS/issues/4091",
    ),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_windows_2019,
    thresholds=(URGENT_DAYS,),
)


WS2022_SUPPORT_ENDS = date(2028, 6, 30)
"""AKS ends Windows Server 2022 support on 2028-06-30 (A-WIN faq, Azure/AKS#4168)."""


def _windows_2022(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """osSKU == Windows2022 (domain.md §5 WIN-003): low, medium from ``urgent_days``
    before support ends."""
    yield from _retiring_sku(
        rule,
        view,
        settings,
        WINDOWS_2022,
        "Windows Server 2022, whose AKS support ends",
        WS2022_SUPPORT_ENDS,
    )


WIN_003 = Rule(
    id="WIN-003",
    title="Windows Server 2022 retiring",
    severity=audit_pb2.SEVERITY_LOW,
    rationale="AKS support for Windows Server 2022 node pools ends on 2028-06-30; pools "
    "still on it then run an unsupported OS.",
    remediation="Plan the move to Windows Server 2025: add a pool with --os-sku Windows2025, "
    "move the workloads and delete the Windows2022 pool.",
    references=(
        "https://learn.microsoft.com/azure/aks/faq",
        "https://learn.microsoft.com/azure/aks/upgrade-windows-os",
        "https://github.com/Azure/AKS/issues/4168",
    ),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_windows_2022,
    thresholds=(URGENT_DAYS,),
)


MAX_PODS = Threshold(
    "max_pods",
    110,
    "Highest maxPods per Windows node without a finding: 110 is the maximum AKS recommends "
    "for Windows nodes (A-QUO, A-OVC), although the API accepts up to 250.",
)


def _max_pods_too_high(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """osType == Windows ∧ maxPods > ``max_pods`` (domain.md §5 WIN-004), per pool."""
    cluster = view.require_inventory()
    limit = rule.threshold(MAX_PODS.name, settings)
    for pool in windows_pools(cluster):
        if pool.max_pods > limit:
            yield rule.finding(
                view,
                resource=pool_resource_id(cluster, pool),
                message=f"Windows pool {pool.name} allows {pool.max_pods} pods per node, "
                f"above the recommended {limit:g}",
                evidence={"pool": pool.name, "max_pods": pool.max_pods, "recommended": limit},
            )


WIN_004 = Rule(
    id="WIN-004",
    title="Windows maxPods above recommendation",
    severity=audit_pb2.SEVERITY_MEDIUM,
    rationale="Windows nodes carry more per-pod overhead than Linux ones; AKS recommends at "
    "most 110 pods per Windows node, and denser nodes risk resource exhaustion and slow "
    "pod starts.",
    remediation="maxPods is fixed at pool creation: add a Windows pool with --max-pods 110 "
    "or less, move the workloads and delete the old pool.",
    references=(
        "https://learn.microsoft.com/azure/aks/quotas-skus-regions",
        "https://learn.microsoft.com/azure/aks/concepts-network-azure-cni-overlay",
    ),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_max_pods_too_high,
    thresholds=(MAX_PODS,),
)
