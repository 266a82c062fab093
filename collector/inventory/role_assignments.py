"""Role assignments at the scopes a cluster's identities need rights on (CNI-012, PDN-004).

One ``RoleAssignments_ListForScope`` with ``$filter=atScope()`` per scope returns every
assignment at that scope or above it (resource group, subscription, management group), so
an inherited grant counts. Scopes: the subnets the cluster uses, their VNets, and the custom
private DNS zone of the API server. A cluster without a managed identity whose object id ARM
names (a service principal cluster) has nothing to match, so nothing is read for it.
"""

from __future__ import annotations

from netaudit.collector.inventory import convert
from netaudit.collector.inventory.raw_requests import SendsRequests, list_json
from netaudit.collector.inventory.references import referenced_subnet_ids, unique_ids
from netaudit.v1 import inventory_pb2

API_VERSION = "2022-04-01"
LIST_SUFFIX = "/providers/Microsoft.Authorization/roleAssignments"
"""Appended to a scope to list its role assignments; also the gap's resource id suffix."""


def wanted_scopes(inventory: inventory_pb2.ClusterInventory) -> list[str]:
    """The scopes to read for this cluster, each once; none without a principal id."""
    if not any(p.principal_id for p in inventory.identity.principals):
        return []
    subnets = referenced_subnet_ids(inventory)
    vnets = [convert.parent_id(subnet_id, "subnets") for subnet_id in subnets]
    zone = inventory.api_server_access.private_dns_zone
    zones = [zone] if zone.startswith("/") else []
    return unique_ids([*subnets, *vnets, *zones])


def listing_id(scope: str) -> str:
    return f"{scope.rstrip('/')}{LIST_SUFFIX}"


def read_scope(client: SendsRequests, scope: str) -> inventory_pb2.RoleAssignmentScope:
    """Every role assignment at or above ``scope``."""
    items = list_json(
        client, listing_id(scope), {"api-version": API_VERSION, "$filter": "atScope()"}
    )
    return convert.role_assignment_scope(scope, items)
