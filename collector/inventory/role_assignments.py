"""Role assignments at the scopes a cluster's identities need rights on (CNI-012, PDN-004).

One ``RoleAssignments_ListForScope`` with ``$filter=atScope()`` per scope
(:func:`~netaudit.collector.inventory.references.role_assignment_scopes`) returns every
assignment at that scope or above it (resource group, subscription, management group), so
an inherited grant counts.
"""

from __future__ import annotations

from netaudit.collector.inventory import convert
from netaudit.collector.inventory.raw_requests import SendsRequests, list_json
from netaudit.collector.inventory.references import role_assignments_listing
from netaudit.v1 import inventory_pb2

API_VERSION = "2022-04-01"


def read_scope(client: SendsRequests, scope: str) -> inventory_pb2.RoleAssignmentScope:
    """Every role assignment at or above ``scope``."""
    items = list_json(
        client,
        role_assignments_listing(scope),
        {"api-version": API_VERSION, "$filter": "atScope()"},
    )
    return convert.role_assignment_scope(scope, items)
