"""What the sandbox ARM server knows: resource bodies by id, their children, and subnet usages."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netaudit.sandbox.errors import FixtureError

Body = dict[str, Any]

# Child collections ARM returns inside a parent's body and also serves as their own resources.
EMBEDDED_CHILDREN: dict[str, tuple[tuple[str, str, str], ...]] = {
    # parent type: (property holding the children, child path segment, child type)
    "microsoft.containerservice/managedclusters": (
        (
            "agentPoolProfiles",
            "agentPools",
            "Microsoft.ContainerService/managedClusters/agentPools",
        ),
    ),
    "microsoft.network/networksecuritygroups": (
        (
            "securityRules",
            "securityRules",
            "Microsoft.Network/networkSecurityGroups/securityRules",
        ),
        (
            "defaultSecurityRules",
            "defaultSecurityRules",
            "Microsoft.Network/networkSecurityGroups/defaultSecurityRules",
        ),
    ),
    "microsoft.network/virtualnetworks": (
        ("subnets", "subnets", "Microsoft.Network/virtualNetworks/subnets"),
        (
            "virtualNetworkPeerings",
            "virtualNetworkPeerings",
            "Microsoft.Network/virtualNetworks/virtualNetworkPeerings",
        ),
    ),
}
RECORD_TYPES = ("a", "aaaa", "caa", "cname", "mx", "ns", "ptr", "soa", "srv", "txt")
ZONE_TYPES = frozenset({"microsoft.network/privatednszones", "microsoft.network/dnszones"})
"""Zones whose ``/all`` (every record set) the sandbox answers."""


@dataclass(frozen=True)
class ResourceId:
    """An ARM resource id split into the parts routing needs (all lower-cased)."""

    subscription: str
    resource_group: str
    # "microsoft.network/virtualnetworks/subnets" for a subnet
    type: str
    parent: str  # id of the parent resource, "" for top-level resources

    @classmethod
    def parse(cls, resource_id: str) -> ResourceId:
        parts = [p for p in resource_id.lower().split("/") if p]
        if len(parts) < 8 or parts[0] != "subscriptions" or parts[2] != "resourcegroups":
            raise FixtureError(f"not an ARM resource id: {resource_id}")
        if parts[4] != "providers":
            raise FixtureError(f"not an ARM resource id: {resource_id}")
        namespace, rest = parts[5], parts[6:]
        if len(rest) % 2:
            raise FixtureError(f"not an ARM resource id: {resource_id}")
        types = rest[0::2]
        parent = "/" + "/".join(parts[:-2]) if len(rest) > 2 else ""
        return cls(parts[1], parts[3], "/".join([namespace, *types]), parent)


def normalise(resource_id: str) -> str:
    return "/" + "/".join(p for p in resource_id.lower().split("/") if p)


@dataclass
class ArmData:
    """ARM's view of a fleet, plus the service principal the sandbox identity provider accepts."""

    resources: list[Body]
    # VirtualNetworkUsage rows (their id is the subnet id).
    usages: list[Body] = field(default_factory=list)
    tenant_id: str = "11111111-1111-1111-1111-111111111111"
    client_id: str = "netaudit-sandbox"
    client_secret: str = field(default="sandbox-secret", repr=False)
    # Subscription id -> display name; subscriptions of the resources are added.
    subscription_names: dict[str, str] = field(default_factory=dict)
    # Microsoft.Authorization/roleAssignments bodies (their properties.scope says where).
    role_assignments: list[Body] = field(default_factory=list)
    # Providers_Get bodies (their id names the subscription); a namespace without one
    # answers NotRegistered, as ARM does for a provider never registered.
    providers: list[Body] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._by_id: dict[str, Body] = {}
        self._children: dict[tuple[str, str], list[Body]] = {}
        self._top_level: list[tuple[ResourceId, Body]] = []
        for body in self.resources:
            self._index(body)
        self._usages: dict[str, list[Body]] = {}
        for row in self.usages:
            subnet = ResourceId.parse(str(row["id"]))
            self._usages.setdefault(subnet.parent, []).append(row)
        for resource_id, _ in self._top_level:
            self.subscription_names.setdefault(resource_id.subscription, resource_id.subscription)
        self._providers = {normalise(str(body["id"])): body for body in self.providers}

    @classmethod
    def load(cls, directory: Path, **settings: Any) -> ArmData:
        """Every ``*.json`` under ``directory/resources`` (a body or ``{"value": [...]}``) and
        every usage row under ``directory/usages``; ``settings`` are the other fields."""
        return cls(
            resources=list(_bodies(directory / "resources")),
            usages=list(_bodies(directory / "usages")),
            role_assignments=list(_bodies(directory / "roleassignments")),
            providers=list(_bodies(directory / "providers")),
            **settings,
        )

    def _index(self, body: Body) -> None:
        resource_id = str(body.get("id", ""))
        parsed = ResourceId.parse(resource_id)
        key = normalise(resource_id)
        self._by_id[key] = body
        if parsed.parent:
            child_segment = resource_id.rstrip("/").split("/")[-2].lower()
            self._children.setdefault((parsed.parent, child_segment), []).append(body)
        else:
            self._top_level.append((parsed, body))
        for prop, segment, child_type in EMBEDDED_CHILDREN.get(parsed.type, ()):
            for child in (body.get("properties") or {}).get(prop) or []:
                self._index(_child_resource(resource_id, segment, child_type, child))

    def get(self, resource_id: str) -> Body | None:
        return self._by_id.get(normalise(resource_id))

    def remove(self, resource_id: str) -> None:
        """Delete a top-level resource (a cluster deleted between two refreshes)."""
        key = normalise(resource_id)
        self._by_id.pop(key, None)
        self._top_level = [(p, b) for p, b in self._top_level if normalise(str(b["id"])) != key]

    def children(self, parent_id: str, segment: str) -> list[Body] | None:
        """Children under ``parent_id/segment``; None when the parent does not exist."""
        parent = normalise(parent_id)
        if parent not in self._by_id:
            return None
        segment = segment.lower()
        if segment == "all" and ResourceId.parse(parent).type in ZONE_TYPES:
            return [b for t in RECORD_TYPES for b in self._children.get((parent, t), [])]
        return list(self._children.get((parent, segment), []))

    def usage_rows(self, vnet_id: str) -> list[Body] | None:
        vnet = normalise(vnet_id)
        if vnet not in self._by_id:
            return None
        return list(self._usages.get(vnet, []))

    def list_top_level(
        self, subscription: str, provider_type: str, resource_group: str | None = None
    ) -> list[Body]:
        wanted = provider_type.lower()
        return [
            body
            for parsed, body in self._top_level
            if parsed.subscription == subscription.lower()
            and parsed.type == wanted
            and (resource_group is None or parsed.resource_group == resource_group.lower())
        ]

    def role_assignments_for(self, scope: str, filter_: str = "") -> list[Body]:
        """RoleAssignments_ListForScope: ``atScope()`` returns the assignments at ``scope`` or
        above it; ``principalId eq '<id>'`` that principal's at, above or below it; no filter
        every assignment at, above or below it."""
        wanted = normalise(scope)
        principal = _principal_filter(filter_)
        at_scope = filter_.strip().lower() == "atscope()"
        found = []
        for body in self.role_assignments:
            properties = body.get("properties") or {}
            assigned = normalise(str(properties.get("scope", "")))
            above = _within(wanted, assigned)
            below = _within(assigned, wanted)
            if not (above or (below and not at_scope)):
                continue
            if principal and str(properties.get("principalId", "")).lower() != principal:
                continue
            found.append(body)
        return found

    def provider(self, subscription: str, namespace: str) -> Body:
        provider_id = normalise(f"/subscriptions/{subscription}/providers/{namespace}")
        known = self._providers.get(provider_id)
        if known is not None:
            return known
        return {
            "id": f"/subscriptions/{subscription}/providers/{namespace}",
            "namespace": namespace,
            "registrationState": "NotRegistered",
            "registrationPolicy": "RegistrationRequired",
            "resourceTypes": [],
        }

    def has_subscription(self, subscription: str) -> bool:
        return subscription.lower() in {s.lower() for s in self.subscription_names}

    def resource_groups(self, subscription: str) -> dict[str, tuple[str, str]]:
        """Lower-cased name -> (name as first seen, location) of the subscription's groups."""
        groups: dict[str, tuple[str, str]] = {}
        for parsed, body in self._top_level:
            if parsed.subscription == subscription.lower():
                name = str(body["id"]).split("/")[4]
                groups.setdefault(
                    parsed.resource_group, (name, str(body.get("location", "global")))
                )
        return groups


