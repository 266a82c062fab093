"""ARM resources exported to files, assembled into one ``ClusterInventory`` per managed cluster.

Every ``*.json`` below a folder is read, whatever its name, in the shapes a user can
produce: ARM REST bodies (``az rest``, the REST API, a REST API example with its
``responses``), Azure Resource Graph exports (``data`` rows, lower-cased types) and
Azure CLI output (``az aks show``, ``az aks nodepool list``, ``az network vnet show``,
``subnet show``, ``list-usage``, ``az network private-dns zone show|list``, ``link vnet
list``, ``record-set a list``, and the NSGs, private endpoints, network interfaces and
application gateways the inventory reads, ``az role assignment list``, ``az provider
show``); single objects, arrays or ``{"value": [...]}``.
An object is recognised by its ``type`` (or the type its ``id`` spells), a usage row by
its shape; the one converter, :mod:`netaudit.collector.inventory.convert`, reads them all.

The assembly follows :class:`netaudit.collector.inventory.arm.ArmReader` read for read,
so the files are judged as a live refresh would be: a resource a live refresh would GET
that no file holds is an ``InventoryGap`` (reason ``not_in_files``) on the cluster, and
the rules that need it come out not assessed; a listing with nothing in the files (the
private endpoints of a node resource group, a subscription's zones) is empty, as ARM
would list it. A file that is not JSON, or holds nothing ARM, is one warning naming it.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from netaudit.audit.errors import InputError
from netaudit.collector.analysis.role_grants import applies_at
from netaudit.collector.inventory import convert
from netaudit.collector.inventory.references import (
    addon_setting,
    provider_id,
    provider_registrations,
    referenced_subnet_ids,
    role_assignment_scopes,
    role_assignments_listing,
    unique_gaps,
    unique_ids,
)
from netaudit.v1 import inventory_pb2

log = logging.getLogger(__name__)

NOT_IN_FILES = "not_in_files"
"""The gap reason of a resource a live refresh reads and no file holds."""

CLUSTERS = "microsoft.containerservice/managedclusters"
AGENT_POOLS = f"{CLUSTERS}/agentpools"
VNETS = "microsoft.network/virtualnetworks"
SUBNETS = f"{VNETS}/subnets"
EMBEDDED_SUBNETS = "subnets embedded in a virtual network"
USAGES = "virtual network usage rows"
ZONES = "microsoft.network/privatednszones"
LINKS = f"{ZONES}/virtualnetworklinks"
RECORD_SETS = tuple(
    f"{ZONES}/{t}" for t in ("a", "aaaa", "cname", "mx", "ptr", "soa", "srv", "txt")
)
NSGS = "microsoft.network/networksecuritygroups"
ENDPOINTS = "microsoft.network/privateendpoints"
NICS = "microsoft.network/networkinterfaces"
GATEWAYS = "microsoft.network/applicationgateways"
ROLE_ASSIGNMENTS = "microsoft.authorization/roleassignments"
PROVIDERS = "resource provider registrations"
PROVIDER_ID = re.compile(r"/subscriptions/[^/]+/providers/[^/]+", re.IGNORECASE)
READ_TYPES = frozenset(
    {
        CLUSTERS,
        AGENT_POOLS,
        VNETS,
        SUBNETS,
        ZONES,
        LINKS,
        NSGS,
        ENDPOINTS,
        NICS,
        GATEWAYS,
        ROLE_ASSIGNMENTS,
    }
) | frozenset(RECORD_SETS)

AGIC_ADDON = "ingressapplicationgateway"
AGIC_GATEWAY_KEY = "effectiveApplicationGatewayId"
VIRTUAL_NODE_ADDON = "aciconnectorlinux"
VIRTUAL_NODE_SUBNET_KEY = "SubnetName"

Body = Mapping[str, Any]


@dataclass(frozen=True)
class Found:
    """One exported resource and the file it came from."""

    body: Body
    path: Path

    @property
    def id(self) -> str:
        return str(self.body.get("id") or "")


def _norm(resource_id: str) -> str:
    return resource_id.strip().rstrip("/").lower()


def _parent(resource_id: str) -> str:
    """A child resource's parent: its id without the last ``/type/name``."""
    return _norm(resource_id).rsplit("/", 2)[0]


