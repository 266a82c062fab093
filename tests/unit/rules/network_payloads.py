"""ARM network and agent payloads for the CNI, service, scale and IP-exhaustion rule cases.

Every body starts from a real fixture (../shared/fixtures) and is altered only where a
case needs it; the NodeNetworkConfig and Node objects are hand-made from the published
``kubectl get nnc -o wide`` table (no NNC or Node YAML was publishable, MANIFEST caveats 7-8).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from netaudit.agent.gatherers import azure_cns_metrics, nodes, services
from netaudit.collector.rules import ClusterView, RuleOutcome, RuleSettings, evaluate_rule
from netaudit.collector.rules.rule import Rule
from netaudit.collector.rules.settings import PerRuleSettings
from netaudit.v1 import audit_pb2, report_pb2
from tests.rule_cases import NOW, arm_json, k8s_documents, managed_cluster

VNET_FIXTURE = "network/VirtualNetworkGet.json"
VNET_ID = arm_json(VNET_FIXTURE)["id"]
"""``/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/test-vnet``."""

NODE_SUBNET_ID = f"{VNET_ID}/subnets/subnet1"
"""The fixture VNet's one subnet, 10.0.1.0/24: 251 usable IPs."""


def subnet_id(name: str) -> str:
    return f"{VNET_ID}/subnets/{name}"


