"""The one converter from ARM payloads to ``inventory.proto``.

Three shapes of the same resources arrive here, and all read the same:

* ARM REST JSON: resource fields at the top (``id``, ``name``, ``location``),
  the rest under ``properties`` (``vnetSubnetID``, ``privateDNSZone``);
* Azure CLI JSON: ``properties`` flattened away, keys re-cased by the CLI
  (``vnetSubnetId``, ``privateDnsZone``, ``osSku``), unset fields as explicit
  ``null``, and an agent pool's VM type in ``typePropertiesType``;
* SDK models: azure-mgmt-containerservice 41.8, -network 33.1 and -privatedns
  2.0 are generated "hybrid" models whose ``as_dict()`` is the REST shape;
  older msrest models (azure-mgmt-dns 9.0 among them) give snake_case
  flattened dicts. Anything with an ``as_dict()`` is turned into a dict first.

Keys are matched ignoring case and underscores, ``null`` is the same as absent,
``properties`` wins over a top-level key of the same name (an agent pool's
``properties.type`` is its VM type, the top-level ``type`` its resource type).
Pure: no Azure import, so it runs on any payload a user has saved.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from netaudit.v1 import inventory_pb2

RESOURCE_TYPE_MARK = "/"
"""Resource types (``Microsoft.X/y``) contain a slash, VM types never do."""


def _key(name: str) -> str:
    return name.replace("_", "").lower()


def as_mapping(payload: Any) -> Mapping[str, Any]:
    """A plain mapping for a dict, or for an SDK model through its ``as_dict()``."""
    as_dict = getattr(payload, "as_dict", None)
    if callable(as_dict):
        payload = as_dict()
    if not isinstance(payload, Mapping):
        raise TypeError(
            f"expected an ARM object (mapping or SDK model), got {type(payload).__name__}"
        )
    return payload


class Fields:
    """Case- and underscore-insensitive read access to one ARM object."""

    def __init__(self, payload: Any) -> None:
        mapping = as_mapping(payload) if payload is not None else {}
        self._top = {_key(k): v for k, v in mapping.items() if v is not None}
        properties = self._top.get("properties")
        self._properties = (
            {_key(k): v for k, v in properties.items() if v is not None}
            if isinstance(properties, Mapping)
            else {}
        )

    def raw(self, *names: str) -> Any:
        """The first present value among ``names``, looked up in properties, then the top."""
        for name in names:
            key = _key(name)
            if key in self._properties:
                return self._properties[key]
            if key in self._top:
                return self._top[key]
        return None

    def top(self, name: str) -> Any:
        return self._top.get(_key(name))

    def text(self, *names: str) -> str:
        value = self.raw(*names)
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def flag(self, *names: str) -> bool:
        value = self.raw(*names)
        if isinstance(value, str):
            return value.strip().lower() == "true"
        return bool(value)

    def optional_flag(self, *names: str) -> bool | None:
        return None if self.raw(*names) is None else self.flag(*names)

    def integer(self, *names: str) -> int:
        value = self.optional_integer(*names)
        return 0 if value is None else value

    def optional_integer(self, *names: str) -> int | None:
        value = self.raw(*names)
        if value is None or value == "":
            return None
        return int(value)

    def number(self, *names: str) -> float:
        value = self.raw(*names)
        return 0.0 if value is None else float(value)

    def texts(self, *names: str) -> list[str]:
        value = self.raw(*names)
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        return [str(v) for v in value if v is not None]

    def child(self, *names: str) -> Fields:
        value = self.raw(*names)
        return Fields(value if isinstance(value, Mapping) or hasattr(value, "as_dict") else None)

    def children(self, *names: str) -> list[Fields]:
        value = self.raw(*names)
        return [Fields(item) for item in value or () if item is not None]

    def mapping(self, *names: str) -> Mapping[str, Any]:
        value = self.raw(*names)
        return as_mapping(value) if value is not None else {}

    def __bool__(self) -> bool:
        return bool(self._top)


def resource_id_part(resource_id: str, segment: str) -> str:
    """The value after ``/<segment>/`` in an ARM id, matching the segment case-insensitively."""
    parts = resource_id.strip("/").split("/")
    for name, value in zip(parts[::2], parts[1::2], strict=False):
        if name.lower() == segment.lower():
            return value
    return ""


def parent_id(resource_id: str, child_segment: str) -> str:
    """The id before ``/<child_segment>/…`` (a subnet's VNet id from the subnet id)."""
    marker = f"/{child_segment.lower()}/"
    index = resource_id.lower().find(marker)
    return resource_id[:index] if index >= 0 else ""


# ---------------------------------------------------------------------------
# Microsoft.ContainerService/managedClusters


def cluster_inventory(
    payload: Any, agent_pools: Iterable[Any] | None = None
) -> inventory_pb2.ClusterInventory:
    """A ClusterInventory from a managedClusters body (REST, CLI or SDK model).

    ``agent_pools`` (agentPools list items) replace the body's
    ``agentPoolProfiles`` when given, for bodies that come without them.
    """
    f = Fields(payload)
    resource_id = f.text("id")
    inventory = inventory_pb2.ClusterInventory(
        arm_resource_id=resource_id,
        subscription_id=resource_id_part(resource_id, "subscriptions"),
        resource_group=resource_id_part(resource_id, "resourceGroups") or f.text("resourceGroup"),
        name=f.text("name"),
        location=f.text("location"),
        kubernetes_version=f.text("currentKubernetesVersion", "kubernetesVersion"),
        provisioning_state=f.text("provisioningState"),
        power_state=f.child("powerState").text("code"),
        sku_name=f.child("sku").text("name"),
        sku_tier=f.child("sku").text("tier"),
        dns_prefix=f.text("dnsPrefix"),
        fqdn=f.text("fqdn"),
        private_fqdn=f.text("privateFQDN"),
        node_resource_group=f.text("nodeResourceGroup"),
        network_profile=network_profile(f.child("networkProfile")),
        api_server_access=api_server_access(f.child("apiServerAccessProfile")),
        ingress_profile=ingress_profile(f.child("ingressProfile")),
        identity=identity(f),
    )
    pools = agent_pools if agent_pools is not None else f.raw("agentPoolProfiles") or ()
    inventory.agent_pools.extend(agent_pool(p) for p in pools if p is not None)
    for name, addon_payload in f.mapping("addonProfiles").items():
        if addon_payload is not None:
            inventory.addons[name.lower()].CopyFrom(addon(addon_payload))
    modified = timestamp(f.child("systemData").raw("lastModifiedAt"))
    if modified is not None:
        inventory.last_modified_at.FromDatetime(modified)
    return inventory


def timestamp(value: Any) -> datetime | None:
    """An ARM time (ISO 8601 text, or the SDK's datetime) in UTC; None when absent or
    unreadable."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and value:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    else:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def network_profile(f: Fields) -> inventory_pb2.NetworkProfile:
    return inventory_pb2.NetworkProfile(
        network_plugin=f.text("networkPlugin"),
        network_plugin_mode=f.text("networkPluginMode"),
        network_policy=f.text("networkPolicy"),
        network_dataplane=f.text("networkDataplane"),
        network_mode=f.text("networkMode"),
        pod_cidrs=f.texts("podCidrs") or f.texts("podCidr"),
        service_cidrs=f.texts("serviceCidrs") or f.texts("serviceCidr"),
        dns_service_ip=f.text("dnsServiceIP"),
        outbound_type=f.text("outboundType"),
        load_balancer_sku=f.text("loadBalancerSku"),
        ip_families=f.texts("ipFamilies"),
    )


def agent_pool(payload: Any) -> inventory_pb2.AgentPool:
    """One pool from ``agentPoolProfiles[]`` (flat) or an agentPools resource (REST/CLI)."""
    f = Fields(payload)
    upgrade = f.child("upgradeSettings")
    local_dns = f.child("localDNSProfile")
    pool = inventory_pb2.AgentPool(
        name=f.top("name") or f.text("name"),
        mode=f.text("mode"),
        os_type=f.text("osType"),
        os_sku=f.text("osSKU"),
        vm_size=f.text("vmSize"),
        type=_pool_vm_type(f),
        count=f.integer("count"),
        enable_auto_scaling=f.flag("enableAutoScaling"),
        max_pods=f.integer("maxPods"),
        vnet_subnet_id=f.text("vnetSubnetID"),
        pod_subnet_id=f.text("podSubnetID"),
        pod_ip_allocation_mode=f.text("podIPAllocationMode"),
        max_surge=upgrade.text("maxSurge"),
        max_unavailable=upgrade.text("maxUnavailable"),
        orchestrator_version=_pool_version(f),
        availability_zones=f.texts("availabilityZones"),
        local_dns_mode=local_dns.text("mode"),
        local_dns_state=local_dns.text("state"),
    )
    min_count = f.optional_integer("minCount")
    max_count = f.optional_integer("maxCount")
    if min_count is not None:
        pool.min_count = min_count
    if max_count is not None:
        pool.max_count = max_count
    return pool


def _pool_vm_type(f: Fields) -> str:
    explicit = f.text("typePropertiesType")
    if explicit:
        return explicit
    value = f.text("type")
    return "" if RESOURCE_TYPE_MARK in value else value


def _pool_version(f: Fields) -> str:
    """The running version; ``orchestratorVersion`` may be a bare minor ("1.27") or masked."""
    return f.text("currentOrchestratorVersion", "orchestratorVersion")


def api_server_access(f: Fields) -> inventory_pb2.ApiServerAccess:
    access = inventory_pb2.ApiServerAccess(
        enable_private_cluster=f.flag("enablePrivateCluster"),
        private_dns_zone=f.text("privateDNSZone"),
        authorized_ip_ranges=f.texts("authorizedIPRanges"),
        enable_vnet_integration=f.flag("enableVnetIntegration"),
        subnet_id=f.text("subnetId"),
        disable_run_command=f.flag("disableRunCommand"),
    )
    public_fqdn = f.optional_flag("enablePrivateClusterPublicFQDN")
    if public_fqdn is not None:
        access.enable_private_cluster_public_fqdn = public_fqdn
    return access


def addon(payload: Any) -> inventory_pb2.Addon:
    f = Fields(payload)
    config = {
        key: ("true" if value else "false") if isinstance(value, bool) else str(value)
        for key, value in f.mapping("config").items()
        if value is not None
    }
    return inventory_pb2.Addon(enabled=f.flag("enabled"), config=config)


def ingress_profile(f: Fields) -> inventory_pb2.IngressProfile:
    routing = f.child("webAppRouting")
    return inventory_pb2.IngressProfile(
        web_app_routing_enabled=routing.flag("enabled"),
        web_app_routing_dns_zone_ids=routing.texts("dnsZoneResourceIds"),
        gateway_api_installation=f.child("gatewayAPI").text("installation"),
        application_load_balancer_enabled=f.child("applicationLoadBalancer").flag("enabled"),
    )


def identity(cluster: Fields) -> inventory_pb2.ClusterIdentityConfig:
    f = cluster.child("identity")
    return inventory_pb2.ClusterIdentityConfig(
        type=f.text("type"),
        user_assigned_identity_ids=list(f.mapping("userAssignedIdentities")),
        service_principal_client_id=cluster.child("servicePrincipalProfile").text("clientId"),
        principals=list(identity_principals(cluster)),
    )


def identity_principals(cluster: Fields) -> Iterator[inventory_pb2.IdentityPrincipal]:
    """The control plane identity (``identity.principalId`` when system-assigned, each
    ``userAssignedIdentities`` entry otherwise), the kubelet identity
    (``identityProfile.kubeletidentity``) and each add-on's ``identity``, with the object ids
    role assignments name them by."""
    f = cluster.child("identity")
    if f.text("principalId"):
        yield inventory_pb2.IdentityPrincipal(role="cluster", principal_id=f.text("principalId"))
    for resource_id, assigned in f.mapping("userAssignedIdentities").items():
        user = Fields(assigned)
        yield inventory_pb2.IdentityPrincipal(
            role="cluster",
            principal_id=user.text("principalId"),
            client_id=user.text("clientId"),
            resource_id=resource_id,
        )
    kubelet = cluster.child("identityProfile").child("kubeletidentity")
    if kubelet:
        yield _user_assigned_principal("kubelet", kubelet)
    for name, addon_payload in cluster.mapping("addonProfiles").items():
        addon_identity = Fields(addon_payload).child("identity")
        if addon_identity:
            yield _user_assigned_principal(f"addon:{name.lower()}", addon_identity)


def _user_assigned_principal(role: str, f: Fields) -> inventory_pb2.IdentityPrincipal:
    """An identity object as identityProfile and addonProfiles hold it: resourceId,
    clientId, objectId."""
    return inventory_pb2.IdentityPrincipal(
        role=role,
        principal_id=f.text("objectId", "principalId"),
        client_id=f.text("clientId"),
        resource_id=f.text("resourceId"),
    )


# ---------------------------------------------------------------------------
# Microsoft.Network: subnets, virtual networks, peerings, usages


def subnet(payload: Any) -> inventory_pb2.Subnet:
    f = Fields(payload)
    subnet_id = f.text("id")
    return inventory_pb2.Subnet(
        id=subnet_id,
        name=f.top("name") or f.text("name"),
        virtual_network_id=parent_id(subnet_id, "subnets"),
        address_prefixes=_unique([*f.texts("addressPrefix"), *f.texts("addressPrefixes")]),
        delegations=[d.text("serviceName") for d in f.children("delegations")],
        network_security_group_id=f.child("networkSecurityGroup").text("id"),
        route_table_id=f.child("routeTable").text("id"),
        ip_configuration_count=len(f.children("ipConfigurations")),
        private_endpoint_count=len(f.children("privateEndpoints")),
    )


def subnets_of_virtual_network(payload: Any) -> list[inventory_pb2.Subnet]:
    """The subnets a virtualNetworks GET embeds, converted like a subnets GET."""
    return [subnet(s) for s in Fields(payload).raw("subnets") or () if s is not None]


def virtual_network(payload: Any, usages: Iterable[Any] = ()) -> inventory_pb2.VirtualNetwork:
    """A VNet with its peerings and the rows of its ``usages`` list (SDK-NET)."""
    f = Fields(payload)
    return inventory_pb2.VirtualNetwork(
        id=f.text("id"),
        name=f.top("name") or f.text("name"),
        location=f.text("location"),
        address_prefixes=f.child("addressSpace").texts("addressPrefixes"),
        dns_servers=f.child("dhcpOptions").texts("dnsServers"),
        peerings=[peering(p) for p in f.raw("virtualNetworkPeerings") or () if p is not None],
        subnet_usages=[subnet_usage(u) for u in usages if u is not None],
        subnet_ids=[s.text("id") for s in f.children("subnets")],
    )


def peering(payload: Any) -> inventory_pb2.VirtualNetworkPeering:
    f = Fields(payload)
    remote_space = f.child("remoteAddressSpace")
    if not remote_space:
        remote_space = f.child("remoteVirtualNetworkAddressSpace")
    return inventory_pb2.VirtualNetworkPeering(
        name=f.top("name") or f.text("name"),
        remote_virtual_network_id=f.child("remoteVirtualNetwork").text("id"),
        remote_address_prefixes=remote_space.texts("addressPrefixes"),
        peering_state=f.text("peeringState"),
    )


def subnet_usage(payload: Any) -> inventory_pb2.SubnetUsage:
    """One ``virtualNetworks/usages`` row: ``id`` is the subnet, ``currentValue`` of ``limit``."""
    f = Fields(payload)
    return inventory_pb2.SubnetUsage(
        subnet_id=f.text("id"), current_value=f.number("currentValue"), limit=f.number("limit")
    )


# ---------------------------------------------------------------------------
# Microsoft.Network: network security groups, private endpoints (with their network
# interfaces' addresses), application gateways


def network_security_group(payload: Any) -> inventory_pb2.NetworkSecurityGroup:
    """An NSG with its custom and default rules and the subnets it is associated with."""
    f = Fields(payload)
    return inventory_pb2.NetworkSecurityGroup(
        id=f.text("id"),
        name=f.top("name") or f.text("name"),
        location=f.text("location"),
        provisioning_state=f.text("provisioningState"),
        security_rules=[security_rule(r) for r in f.raw("securityRules") or () if r is not None],
        default_security_rules=[
            security_rule(r) for r in f.raw("defaultSecurityRules") or () if r is not None
        ],
        subnet_ids=[s.text("id") for s in f.children("subnets")],
    )


def security_rule(payload: Any) -> inventory_pb2.SecurityRule:
    """One NSG rule; ARM holds one prefix or port range in the singular field and several in
    the plural one (never both), so both are read into one list."""
    f = Fields(payload)
    return inventory_pb2.SecurityRule(
        name=f.top("name") or f.text("name"),
        priority=f.integer("priority"),
        direction=f.text("direction"),
        access=f.text("access"),
        protocol=f.text("protocol"),
        source_address_prefixes=_both(f, "sourceAddressPrefix", "sourceAddressPrefixes"),
        destination_address_prefixes=_both(
            f, "destinationAddressPrefix", "destinationAddressPrefixes"
        ),
        source_port_ranges=_both(f, "sourcePortRange", "sourcePortRanges"),
        destination_port_ranges=_both(f, "destinationPortRange", "destinationPortRanges"),
        source_application_security_group_ids=[
            g.text("id") for g in f.children("sourceApplicationSecurityGroups")
        ],
        destination_application_security_group_ids=[
            g.text("id") for g in f.children("destinationApplicationSecurityGroups")
        ],
    )


def _both(f: Fields, singular: str, plural: str) -> list[str]:
    return _unique([*f.texts(singular), *f.texts(plural)])


def private_endpoint(
    payload: Any, network_interfaces: Iterable[Any] = ()
) -> inventory_pb2.PrivateEndpoint:
    """A private endpoint, its connections, and its private addresses: those of
    ``network_interfaces`` (the NICs it names) when given, else the ones the endpoint body
    carries in ``ipConfigurations`` or ``customDnsConfigs``."""
    f = Fields(payload)
    connections = [
        *(f.raw("privateLinkServiceConnections") or ()),
        *(f.raw("manualPrivateLinkServiceConnections") or ()),
    ]
    endpoint = inventory_pb2.PrivateEndpoint(
        id=f.text("id"),
        name=f.top("name") or f.text("name"),
        provisioning_state=f.text("provisioningState"),
        subnet_id=f.child("subnet").text("id"),
        connections=[private_link_service_connection(c) for c in connections if c is not None],
        network_interface_ids=[n.text("id") for n in f.children("networkInterfaces")],
    )
    sources = (
        ("networkInterface", _unique(a for nic in network_interfaces for a in _nic_addresses(nic))),
        (
            "ipConfigurations",
            _unique(c.text("privateIPAddress") for c in f.children("ipConfigurations")),
        ),
        (
            "customDnsConfigs",
            _unique(a for c in f.children("customDnsConfigs") for a in c.texts("ipAddresses")),
        ),
    )
    for source, addresses in sources:
        if addresses:
            endpoint.private_ip_addresses.extend(addresses)
            endpoint.address_source = source
            break
    return endpoint


def endpoint_carries_addresses(payload: Any) -> bool:
    """True when a private endpoint body names its addresses itself, so its network
    interface need not be read."""
    return bool(private_endpoint(payload).private_ip_addresses)


def private_link_service_connection(payload: Any) -> inventory_pb2.PrivateLinkServiceConnection:
    f = Fields(payload)
    return inventory_pb2.PrivateLinkServiceConnection(
        name=f.top("name") or f.text("name"),
        private_link_service_id=f.text("privateLinkServiceId"),
        group_ids=f.texts("groupIds"),
        status=f.child("privateLinkServiceConnectionState").text("status"),
    )


def _nic_addresses(payload: Any) -> list[str]:
    """The single private addresses of a network interface's ipConfigurations; prefix
    configurations ("172.20.2.16/28", with privateIPAddressPrefixLength) are not addresses
    an endpoint answers on."""
    return [
        address
        for config in Fields(payload).children("ipConfigurations")
        if (address := config.text("privateIPAddress")) and "/" not in address
    ]


def application_gateway(payload: Any) -> inventory_pb2.ApplicationGateway:
    """An Application Gateway's state, SKU and the subnets of its gateway IP configurations."""
    f = Fields(payload)
    sku = f.child("sku")
    return inventory_pb2.ApplicationGateway(
        id=f.text("id"),
        name=f.top("name") or f.text("name"),
        provisioning_state=f.text("provisioningState"),
        operational_state=f.text("operationalState"),
        sku_name=sku.text("name"),
        sku_tier=sku.text("tier"),
        subnet_ids=_unique(
            c.child("subnet").text("id") for c in f.children("gatewayIPConfigurations")
        ),
    )


def missing_application_gateway(gateway_id: str) -> inventory_pb2.ApplicationGateway:
    """What ARM's 404 for an Application Gateway id says: it does not exist."""
    return inventory_pb2.ApplicationGateway(
        id=gateway_id, name=resource_id_part(gateway_id, "applicationGateways"), missing=True
    )


# ---------------------------------------------------------------------------
# Microsoft.Network/privateDnsZones


def private_dns_zone(
    payload: Any, links: Iterable[Any] = (), record_sets: Iterable[Any] = ()
) -> inventory_pb2.PrivateDnsZone:
    """A zone with its virtual network links and its A, AAAA, CNAME and TXT record sets
    (other types dropped); the A ones also in ``a_records``."""
    f = Fields(payload)
    sets = [s for s in record_sets if s is not None]
    return inventory_pb2.PrivateDnsZone(
        id=f.text("id"),
        name=f.top("name") or f.text("name"),
        virtual_network_links=[virtual_network_link(link) for link in links if link is not None],
        a_records=list(_a_record_sets(sets)),
        record_sets=[r for r in map(dns_record_set, sets) if r is not None],
    )


def public_dns_zone(payload: Any, record_sets: Iterable[Any] = ()) -> inventory_pb2.PublicDnsZone:
    """A public zone (``Microsoft.Network/dnsZones``) with its A, AAAA, CNAME and TXT record
    sets; its REST record properties (``ARecords``, ``CNAMERecord``, ``TXTRecords``, ``TTL``)
    read like the private zones' (keys match ignoring case)."""
    f = Fields(payload)
    return inventory_pb2.PublicDnsZone(
        id=f.text("id"),
        name=f.top("name") or f.text("name"),
        name_servers=f.texts("nameServers"),
        record_sets=[
            r for r in (dns_record_set(s) for s in record_sets if s is not None) if r is not None
        ],
    )


def virtual_network_link(payload: Any) -> inventory_pb2.VirtualNetworkLink:
    f = Fields(payload)
    return inventory_pb2.VirtualNetworkLink(
        id=f.text("id"),
        name=f.top("name") or f.text("name"),
        virtual_network_id=f.child("virtualNetwork").text("id"),
        registration_enabled=f.flag("registrationEnabled"),
        link_state=f.text("virtualNetworkLinkState"),
        provisioning_state=f.text("provisioningState"),
        resolution_policy=f.text("resolutionPolicy"),
    )


def a_record_set(payload: Any) -> inventory_pb2.ARecordSet:
    f = Fields(payload)
    return inventory_pb2.ARecordSet(
        name=f.top("name") or f.text("name"),
        fqdn=f.text("fqdn"),
        ttl=f.integer("ttl"),
        ipv4_addresses=[r.text("ipv4Address") for r in f.children("aRecords")],
    )


RECORD_VALUES = {
    "A": ("aRecords", "ipv4Address"),
    "AAAA": ("aaaaRecords", "ipv6Address"),
    "TXT": ("txtRecords", "value"),
}
"""Record types read besides CNAME: the property listing the records, and each record's value."""


def dns_record_set(payload: Any) -> inventory_pb2.DnsRecordSet | None:
    """An A, AAAA, CNAME or TXT record set (REST ``type`` "Microsoft.Network/privateDnsZones/TXT"
    or "Microsoft.Network/dnszones/TXT", CLI ``type`` likewise or a bare "TXT"); None for other
    types. A TXT record's strings are joined into one value, as a resolver reads them."""
    f = Fields(payload)
    record_type = _record_type(f)
    if record_type == "CNAME":
        values = [f.child("cnameRecord").text("cname")]
    elif record_type in RECORD_VALUES:
        records, field = RECORD_VALUES[record_type]
        values = [
            "".join(r.texts(field)) if record_type == "TXT" else r.text(field)
            for r in f.children(records)
        ]
    else:
        return None
    return inventory_pb2.DnsRecordSet(
        name=f.top("name") or f.text("name"),
        type=record_type,
        fqdn=f.text("fqdn"),
        ttl=f.integer("ttl"),
        values=[v for v in values if v],
    )


def _record_type(f: Fields) -> str:
    declared = f.top("type") or ""
    if declared:
        return str(declared).rsplit("/", 1)[-1].upper()
    for record_type, (records, _) in RECORD_VALUES.items():
        if f.raw(records):
            return record_type
    return "CNAME" if f.raw("cnameRecord") else ""


def _a_record_sets(record_sets: Iterable[Any]) -> Iterator[inventory_pb2.ARecordSet]:
    for payload in record_sets:
        if payload is None:
            continue
        f = Fields(payload)
        record_type = f.text("type")
        is_a = record_type.rsplit("/", 1)[-1].upper() == "A" if record_type else f.raw("aRecords")
        if is_a:
            yield a_record_set(payload)


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(v for v in values if v))