class Catalogue:
    """The exported resources by type and id, and child resources by parent; the first
    file (in path order) that holds a resource wins."""

    def __init__(self) -> None:
        self._by_id: dict[tuple[str, str], Found] = {}
        self._by_type: dict[str, list[Found]] = {}
        self._children: dict[tuple[str, str], list[Found]] = {}

    def add(self, kind: str, found: Found, *parents: str) -> None:
        """File ``found`` by id, and under each of ``parents`` (a child resource's parent; a
        top-level resource's resource group and subscription)."""
        key = (kind, _norm(found.id))
        if key in self._by_id:
            return
        self._by_id[key] = found
        self._by_type.setdefault(kind, []).append(found)
        for parent in parents:
            self._children.setdefault((kind, _norm(parent)), []).append(found)

    def get(self, kind: str, resource_id: str) -> Found | None:
        return self._by_id.get((kind, _norm(resource_id)))

    def all(self, kind: str) -> list[Found]:
        return list(self._by_type.get(kind, ()))

    def children(self, kinds: str | Iterable[str], parent: str) -> list[Found]:
        wanted = (kinds,) if isinstance(kinds, str) else tuple(kinds)
        return [f for kind in wanted for f in self._children.get((kind, _norm(parent)), ())]


@dataclass
class ArmFiles:
    """What a folder of ARM files holds: the managed clusters' inventories, and one warning
    per file that could not be used."""

    inventories: list[inventory_pb2.ClusterInventory] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def read_arm_files(folder: Path) -> ArmFiles:
    """Every ``*.json`` below ``folder``, assembled per managed cluster."""
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder of ARM JSON files")
    catalogue = Catalogue()
    result = ArmFiles()
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() == ".json"):
        if not path.is_file():
            continue
        warning = _read_file(path, catalogue)
        if warning:
            line = f"{path}: {warning}"
            log.warning("%s", line)
            result.warnings.append(line)
    result.inventories = [
        ClusterAssembly(catalogue, folder).inventory(found) for found in catalogue.all(CLUSTERS)
    ]
    return result


# -- reading files ---------------------------------------------------------------------


def _read_file(path: Path, catalogue: Catalogue) -> str | None:
    """Catalogue a file's resources; the warning about it, if any."""
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as error:
        return f"cannot read: {error}"
    except json.JSONDecodeError as error:
        return f"not valid JSON: {error}"
    items = document_items(document)
    if items is None:
        return 'not ARM JSON: expected a resource, an array of resources or {"value": [...]}'
    ignored: Counter[str] = Counter()
    unrecognised = 0
    for item in items:
        kind = classify(item)
        if kind is None:
            unrecognised += 1
        elif kind in READ_TYPES or kind in (USAGES, PROVIDERS):
            _catalogue_item(catalogue, kind, Found(item, path))
        else:
            ignored[kind] += 1
    if ignored:
        log.info("%s: not read by the audit: %s", path, ", ".join(sorted(ignored)))
    if unrecognised == len(items) and items:
        return (
            "holds no ARM resource (expected ARM REST or Azure CLI JSON: objects with an id "
            'and type, an array of them or {"value": [...]})'
        )
    if unrecognised:
        return f"{unrecognised} of {len(items)} items are not ARM resources; they were left out"
    return None


def document_items(document: Any) -> list[Any] | None:
    """The resources a document holds: a REST API example's response body, a list page
    (``value``), a Resource Graph result (``data``, as rows or as a table), an array, or
    the document itself; None for a document that is none of these."""
    if isinstance(document, list):
        return document
    if not isinstance(document, Mapping):
        return None
    responses = document.get("responses")
    if isinstance(responses, Mapping):
        bodies = [
            r["body"]
            for code, r in sorted(responses.items())
            if str(code).startswith("2") and isinstance(r, Mapping) and "body" in r
        ]
        return document_items(bodies[0]) if bodies else None
    for key in ("value", "data"):
        if isinstance(document.get(key), list):
            return list(document[key])
    table = document.get("data")
    if isinstance(table, Mapping) and isinstance(table.get("rows"), list):
        names = [str(c.get("name")) for c in table.get("columns") or () if isinstance(c, Mapping)]
        return [dict(zip(names, row, strict=False)) for row in table["rows"]]
    return [document]


