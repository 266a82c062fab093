"""The network model from ARM (every fixture cluster) and, without ARM, from agent evidence."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from netaudit.collector.analysis.network_model import (
    NetworkModel,
    Source,
    decide_network_model,
    model_from_inventory,
    model_from_report,
)
from netaudit.collector.inventory import convert
from netaudit.v1 import audit_pb2, report_pb2
from tests.conftest import SHARED_FIXTURES


def fixture(name: str) -> Any:
    data = json.loads((SHARED_FIXTURES / "arm" / "managedclusters" / name).read_text())
    return data["responses"]["200"]["body"] if "responses" in data else data


KUBENET = NetworkModel.KUBENET
OVERLAY = NetworkModel.AZURE_OVERLAY

FIXTURE_MODELS = {
    "AdvancedNetworkingTransitEncryption.json": (OVERLAY, True),
    "ManagedClustersCreate_DualStackNetworking.json": (KUBENET, False),
    "ManagedClustersCreate_IngressProfile_WebAppRouting.json": (KUBENET, False),
    "ManagedClustersCreate_LocalDNS.json": (KUBENET, False),
    "ManagedClustersCreate_ManagedNATGateway.json": (KUBENET, False),
    "ManagedClustersCreate_PrivateClusterFQDNSubdomain.json": (KUBENET, False),
    "ManagedClustersCreate_PrivateClusterPublicFQDN.json": (KUBENET, False),
    "ManagedClustersCreate_Update.json": (KUBENET, False),
    "ManagedClustersCreate_UserAssignedNATGateway.json": (KUBENET, False),
    "ManagedClustersGet.json": (KUBENET, False),
    "azcli-recording_ManagedClusterGet_azure-cni-windows-pool.json": (
        NetworkModel.AZURE_NODE_SUBNET,
        False,
    ),
    "azcli-recording_ManagedClusterGet_byo-subnet-ingress-appgw.json": (KUBENET, False),
    "azcli-recording_ManagedClusterGet_cni-overlay-after-migration.json": (OVERLAY, False),
    "azcli-recording_ManagedClusterGet_cni-overlay-cilium.json": (OVERLAY, True),
    "azcli-recording_ManagedClusterGet_cni-overlay.json": (OVERLAY, False),
    "azcli-recording_ManagedClusterGet_ingress-appgw-addon.json": (KUBENET, False),
    "azcli-recording_ManagedClusterGet_private-cluster-public-fqdn-disabled.json": (KUBENET, False),
    "azcli-recording_ManagedClusterGet_private-dns-zone-none.json": (KUBENET, False),
}


@pytest.mark.parametrize("name", sorted(FIXTURE_MODELS))
def test_model_of_each_fixture_cluster(name: str) -> None:
    verdict = model_from_inventory(convert.cluster_inventory(fixture(name)))
    assert (verdict.model, verdict.cilium_dataplane) == FIXTURE_MODELS[name]
    assert verdict.source is Source.INVENTORY
    assert verdict.evidence[0].startswith("networkPlugin=")


def with_pools(**pool_properties: Any) -> Any:
    """The recorded Azure CNI (node subnet) cluster with extra properties on every pool:
    no published payload has podSubnetID (fixtures MANIFEST, "Missing")."""
    body = copy.deepcopy(fixture("azcli-recording_ManagedClusterGet_azure-cni-windows-pool.json"))
    for pool in body["properties"]["agentPoolProfiles"]:
        pool.update(pool_properties)
    return body


POD_SUBNET = (
    "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/pods"
)


@pytest.mark.parametrize(
    ("properties", "model"),
    [
        ({"podSubnetID": POD_SUBNET}, NetworkModel.AZURE_POD_SUBNET_DYNAMIC),
        (
            {"podSubnetID": POD_SUBNET, "podIPAllocationMode": "DynamicIndividual"},
            NetworkModel.AZURE_POD_SUBNET_DYNAMIC,
        ),
        (
            {"podSubnetID": POD_SUBNET, "podIPAllocationMode": "StaticBlock"},
            NetworkModel.AZURE_POD_SUBNET_STATIC,
        ),
        ({"podIPAllocationMode": "StaticBlock"}, NetworkModel.AZURE_NODE_SUBNET),
    ],
)
def test_pod_subnet_models(properties: dict[str, Any], model: NetworkModel) -> None:
    assert model_from_inventory(convert.cluster_inventory(with_pools(**properties))).model is model


def test_plugin_none_is_bring_your_own_cni() -> None:
    body = with_pools()
    body["properties"]["networkProfile"]["networkPlugin"] = "none"
    assert model_from_inventory(convert.cluster_inventory(body)).model is NetworkModel.BYO


def test_plugin_comparison_ignores_case() -> None:
    body = fixture("azcli-recording_ManagedClusterGet_cni-overlay.json")
    body["properties"]["networkProfile"].update(networkPlugin="Azure", networkPluginMode="Overlay")
    assert model_from_inventory(convert.cluster_inventory(body)).model is OVERLAY


# Hand-made report evidence: no published AKS Node/NNC objects (fixtures MANIFEST, "Missing").
def node(
    labels: dict[str, str] | None = None,
    pod_cidrs: tuple[str, ...] = (),
    nc_types: tuple[str, ...] = (),
    virtual: bool = False,
) -> report_pb2.Node:
    result = report_pb2.Node(
        name="aks-nodepool1-0",
        network_labels={"kubernetes.azure.com/cluster": "MC_rg_c_westeurope", **(labels or {})},
        pod_cidrs=pod_cidrs,
        virtual_kubelet=virtual,
    )
    if nc_types:
        result.node_network_config.network_containers.extend(
            report_pb2.NetworkContainer(type=t) for t in nc_types
        )
    return result


def daemonset(name: str, namespace: str = "kube-system", **labels: str) -> report_pb2.Workload:
    return report_pb2.Workload(kind="DaemonSet", namespace=namespace, name=name, labels=labels)


def report(nodes: list[report_pb2.Node], *workloads: report_pb2.Workload) -> report_pb2.Report:
    result = report_pb2.Report(nodes=nodes)
    result.cni.workloads.extend(workloads)
    return result


@pytest.mark.parametrize(
    ("evidence", "model", "cilium"),
    [
        (report([node({"kubernetes.azure.com/podnetwork-type": "overlay"})]), OVERLAY, False),
        (report([node({"kubernetes.azure.com/azure-cni-overlay": "true"})]), OVERLAY, False),
        (report([node(nc_types=("overlay",))], daemonset("azure-cns")), OVERLAY, False),
        (
            report(
                [
                    node(
                        {
                            "kubernetes.azure.com/azure-cni-overlay": "true",
                            "kubernetes.azure.com/ebpf-dataplane": "cilium",
                        }
                    )
                ],
                daemonset("cilium", **{"kubernetes.azure.com/managedby": "aks"}),
            ),
            OVERLAY,
            True,
        ),
        (report([node(nc_types=("vnet",))]), NetworkModel.AZURE_POD_SUBNET_DYNAMIC, False),
        (report([node(nc_types=("vnetblock",))]), NetworkModel.AZURE_POD_SUBNET_STATIC, False),
        (
            report([node(pod_cidrs=("10.244.0.0/24",)), node(pod_cidrs=("10.244.1.0/24",))]),
            KUBENET,
            False,
        ),
        (report([node()], daemonset("azure-ip-masq-agent")), NetworkModel.AZURE_NODE_SUBNET, False),
        (report([node()], daemonset("cilium")), NetworkModel.BYO, True),
        (report([node()]), NetworkModel.UNKNOWN, False),
        (report([node(virtual=True)]), NetworkModel.UNKNOWN, False),
    ],
)
def test_model_from_agent_evidence(
    evidence: report_pb2.Report, model: NetworkModel, cilium: bool
) -> None:
    verdict = model_from_report(evidence)
    assert (verdict.model, verdict.cilium_dataplane, verdict.source) == (
        model,
        cilium,
        Source.REPORT,
    )


def test_virtual_kubelet_nodes_are_ignored() -> None:
    evidence = report([node(pod_cidrs=("10.244.0.0/24",)), node(virtual=True)])
    assert model_from_report(evidence).model is KUBENET


def test_pod_cidrs_with_azure_cns_are_not_kubenet() -> None:
    evidence = report([node(pod_cidrs=("10.244.0.0/24",))], daemonset("azure-cns"))
    assert model_from_report(evidence).model is NetworkModel.UNKNOWN


def test_inventory_wins_over_the_report() -> None:
    facts = audit_pb2.ClusterFacts(
        inventory=convert.cluster_inventory(fixture("ManagedClustersGet.json")),
        report=report([node({"kubernetes.azure.com/podnetwork-type": "overlay"})]),
    )
    assert decide_network_model(facts).model is KUBENET


def test_report_decides_without_inventory_or_plugin() -> None:
    evidence = report([node({"kubernetes.azure.com/podnetwork-type": "overlay"})])
    assert decide_network_model(audit_pb2.ClusterFacts(report=evidence)).model is OVERLAY
    no_plugin = audit_pb2.ClusterFacts(
        inventory=convert.cluster_inventory({"id": "/subscriptions/s/resourceGroups/g/x/y/c"}),
        report=evidence,
    )
    assert decide_network_model(no_plugin).source is Source.REPORT


def test_nothing_known_is_unknown() -> None:
    verdict = decide_network_model(audit_pb2.ClusterFacts(cluster_key="c"))
    assert (verdict.model, verdict.source) == (NetworkModel.UNKNOWN, Source.NONE)
