"""Fleet context: other clusters sharing a subnet, route table, private zone or owner id."""

from __future__ import annotations

from typing import Any

from netaudit.collector.analysis.fleet import cluster_key, fleet_context, fleet_contexts
from netaudit.collector.inventory import convert
from netaudit.v1 import audit_pb2, inventory_pb2, report_pb2

SUB = "/subscriptions/aaaaaaaa-0000-0000-0000-000000000001"
NET = f"{SUB}/resourceGroups/rg-net/providers/Microsoft.Network"
SHARED_SUBNET = f"{NET}/virtualNetworks/hub/subnets/shared"
ROUTE_TABLE = f"{NET}/routeTables/rt-kubenet"
ZONE = f"{NET}/privateDnsZones/privatelink.westeurope.azmk8s.io"


def cluster_id(name: str) -> str:
    return (
        f"{SUB}/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/{name}"
    )


def inventory(
    name: str, subnet: str, *, zone: str | None = None, route_table: str | None = None
) -> inventory_pb2.ClusterInventory:
    properties: dict[str, Any] = {
        "agentPoolProfiles": [{"name": "nodepool1", "vnetSubnetID": subnet}],
        "apiServerAccessProfile": {
            "enablePrivateCluster": True,
            "privateDNSZone": zone or "system",
        },
    }
    result = convert.cluster_inventory(
        {"id": cluster_id(name), "name": name, "properties": properties}
    )
    subnet_properties: dict[str, Any] = {"addressPrefix": "10.0.0.0/24"}
    if route_table:
        subnet_properties["routeTable"] = {"id": route_table}
    result.subnets.append(convert.subnet({"id": subnet, "properties": subnet_properties}))
    return result


def report(name: str, *owner_ids: str) -> report_pb2.Report:
    result = report_pb2.Report()
    result.cluster.arm_resource_id = cluster_id(name).upper()
    result.external_dns.instances.extend(
        report_pb2.ExternalDnsInstance(txt_owner_id=o) for o in owner_ids
    )
    return result


def test_cluster_key_is_the_lower_cased_resource_id() -> None:
    assert cluster_key(" /Subscriptions/A/resourceGroups/B ") == "/subscriptions/a/resourcegroups/b"


def test_clusters_sharing_a_subnet_name_each_other() -> None:
    inventories = [
        inventory("a", SHARED_SUBNET),
        inventory("b", SHARED_SUBNET.replace("resourceGroups", "resourcegroups").upper()),
        inventory("c", f"{NET}/virtualNetworks/spoke/subnets/own"),
    ]
    contexts = fleet_contexts(inventories, [])
    key_a, key_b, key_c = (cluster_key(cluster_id(n)) for n in "abc")
    assert [(s.resource, list(s.cluster_keys)) for s in contexts[key_a].shared_subnets] == [
        (SHARED_SUBNET.lower(), [key_b])
    ]
    assert [list(s.cluster_keys) for s in contexts[key_b].shared_subnets] == [[key_a]]
    assert contexts[key_c] == audit_pb2.FleetContext()


def test_route_tables_are_shared_through_different_subnets() -> None:
    inventories = [
        inventory("a", f"{NET}/virtualNetworks/v/subnets/a", route_table=ROUTE_TABLE),
        inventory("b", f"{NET}/virtualNetworks/v/subnets/b", route_table=ROUTE_TABLE.upper()),
    ]
    context = fleet_context(cluster_id("a"), inventories, [])
    assert [(s.resource, list(s.cluster_keys)) for s in context.shared_route_tables] == [
        (ROUTE_TABLE.lower(), [cluster_key(cluster_id("b"))])
    ]
    assert list(context.shared_subnets) == []


def test_custom_private_zones_are_shared_but_system_zones_are_not() -> None:
    inventories = [
        inventory("a", f"{NET}/virtualNetworks/v/subnets/a", zone=ZONE),
        inventory("b", f"{NET}/virtualNetworks/v/subnets/b", zone=ZONE),
        inventory("c", f"{NET}/virtualNetworks/v/subnets/c"),
        inventory("d", f"{NET}/virtualNetworks/v/subnets/d"),
    ]
    contexts = fleet_contexts(inventories, [])
    assert [
        s.resource for s in contexts[cluster_key(cluster_id("a"))].shared_private_dns_zones
    ] == [ZONE.lower()]
    assert list(contexts[cluster_key(cluster_id("c"))].shared_private_dns_zones) == []


def test_external_dns_owner_ids_default_to_default() -> None:
    reports = [
        report("a", ""),
        report("b", "default"),
        report("c", "team-c"),
        report("d", "team-c", "x"),
    ]
    contexts = fleet_contexts([], reports)
    assert [
        (s.resource, list(s.cluster_keys))
        for s in contexts[cluster_key(cluster_id("a"))].shared_external_dns_owner_ids
    ] == [("default", [cluster_key(cluster_id("b"))])]
    assert [
        s.resource for s in contexts[cluster_key(cluster_id("d"))].shared_external_dns_owner_ids
    ] == ["team-c"]


def test_a_cluster_unknown_to_the_fleet_has_an_empty_context() -> None:
    assert fleet_context(
        "/subscriptions/x/resourcegroups/y/providers/p/t/z", [inventory("a", SHARED_SUBNET)], []
    ) == (audit_pb2.FleetContext())