def classify(item: Any) -> str | None:
    """What an item is: a resource type (lower-cased), :data:`USAGES` for a
    ``virtualNetworks/usages`` row, or None when it is not an ARM object."""
    if not isinstance(item, Mapping):
        return None
    keys = {str(k).lower() for k in item}
    resource_id = str(item.get("id") or "")
    if {"currentvalue", "limit"} <= keys and "/subnets/" in resource_id.lower():
        return USAGES
    if "namespace" in keys and PROVIDER_ID.fullmatch(resource_id.rstrip("/")):
        return PROVIDERS
    declared = item.get("type")
    if isinstance(declared, str) and "/" in declared:
        return declared.lower()
    return type_of_id(resource_id) or None


def type_of_id(resource_id: str) -> str:
    """The resource type an ARM id spells: ``…/providers/Microsoft.Network/
    virtualNetworks/v/subnets/s`` -> ``microsoft.network/virtualnetworks/subnets``."""
    parts = [p.lower() for p in resource_id.split("/") if p]
    if "providers" not in parts:
        return ""
    start = len(parts) - parts[::-1].index("providers")
    rest = parts[start:]
    if len(rest) < 3 or len(rest) % 2 == 0:
        return ""
    return "/".join([rest[0], *rest[1::2]])


def _catalogue_item(catalogue: Catalogue, kind: str, found: Found) -> None:
    if kind == USAGES:
        catalogue.add(USAGES, found, convert.parent_id(found.id, "subnets"))
        return
    if kind == PROVIDERS:
        catalogue.add(PROVIDERS, found)
        return
    if kind.count("/") > 1:
        catalogue.add(kind, found, _parent(found.id))
    else:
        group = found.id.lower().split("/providers/", 1)[0]
        catalogue.add(kind, found, group, group.split("/resourcegroups/", 1)[0])
    if kind == VNETS:
        for subnet in convert.Fields(found.body).raw("subnets") or ():
            if isinstance(subnet, Mapping):
                catalogue.add(EMBEDDED_SUBNETS, Found(_with_id(subnet, found.id), found.path))


def _with_id(subnet: Body, vnet_id: str) -> Body:
    """An embedded subnet with its id (ARM always sends it; a hand-trimmed file may not)."""
    if subnet.get("id") or not subnet.get("name"):
        return subnet
    return {**subnet, "id": f"{vnet_id}/subnets/{subnet['name']}"}


# -- one cluster -------------------------------------------------------------------------


