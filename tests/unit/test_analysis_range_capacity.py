"""Capacity of every range in every IPAM mode, against the worked examples of the docs
(domain.md §1), and growth planning ("can this cluster grow to N nodes?")."""

from __future__ import annotations

from typing import Any

import pytest

from netaudit.collector.analysis.network_model import NetworkModel
from netaudit.collector.analysis.range_capacity import (
    RangeKind,
    Unit,
    cluster_ranges,
    nodes_fitting_pod_cidr,
    plan_growth,
    smallest_pod_cidr_prefix,
    smallest_subnet_prefix,
)
from netaudit.v1 import report_pb2
from tests.rule_cases import inventory_of, managed_cluster

AZURE_CNI = "azcli-recording_ManagedClusterGet_azure-cni-windows-pool.json"
OVERLAY = "azcli-recording_ManagedClusterGet_cni-overlay.json"
KUBENET = "ManagedClustersGet.json"
VNET = "/subscriptions/s/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/vnet"
NODES = f"{VNET}/subnets/nodes"
PODS = f"{VNET}/subnets/pods"


def legacy_cluster(prefix: str = "10.0.0.0/24", **pool: Any) -> Any:
    """The recorded Azure CNI cluster, its first pool alone on a BYO subnet (hand-made)."""
    body = managed_cluster(AZURE_CNI)
    first = body["properties"]["agentPoolProfiles"][0]
    first.update(vnetSubnetID=NODES, **pool)
    body["properties"]["agentPoolProfiles"] = [first]
    subnet = {"id": NODES, "name": "nodes", "properties": {"addressPrefix": prefix}}
    return inventory_of(
        body,
        subnets=[subnet],
        vnets=[({"id": VNET}, [{"id": NODES, "currentValue": 100, "limit": 251}])],
    )


@pytest.mark.parametrize(
    ("required", "prefix"),
    [(1581, 21), (251, 24), (252, 23), (11, 28), (403, 23), (2043, 21), (2044, 20)],
)
def test_smallest_subnet_holds_the_requirement(required: int, prefix: int) -> None:
    # A-IPP: 50 nodes at maxPods 30 with one surge node: 51 + 51*30 = 1,581 -> /21
    assert smallest_subnet_prefix(required) == prefix


@pytest.mark.parametrize(
    ("prefix", "model", "nodes"),
    [
        (16, NetworkModel.AZURE_OVERLAY, 256),  # A-OVC: /16 -> 256 nodes
        (14, NetworkModel.AZURE_OVERLAY, 1024),
        (12, NetworkModel.AZURE_OVERLAY, 4096),
        (24, NetworkModel.AZURE_OVERLAY, 1),
        (16, NetworkModel.KUBENET, 256),
        (12, NetworkModel.KUBENET, 400),  # the route table's 400 routes (A-KUB)
    ],
)
def test_nodes_that_fit_a_pod_cidr(prefix: int, model: NetworkModel, nodes: int) -> None:
    assert nodes_fitting_pod_cidr(prefix, model) == nodes


@pytest.mark.parametrize(("nodes", "prefix"), [(256, 16), (257, 15), (1, 24), (1000, 14)])
def test_smallest_pod_cidr_holds_the_nodes(nodes: int, prefix: int) -> None:
    assert smallest_pod_cidr_prefix(nodes) == prefix


def test_plan_gives_the_docs_slash_21_for_50_nodes_at_max_pods_30() -> None:
    inventory = legacy_cluster(upgradeSettings={"maxSurge": "1"}, maxPods=30)
    (plan,) = plan_growth(inventory, 50)
    assert (plan.kind, plan.required, plan.capacity, plan.fits) == (
        RangeKind.NODE_SUBNET,
        1581,
        251,
        False,
    )
    assert plan.smallest_prefix == 21
    assert plan.arithmetic() == "(50+1)*31=1581 IPs against 251 usable"


def test_a_slash_24_holds_eight_nodes_at_thirty_pods() -> None:
    # A-LEG: "/24 ... max 8 nodes / 240 pods at default 30" (no surge)
    inventory = legacy_cluster(upgradeSettings={"maxSurge": "0"}, maxPods=30)
    assert [p.fits for p in plan_growth(inventory, 8)] == [True]
    assert [p.fits for p in plan_growth(inventory, 9)] == [False]


def test_plan_with_other_max_pods_and_an_unknown_pool_name() -> None:
    inventory = legacy_cluster(upgradeSettings={"maxSurge": "0"})
    (plan,) = plan_growth(inventory, 10, max_pods=250)
    assert plan.required == 10 * 251
    with pytest.raises(ValueError, match="has no pool 'nope'"):
        plan_growth(inventory, 10, pool="nope")


def test_overlay_plan_counts_nodes_against_the_pod_cidr() -> None:
    inventory = inventory_of(managed_cluster(OVERLAY))  # pod CIDR 100.64.0.0/10, one pool
    (plan,) = plan_growth(inventory, 5000)
    assert (plan.kind, plan.range_id, plan.capacity) == (RangeKind.POD_CIDR, "100.64.0.0/10", 16384)
    assert plan.fits


def test_kubenet_beyond_400_nodes_fits_no_pod_cidr() -> None:
    inventory = inventory_of(managed_cluster(KUBENET))  # 10.244.0.0/16, 3 nodes, maxSurge 33%
    (plan,) = plan_growth(inventory, 500)
    assert (plan.capacity, plan.fits, plan.smallest_prefix) == (256, False, None)


def test_cluster_ranges_of_a_legacy_cluster() -> None:
    inventory = legacy_cluster(enableAutoScaling=True, maxCount=10, minCount=1)
    node, service, vnet = cluster_ranges(inventory)
    assert (node.kind, node.unit, node.capacity, node.used, node.required) == (
        RangeKind.NODE_SUBNET,
        Unit.ADDRESSES,
        251,
        100,
        (10 + 1) * 31,
    )
    assert node.headroom == 251 - 341
    assert node.utilisation == pytest.approx(100 / 251)
    assert (service.kind, service.range_id, service.used) == (
        RangeKind.SERVICE_CIDR,
        "10.0.0.0/16",
        None,  # no agent report: nothing counts the ClusterIPs
    )
    assert (vnet.kind, vnet.capacity, vnet.used) == (RangeKind.VNET, 65536, 100)


def test_pod_and_service_cidrs_use_the_agents_evidence() -> None:
    inventory = inventory_of(managed_cluster(KUBENET))
    report = report_pb2.Report()
    for i in range(3):
        report.nodes.add(name=f"n{i}", pod_cidrs=[f"10.244.{i}.0/24"])
    report.services.cluster_ips.extend(["10.0.0.1", "10.0.0.10", "10.1.0.1"])
    ranges = {r.kind: r for r in cluster_ranges(inventory, report)}
    pod = ranges[RangeKind.POD_CIDR]
    assert (pod.unit, pod.capacity, pod.used, pod.required) == (Unit.NODES, 256, 3, 3 + 1)
    service = ranges[RangeKind.SERVICE_CIDR]
    assert (service.range_id, service.capacity, service.used) == ("10.0.0.0/16", 65535, 2)


def test_an_unknown_pool_size_leaves_the_requirement_unknown_with_the_reason() -> None:
    inventory = legacy_cluster(enableAutoScaling=True)  # no maxCount (hand-made)
    node = next(r for r in cluster_ranges(inventory) if r.kind is RangeKind.NODE_SUBNET)
    assert node.required is None and node.headroom is None
    assert "autoscales but ARM gave no maxCount" in node.unknown[0]