# ---------------------------------------------------------------------------
# Microsoft.Authorization/roleAssignments, Microsoft.Resources providers,
# Microsoft.ServiceNetworking associations

BUILT_IN_ROLES = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader",
    "4d97b98b-1d4f-4787-a291-c67834d212e7": "Network Contributor",
    "b12aa53e-6015-4669-85d0-8515ebb3ae7f": "Private DNS Zone Contributor",
    "befefa01-2a29-4197-83a8-272ff33ce314": "DNS Zone Contributor",
}
"""Built-in role definition ids (the same GUID in every subscription) of the roles the rules
judge, from the Azure built-in roles reference."""


def role_assignment(payload: Any) -> inventory_pb2.RoleAssignment:
    """One roleAssignments item; the role is named when it is one of :data:`BUILT_IN_ROLES`
    (roleDefinitionId is ``/subscriptions/<s>/providers/.../roleDefinitions/<guid>`` or
    ``/providers/.../roleDefinitions/<guid>``)."""
    f = Fields(payload)
    definition = f.text("roleDefinitionId")
    guid = definition.rstrip("/").rsplit("/", 1)[-1].lower()
    return inventory_pb2.RoleAssignment(
        id=f.text("id"),
        scope=f.text("scope"),
        principal_id=f.text("principalId"),
        principal_type=f.text("principalType"),
        role_definition_id=definition,
        role_name=BUILT_IN_ROLES.get(guid, ""),
    )


def role_assignment_scope(scope: str, payloads: Iterable[Any]) -> inventory_pb2.RoleAssignmentScope:
    """What a list of role assignments at ``scope`` returned."""
    return inventory_pb2.RoleAssignmentScope(
        scope=scope, assignments=[role_assignment(p) for p in payloads if p is not None]
    )


def resource_provider(
    subscription_id: str, payload: Any
) -> inventory_pb2.ResourceProviderRegistration:
    """A Providers_Get body: its namespace and registrationState in ``subscription_id``."""
    f = Fields(payload)
    return inventory_pb2.ResourceProviderRegistration(
        subscription_id=subscription_id,
        namespace=f.text("namespace"),
        registration_state=f.text("registrationState"),
    )


def agc_association(source: str, payload: Any) -> inventory_pb2.AgcAssociation:
    """A trafficControllers/associations body (REST or CLI)."""
    f = Fields(payload)
    return inventory_pb2.AgcAssociation(
        source=source,
        id=f.text("id"),
        association_type=f.text("associationType"),
        subnet_id=f.child("subnet").text("id"),
        provisioning_state=f.text("provisioningState"),
    )
