"""What a cluster's inventory references and the refresh must read next, shared by the
ARM reader (collector/inventory/arm.py) and the file reader of the offline audit
(audit/arm_files.py). Pure: no Azure SDK, so reading files does not need it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from netaudit.v1 import inventory_pb2

ROLE_ASSIGNMENTS_SUFFIX = "/providers/Microsoft.Authorization/roleAssignments"
"""Appended to a scope to list its role assignments; also the gap's resource id suffix."""
CONTAINER_SERVICE = "Microsoft.ContainerService"


def referenced_subnet_ids(inventory: inventory_pb2.ClusterInventory) -> list[str]:
    """The pools' node and pod subnets and the API server's VNet-integration subnet."""
    ids = [
        subnet_id
        for pool in inventory.agent_pools
        for subnet_id in (pool.vnet_subnet_id, pool.pod_subnet_id)
        if subnet_id
    ]
    if inventory.api_server_access.subnet_id:
        ids.append(inventory.api_server_access.subnet_id)
    return unique_ids(ids)


def addon_setting(config: Mapping[str, str], key: str) -> str:
    """An add-on config value by key, ignoring case (ARM and the CLI differ)."""
    wanted = key.lower()
    return next((value for name, value in config.items() if name.lower() == wanted), "")


def unique_ids(ids: Iterable[str]) -> list[str]:
    """Resource ids without repeats, compared case-insensitively; the first spelling kept."""
    seen: dict[str, str] = {}
    for resource_id in ids:
        if resource_id:
            seen.setdefault(resource_id.lower(), resource_id)
    return list(seen.values())


def unique_gaps(gaps: Iterable[inventory_pb2.InventoryGap]) -> list[inventory_pb2.InventoryGap]:
    """One gap per (resource, reason), the first kept."""
    seen: dict[tuple[str, str], inventory_pb2.InventoryGap] = {}
    for gap in gaps:
        seen.setdefault((gap.resource_id.lower(), gap.reason), gap)
    return list(seen.values())


def role_assignment_scopes(inventory: inventory_pb2.ClusterInventory) -> list[str]:
    """The scopes whose role assignments the rules judge for this cluster: the subnets it
    uses, their VNets, the custom private DNS zone and the zones (private or public) its
    ExternalDNS instances write (their resource group's grants come with them); none when
    no identity of the cluster has an object id to match (a service principal cluster)."""
    if not any(p.principal_id for p in inventory.identity.principals):
        return []
    subnets = referenced_subnet_ids(inventory)
    vnets = [_parent(subnet_id, "subnets") for subnet_id in subnets]
    zone = inventory.api_server_access.private_dns_zone
    zones = [zone] if zone.startswith("/") else []
    external_dns_zones = [
        *(z.id for z in inventory.private_dns_zones if z.external_dns_instances),
        *(z.id for z in inventory.public_dns_zones if z.external_dns_instances),
    ]
    return unique_ids([*subnets, *vnets, *zones, *external_dns_zones])


def role_assignments_listing(scope: str) -> str:
    return f"{scope.rstrip('/')}{ROLE_ASSIGNMENTS_SUFFIX}"


def provider_registrations(inventory: inventory_pb2.ClusterInventory) -> list[tuple[str, str]]:
    """(subscription id, namespace) registrations the rules judge for this cluster:
    Microsoft.ContainerService where its custom private DNS zone lives in another
    subscription."""
    zone = inventory.api_server_access.private_dns_zone
    if not zone.startswith("/"):
        return []
    parts = zone.strip("/").split("/")
    zone_subscription = parts[1] if len(parts) > 1 and parts[0].lower() == "subscriptions" else ""
    if not zone_subscription or zone_subscription.lower() == inventory.subscription_id.lower():
        return []
    return [(zone_subscription, CONTAINER_SERVICE)]


def provider_id(subscription_id: str, namespace: str) -> str:
    return f"/subscriptions/{subscription_id}/providers/{namespace}"


def _parent(resource_id: str, child_segment: str) -> str:
    marker = f"/{child_segment.lower()}/"
    index = resource_id.lower().find(marker)
    return resource_id[:index] if index >= 0 else ""
