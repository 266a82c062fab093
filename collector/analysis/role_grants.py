"""Whether a cluster identity holds a role at a scope, from the role assignments the inventory
read there (``RoleAssignments_ListForScope`` with ``atScope()``: the scope and its parents).

Only built-in roles are judged: an assignment of any other role (a custom role, whose
permissions the inventory does not read) may grant the right, so it makes the answer
unknown rather than "missing".
"""

from __future__ import annotations

from dataclasses import dataclass

from netaudit.v1 import inventory_pb2

OWNER = "Owner"
CONTRIBUTOR = "Contributor"
NETWORK_CONTRIBUTOR = "Network Contributor"
PRIVATE_DNS_ZONE_CONTRIBUTOR = "Private DNS Zone Contributor"
DNS_ZONE_CONTRIBUTOR = "DNS Zone Contributor"

NETWORK_ROLES = frozenset({NETWORK_CONTRIBUTOR, CONTRIBUTOR, OWNER})
"""Built-in roles that include Microsoft.Network/virtualNetworks/subnets/join/action."""
PRIVATE_DNS_ROLES = frozenset({PRIVATE_DNS_ZONE_CONTRIBUTOR, CONTRIBUTOR, OWNER})
"""Built-in roles that may write private DNS zone records and links."""
PUBLIC_DNS_ROLES = frozenset({DNS_ZONE_CONTRIBUTOR, CONTRIBUTOR, OWNER})
"""Built-in roles that may write public Azure DNS zone records."""

READ_ROLES = frozenset({"Reader", CONTRIBUTOR, OWNER})
"""Built-in roles that include reading a resource group (ExternalDNS lists its zones)."""

SERVICE_PRINCIPAL_CLIENT_IDS = frozenset({"", "msi"})
"""servicePrincipalProfile.clientId values that mean "no service principal"."""


@dataclass(frozen=True)
class Grant:
    """What the assignments at one scope say about some principals and some roles."""

    scope: str
    granting: tuple[inventory_pb2.RoleAssignment, ...]
    """Assignments of one of the wanted built-in roles to one of the principals."""
    unknown: tuple[inventory_pb2.RoleAssignment, ...]
    """Assignments of roles the inventory does not name (custom roles) to the principals."""

    @property
    def held(self) -> bool:
        return bool(self.granting)

    def unknown_roles(self) -> str:
        return ", ".join(sorted({a.role_definition_id for a in self.unknown}))


def cluster_principal_ids(cluster: inventory_pb2.ClusterInventory) -> list[str]:
    """Object ids of the control plane identity (system- or user-assigned)."""
    return [
        p.principal_id
        for p in cluster.identity.principals
        if p.role == "cluster" and p.principal_id
    ]


def uses_service_principal(cluster: inventory_pb2.ClusterInventory) -> bool:
    identity = cluster.identity
    client_id = identity.service_principal_client_id.lower()
    return not identity.type and client_id not in SERVICE_PRINCIPAL_CLIENT_IDS


def assignments_at(
    cluster: inventory_pb2.ClusterInventory, scope: str
) -> inventory_pb2.RoleAssignmentScope | None:
    """What the inventory read at ``scope`` (compared case-insensitively), None if unread."""
    wanted = scope.rstrip("/").lower()
    return next(
        (s for s in cluster.role_assignment_scopes if s.scope.rstrip("/").lower() == wanted),
        None,
    )


def grant(
    read: inventory_pb2.RoleAssignmentScope, principal_ids: list[str], roles: frozenset[str]
) -> Grant:
    principals = {p.lower() for p in principal_ids}
    mine = [a for a in read.assignments if a.principal_id.lower() in principals]
    return Grant(
        scope=read.scope,
        granting=tuple(a for a in mine if a.role_name in roles),
        unknown=tuple(a for a in mine if not a.role_name),
    )


def applies_at(assigned_scope: str, scope: str) -> bool:
    """An assignment made at ``assigned_scope`` applies at ``scope``: the same scope or a
    parent of it, compared by whole segments, ignoring case."""
    assigned = assigned_scope.strip().rstrip("/").lower()
    wanted = scope.strip().rstrip("/").lower()
    return bool(assigned) and (wanted == assigned or wanted.startswith(assigned + "/"))


def at_or_above(
    read: inventory_pb2.RoleAssignmentScope, scope: str
) -> inventory_pb2.RoleAssignmentScope:
    """The assignments of ``read`` that apply at ``scope`` (a parent of the scope read):
    from a zone's list, those of its resource group and above."""
    return inventory_pb2.RoleAssignmentScope(
        scope=scope, assignments=[a for a in read.assignments if applies_at(a.scope, scope)]
    )
