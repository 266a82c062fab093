"""Private cluster and API server access rules (domain.md §5 PDN-*, §2): the private DNS
zone of the API server (its name, identity, links and in-cluster resolution), public
exposure of the API server, and the API Server VNet Integration subnet."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator

from netaudit.collector.analysis import role_grants
from netaudit.collector.rules.rule import (
    DataSource,
    DoesNotApply,
    NotAssessed,
    Rule,
    inventory,
    report,
)
from netaudit.collector.rules.settings import RuleSettings
from netaudit.collector.rules.view import ClusterView
from netaudit.v1 import audit_pb2, inventory_pb2, report_pb2

CONTAINER_SERVICE = "Microsoft.ContainerService"
REGISTERED = "registered"
NO_PRIVATE_ZONE = "none"
SYSTEM_ZONE = "system"


def _no_zone_and_no_public_fqdn(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """enablePrivateCluster ∧ privateDNSZone == none ∧ enablePrivateClusterPublicFQDN == false
    (domain.md §5 PDN-001, A-PRV). An unset public FQDN flag is not ``false``."""
    cluster = view.require_inventory()
    access = cluster.api_server_access
    if not (
        access.enable_private_cluster
        and access.private_dns_zone.lower() == NO_PRIVATE_ZONE
        and access.HasField("enable_private_cluster_public_fqdn")
        and not access.enable_private_cluster_public_fqdn
    ):
        return
    yield rule.finding(
        view,
        resource=view.cluster_key,
        message=f"private cluster {cluster.name} has privateDNSZone=none and its public FQDN "
        "disabled: nothing resolves the API server name to its private endpoint",
        evidence={
            "enable_private_cluster": access.enable_private_cluster,
            "private_dns_zone": access.private_dns_zone,
            "enable_private_cluster_public_fqdn": access.enable_private_cluster_public_fqdn,
            "private_fqdn": cluster.private_fqdn,
        },
    )


PDN_001 = Rule(
    id="PDN-001",
    title="Unsupported DNS combo",
    severity=audit_pb2.SEVERITY_CRITICAL,
    rationale="With privateDNSZone none, nodes reach the API server through the public FQDN "
    "that resolves to the private IP; disabling that FQDN as well is an unsupported "
    "configuration in which the API server name cannot be resolved.",
    remediation="Re-enable the public FQDN (az aks update --enable-public-fqdn), or recreate "
    "the cluster with privateDNSZone system or a custom private DNS zone linked to the VNets "
    "that resolve it.",
    references=("https://learn.microsoft.com/azure/aks/private-clusters",),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_no_zone_and_no_public_fqdn,
)


# -- facts the rules share -------------------------------------------------------------


def _is_resource_id(value: str) -> bool:
    """privateDNSZone names a custom zone by its ARM id; otherwise it is system/none/empty."""
    return value.lower().startswith("/subscriptions/")


def _last_segment(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


def _resource_group(resource_id: str) -> str:
    parts = resource_id.strip("/").split("/")
    for name, value in zip(parts[::2], parts[1::2], strict=False):
        if name.lower() == "resourcegroups":
            return value
    return ""


def _vnet_of(subnet_id: str) -> str:
    """The lower-cased VNet id of a subnet id; empty when it is not a subnet id."""
    lowered = subnet_id.lower()
    index = lowered.find("/subnets/")
    return lowered[:index] if index >= 0 else ""


def _dns_name(name: str) -> str:
    """A DNS name as compared here: lower-cased, without the root dot."""
    return name.strip().rstrip(".").lower()


def _joined(values: Iterable[str]) -> str:
    return ",".join(values) or "none"


def _require_private_fqdn(cluster: inventory_pb2.ClusterInventory) -> str:
    fqdn = _dns_name(cluster.private_fqdn)
    if not fqdn:
        raise NotAssessed("the managed cluster body carried no privateFQDN")
    return fqdn


# -- PDN-002 -------------------------------------------------------------------------------


def _zone_name_pattern(location: str, vnet_integration: bool) -> re.Pattern[str]:
    """``[<subzone ≤ 32>.]privatelink.<location>.azmk8s.io``, or ``private.`` instead of
    ``privatelink.`` with API Server VNet Integration (domain.md §2.2, A-PRV)."""
    label = "private" if vnet_integration else "privatelink"
    return re.compile(rf"([a-z0-9-]{{1,32}}\.)?{label}\.{re.escape(location)}\.azmk8s\.io")


def _custom_zone_name_invalid(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """privateDNSZone is a resource id whose zone name does not match the pattern for the
    cluster's location (domain.md §5 PDN-002); names compare case-insensitively."""
    cluster = view.require_inventory()
    access = cluster.api_server_access
    if not _is_resource_id(access.private_dns_zone):
        return
    location = cluster.location.replace(" ", "").lower()
    if not location:
        raise NotAssessed("the managed cluster body carried no location")
    pattern = _zone_name_pattern(location, access.enable_vnet_integration)
    name = _last_segment(access.private_dns_zone)
    if pattern.fullmatch(_dns_name(name)):
        return
    label = "private" if access.enable_vnet_integration else "privatelink"
    expected = f"{label}.{location}.azmk8s.io"
    yield rule.finding(
        view,
        resource=access.private_dns_zone.lower(),
        message=f"custom private DNS zone {name} of cluster {cluster.name} is not named "
        f"{expected} or <subzone of at most 32 characters>.{expected}",
        evidence={
            "zone": name,
            "expected_pattern": f"^{pattern.pattern}$",
            "location": cluster.location,
            "enable_vnet_integration": access.enable_vnet_integration,
        },
    )


