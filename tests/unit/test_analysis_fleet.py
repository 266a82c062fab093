"""Fleet claims: the compact projection the fleet-wide rules read, and ExternalDNS overlap."""

from __future__ import annotations

from typing import Any

import pytest

from netaudit.collector.analysis.fleet import (
    claim_kind,
    claim_resource,
    cluster_key,
    inventory_claims,
    overlap_components,
    report_claims,
)
from netaudit.collector.inventory import convert
from netaudit.v1 import audit_pb2, inventory_pb2, report_pb2

SUB = "/subscriptions/aaaaaaaa-0000-0000-0000-000000000001"
NET = f"{SUB}/resourceGroups/rg-net/providers/Microsoft.Network"
SHARED_SUBNET = f"{NET}/virtualNetworks/hub/subnets/shared"
POD_SUBNET = f"{NET}/virtualNetworks/hub/subnets/pods"
ROUTE_TABLE = f"{NET}/routeTables/rt-kubenet"


def cluster_id(name: str) -> str:
    return (
        f"{SUB}/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/{name}"
    )


def inventory(
    name: str, *, plugin: str = "azure", pod_subnet: bool = False, route_table: str | None = None
) -> inventory_pb2.ClusterInventory:
    """A hand-made cluster body in ARM's shape: one autoscaling pool on the shared subnet."""
    pool: dict[str, Any] = {
        "name": "nodepool1",
        "vnetSubnetID": SHARED_SUBNET.upper(),
        "enableAutoScaling": True,
        "maxCount": 5,
        "count": 2,
        "maxPods": 30,
        "upgradeSettings": {"maxSurge": "1"},
    }
    if pod_subnet:
        pool.update(podSubnetID=POD_SUBNET, podIPAllocationMode="StaticBlock")
    result = convert.cluster_inventory(
        {
            "id": cluster_id(name),
            "name": name,
            "properties": {
                "networkProfile": {"networkPlugin": plugin},
                "agentPoolProfiles": [pool],
            },
        }
    )
    subnet_properties: dict[str, Any] = {"addressPrefix": "10.0.0.0/24"}
    if route_table:
        subnet_properties["routeTable"] = {"id": route_table}
    result.subnets.append(convert.subnet({"id": SHARED_SUBNET, "properties": subnet_properties}))
    result.subnets.append(
        convert.subnet({"id": POD_SUBNET, "properties": {"addressPrefix": "10.1.0.0/22"}})
    )
    result.virtual_networks.append(
        convert.virtual_network(
            {"id": f"{NET}/virtualNetworks/hub"},
            [{"id": SHARED_SUBNET, "currentValue": 100, "limit": 251}],
        )
    )
    return result


def test_cluster_key_is_the_lower_cased_resource_id() -> None:
    assert cluster_key(" /Subscriptions/A/resourceGroups/B ") == "/subscriptions/a/resourcegroups/b"


def test_a_legacy_cni_cluster_claims_its_node_subnet_with_its_terms() -> None:
    (claim,) = inventory_claims(inventory("a"))
    assert (claim_kind(claim), claim_resource(claim)) == ("subnet", SHARED_SUBNET.lower())
    assert claim.cluster_key == cluster_id("a").lower()
    subnet = claim.subnet
    assert (subnet.role, subnet.network_model, subnet.usable, subnet.free) == (
        "node",
        "azure-node-subnet",
        251,
        151,
    )
    assert [(p.pool, p.nodes, p.surge, p.ips_per_node) for p in subnet.pools] == [
        ("nodepool1", 5, 1, 31)
    ]


def test_pod_subnet_claims_carry_the_allocation_mode() -> None:
    node, pod = inventory_claims(inventory("a", pod_subnet=True))
    assert (node.subnet.role, node.subnet.pools[0].ips_per_node) == ("node", 1)
    assert pod.subnet.subnet_id == POD_SUBNET.lower()
    assert (pod.subnet.role, pod.subnet.pools[0].pod_ip_allocation_mode) == ("pod", "StaticBlock")
    assert pod.subnet.pools[0].ips_per_node == 32  # 16 * ceil((30 + 1) / 16)
    assert not pod.subnet.HasField("free")


def test_route_tables_on_the_pool_subnets_are_claimed() -> None:
    claims = inventory_claims(inventory("k", plugin="kubenet", route_table=ROUTE_TABLE))
    (table,) = [c for c in claims if claim_kind(c) == "route_table"]
    assert claim_resource(table) == ROUTE_TABLE.lower()
    assert (table.route_table.network_plugin, list(table.route_table.subnet_ids)) == (
        "kubenet",
        [SHARED_SUBNET.lower()],
    )


def test_external_dns_owner_ids_default_to_default() -> None:
    report = report_pb2.Report()
    report.cluster.arm_resource_id = cluster_id("a").upper()
    report.external_dns.instances.add(domain_filters=["Example.COM."])
    report.external_dns.instances.add(txt_owner_id="Team-B")
    first, second = report_claims(report)
    assert (claim_resource(first), list(first.external_dns.domain_filters)) == (
        "default",
        ["example.com"],
    )
    assert claim_resource(second) == "team-b"
    assert first.cluster_key == cluster_id("a").lower()


def dns(*domains: str) -> audit_pb2.FleetClaim:
    return audit_pb2.FleetClaim(external_dns=audit_pb2.ExternalDnsClaim(domain_filters=domains))


@pytest.mark.parametrize(
    ("claims", "groups"),
    [
        ([dns("a.io"), dns("a.io")], [[0, 1]]),
        ([dns("a.io"), dns("b.io")], []),
        ([dns("shop.a.io"), dns("a.io"), dns("b.io")], [[0, 1]]),
        ([dns("a.io"), dns(), dns("b.io")], [[0, 1, 2]]),
        ([dns("x.a.io"), dns("y.a.io")], []),
        ([dns("x.a.io", "b.io"), dns("b.io"), dns("c.io")], [[0, 1]]),
    ],
)
def test_external_dns_instances_overlap_by_domain(
    claims: list[audit_pb2.FleetClaim], groups: list[list[int]]
) -> None:
    assert overlap_components(claims) == groups


def test_overlap_is_linear_for_thousands_of_instances_of_one_owner() -> None:
    claims = [dns(f"team{i}.example.com") for i in range(20_000)] + [dns("example.com")]
    (group,) = overlap_components(claims)
    assert len(group) == 20_001