def _within(scope: str, parent: str) -> bool:
    """``parent`` is ``scope`` or one of its ancestors (whole segments, normalised ids)."""
    return scope == parent or scope.startswith(parent.rstrip("/") + "/")


def _principal_filter(filter_: str) -> str:
    match = re.fullmatch(r"\s*principalId\s+eq\s+'([^']+)'\s*", filter_, re.IGNORECASE)
    return match.group(1).lower() if match else ""


def _child_resource(
    parent_id: str, segment: str, child_type: str, child: Mapping[str, Any]
) -> Body:
    if "properties" in child:
        body = dict(child)
    else:
        # agentPoolProfiles entries carry their properties inline, next to the name.
        body = {
            "name": child["name"],
            "properties": {k: v for k, v in child.items() if k != "name"},
        }
    body.setdefault("id", f"{parent_id}/{segment}/{child['name']}")
    body.setdefault("type", child_type)
    return body


def _bodies(directory: Path) -> Iterator[Body]:
    if not directory.is_dir():
        return
    for path in sorted(directory.rglob("*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise FixtureError(f"cannot read ARM fixture {path}: {error}") from error
        yield from _values(document, path)


def _values(document: Any, path: Path) -> Iterable[Body]:
    if isinstance(document, dict) and isinstance(document.get("value"), list):
        return list(document["value"])
    if isinstance(document, dict) and "id" in document:
        return [document]
    raise FixtureError(f"{path}: expected an ARM resource body or a {{'value': [...]}} list")