def vnet_body(
    prefixes: list[str] | None = None, peerings: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """VirtualNetworks_Get (test-vnet, 10.0.0.0/16, subnet1 10.0.1.0/24), address space and
    peerings replaced when given."""
    body: dict[str, Any] = arm_json(VNET_FIXTURE)
    if prefixes is not None:
        body["properties"]["addressSpace"]["addressPrefixes"] = prefixes
    if peerings is not None:
        body["properties"]["virtualNetworkPeerings"] = peerings
    return body


def node_subnet_body() -> dict[str, Any]:
    """subnet1 as the VNet GET embeds it (10.0.1.0/24, no delegation)."""
    return dict(vnet_body()["properties"]["subnets"][0])


def delegated_subnet_body() -> dict[str, Any]:
    """subnet1 of VirtualNetworkGetWithSubnetDelegation (delegated to
    Microsoft.Provider/resourceType), moved into test-vnet."""
    body = arm_json("network/VirtualNetworkGetWithSubnetDelegation.json")
    subnet: dict[str, Any] = body["properties"]["subnets"][0]
    subnet["id"] = NODE_SUBNET_ID
    return subnet


def subnet_body(name: str, prefix: str) -> dict[str, Any]:
    """Subnets_Get with the name, id (in test-vnet) and prefix replaced."""
    body: dict[str, Any] = arm_json("network/SubnetGet.json")
    body.update(name=name, id=subnet_id(name))
    body["properties"]["addressPrefix"] = prefix
    return body


def usage_row(subnet: str, used: float, limit: float) -> dict[str, Any]:
    """The 'newSubnet' row of VirtualNetworks_ListUsage for another subnet and counts."""
    row: dict[str, Any] = arm_json("network/VirtualNetworkListUsage.json")["value"][1]
    row.update(id=subnet, currentValue=used, limit=limit)
    return row


def gateway_usage_row() -> dict[str, Any]:
    """The GatewaySubnet row as published: currentValue and limit -1."""
    row: dict[str, Any] = arm_json("network/VirtualNetworkListUsage.json")["value"][0]
    return row


def peering(name: str, remote_vnet: str, prefixes: list[str]) -> dict[str, Any]:
    """Hand-made virtualNetworkPeerings entry (no published example has one), in the
    REST shape the SDK documents: remoteVirtualNetwork.id and remoteAddressSpace."""
    return {
        "name": name,
        "properties": {
            "remoteVirtualNetwork": {"id": remote_vnet},
            "remoteAddressSpace": {"addressPrefixes": prefixes},
            "peeringState": "Connected",
        },
    }


def recorded_cni_cluster() -> dict[str, Any]:
    """The recorded Azure CNI node-subnet cluster (K8s 1.25.6, nodepool1 + npwin, maxPods 30,
    upgradeSettings empty so surge 1 each), both pools moved onto subnet1 (a /24) and
    nodepool1 autoscaling to 10 nodes: the sample fleet's aks-cni-neu."""
    body = managed_cluster("azcli-recording_ManagedClusterGet_azure-cni-windows-pool.json")
    system, windows = body["properties"]["agentPoolProfiles"]
    system.update(vnetSubnetID=NODE_SUBNET_ID, enableAutoScaling=True, minCount=1, maxCount=10)
    windows.update(vnetSubnetID=NODE_SUBNET_ID)
    return body


def agent_pool_body() -> dict[str, Any]:
    """AgentPools_CreateOrUpdate's response pool (agentpool1: Linux, count 3, maxPods 110,
    orchestrator 1.9.6 so an unset maxSurge is 1)."""
    body: dict[str, Any] = arm_json("managedclusters/AgentPoolsCreate_Update.json")
    return body


# -- agent evidence -------------------------------------------------------------------

NNC_TABLE = (
    # name, requested, allocated, subnet, subnet CIDR, NC id, mode, type, version:
    # `kubectl get nnc -o wide` of ACN PR #1908 (k8s/cni/acn-pr1908_kubectl-get-nnc-wide.txt)
    (
        "aks-nodepool1-39652274-vmss000000",
        48,
        48,
        "podnet",
        "10.241.0.0/16",
        "7f68a6e2-b0a5-4c78-bc0d-24bb9bcefbcf",
        "dynamic",
        "vnet",
        2,
    ),
    (
        "aks-nodepool1-39652274-vmss000001",
        48,
        48,
        "podnet",
        "10.241.0.0/16",
        "206d3a69-69d3-488e-bd08-61dc45898d68",
        "dynamic",
        "vnet",
        2,
    ),
)


def nnc_object(row: tuple[Any, ...], nc_status: str = "NCUpdateSuccess") -> dict[str, Any]:
    """Hand-made NodeNetworkConfig (acn.azure.com/v1alpha) carrying one row of the table, in
    the CRD's field names; ``nc_status`` is the network container's status (ACN-NNC enum)."""
    name, requested, allocated, subnet, cidr, nc_id, mode, nc_type, version = row
    return {
        "apiVersion": "acn.azure.com/v1alpha",
        "kind": "NodeNetworkConfig",
        "metadata": {"name": name, "namespace": "kube-system"},
        "spec": {"requestedIPCount": requested},
        "status": {
            "assignedIPCount": allocated,
            "status": "Updated",
            "networkContainers": [
                {
                    "id": nc_id,
                    "assignmentMode": mode,
                    "type": nc_type,
                    "subnetName": subnet,
                    "subnetAddressSpace": cidr,
                    "version": version,
                    "status": nc_status,
                }
            ],
        },
    }


def node_object(name: str, pool: str = "nodepool1") -> dict[str, Any]:
    """Hand-made AKS Node with the labels AKS sets (incluster.md §1), Ready, no podCIDR."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.azure.com/agentpool": pool,
                "kubernetes.azure.com/cluster": "MC_clitest000001_cliakstest000001_westus2",
                "kubernetes.azure.com/mode": "system",
                "kubernetes.io/os": "linux",
            },
        },
        "spec": {},
        "status": {
            "conditions": [{"type": "Ready", "status": "True"}],
            "allocatable": {"pods": "30"},
        },
    }


def nnc_nodes(full: Collection[str] = ()) -> list[report_pb2.Node]:
    """The table's two nodes as the nodes gatherer reports them; those named in ``full`` have
    their network container in NCUpdateSubnetFullError."""
    return [
        nodes.node(
            node_object(row[0]),
            nnc=nodes.node_network_config(
                nnc_object(row, "NCUpdateSubnetFullError" if row[0] in full else "NCUpdateSuccess")
            ),
        )
        for row in NNC_TABLE
    ]


def service_network(cluster_ips: list[str]) -> report_pb2.ServiceNetwork:
    """The services gatherer's summary of the kube-dns Service of
    k8s/coredns/kubernetes_coredns.yaml.base, copied once per cluster IP (the copies are
    hand-made: only the name and clusterIP differ)."""
    template = next(
        d
        for d in k8s_documents("coredns/kubernetes_coredns.yaml.base")
        if d.get("kind") == "Service"
    )
    objects = []
    for index, ip in enumerate(cluster_ips):
        service = {**template, "metadata": {**template["metadata"], "name": f"svc-{index}"}}
        service["spec"] = {**template["spec"], "clusterIP": ip}
        objects.append(service)
    return services.service_network(objects)


# -- evaluation without the registry ---------------------------------------------------


def evaluate(
    rule: Rule,
    facts: audit_pb2.ClusterFacts,
    config: Mapping[str, Any] | None = None,
    on_premises_cidrs: list[str] | None = None,
) -> RuleOutcome:
    """One rule through the engine with ``config`` as its ``rules: {ID: ...}`` entry.

    The settings are built without the registry check, so a plain test runs the same
    before and after the rule is registered (the CASES go through the registry).
    """
    per_rule = {rule.id: PerRuleSettings.model_validate(dict(config))} if config else {}
    settings = RuleSettings.model_construct(
        per_rule=per_rule, on_premises_cidrs=list(on_premises_cidrs or [])
    )
    return evaluate_rule(rule, ClusterView(facts), settings)


# -- azure-cns IPAM metrics (domain.md §1.5) --------------------------------------------------
# No exposition is published: these are the series and labels domain.md §1.5 lists, in the
# Prometheus text format, read through the agent's own parser.

AZURE_CNS = report_pb2.Workload(kind="DaemonSet", namespace="kube-system", name="azure-cns")


def cns_exposition(
    *,
    available: int | None,
    requested: int | None = None,
    total: int | None = None,
    allocated: int | None = None,
    exhausted: int | None = None,
    subnet: str = "podnet",
    cidr: str = "10.241.0.0/16",
) -> str:
    """One node's azure-cns /metrics; a series whose value is None is left out."""
    labels = f'podnet_arm_id="",subnet="{subnet}",subnet_cidr="{cidr}"'
    series = {
        "cx_ipam_available_ips": available,
        "cx_ipam_requested_ips": requested,
        "cx_ipam_total_ips": total,
        "cx_ipam_pod_allocated_ips": allocated,
        "cx_ipam_subnet_exhaustion_state": exhausted,
    }
    lines = ["# HELP go_goroutines Number of goroutines that currently exist.",
             "# TYPE go_goroutines gauge", "go_goroutines 97"]  # fmt: skip
    for name, value in series.items():
        if value is not None:
            lines += [f"# TYPE {name} gauge", f"{name}{{{labels}}} {value}"]
    return "\n".join(lines) + "\n"


def cns_pool(
    node_name: str, scraped_at: datetime = NOW, **series: Any
) -> report_pb2.CnsNodeMetrics:
    """The agent's evidence of ``node_name``'s azure-cns exposing ``series``."""
    pod = {"metadata": {"name": f"azure-cns-{node_name[-4:]}"}, "spec": {"nodeName": node_name}}
    return azure_cns_metrics.node_metrics(cns_exposition(**series), pod, scraped_at)