PDN_002 = Rule(
    id="PDN-002",
    title="Custom private zone name invalid",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="AKS accepts a custom private DNS zone only when it is named "
    "privatelink.<region>.azmk8s.io (private.<region>.azmk8s.io with API Server VNet "
    "Integration), optionally under one subzone of at most 32 characters; another name fails "
    "cluster creation and upgrades.",
    remediation="Create a zone with a valid name for the cluster's region (az network "
    "private-dns zone create -n privatelink.<region>.azmk8s.io) and recreate the cluster with "
    "--private-dns-zone <zone id>: the zone of an existing cluster cannot be changed.",
    references=("https://learn.microsoft.com/azure/aks/private-clusters",),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_custom_zone_name_invalid,
)


# -- PDN-003 -------------------------------------------------------------------------------

SYSTEM_ASSIGNED = "systemassigned"
MSI_CLIENT_ID = "msi"
"""servicePrincipalProfile.clientId of a cluster that runs with a managed identity."""


def _custom_zone_with_system_identity(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """privateDNSZone is a resource id ∧ identity.type == SystemAssigned (domain.md §5
    PDN-003)."""
    cluster = view.require_inventory()
    access = cluster.api_server_access
    if not _is_resource_id(access.private_dns_zone):
        return
    identity = cluster.identity
    client_id = identity.service_principal_client_id.lower()
    if not identity.type and client_id in {"", MSI_CLIENT_ID}:
        raise NotAssessed("the managed cluster body carried no identity type")
    if identity.type.lower() != SYSTEM_ASSIGNED:
        return
    yield rule.finding(
        view,
        resource=view.cluster_key,
        message=f"cluster {cluster.name} uses the custom private DNS zone "
        f"{_last_segment(access.private_dns_zone)} with a system-assigned identity, which "
        "cannot be granted rights on the zone before the cluster exists",
        evidence={"private_dns_zone": access.private_dns_zone, "identity_type": identity.type},
    )


PDN_003 = Rule(
    id="PDN-003",
    title="Custom zone with system-assigned identity",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="A custom private DNS zone needs a user-assigned identity (or a service "
    "principal) holding Private DNS Zone Contributor on the zone; a system-assigned identity "
    "is not supported with a custom zone.",
    remediation="Switch the cluster to a user-assigned identity (az aks update "
    "--enable-managed-identity --assign-identity <identity id>) and grant it Private DNS Zone "
    "Contributor on the zone and Network Contributor on the VNet.",
    references=(
        "https://learn.microsoft.com/azure/aks/private-clusters",
        "https://learn.microsoft.com/azure/aks/use-managed-identity",
    ),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_custom_zone_with_system_identity,
)


def _cluster_identity_lacks_zone_or_network_role(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """A custom private zone with a user-assigned cluster identity that lacks Private DNS
    Zone Contributor on the zone, or Network Contributor on the VNet of its BYO subnets
    (domain.md §5 PDN-004, A-PRV); Contributor and Owner include both. A system-assigned
    identity with a custom zone is PDN-003's finding."""
    cluster = view.require_inventory()
    zone = cluster.api_server_access.private_dns_zone
    if not _is_resource_id(zone) or cluster.identity.type.lower() == SYSTEM_ASSIGNED:
        raise DoesNotApply
    principals = role_grants.cluster_principal_ids(cluster)
    if not principals:
        raise NotAssessed("the managed cluster body names no object id for the cluster identity")
    vnets = {
        subnet_id.lower().partition("/subnets/")[0]: subnet_id.partition("/subnets/")[0]
        for pool in cluster.agent_pools
        for subnet_id in (pool.vnet_subnet_id,)
        if "/subnets/" in subnet_id.lower()
    }
    wanted = [
        (zone, "private DNS zone", role_grants.PRIVATE_DNS_ROLES, "Private DNS Zone Contributor"),
        *(
            (vnet, "VNet", role_grants.NETWORK_ROLES, "Network Contributor")
            for vnet in vnets.values()
        ),
    ]
    unknown = []
    for scope, kind, roles, role_name in wanted:
        read = role_grants.assignments_at(cluster, scope)
        if read is None:
            unknown.append(f"role assignments at {scope} were not read")
            continue
        held = role_grants.grant(read, principals, roles)
        if held.held:
            continue
        if held.unknown:
            unknown.append(
                f"the cluster identity holds only roles whose permissions are not read "
                f"({held.unknown_roles()}) at {scope}"
            )
            continue
        yield rule.finding(
            view,
            resource=scope,
            message=f"the user-assigned identity of {cluster.name} holds no {role_name} (nor "
            f"Contributor / Owner) on the {kind} {_last_segment(scope)} or above it; cluster "
            "create, upgrade and scale fail on it",
            evidence={
                "principal_ids": ",".join(principals),
                "needed_role": role_name,
                "assignments_read": len(read.assignments),
            },
        )
    if unknown:
        raise NotAssessed("; ".join(unknown))


PDN_004 = Rule(
    id="PDN-004",
    title="Missing DNS/network roles for cluster identity",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale=(
        "A private cluster with a custom zone needs its user-assigned identity to hold "
        "Private DNS Zone Contributor on the zone and Network Contributor on the VNet."
    ),
    remediation="Grant both roles to the cluster identity before create or upgrade.",
    references=("https://learn.microsoft.com/azure/aks/private-clusters",),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"), inventory("role_assignments")),
    check=_cluster_identity_lacks_zone_or_network_role,
)


# -- PDN-005 -------------------------------------------------------------------------------


def _api_server_zone(cluster: inventory_pb2.ClusterInventory) -> inventory_pb2.PrivateDnsZone:
    """The custom zone privateDNSZone names, or for ``system`` the zone in the node resource
    group that holds the private FQDN (A-PRV); NotAssessed naming the zone the inventory
    did not read."""
    access = cluster.api_server_access
    if _is_resource_id(access.private_dns_zone):
        wanted = access.private_dns_zone.lower()
        for zone in cluster.private_dns_zones:
            if zone.id.lower() == wanted:
                return zone
        raise NotAssessed(f"the private DNS zone {access.private_dns_zone} was not read")
    fqdn = _require_private_fqdn(cluster)
    node_group = cluster.node_resource_group.lower()
    if not node_group:
        raise NotAssessed("the managed cluster body carried no nodeResourceGroup")
    candidates = [
        zone
        for zone in cluster.private_dns_zones
        if _resource_group(zone.id).lower() == node_group
        and fqdn.endswith("." + _dns_name(zone.name))
    ]
    if not candidates:
        raise NotAssessed(
            f"the private DNS zone {fqdn.split('.', 1)[-1]} in node resource group "
            f"{cluster.node_resource_group} was not read"
        )
    return max(candidates, key=lambda zone: len(zone.name))


def _unlinked_message(vnet: inventory_pb2.VirtualNetwork) -> str:
    if vnet.dns_servers:
        return (
            f"VNet {vnet.name} uses the DNS servers {', '.join(vnet.dns_servers)} but the zone "
            "is linked neither to it nor to a peered (hub) VNet"
        )
    return f"VNet {vnet.name} resolves through Azure DNS but has no link to the zone"


def _zone_not_linked(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """The API server zone has no link to the cluster VNet and, when that VNet has custom DNS
    servers, none to a peered (hub) VNet either (domain.md §5 PDN-005, §2.2 hub-spoke)."""
    cluster = view.require_inventory()
    access = cluster.api_server_access
    if not access.enable_private_cluster or access.private_dns_zone.lower() == NO_PRIVATE_ZONE:
        return
    zone = _api_server_zone(cluster)
    linked = sorted({link.virtual_network_id.lower() for link in zone.virtual_network_links})
    vnet_ids = list(
        dict.fromkeys(v for p in cluster.agent_pools if (v := _vnet_of(p.vnet_subnet_id)))
    )
    evidence: dict[str, object] = {
        "zone": zone.name,
        "private_fqdn": cluster.private_fqdn,
        "linked_vnets": _joined(linked),
    }
    if not vnet_ids:
        # Pools on the AKS-managed VNet: it lives in the node resource group (A-PRV).
        node_group = cluster.node_resource_group.lower()
        if any(_resource_group(vnet_id).lower() == node_group for vnet_id in linked):
            return
        yield rule.finding(
            view,
            resource=zone.id.lower(),
            message=f"private DNS zone {zone.name} has no link to the AKS-managed VNet in "
            f"{cluster.node_resource_group}: nodes cannot resolve the API server name "
            f"{cluster.private_fqdn}",
            evidence={**evidence, "cluster_vnets": f"AKS-managed ({cluster.node_resource_group})"},
        )
        return
    vnets = {vnet.id.lower(): vnet for vnet in cluster.virtual_networks}
    unlinked: list[inventory_pb2.VirtualNetwork] = []
    unread: list[str] = []
    for vnet_id in vnet_ids:
        if vnet_id in linked:
            continue
        vnet = vnets.get(vnet_id)
        if vnet is None:
            unread.append(vnet_id)
            continue
        hubs = {peering.remote_virtual_network_id.lower() for peering in vnet.peerings}
        if vnet.dns_servers and hubs.intersection(linked):
            continue
        unlinked.append(vnet)
    if unlinked:
        yield rule.finding(
            view,
            resource=zone.id.lower(),
            message=f"private DNS zone {zone.name}: "
            + "; ".join(_unlinked_message(vnet) for vnet in unlinked)
            + f", so the API server name {cluster.private_fqdn} does not resolve there",
            evidence={
                **evidence,
                "cluster_vnets": _joined(vnet.id.lower() for vnet in unlinked),
                "dns_servers": _joined(s for vnet in unlinked for s in vnet.dns_servers),
                "peered_vnets": _joined(
                    p.remote_virtual_network_id.lower() for vnet in unlinked for p in vnet.peerings
                ),
            },
        )
    if unread:
        raise NotAssessed(
            f"the virtual network {', '.join(unread)} was not read: its DNS servers and "
            "peerings decide where the zone must be linked"
        )


PDN_005 = Rule(
    id="PDN-005",
    title="Private zone not linked where resolution happens",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="Nodes resolve the private API server name through the zone only from a VNet "
    "linked to it: the cluster VNet with Azure DNS, or, with custom DNS servers that forward "
    "to 168.63.129.16, the hub VNet those servers run in.",
    remediation="Link the zone to the VNet that resolves (az network private-dns link vnet "
    "create -g <zone resource group> -z <zone> -n <link> -v <VNet id> -e false): the cluster "
    "VNet, or the hub VNet of the custom DNS servers.",
    references=(
        "https://learn.microsoft.com/azure/aks/private-clusters",
        "https://learn.microsoft.com/azure/dns/private-dns-virtual-network-links",
    ),
    data_source=DataSource.ARM,
    reads=(
        inventory("cluster"),
        inventory("private_dns_zones"),
        inventory("virtual_networks"),
    ),
    check=_zone_not_linked,
)


# -- PDN-006 -------------------------------------------------------------------------------


def _record_name(fqdn: str, zone: inventory_pb2.PrivateDnsZone) -> str:
    """The A record set name of the private FQDN in the zone: the FQDN without the zone
    name, which is its first label for every name AKS gives; the first label when the FQDN
    is not under the zone."""
    zone_name = _dns_name(zone.name)
    if zone_name and fqdn.endswith("." + zone_name):
        return fqdn[: -len(zone_name) - 1]
    return fqdn.split(".", 1)[0]


def _api_server_endpoint(
    cluster: inventory_pb2.ClusterInventory,
) -> inventory_pb2.PrivateEndpoint | None:
    """The private endpoint whose connection targets the managed cluster (A-PRV)."""
    cluster_id = cluster.arm_resource_id.lower()
    for endpoint in cluster.private_endpoints:
        if any(c.private_link_service_id.lower() == cluster_id for c in endpoint.connections):
            return endpoint
    return None


def _a_record_wrong(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """A private cluster with a private zone (system or custom): the zone's A record for
    the privateFQDN label is absent, or its addresses differ from those of the API server's
    private endpoint NIC (domain.md §5 PDN-006, A-PRV). With privateDNSZone none there is
    no private record to judge."""
    cluster = view.require_inventory()
    access = cluster.api_server_access
    if not access.enable_private_cluster or access.private_dns_zone.lower() == NO_PRIVATE_ZONE:
        return
    if access.enable_vnet_integration:
        raise NotAssessed(
            "with API Server VNet Integration the API server is an internal load balancer in "
            f"subnet {access.subnet_id or '(unknown)'}, not a private endpoint; its address "
            "is not read"
        )
    fqdn = _require_private_fqdn(cluster)
    zone = _api_server_zone(cluster)
    name = _record_name(fqdn, zone)
    resource = f"{zone.id.lower()}/a/{name}"
    evidence: dict[str, object] = {"zone": zone.name, "record": name, "private_fqdn": fqdn}
    record = next((r for r in zone.a_records if _dns_name(r.name) == name), None)
    if record is None or not record.ipv4_addresses:
        yield rule.finding(
            view,
            resource=resource,
            message=f"private DNS zone {zone.name} has no A record {name}: the API server name "
            f"{fqdn} does not resolve to its private endpoint",
            evidence={**evidence, "record_addresses": "none"},
        )
        return
    endpoint = _api_server_endpoint(cluster)
    if endpoint is None:
        raise NotAssessed(
            f"no private endpoint in node resource group {cluster.node_resource_group} "
            "connects to the cluster"
        )
    expected = sorted({a for a in endpoint.private_ip_addresses if ":" not in a})
    if not expected:
        raise NotAssessed(
            f"the private endpoint {endpoint.id} has no IPv4 address in the inventory"
        )
    actual = sorted(set(record.ipv4_addresses))
    if actual == expected:
        return
    yield rule.finding(
        view,
        resource=resource,
        message=f"A record {name} in private DNS zone {zone.name} points at "
        f"{', '.join(actual)}, but the API server's private endpoint {endpoint.name} answers "
        f"on {', '.join(expected)}: {fqdn} resolves to "
        + (
            "an address nothing answers on"
            if not set(actual) & set(expected)
            else "extra addresses"
        ),
        evidence={
            **evidence,
            "record_addresses": ",".join(actual),
            "endpoint_addresses": ",".join(expected),
            "private_endpoint": endpoint.id.lower(),
            "address_source": endpoint.address_source,
        },
    )


PDN_006 = Rule(
    id="PDN-006",
    title="API server A record wrong/missing",
    severity=audit_pb2.SEVERITY_CRITICAL,
    rationale=(
        "Nodes and users reach a private API server through the private zone's A record for "
        "its privateFQDN; a missing record, or one that does not point at the private "
        "endpoint's IP, makes the API server unreachable from the VNet."
    ),
    remediation=(
        "Recreate the record with the private endpoint NIC address: az network private-dns "
        "record-set a add-record -g <zone resource group> -z <zone> -n <privateFQDN label> "
        "-a <endpoint IP> (and remove stale addresses with remove-record)."
    ),
    references=("https://learn.microsoft.com/azure/aks/private-clusters",),
    data_source=DataSource.ARM,
    reads=(
        inventory("cluster"),
        inventory("private_dns_zones"),
        inventory("private_endpoints"),
    ),
    check=_a_record_wrong,
)


# -- PDN-007 -------------------------------------------------------------------------------

PRIVATE_RANGES = tuple(
    ipaddress.ip_network(cidr)
    for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)
"""RFC 1918, RFC 6598 and IPv6 unique-local ranges, where VNets (and so private endpoints)
normally take their addresses."""

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _private_ranges(cluster: inventory_pb2.ClusterInventory) -> list[Network]:
    """The private ranges plus the cluster's VNets' own address space (a VNet may use
    public ranges privately)."""
    ranges: list[Network] = list(PRIVATE_RANGES)
    for vnet in cluster.virtual_networks:
        for prefix in vnet.address_prefixes:
            try:
                ranges.append(ipaddress.ip_network(prefix, strict=False))
            except ValueError:
                continue
    return ranges


def _address(answer: str) -> Address | None:
    try:
        return ipaddress.ip_address(answer.strip())
    except ValueError:
        return None  # a CNAME target or another record's text


def _probe_failure(probe: report_pb2.DnsProbe, private: list[Network]) -> str | None:
    """What a probe returned when it shows the name unresolvable or public, else None."""
    if probe.rcode.upper() == "NXDOMAIN":
        return "NXDOMAIN"
    addresses = [a for a in map(_address, probe.answers) if a is not None]
    public = [a for a in addresses if not any(a in network for network in private)]
    if public:
        return f"public address {', '.join(map(str, public))}"
    if not addresses and probe.query_type.upper() in {"", "A"}:
        return "NOERROR without an address"
    return None


def _judged(probe: report_pb2.DnsProbe) -> bool:
    """A probe that ran and got NOERROR or NXDOMAIN; a timeout or SERVFAIL tells nothing
    about the name itself (DNS-009 judges the upstream)."""
    return not probe.error and probe.rcode.upper() in {"NOERROR", "NXDOMAIN"}


def _probe_key(probe: report_pb2.DnsProbe) -> str:
    return f"{probe.origin or 'agent'} {probe.query_type or 'A'} @{probe.server}"


def _private_fqdn_unresolvable(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """An agent probe of privateFQDN (from a node or a pod) answers NXDOMAIN or a public
    address, on a private cluster (domain.md §5 PDN-007)."""
    cluster = view.require_inventory()
    if not cluster.api_server_access.enable_private_cluster:
        return
    fqdn = _require_private_fqdn(cluster)
    probes = [p for p in view.require_report().coredns.probes if _dns_name(p.name) == fqdn]
    if not probes:
        raise NotAssessed(
            f"the agent report has no DNS probe of the private FQDN {fqdn} (agent: "
            f"--dns-probe {fqdn})"
        )
    private = _private_ranges(cluster)
    failures = {
        _probe_key(probe): failure
        for probe in probes
        if _judged(probe) and (failure := _probe_failure(probe, private)) is not None
    }
    if failures:
        yield rule.finding(
            view,
            resource=view.cluster_key,
            message=f"the private API server name {fqdn} does not resolve to a private "
            "address in the cluster: "
            + "; ".join(f"{where}: {what}" for where, what in failures.items()),
            evidence={"private_fqdn": fqdn, **failures},
        )
    unjudged = [p for p in probes if not _judged(p)]
    if unjudged:
        raise NotAssessed(
            f"DNS probes of {fqdn} gave no answer: "
            + "; ".join(f"{_probe_key(p)}: {p.error or p.rcode or 'no rcode'}" for p in unjudged)
        )


PDN_007 = Rule(
    id="PDN-007",
    title="privateFQDN not resolvable in-cluster",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="Nodes and pods reach the private API server through its private FQDN; when "
    "the cluster's DNS path (custom DNS servers, CoreDNS forwarding) does not return the "
    "private endpoint's address, kubelet and in-cluster clients cannot reach the API server.",
    remediation="Make the DNS servers of the cluster VNet forward the zone (or azmk8s.io) to "
    "168.63.129.16 from a VNet linked to the private zone, or use an Azure DNS Private "
    "Resolver there; check coredns-custom forwarders for the name.",
    references=(
        "https://learn.microsoft.com/azure/aks/private-clusters",
        "https://learn.microsoft.com/azure/virtual-network/what-is-ip-address-168-63-129-16",
    ),
    # The agent's probes are the evidence; ARM says whether the cluster is private and
    # which name is its private FQDN.
    data_source=DataSource.AGENT,
    reads=(inventory("cluster"), report("coredns")),
    check=_private_fqdn_unresolvable,
)


# -- PDN-008, PDN-009, PDN-010: API server exposure ------------------------------------------


def _public_fqdn_on_private_cluster(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """enablePrivateCluster ∧ enablePrivateClusterPublicFQDN != false (domain.md §5
    PDN-008); an unset flag means the default public FQDN. With privateDNSZone none the
    public FQDN is how nodes find the API server, and disabling it is PDN-001."""
    cluster = view.require_inventory()
    access = cluster.api_server_access
    if not access.enable_private_cluster or access.private_dns_zone.lower() == NO_PRIVATE_ZONE:
        return
    explicit = access.HasField("enable_private_cluster_public_fqdn")
    if explicit and not access.enable_private_cluster_public_fqdn:
        return
    yield rule.finding(
        view,
        resource=view.cluster_key,
        message=f"private cluster {cluster.name} also publishes its API server name in public "
        f"DNS{f' ({cluster.fqdn})' if cluster.fqdn else ''}, resolving to its private address",
        evidence={
            "enable_private_cluster_public_fqdn": (
                access.enable_private_cluster_public_fqdn if explicit else "unset (default true)"
            ),
            "fqdn": cluster.fqdn or "none",
            "private_dns_zone": access.private_dns_zone or SYSTEM_ZONE,
        },
    )


PDN_008 = Rule(
    id="PDN-008",
    title="Public FQDN exposed on private cluster",
    severity=audit_pb2.SEVERITY_LOW,
    rationale="By default a private cluster also gets a public FQDN that resolves to the "
    "API server's private address; strict compliance asks that private names not leak into "
    "public DNS.",
    remediation="az aks update --disable-public-fqdn (keep it with privateDNSZone none, where "
    "nodes resolve the API server through it).",
    references=("https://learn.microsoft.com/azure/aks/private-clusters",),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_public_fqdn_on_private_cluster,
)


def _ranges_on_private_cluster(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """enablePrivateCluster ∧ authorizedIPRanges non-empty (domain.md §5 PDN-009)."""
    cluster = view.require_inventory()
    access = cluster.api_server_access
    if not (access.enable_private_cluster and access.authorized_ip_ranges):
        return
    yield rule.finding(
        view,
        resource=view.cluster_key,
        message=f"private cluster {cluster.name} sets authorized IP ranges "
        f"({', '.join(access.authorized_ip_ranges)}), which do not apply to its private "
        "endpoint",
        evidence={"authorized_ip_ranges": ",".join(access.authorized_ip_ranges)},
    )


PDN_009 = Rule(
    id="PDN-009",
    title="Authorized IP ranges on private cluster (no effect)",
    severity=audit_pb2.SEVERITY_LOW,
    rationale="Authorized IP ranges restrict only the public API server endpoint; on a "
    "private cluster they have no effect and suggest a protection that is not there.",
    remediation='Remove them (az aks update --api-server-authorized-ip-ranges ""), and control '
    "access to the private endpoint with NSGs and the networks that reach it.",
    references=(
        "https://learn.microsoft.com/azure/aks/private-clusters",
        "https://learn.microsoft.com/azure/aks/api-server-authorized-ip-ranges",
        "https://github.com/Azure/PSRule.Rules.Azure/issues/2677",
    ),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_ranges_on_private_cluster,
)


def _public_api_without_ranges(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """¬enablePrivateCluster ∧ authorizedIPRanges empty (domain.md §5 PDN-010); private
    clusters are out of scope, ranges do not apply to them (PSRule#2677)."""
    cluster = view.require_inventory()
    access = cluster.api_server_access
    if access.enable_private_cluster or access.authorized_ip_ranges:
        return
    yield rule.finding(
        view,
        resource=view.cluster_key,
        message=f"cluster {cluster.name} has a public API server"
        f"{f' ({cluster.fqdn})' if cluster.fqdn else ''} open to every address: no "
        "authorized IP ranges",
        evidence={
            "enable_private_cluster": False,
            "authorized_ip_ranges": "none",
            "fqdn": cluster.fqdn or "none",
        },
    )


PDN_010 = Rule(
    id="PDN-010",
    title="Public API without authorized IP ranges",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="A public API server without authorized IP ranges accepts connections from "
    "any address on the internet; Azure Policy asks for ranges on every public cluster.",
    remediation="az aks update --api-server-authorized-ip-ranges <CIDRs of the admin networks "
    "and the cluster egress IPs>, or make the API server private.",
    references=(
        "https://learn.microsoft.com/azure/aks/api-server-authorized-ip-ranges",
        "https://learn.microsoft.com/azure/aks/policy-reference",
    ),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_public_api_without_ranges,
)


# -- PDN-011 -------------------------------------------------------------------------------

API_SERVER_DELEGATION = "microsoft.containerservice/managedclusters"
MAX_API_SERVER_PREFIX = 28
"""The API server subnet must be at least a /28 (A-VNI)."""


def _largest_ipv4_prefix(subnet: inventory_pb2.Subnet) -> int:
    """The shortest IPv4 prefix length of the subnet; NotAssessed when none parses."""
    lengths = []
    for prefix in subnet.address_prefixes:
        try:
            network = ipaddress.ip_network(prefix, strict=False)
        except ValueError as exc:
            raise NotAssessed(f"subnet {subnet.name} has an unreadable prefix {prefix!r}") from exc
        if network.version == 4:
            lengths.append(network.prefixlen)
    if not lengths:
        raise NotAssessed(f"subnet {subnet.name} carried no IPv4 address prefix")
    return min(lengths)


def _api_server_subnet_invalid(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """enableVnetIntegration ∧ (API server subnet not delegated to
    Microsoft.ContainerService/managedClusters or prefix > /28) (domain.md §5 PDN-011). Without
    a subnetId AKS creates and delegates the subnet itself."""
    cluster = view.require_inventory()
    access = cluster.api_server_access
    if not access.enable_vnet_integration or not access.subnet_id:
        return
    subnet = next((s for s in cluster.subnets if s.id.lower() == access.subnet_id.lower()), None)
    if subnet is None:
        raise NotAssessed(f"the API server subnet {access.subnet_id} was not read")
    delegated = any(d.lower() == API_SERVER_DELEGATION for d in subnet.delegations)
    prefix = _largest_ipv4_prefix(subnet)
    problems = []
    if not delegated:
        problems.append(
            "is not delegated to Microsoft.ContainerService/managedClusters (delegations: "
            f"{', '.join(subnet.delegations) or 'none'})"
        )
    if prefix > MAX_API_SERVER_PREFIX:
        problems.append(f"is a /{prefix}, smaller than the /{MAX_API_SERVER_PREFIX} required")
    if not problems:
        return
    yield rule.finding(
        view,
        resource=subnet.id.lower(),
        message=f"API server subnet {subnet.name} of cluster {cluster.name} "
        + " and ".join(problems),
        evidence={
            "subnet": subnet.name,
            "address_prefixes": ",".join(subnet.address_prefixes),
            "delegations": _joined(subnet.delegations),
            "prefix_length": prefix,
            "delegated": delegated,
        },
    )


PDN_011 = Rule(
    id="PDN-011",
    title="VNet-integration API subnet invalid",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="API Server VNet Integration injects the API server's internal load balancer "
    "into its subnet, which must be delegated to Microsoft.ContainerService/managedClusters "
    "and be at least a /28; otherwise creation, scaling of the control plane and upgrades fail.",
    remediation="az network vnet subnet update --delegations "
    "Microsoft.ContainerService/managedClusters; a subnet smaller than /28 must be replaced by "
    "a /28 or larger one.",
    references=("https://learn.microsoft.com/azure/aks/api-server-vnet-integration",),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"), inventory("subnets")),
    check=_api_server_subnet_invalid,
)


def _zone_subscription_not_registered(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """A custom private zone in another subscription where Microsoft.ContainerService is not
    Registered (domain.md §5 PDN-012, A-PRV)."""
    cluster = view.require_inventory()
    zone = cluster.api_server_access.private_dns_zone
    if not _is_resource_id(zone):
        raise DoesNotApply
    zone_subscription = _id_segment(zone, "subscriptions")
    if not zone_subscription or zone_subscription.lower() == cluster.subscription_id.lower():
        raise DoesNotApply
    registration = next(
        (
            r
            for r in cluster.resource_providers
            if r.subscription_id.lower() == zone_subscription.lower()
            and r.namespace.lower() == CONTAINER_SERVICE.lower()
        ),
        None,
    )
    if registration is None:
        raise NotAssessed(
            f"the registration of {CONTAINER_SERVICE} in subscription {zone_subscription} was "
            "not read"
        )
    if registration.registration_state.lower() == REGISTERED:
        return
    yield rule.finding(
        view,
        resource=f"/subscriptions/{zone_subscription}/providers/{CONTAINER_SERVICE}",
        message=f"the custom private DNS zone {_last_segment(zone)} of {cluster.name} is in "
        f"subscription {zone_subscription}, where {CONTAINER_SERVICE} is "
        f"{registration.registration_state or 'not registered'}",
        evidence={
            "private_dns_zone": zone,
            "zone_subscription": zone_subscription,
            "cluster_subscription": cluster.subscription_id,
            "registration_state": registration.registration_state,
        },
    )


def _id_segment(resource_id: str, segment: str) -> str:
    parts = resource_id.strip("/").split("/")
    for name, value in zip(parts[::2], parts[1::2], strict=False):
        if name.lower() == segment:
            return value
    return ""


PDN_012 = Rule(
    id="PDN-012",
    title="Custom zone in other subscription without RP",
    severity=audit_pb2.SEVERITY_MEDIUM,
    rationale=(
        "A custom private zone in another subscription needs Microsoft.ContainerService "
        "registered there too, or cluster operations fail."
    ),
    remediation=(
        "az provider register --namespace Microsoft.ContainerService --subscription <zone "
        "subscription>."
    ),
    references=("https://learn.microsoft.com/azure/aks/private-clusters",),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"), inventory("resource_providers")),
    check=_zone_subscription_not_registered,
)
