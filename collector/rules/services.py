"""Service network rules (domain.md §5 SVC-*): the DNS service IP, overlaps and size of the
service CIDR."""

from __future__ import annotations

from collections.abc import Iterator

from netaudit.collector.analysis.address_ranges import (
    NamedRange,
    Network,
    overlapping,
    parse_address,
    parse_networks,
)
from netaudit.collector.rules.rule import DataSource, NotAssessed, Rule, inventory
from netaudit.collector.rules.settings import RuleSettings
from netaudit.collector.rules.view import ClusterView
from netaudit.v1 import audit_pb2, inventory_pb2


def service_cidrs(profile: inventory_pb2.NetworkProfile) -> list[Network]:
    """The cluster's service CIDRs; NotAssessed when ARM gave none or one does not parse."""
    if not profile.service_cidrs:
        raise NotAssessed("Azure Resource Manager gave no networkProfile.serviceCidr(s)")
    networks, invalid = parse_networks(profile.service_cidrs)
    if invalid:
        raise NotAssessed(f"service CIDR {', '.join(invalid)} does not parse")
    return networks


def _dns_service_ip_invalid(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """dnsServiceIP outside serviceCidr(s), or their network address, or the first host
    address that kubernetes.default takes (domain.md §5 SVC-001, §1.1)."""
    profile = view.require_inventory().network_profile
    if not profile.dns_service_ip:
        raise NotAssessed("Azure Resource Manager gave no networkProfile.dnsServiceIP")
    address = parse_address(profile.dns_service_ip)
    if address is None:
        raise NotAssessed(f"dnsServiceIP {profile.dns_service_ip!r} is not an IP address")
    cidrs = service_cidrs(profile)
    containing = next((cidr for cidr in cidrs if address in cidr), None)
    if containing is None:
        problem = f"is outside the service CIDR {', '.join(map(str, cidrs))}"
    elif address == containing.network_address:
        problem = f"is the network address of {containing}"
    elif address == containing.network_address + 1:
        problem = f"is the first address of {containing}, which kubernetes.default takes"
    else:
        return
    yield rule.finding(
        view,
        resource=view.cluster_key,
        message=f"dnsServiceIP {address} {problem}; cluster DNS (kube-dns) cannot get it",
        evidence={
            "dns_service_ip": str(address),
            "service_cidrs": ",".join(map(str, cidrs)),
            "problem": problem,
        },
    )


SVC_001 = Rule(
    id="SVC-001",
    title="dnsServiceIP invalid",
    severity=audit_pb2.SEVERITY_CRITICAL,
    rationale="The kube-dns Service takes dnsServiceIP as its cluster IP, so it must lie in "
    "the service CIDR and not be its network address or the first address, which the "
    "kubernetes.default Service takes; otherwise cluster DNS does not come up.",
    remediation="dnsServiceIP is set at cluster creation: create the cluster again with "
    "--dns-service-ip inside --service-cidr, not its .0 or .1 (AKS default 10.0.0.10 in "
    "10.0.0.0/16).",
    references=(
        "https://learn.microsoft.com/azure/aks/concepts-network-ip-address-planning",
        "https://learn.microsoft.com/azure/aks/concepts-network-legacy-cni",
    ),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_dns_service_ip_invalid,
)


def _service_cidr_overlaps(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """serviceCidr(s) overlapping VNet prefixes, peered VNets' prefixes, podCidr(s) or the
    declared on-premises ranges (domain.md §5 SVC-002, §1.1)."""
    inventory_ = view.require_inventory()
    cidrs = service_cidrs(inventory_.network_profile)
    others = _other_ranges(inventory_, settings)
    clashes = [(cidr, overlapping(cidr, others)) for cidr in cidrs]
    clashes = [(cidr, hits) for cidr, hits in clashes if hits]
    if not clashes:
        return
    evidence: dict[str, object] = {"service_cidrs": ",".join(map(str, cidrs))}
    for cidr, hits in clashes:
        evidence[f"overlaps.{cidr}"] = "; ".join(map(str, hits))
    described = "; ".join(f"{cidr} with {', '.join(map(str, hits))}" for cidr, hits in clashes)
    yield rule.finding(
        view,
        resource=view.cluster_key,
        message=f"the service CIDR overlaps networks pods must reach: {described}; traffic "
        "to those addresses goes to Services instead",
        evidence=evidence,
    )


def _other_ranges(
    inventory_: inventory_pb2.ClusterInventory, settings: RuleSettings
) -> list[NamedRange]:
    """Ranges the service CIDR must not overlap; what does not parse is NotAssessed."""
    named: list[tuple[str, str]] = []
    for vnet in inventory_.virtual_networks:
        named += [(prefix, f"VNet {vnet.name}") for prefix in vnet.address_prefixes]
        for peering in vnet.peerings:
            remote = peering.remote_virtual_network_id.rstrip("/").rsplit("/", 1)[-1]
            named += [
                (prefix, f"peered VNet {remote or peering.name}")
                for prefix in peering.remote_address_prefixes
            ]
    named += [(cidr, "pod CIDR") for cidr in inventory_.network_profile.pod_cidrs]
    named += [(cidr, "on-premises range") for cidr in settings.on_premises_cidrs]
    ranges: list[NamedRange] = []
    invalid: list[str] = []
    for text, what in named:
        networks, bad = parse_networks([text])
        ranges += [NamedRange(network, what) for network in networks]
        invalid += [f"{value} ({what})" for value in bad]
    if invalid:
        raise NotAssessed(f"address ranges do not parse: {', '.join(invalid)}")
    return ranges


SVC_002 = Rule(
    id="SVC-002",
    title="Service CIDR overlaps networks",
    severity=audit_pb2.SEVERITY_CRITICAL,
    rationale="Service addresses are virtual and Azure does not know them: a service CIDR "
    "overlapping the VNet, a peered VNet, the pod CIDR or an on-premises range makes those "
    "addresses unreachable from the cluster, and Azure lets later subnets take them.",
    remediation="The service CIDR is fixed at creation: create the cluster again with a "
    "--service-cidr that no VNet, peering, pod CIDR or on-premises network uses. Declare "
    "on-premises ranges under rules.on_premises_cidrs.",
    references=(
        "https://learn.microsoft.com/azure/aks/concepts-network-legacy-cni",
        "https://learn.microsoft.com/azure/aks/concepts-network-azure-cni-overlay",
    ),
    data_source=DataSource.ARM,
    # the pod CIDR and on-premises ranges are judged even when a VNet could not be read
    reads=(inventory("cluster"), inventory("virtual_networks", optional=True)),
    check=_service_cidr_overlaps,
)


LARGEST_IPV4_PREFIX = 12
"""An IPv4 service CIDR "must be smaller than /12": /12 and wider are too large (A-IPP)."""

SMALLEST_IPV6_PREFIX = 108
"""An IPv6 service CIDR must be no larger than /108 (A-OVH)."""


def _service_cidr_too_large(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """IPv4 prefix <= 12 or IPv6 prefix < 108 (domain.md §5 SVC-003)."""
    cidrs = service_cidrs(view.require_inventory().network_profile)
    too_large = [
        cidr
        for cidr in cidrs
        if (cidr.version == 4 and cidr.prefixlen <= LARGEST_IPV4_PREFIX)
        or (cidr.version == 6 and cidr.prefixlen < SMALLEST_IPV6_PREFIX)
    ]
    if not too_large:
        return
    yield rule.finding(
        view,
        resource=view.cluster_key,
        message=f"service CIDR {', '.join(map(str, too_large))} is too large: IPv4 must be "
        f"smaller than /{LARGEST_IPV4_PREFIX}, IPv6 no larger than /{SMALLEST_IPV6_PREFIX}",
        evidence={
            "too_large": ",".join(map(str, too_large)),
            "service_cidrs": ",".join(map(str, cidrs)),
        },
    )


SVC_003 = Rule(
    id="SVC-003",
    title="Service CIDR too large",
    severity=audit_pb2.SEVERITY_MEDIUM,
    rationale="AKS requires an IPv4 service CIDR smaller than /12 and an IPv6 one no larger "
    "than /108; a wide service range also takes address space no VNet, peering or "
    "on-premises network may use.",
    remediation="Use a smaller --service-cidr (a /16 holds 65,536 Services) when the cluster "
    "is created again; the range cannot be changed in place.",
    references=(
        "https://learn.microsoft.com/azure/aks/concepts-network-ip-address-planning",
        "https://learn.microsoft.com/azure/aks/azure-cni-overlay",
    ),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_service_cidr_too_large,
)
