"""Virtual node rules (domain.md §5 VND-*)."""

from __future__ import annotations

from collections.abc import Iterator

from netaudit.collector.analysis.network_model import NetworkModel
from netaudit.collector.rules.rule import DataSource, Rule, inventory, pending
from netaudit.collector.rules.settings import RuleSettings
from netaudit.collector.rules.view import ClusterView
from netaudit.v1 import audit_pb2, inventory_pb2

ACI_CONNECTOR = "aciconnectorlinux"
"""The virtual nodes add-on, ``addonProfiles.aciConnectorLinux`` (CLI _consts.py); the
inventory keys add-ons lower-cased."""

SUBNET_NAME_KEY = "SubnetName"

NON_FLAT_MODELS = frozenset({NetworkModel.KUBENET, NetworkModel.AZURE_OVERLAY})
"""Models whose pod IPs are not VNet addresses; virtual nodes need Azure CNI with pods in
the VNet (A-VN: "only work with ... advanced networking (Azure CNI)"; A-OVC)."""


def _virtual_nodes(cluster: inventory_pb2.ClusterInventory) -> inventory_pb2.Addon | None:
    addon = cluster.addons.get(ACI_CONNECTOR)
    return addon if addon is not None and addon.enabled else None


def _non_flat_networking(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """aciConnectorLinux enabled ∧ (kubenet or overlay) (domain.md §5 VND-001)."""
    cluster = view.require_inventory()
    addon = _virtual_nodes(cluster)
    if addon is None:
        return
    model = view.require_network_model()
    if model not in NON_FLAT_MODELS:
        return
    yield rule.finding(
        view,
        resource=view.cluster_key,
        message=f"virtual nodes (aciConnectorLinux) are enabled on cluster {view.name}, which "
        f"runs {model}; virtual nodes need Azure CNI with pod IPs in the VNet",
        evidence={
            "network_model": model,
            "aci_subnet": addon.config.get(SUBNET_NAME_KEY, ""),
        },
    )


VND_001 = Rule(
    id="VND-001",
    title="Virtual nodes on non-flat networking",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="Virtual nodes run pods in Azure Container Instances inside the cluster VNet "
    "and reach cluster pods directly; that works only with Azure CNI, where pod IPs are VNet "
    "addresses, not with kubenet or Azure CNI Overlay.",
    remediation="Disable the add-on (az aks disable-addons --addons virtual-node) or run the "
    "burst workloads on a cluster with Azure CNI (node subnet or pod subnet).",
    references=(
        "https://learn.microsoft.com/azure/aks/virtual-nodes",
        "https://learn.microsoft.com/azure/aks/concepts-network-azure-cni-overlay",
    ),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_non_flat_networking,
)


def _authorized_ip_ranges(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """aciConnectorLinux enabled ∧ apiServerAccessProfile.authorizedIPRanges non-empty
    (domain.md §5 VND-002)."""
    cluster = view.require_inventory()
    if _virtual_nodes(cluster) is None:
        return
    ranges = list(cluster.api_server_access.authorized_ip_ranges)
    if not ranges:
        return
    yield rule.finding(
        view,
        resource=view.cluster_key,
        message=f"virtual nodes are enabled on cluster {view.name} together with API server "
        f"authorized IP ranges ({', '.join(ranges)}), which virtual nodes do not support: "
        "pods in ACI cannot reach the API server",
        evidence={"authorized_ip_ranges": ",".join(ranges), "count": len(ranges)},
    )


VND_002 = Rule(
    id="VND-002",
    title="Virtual nodes with authorized IP ranges",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="Pods on virtual nodes run in Azure Container Instances and must reach the "
    "API server to set up their networking; API server authorized IP ranges are listed as "
    "unsupported with virtual nodes.",
    remediation="Remove the authorized IP ranges (az aks update --api-server-authorized-ip-"
    "ranges '') and protect the API server another way (private cluster), or disable "
    "virtual nodes (az aks disable-addons --addons virtual-node).",
    references=("https://learn.microsoft.com/azure/aks/virtual-nodes",),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_authorized_ip_ranges,
)

VND_003 = Rule(
    id="VND-003",
    title="Virtual node subnet missing/undersized",
    severity=audit_pb2.SEVERITY_MEDIUM,
    rationale=(
        "Virtual nodes place ACI container groups in their own subnet; a missing or full "
        "subnet leaves pods pending on the virtual node."
    ),
    remediation=(
        "Create the subnet named in the aciConnectorLinux add-on config in the cluster VNet, "
        "or enlarge it."
    ),
    references=("https://learn.microsoft.com/azure/aks/virtual-nodes",),
    data_source=DataSource.ARM,
    reads=(pending("the virtual node (ACI) subnet and its free IPs"),),
    check=None,
)
