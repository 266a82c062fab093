"""Node, Pod and NodeNetworkConfig -> Node messages.

Hand-made fixtures: no real AKS Node/Pod/NodeNetworkConfig objects are
published (see the fixtures MANIFEST, "Missing" 7 and 8). Labels and field
values follow /work/shared/incluster.md §1 and §4 and the NNC CRD schema in
fixtures/k8s/cni/crd_acn.azure.com_nodenetworkconfigs.yaml.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from netaudit.agent.gatherers import nodes as nodes_gatherer
from netaudit.agent.gatherers.nodes import (
    PodCounts,
    count_pods_by_node,
    network_labels,
    node,
    node_network_config,
    parse_count,
)
from tests.conftest import SHARED_FIXTURES

OVERLAY_NODE: dict[str, Any] = {
    "metadata": {
        "name": "aks-nodepool1-12345678-vmss000000",
        "labels": {
            "agentpool": "nodepool1",
            "kubernetes.azure.com/agentpool": "nodepool1",
            "kubernetes.azure.com/azure-cni-overlay": "true",
            "kubernetes.azure.com/podnetwork-type": "overlay",
            "kubernetes.azure.com/os-sku": "Ubuntu",
            "kubernetes.azure.com/mode": "system",
            "kubernetes.io/os": "linux",
            "node.kubernetes.io/instance-type": "Standard_D4s_v5",
            "topology.kubernetes.io/zone": "westeurope-1",
            "app": "not-a-network-label",
        },
    },
    "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24", "fd12:3456::/80"]},
    "status": {
        "allocatable": {"pods": "250", "cpu": "3860m"},
        "addresses": [
            {"type": "InternalIP", "address": "10.224.0.4"},
            {"type": "Hostname", "address": "aks-nodepool1-12345678-vmss000000"},
        ],
        "conditions": [
            {"type": "MemoryPressure", "status": "False"},
            {"type": "Ready", "status": "True"},
        ],
        "nodeInfo": {"operatingSystem": "linux"},
    },
}

VIRTUAL_NODE: dict[str, Any] = {
    "metadata": {"name": "virtual-node-aci-linux", "labels": {"type": "virtual-kubelet"}},
    "spec": {},
    "status": {
        "allocatable": {"pods": "1k"},
        "conditions": [{"type": "Ready", "status": "False"}],
        "nodeInfo": {"operatingSystem": "Linux"},
    },
}

NODE_SUBNET_NNC: dict[str, Any] = {
    "metadata": {
        "name": "aks-nodepool1-39652274-vmss000000",
        "namespace": "kube-system",
        "labels": {"kubernetes.azure.com/podnetwork-type": "vnet"},
    },
    "spec": {"requestedIPCount": 48},
    "status": {
        "assignedIPCount": 48,
        "status": "Updated",
        "networkContainers": [
            {
                # Values from acn-pr1908_kubectl-get-nnc-wide.txt (ACN PR #1908).
                "id": "7f68a6e2-b0a5-4c78-bc0d-24bb9bcefbcf",
                "type": "vnet",
                "assignmentMode": "dynamic",
                "subnetName": "podnet",
                "subnetAddressSpace": "10.241.0.0/16",
                "subnetID": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/"
                "virtualNetworks/vnet/subnets/podnet",
                "vnetID": "vnet-guid",
                "status": "NCUpdateSuccess",
                "ipAssignments": [{"name": f"uuid-{i}", "ip": f"10.241.0.{i}"} for i in range(48)],
            }
        ],
    },
}


def pod(node_name: str | None, *, host_network: bool = False, phase: str = "Running") -> dict:
    spec: dict[str, Any] = {"hostNetwork": host_network} if host_network else {}
    if node_name:
        spec["nodeName"] = node_name
    return {"metadata": {"name": "p"}, "spec": spec, "status": {"phase": phase}}


def test_pods_are_counted_per_node_by_network_and_finished_pods_are_skipped() -> None:
    pods = [
        pod("a"),
        pod("a"),
        pod("a", host_network=True),
        pod("b", host_network=True),
        pod("a", phase="Succeeded"),
        pod("a", phase="Failed"),
        pod("b", phase="Pending"),
        pod("b", host_network=True, phase="Pending"),  # takes the node's IP, not the pool's
        pod(None),  # unscheduled: no node holds its IP yet
    ]
    counts = count_pods_by_node(pods)
    assert counts == {"a": PodCounts(2, 1, 0), "b": PodCounts(1, 2, 1)}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("110", 110), ("250", 250), ("1k", 1000), ("", 0), (None, 0), ("3860m", 0), ("x", 0)],
)
def test_allocatable_pod_quantities_parse_as_integers(raw: object, expected: int) -> None:
    assert parse_count(raw) == expected


def test_network_labels_keep_every_aks_label_plus_agentpool_and_type() -> None:
    labels = network_labels(OVERLAY_NODE["metadata"]["labels"])
    assert labels["kubernetes.azure.com/azure-cni-overlay"] == "true"
    assert labels["agentpool"] == "nodepool1"
    assert "app" not in labels
    assert "kubernetes.io/os" not in labels


def test_overlay_node_carries_pool_os_cidrs_pods_and_readiness() -> None:
    message = node(OVERLAY_NODE, PodCounts(pod_network=30, host_network=5, pending_pod_network=2))
    assert message.name == "aks-nodepool1-12345678-vmss000000"
    assert message.pool == "nodepool1"
    assert (message.os, message.os_sku) == ("linux", "Ubuntu")
    assert message.instance_type == "Standard_D4s_v5"
    assert message.zone == "westeurope-1"
    assert list(message.pod_cidrs) == ["10.244.0.0/24", "fd12:3456::/80"]
    assert message.allocatable_pods == 250
    assert (message.pods_on_pod_network, message.host_network_pods) == (30, 5)
    assert message.pending_pods_on_pod_network == 2
    assert message.ready is True
    assert list(message.internal_ips) == ["10.224.0.4"]
    assert message.network_labels["kubernetes.azure.com/podnetwork-type"] == "overlay"
    assert not message.virtual_kubelet
    assert not message.HasField("node_network_config")


def test_virtual_kubelet_node_is_flagged_and_not_ready() -> None:
    message = node(VIRTUAL_NODE)
    assert message.virtual_kubelet
    assert message.ready is False
    assert message.pool == ""
    assert message.os == "Linux"  # from nodeInfo when the label is missing
    assert message.allocatable_pods == 1000
    assert list(message.pod_cidrs) == []


def test_single_stack_node_falls_back_to_spec_pod_cidr() -> None:
    legacy = {**OVERLAY_NODE, "spec": {"podCIDR": "10.244.3.0/24"}}
    assert list(node(legacy).pod_cidrs) == ["10.244.3.0/24"]


def test_node_network_config_counts_requested_assigned_and_containers() -> None:
    message = node_network_config(NODE_SUBNET_NNC)
    assert (message.requested_ip_count, message.assigned_ip_count) == (48, 48)
    assert message.status == "Updated"
    assert message.labels["kubernetes.azure.com/podnetwork-type"] == "vnet"
    (container,) = message.network_containers
    assert container.type == "vnet"
    assert container.assignment_mode == "dynamic"
    assert container.subnet_name == "podnet"
    assert container.subnet_address_space == "10.241.0.0/16"
    assert container.subnet_id.endswith("/subnets/podnet")
    assert container.ip_assignment_count == 48
    assert container.status == "NCUpdateSuccess"


def test_node_network_config_fields_match_the_published_crd_schema() -> None:
    crd = yaml.safe_load(
        (SHARED_FIXTURES / "k8s/cni/crd_acn.azure.com_nodenetworkconfigs.yaml").read_text()
    )
    (version,) = crd["spec"]["versions"]
    schema = version["schema"]["openAPIV3Schema"]["properties"]
    assert crd["spec"]["group"] == "acn.azure.com" and version["name"] == "v1alpha"
    assert "requestedIPCount" in schema["spec"]["properties"]
    status = schema["status"]["properties"]
    assert {"assignedIPCount", "status", "networkContainers"} <= set(status)
    container = status["networkContainers"]["items"]["properties"]
    read = {"id", "type", "assignmentMode", "subnetName", "subnetAddressSpace", "subnetID"}
    assert read | {"vnetID", "status", "ipAssignments"} <= set(container)


def test_node_joins_its_node_network_config() -> None:
    joined = node(OVERLAY_NODE, None, node_network_config(NODE_SUBNET_NNC))
    assert joined.node_network_config.requested_ip_count == 48


def test_nnc_carries_when_it_was_observed_and_its_newest_condition_transition() -> None:
    # hand-made: the NNC CRD's status has no conditions today; a status that has them
    raw = {
        "metadata": {"name": "aks-nodepool1-39652274-vmss000000"},
        "spec": {"requestedIPCount": 48},
        "status": {
            "assignedIPCount": 32,
            "conditions": [
                {"type": "A", "lastTransitionTime": "2026-11-27T11:40:00Z"},
                {"type": "B", "lastTransitionTime": "2026-11-27T11:50:00Z"},
            ],
        },
    }
    at = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    nnc = nodes_gatherer.node_network_config(raw, at)
    assert (nnc.requested_ip_count, nnc.assigned_ip_count) == (48, 32)
    assert nnc.observed_at.ToDatetime(tzinfo=UTC) == at
    assert nnc.status_last_transition_time.ToDatetime(tzinfo=UTC) == datetime(
        2026, 11, 27, 11, 50, tzinfo=UTC
    )
    del raw["status"]["conditions"]
    assert not nodes_gatherer.node_network_config(raw).HasField("status_last_transition_time")
    assert not nodes_gatherer.node_network_config(raw).HasField("observed_at")
