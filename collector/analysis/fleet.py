"""Fleet context: which other clusters share a subnet, route table, private zone or owner id.

Sharing is what the cross-cluster rules judge: a kubenet route table used by
two clusters (KUB-003, A-KUB), pod subnets shared with another allocation mode
(CNI-010), two ExternalDNS instances with one ``--txt-owner-id`` (EDN-001).
Cluster keys are lower-cased ARM resource ids; shared resources are keyed
lower-cased too, because ARM is inconsistent about casing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from netaudit.v1 import audit_pb2, inventory_pb2, report_pb2

DEFAULT_TXT_OWNER_ID = "default"
"""ExternalDNS ``--txt-owner-id`` when the flag is not given (EDNS flags.md)."""

Index = dict[str, set[str]]


def cluster_key(arm_resource_id: str) -> str:
    """The key a cluster has everywhere: its ARM resource id, lower-cased."""
    return arm_resource_id.strip().lower()


def fleet_context(
    key: str,
    inventories: Iterable[inventory_pb2.ClusterInventory],
    reports: Iterable[report_pb2.Report],
) -> audit_pb2.FleetContext:
    """The FleetContext of one cluster; see :func:`fleet_contexts` for the whole fleet."""
    return fleet_contexts(inventories, reports).get(cluster_key(key), audit_pb2.FleetContext())


def fleet_contexts(
    inventories: Iterable[inventory_pb2.ClusterInventory],
    reports: Iterable[report_pb2.Report],
) -> dict[str, audit_pb2.FleetContext]:
    """Every cluster's FleetContext, indexing the fleet once (linear in the fleet's size)."""
    inventories = list(inventories)
    reports = list(reports)
    subnets = _index(
        (cluster_key(i.arm_resource_id), s) for i in inventories for s in _subnet_ids(i)
    )
    route_tables = _index(
        (cluster_key(i.arm_resource_id), rt) for i in inventories for rt in _route_tables(i)
    )
    zones = _index((cluster_key(i.arm_resource_id), z) for i in inventories for z in _zone_ids(i))
    owners = _index(
        (cluster_key(r.cluster.arm_resource_id), o) for r in reports for o in _owner_ids(r)
    )
    keys = (
        {cluster_key(i.arm_resource_id) for i in inventories}
        | {cluster_key(r.cluster.arm_resource_id) for r in reports}
    ) - {""}
    return {
        key: audit_pb2.FleetContext(
            shared_subnets=_shared(key, subnets),
            shared_route_tables=_shared(key, route_tables),
            shared_private_dns_zones=_shared(key, zones),
            shared_external_dns_owner_ids=_shared(key, owners),
        )
        for key in keys
    }


def _index(pairs: Iterable[tuple[str, str]]) -> Index:
    """resource -> cluster keys using it."""
    index: Index = {}
    for key, resource in pairs:
        if key and resource:
            index.setdefault(resource, set()).add(key)
    return index


def _shared(key: str, index: Mapping[str, set[str]]) -> list[audit_pb2.SharedResource]:
    return [
        audit_pb2.SharedResource(resource=resource, cluster_keys=sorted(users - {key}))
        for resource, users in sorted(index.items())
        if key in users and len(users) > 1
    ]


def _subnet_ids(inventory: inventory_pb2.ClusterInventory) -> Iterator[str]:
    """Node and pod subnets of the cluster's pools."""
    for pool in inventory.agent_pools:
        for subnet_id in (pool.vnet_subnet_id, pool.pod_subnet_id):
            if subnet_id:
                yield subnet_id.lower()


def _route_tables(inventory: inventory_pb2.ClusterInventory) -> Iterator[str]:
    """Route tables on the subnets the cluster's pools use (as ARM returned the subnets)."""
    used = set(_subnet_ids(inventory))
    for subnet in inventory.subnets:
        if subnet.id.lower() in used and subnet.route_table_id:
            yield subnet.route_table_id.lower()


def _zone_ids(inventory: inventory_pb2.ClusterInventory) -> Iterator[str]:
    """Private DNS zones the cluster's configuration names: its custom API server zone
    (A-PRV) and private zones given to the app-routing add-on (SDK ``webAppRouting``).
    Zones AKS creates per cluster (``system``) live in its node resource group and are
    not shared."""
    zone = inventory.api_server_access.private_dns_zone
    if zone.startswith("/"):
        yield zone.lower()
    for zone_id in inventory.ingress_profile.web_app_routing_dns_zone_ids:
        if "/privatednszones/" in zone_id.lower():
            yield zone_id.lower()


def _owner_ids(report: report_pb2.Report) -> Iterator[str]:
    for instance in report.external_dns.instances:
        yield instance.txt_owner_id or DEFAULT_TXT_OWNER_ID
