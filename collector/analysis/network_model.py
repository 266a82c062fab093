"""Which network model a cluster runs, from ARM first and agent evidence second.

ARM's ``networkProfile`` is authoritative (domain.md §1.9, SDK enums); without
an inventory the decision follows the in-cluster procedure of incluster.md §5,
which is a heuristic and says so in the verdict's evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from netaudit.v1 import audit_pb2, inventory_pb2, report_pb2


class NetworkModel(StrEnum):
    KUBENET = "kubenet"
    AZURE_NODE_SUBNET = "azure-node-subnet"
    AZURE_POD_SUBNET_DYNAMIC = "azure-pod-subnet-dynamic"
    AZURE_POD_SUBNET_STATIC = "azure-pod-subnet-static"
    AZURE_OVERLAY = "azure-overlay"
    BYO = "byo"
    UNKNOWN = "unknown"


class Source(StrEnum):
    INVENTORY = "inventory"
    REPORT = "report"
    NONE = "none"


@dataclass(frozen=True)
class NetworkModelVerdict:
    """The IPAM model, whether the Cilium (eBPF) dataplane runs, and why we think so."""

    model: NetworkModel
    cilium_dataplane: bool
    source: Source
    evidence: tuple[str, ...]


STATIC_BLOCK = "staticblock"
UNKNOWN_VERDICT = NetworkModelVerdict(NetworkModel.UNKNOWN, False, Source.NONE, ())


def decide_network_model(facts: audit_pb2.ClusterFacts) -> NetworkModelVerdict:
    """The inventory's verdict when ARM was read and names a plugin, else the report's."""
    if facts.HasField("inventory"):
        verdict = model_from_inventory(facts.inventory)
        if verdict.model is not NetworkModel.UNKNOWN:
            return verdict
    if facts.HasField("report"):
        return model_from_report(facts.report)
    return UNKNOWN_VERDICT


def model_from_inventory(inventory: inventory_pb2.ClusterInventory) -> NetworkModelVerdict:
    """Map ``networkProfile`` + pools to a model (domain.md §1.5-1.9, SDK enums).

    ``networkPlugin=azure`` without ``networkPluginMode`` and without any pool
    ``podSubnetID`` is the legacy node-subnet mode (A-OVH: back-compat default);
    a pod subnet with ``podIPAllocationMode=StaticBlock`` is static block (A-PSN).
    """
    profile = inventory.network_profile
    plugin = profile.network_plugin.lower()
    mode = profile.network_plugin_mode.lower()
    cilium = profile.network_dataplane.lower() == "cilium"
    evidence = [f"networkPlugin={profile.network_plugin or '(unset)'}"]
    if mode:
        evidence.append(f"networkPluginMode={profile.network_plugin_mode}")
    if profile.network_dataplane:
        evidence.append(f"networkDataplane={profile.network_dataplane}")

    if plugin == "kubenet":
        model = NetworkModel.KUBENET
    elif plugin == "none":
        model = NetworkModel.BYO
    elif plugin == "azure" and mode == "overlay":
        model = NetworkModel.AZURE_OVERLAY
    elif plugin == "azure":
        pod_subnet_pools = [p for p in inventory.agent_pools if p.pod_subnet_id]
        if pod_subnet_pools:
            static = any(p.pod_ip_allocation_mode.lower() == STATIC_BLOCK for p in pod_subnet_pools)
            evidence.append(f"podSubnetID set on {', '.join(p.name for p in pod_subnet_pools)}")
            model = (
                NetworkModel.AZURE_POD_SUBNET_STATIC
                if static
                else NetworkModel.AZURE_POD_SUBNET_DYNAMIC
            )
        else:
            model = NetworkModel.AZURE_NODE_SUBNET
    else:
        return NetworkModelVerdict(NetworkModel.UNKNOWN, cilium, Source.INVENTORY, tuple(evidence))
    return NetworkModelVerdict(model, cilium, Source.INVENTORY, tuple(evidence))


# Node labels AKS sets (incluster.md §1); kubernetes.azure.com/ is a reserved prefix.
LABEL_PODNETWORK_TYPE = "kubernetes.azure.com/podnetwork-type"
LABEL_OVERLAY = "kubernetes.azure.com/azure-cni-overlay"
LABEL_EBPF = "kubernetes.azure.com/ebpf-dataplane"
LABEL_CLUSTER = "kubernetes.azure.com/cluster"
LABEL_MANAGED_BY = "kubernetes.azure.com/managedby"


def model_from_report(report: report_pb2.Report) -> NetworkModelVerdict:
    """incluster.md §5, decision procedure: reliable labels and NNCs first, heuristics last."""
    nodes = [n for n in report.nodes if not n.virtual_kubelet]
    if not nodes:
        return NetworkModelVerdict(NetworkModel.UNKNOWN, False, Source.REPORT, ("no nodes",))
    labels = _label_values(nodes)
    daemonsets = {
        (w.namespace, w.name): w for w in report.cni.workloads if w.kind.lower() == "daemonset"
    }
    containers = [
        container
        for node in nodes
        if node.HasField("node_network_config")
        for container in node.node_network_config.network_containers
    ]
    nc_types = {c.type.lower() for c in containers}
    aks_cilium = "cilium" in labels.get(LABEL_EBPF, set())
    cilium_daemonset = daemonsets.get(("kube-system", "cilium"))
    cilium = aks_cilium or cilium_daemonset is not None
    evidence: list[str] = []
    if cilium:
        evidence.append("cilium dataplane (ebpf-dataplane label or kube-system/cilium DaemonSet)")

    if (
        "overlay" in labels.get(LABEL_PODNETWORK_TYPE, set())
        or "true" in labels.get(LABEL_OVERLAY, set())
        or "overlay" in nc_types
    ):
        evidence.append("overlay node label or NodeNetworkConfig of type overlay")
        model = NetworkModel.AZURE_OVERLAY
    elif nc_types & {"vnet", "vnetblock"}:
        evidence.append(f"NodeNetworkConfig types {', '.join(sorted(nc_types))}")
        model = (
            NetworkModel.AZURE_POD_SUBNET_STATIC
            if "vnetblock" in nc_types
            else NetworkModel.AZURE_POD_SUBNET_DYNAMIC
        )
    elif (
        cilium_daemonset is not None
        and not aks_cilium
        and cilium_daemonset.labels.get(LABEL_MANAGED_BY) != "aks"
    ):
        evidence.append("kube-system/cilium not managed by AKS and no ebpf-dataplane label")
        model = NetworkModel.BYO
    else:
        model = _model_from_heuristics(nodes, set(daemonsets), bool(containers), evidence)
    return NetworkModelVerdict(model, cilium, Source.REPORT, tuple(evidence))


def _model_from_heuristics(
    nodes: list[report_pb2.Node],
    daemonsets: set[tuple[str, str]],
    has_nnc: bool,
    evidence: list[str],
) -> NetworkModel:
    """The weak signals of incluster.md §5 (spec.podCIDR, azure-cns, azure-ip-masq-agent)."""
    aks = all(LABEL_CLUSTER in n.network_labels for n in nodes)
    if (
        all(n.pod_cidrs for n in nodes)
        and not has_nnc
        and ("kube-system", "azure-cns") not in daemonsets
    ):
        evidence.append("heuristic: every node has spec.podCIDR, no NNC, no azure-cns")
        return NetworkModel.KUBENET
    if (
        aks
        and not any(n.pod_cidrs for n in nodes)
        and ("kube-system", "azure-ip-masq-agent") in daemonsets
    ):
        evidence.append("heuristic: AKS nodes without spec.podCIDR, with azure-ip-masq-agent")
        return NetworkModel.AZURE_NODE_SUBNET
    evidence.append("no reliable signal")
    return NetworkModel.UNKNOWN


def _label_values(nodes: list[report_pb2.Node]) -> dict[str, set[str]]:
    values: dict[str, set[str]] = {}
    for node in nodes:
        for key, value in node.network_labels.items():
            values.setdefault(key, set()).add(value.lower())
    return values