class ClusterAssembly:
    """One managed cluster's inventory from the catalogue, read as ``ArmReader._cluster``
    reads it from ARM."""

    def __init__(self, catalogue: Catalogue, folder: Path) -> None:
        self.catalogue = catalogue
        self.folder = folder
        self.gaps: list[inventory_pb2.InventoryGap] = []

    def inventory(self, cluster: Found) -> inventory_pb2.ClusterInventory:
        inventory = convert.cluster_inventory(cluster.body, self._agent_pools(cluster))
        for subnet_id in referenced_subnet_ids(inventory):
            self._add_subnet(inventory, subnet_id)
        for vnet_id in unique_ids(
            convert.parent_id(s, "subnets") for s in referenced_subnet_ids(inventory)
        ):
            self._add_virtual_network(inventory, vnet_id)
        self._virtual_node_subnet(inventory)
        self._network_security_groups(inventory)
        self._private_dns_zones(inventory)
        self._api_server_endpoints(inventory)
        self._agic_gateway(inventory)
        self._role_assignments(inventory)
        self._provider_registrations(inventory)
        modified = datetime.fromtimestamp(cluster.path.stat().st_mtime, UTC)
        inventory.refreshed_at.FromDatetime(modified)
        inventory.gaps.extend(unique_gaps(self.gaps))
        return inventory

    def _missing(self, resource_id: str, what: str) -> None:
        self.gaps.append(
            inventory_pb2.InventoryGap(
                resource_id=resource_id,
                reason=NOT_IN_FILES,
                message=f"no file under {self.folder} holds {what}",
            )
        )

    def _agent_pools(self, cluster: Found) -> list[Body] | None:
        if convert.Fields(cluster.body).raw("agentPoolProfiles"):
            return None
        pools = self.catalogue.children(AGENT_POOLS, cluster.id)
        if not pools:
            self._missing(f"{cluster.id}/agentPools", "its agent pools (az aks nodepool list)")
        return [p.body for p in pools]

    def _subnet(self, subnet_id: str) -> inventory_pb2.Subnet | None:
        found = self.catalogue.get(SUBNETS, subnet_id) or self.catalogue.get(
            EMBEDDED_SUBNETS, subnet_id
        )
        if found is None:
            self._missing(subnet_id, "this subnet (az network vnet show or vnet subnet show)")
            return None
        return convert.subnet(found.body)

    def _add_subnet(self, inventory: inventory_pb2.ClusterInventory, subnet_id: str) -> None:
        subnet = self._subnet(subnet_id)
        if subnet is not None:
            inventory.subnets.append(subnet)

    def _add_virtual_network(self, inventory: inventory_pb2.ClusterInventory, vnet_id: str) -> None:
        found = self.catalogue.get(VNETS, vnet_id)
        if found is None:
            self._missing(vnet_id, "this virtual network (az network vnet show)")
            return
        usages = [u.body for u in self.catalogue.children(USAGES, vnet_id)]
        if not usages and convert.Fields(found.body).raw("subnets"):
            self._missing(f"{vnet_id}/usages", "its usages (az network vnet list-usage)")
        inventory.virtual_networks.append(convert.virtual_network(found.body, usages))

    def _virtual_node_subnet(self, inventory: inventory_pb2.ClusterInventory) -> None:
        """The subnet the virtual nodes add-on names, in the VNets of the pools' subnets."""
        addon = inventory.addons.get(VIRTUAL_NODE_ADDON)
        name = addon_setting(addon.config, VIRTUAL_NODE_SUBNET_KEY) if addon is not None else ""
        if addon is None or not addon.enabled or not name:
            return
        pool_vnets = {
            convert.parent_id(pool.vnet_subnet_id, "subnets").lower()
            for pool in inventory.agent_pools
            if pool.vnet_subnet_id
        }
        have = {subnet.id.lower() for subnet in inventory.subnets}
        for vnet in inventory.virtual_networks:
            wanted = f"{vnet.id}/subnets/{name}".lower()
            subnet_id = next((s for s in vnet.subnet_ids if s.lower() == wanted), None)
            if vnet.id.lower() in pool_vnets and subnet_id is not None and wanted not in have:
                self._add_subnet(inventory, subnet_id)
                have.add(wanted)

    def _network_security_groups(self, inventory: inventory_pb2.ClusterInventory) -> None:
        for nsg_id in unique_ids(s.network_security_group_id for s in inventory.subnets):
            found = self.catalogue.get(NSGS, nsg_id)
            if found is None:
                self._missing(nsg_id, "this network security group (az network nsg show)")
            else:
                inventory.network_security_groups.append(convert.network_security_group(found.body))

    # -- private DNS zones -----------------------------------------------------------------

    def _private_dns_zones(self, inventory: inventory_pb2.ClusterInventory) -> None:
        """The custom API server zone; for ``system`` private clusters the zones in the node
        resource group; and the subscription's zones linked to one of the cluster's VNets."""
        access = inventory.api_server_access
        wanted: dict[str, Found | None] = {}
        if access.private_dns_zone.startswith("/"):
            wanted[access.private_dns_zone.lower()] = None
        system = access.enable_private_cluster and access.private_dns_zone.lower() in {"", "system"}
        vnets = {v.id.lower() for v in inventory.virtual_networks}
        for zone in self.catalogue.children(ZONES, f"/subscriptions/{inventory.subscription_id}"):
            group = convert.resource_id_part(zone.id, "resourceGroups").lower()
            in_node_group = system and group == inventory.node_resource_group.lower()
            linked = any(
                convert.Fields(link).child("virtualNetwork").text("id").lower() in vnets
                for link in self._links(zone) or ()
            )
            if in_node_group or linked or _norm(zone.id) in wanted:
                wanted[_norm(zone.id)] = zone
        for zone_id, listed in wanted.items():
            found = listed or self.catalogue.get(ZONES, zone_id)
            if found is None:
                self._missing(zone_id, "this private DNS zone (az network private-dns zone show)")
                continue
            links = self._links(found)
            records = self._a_record_sets(found)
            if records is not None:
                inventory.private_dns_zones.append(
                    convert.private_dns_zone(found.body, links or [], records)
                )

    def _links(self, zone: Found) -> list[Body] | None:
        """The zone's virtual network links; None (a gap) when the files hold none and the
        zone does not say it has none."""
        links = [f.body for f in self.catalogue.children(LINKS, zone.id)]
        count = convert.Fields(zone.body).optional_integer("numberOfVirtualNetworkLinks")
        if links or count == 0:
            return links
        self._missing(
            f"{zone.id}/virtualNetworkLinks", "its links (az network private-dns link vnet list)"
        )
        return None

    def _a_record_sets(self, zone: Found) -> list[Body] | None:
        """The zone's record sets; None (a gap) when the files cannot say which A records it
        has: no A record set, no SOA (a full ``record-set list`` holds it), and the zone
        counts more record sets than its SOA."""
        records = self.catalogue.children(RECORD_SETS, zone.id)
        types = {classify(r.body) for r in records}
        count = convert.Fields(zone.body).optional_integer("numberOfRecordSets")
        if types & {f"{ZONES}/a", f"{ZONES}/soa"} or (count is not None and count <= 1):
            return [r.body for r in records]
        self._missing(f"{zone.id}/A", "its A records (az network private-dns record-set a list)")
        return None

    # -- the API server's private endpoint, the AGIC gateway ------------------------------

    def _api_server_endpoints(self, inventory: inventory_pb2.ClusterInventory) -> None:
        """The private endpoints of the node resource group that target the cluster, with
        their network interfaces' addresses when the endpoint does not carry them."""
        access = inventory.api_server_access
        group = inventory.node_resource_group.lower()
        if not access.enable_private_cluster or access.enable_vnet_integration or not group:
            return
        listed = f"/subscriptions/{inventory.subscription_id}/resourceGroups/{group}"
        for found in self.catalogue.children(ENDPOINTS, listed):
            endpoint = convert.private_endpoint(found.body)
            targets = {c.private_link_service_id.lower() for c in endpoint.connections}
            if inventory.arm_resource_id.lower() not in targets:
                continue
            if not endpoint.private_ip_addresses:
                nics = [self._network_interface(n) for n in endpoint.network_interface_ids]
                endpoint = convert.private_endpoint(found.body, [n for n in nics if n])
            inventory.private_endpoints.append(endpoint)

    def _network_interface(self, nic_id: str) -> Body | None:
        found = self.catalogue.get(NICS, nic_id)
        if found is None:
            self._missing(nic_id, "this network interface (az network nic show)")
            return None
        return found.body

    def _agic_gateway(self, inventory: inventory_pb2.ClusterInventory) -> None:
        addon = inventory.addons.get(AGIC_ADDON)
        gateway_id = addon_setting(addon.config, AGIC_GATEWAY_KEY) if addon is not None else ""
        if addon is None or not addon.enabled or not gateway_id.startswith("/"):
            return
        found = self.catalogue.get(GATEWAYS, gateway_id)
        if found is None:
            self._missing(
                gateway_id, "this application gateway (az network application-gateway show)"
            )
            return
        inventory.application_gateways.append(convert.application_gateway(found.body))

    # -- role assignments, provider registrations ------------------------------------------

    def _role_assignments(self, inventory: inventory_pb2.ClusterInventory) -> None:
        """At each scope, the exported assignments made there or above it (what
        ``atScope()`` lists). Files without any role assignment cannot say which apply."""
        exported = self.catalogue.all(ROLE_ASSIGNMENTS)
        for scope in role_assignment_scopes(inventory):
            if not exported:
                self._missing(
                    role_assignments_listing(scope),
                    "role assignments (az role assignment list --all --include-inherited)",
                )
                continue
            applying = [
                f.body for f in exported if applies_at(convert.Fields(f.body).text("scope"), scope)
            ]
            inventory.role_assignment_scopes.append(convert.role_assignment_scope(scope, applying))

    def _provider_registrations(self, inventory: inventory_pb2.ClusterInventory) -> None:
        for subscription_id, namespace in provider_registrations(inventory):
            resource_id = provider_id(subscription_id, namespace)
            found = self.catalogue.get(PROVIDERS, resource_id)
            if found is None:
                self._missing(
                    resource_id,
                    f"this provider (az provider show --namespace {namespace} --subscription "
                    f"{subscription_id})",
                )
                continue
            inventory.resource_providers.append(
                convert.resource_provider(subscription_id, found.body)
            )
