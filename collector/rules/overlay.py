"""Azure CNI Overlay rules (domain.md §5 OVL-*); OVL-001 and OVL-002 also cover kubenet,
whose pods take a /24 per node from the pod CIDR too."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator

from netaudit.collector.analysis.agent_pools import (
    is_windows,
    node_total,
    pool_resource_id,
    windows_pools,
)
from netaudit.collector.analysis.network_model import NetworkModel
from netaudit.collector.analysis.security_rules import (
    Flow,
    FlowVerdict,
    Ranges,
    UnreadableRule,
    evaluate,
    network_ranges,
    rules_by_priority,
)
from netaudit.collector.rules.rule import DataSource, NotAssessed, Rule, inventory
from netaudit.collector.rules.settings import RuleSettings
from netaudit.collector.rules.view import ClusterView
from netaudit.v1 import audit_pb2, inventory_pb2

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

POD_CIDR_MODELS = frozenset({NetworkModel.AZURE_OVERLAY, NetworkModel.KUBENET})
"""The models whose pods take addresses from ``networkProfile.podCidr(s)``, a /24 per node
(A-OVC, A-KUB)."""

NODE_POD_PREFIX = 24
"""Each node gets a fixed /24 of the pod CIDR (A-OVC "/24 per node", A-KUB)."""


def _model(view: ClusterView) -> NetworkModel:
    return view.require_network_model()


def _ipv4_pod_cidrs(cluster: inventory_pb2.ClusterInventory) -> list[ipaddress.IPv4Network]:
    """The IPv4 pod CIDRs; NotAssessed when ARM gave none or one does not parse."""
    cidrs = list(cluster.network_profile.pod_cidrs)
    if not cidrs:
        raise NotAssessed("ARM gave no networkProfile.podCidr for this cluster")
    networks = [n for n in _parse_all(cidrs, "networkProfile.podCidrs") if n.version == 4]
    if not networks:
        raise NotAssessed(f"no IPv4 pod CIDR among {', '.join(cidrs)}")
    return [n for n in networks if isinstance(n, ipaddress.IPv4Network)]


def _parse_all(cidrs: Iterable[str], what: str) -> list[IPNetwork]:
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError as exc:
            raise NotAssessed(f"{what} value {cidr!r} is not a CIDR range") from exc
    return networks


# -- OVL-001 ------------------------------------------------------------------------------


def nodes_from_pod_cidr(prefix_length: int) -> int:
    """Nodes a pod CIDR of this IPv4 prefix length can serve: ``2^(24 - p)`` (/16 -> 256),
    0 for a range smaller than one node's /24 (domain.md §1.7, §1.11)."""
    if prefix_length > NODE_POD_PREFIX:
        return 0
    return 1 << (NODE_POD_PREFIX - prefix_length)


def _pod_cidr_too_small(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """overlay or kubenet: ``2^(24 - prefix(podCidr)) < Σ(N+S)`` over all pools
    (domain.md §5 OVL-001). A pool of unknown size makes the sum a lower bound: a
    verdict only when the known pools alone exceed the CIDR."""
    model = _model(view)
    if model not in POD_CIDR_MODELS:
        return
    cluster = view.require_inventory()
    cidrs = _ipv4_pod_cidrs(cluster)
    max_nodes = sum(nodes_from_pod_cidr(c.prefixlen) for c in cidrs)
    total = node_total(cluster, surge=True)
    if total.nodes > max_nodes:
        evidence: dict[str, object] = {
            "network_model": model,
            "pod_cidr": ",".join(str(c) for c in cidrs),
            "max_nodes": max_nodes,
            "required_nodes": total.nodes,
            "shortfall": total.nodes - max_nodes,
        }
        evidence.update({f"pool.{name}": term for name, term in total.terms.items()})
        if not total.complete:
            evidence["unknown_pools"] = ",".join(sorted(total.unknown))
        yield rule.finding(
            view,
            resource=view.cluster_key,
            message=f"pod CIDR {', '.join(str(c) for c in cidrs)} gives one /24 per node, "
            f"room for {max_nodes} nodes, but the pools reach "
            f"{'at least ' if not total.complete else ''}{total.nodes} nodes at max scale "
            f"plus upgrade surge (N+S per pool: "
            f"{', '.join(f'{n} {t}' for n, t in total.terms.items())})",
            evidence=evidence,
        )
        return
    if not total.complete:
        raise NotAssessed(total.unknown_reason())


OVL_001 = Rule(
    id="OVL-001",
    title="Overlay/kubenet pod CIDR can't fit max nodes",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="With Azure CNI Overlay and kubenet every node takes a fixed /24 of the pod "
    "CIDR, so the CIDR caps the node count at 2^(24 - prefix); nodes beyond it, from the "
    "autoscaler or an upgrade surge, get no pod range and scaling or upgrades fail.",
    remediation="Overlay on Linux-only clusters: expand the pod CIDR to a larger range that "
    "contains the current one (az aks update --pod-cidr <superset>); otherwise lower "
    "maxCount or maxSurge so Σ(N+S) fits, or migrate to a cluster with a larger pod CIDR.",
    references=(
        "https://learn.microsoft.com/azure/aks/concepts-network-azure-cni-overlay",
        "https://learn.microsoft.com/azure/aks/azure-cni-overlay-pod-expand",
        "https://learn.microsoft.com/azure/aks/configure-kubenet",
    ),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_pod_cidr_too_small,
)


# -- OVL-002 ------------------------------------------------------------------------------


def _cluster_vnet_ids(cluster: inventory_pb2.ClusterInventory) -> list[str]:
    """Lower-cased ids of the VNets the pools' node and pod subnets are in."""
    ids: dict[str, None] = {}
    for pool in cluster.agent_pools:
        for subnet_id in (pool.vnet_subnet_id, pool.pod_subnet_id):
            marker = subnet_id.lower().find("/subnets/")
            if marker > 0:
                ids[subnet_id[:marker].lower()] = None
    return list(ids)


def _pod_cidr_overlaps(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """podCidr ∩ (cluster VNet, peered VNets, declared on-premises ranges) ≠ ∅
    (domain.md §5 OVL-002), for overlay and kubenet.

    Pools without ``vnetSubnetID`` run in the AKS-managed VNet, which AKS addresses
    apart from the pod CIDR and which the inventory does not hold: only the declared
    on-premises ranges are compared then.
    """
    model = _model(view)
    if model not in POD_CIDR_MODELS:
        return
    cluster = view.require_inventory()
    pod_cidrs = _parse_all(cluster.network_profile.pod_cidrs, "networkProfile.podCidrs")
    if not pod_cidrs:
        raise NotAssessed("ARM gave no networkProfile.podCidr for this cluster")
    vnets = {vnet.id.lower(): vnet for vnet in cluster.virtual_networks}
    missing = []
    for vnet_id in _cluster_vnet_ids(cluster):
        vnet = vnets.get(vnet_id)
        if vnet is None:
            missing.append(vnet_id)
            continue
        yield from _overlap_findings(
            rule, view, pod_cidrs, vnet.address_prefixes, vnet.id.lower(), f"VNet {vnet.name}", {}
        )
        for peering in vnet.peerings:
            yield from _overlap_findings(
                rule,
                view,
                pod_cidrs,
                peering.remote_address_prefixes,
                peering.remote_virtual_network_id.lower(),
                f"VNet {_last_segment(peering.remote_virtual_network_id)} peered with "
                f"{vnet.name} ({peering.name})",
                {"peered_with": vnet.id.lower(), "peering_state": peering.peering_state},
            )
    for cidr in settings.on_premises_cidrs:
        yield from _overlap_findings(
            rule, view, pod_cidrs, [cidr], f"on-premises {cidr}", f"on-premises range {cidr}", {}
        )
    if missing:
        raise NotAssessed(f"the inventory holds no VNet {', '.join(missing)}")


def _overlap_findings(
    rule: Rule,
    view: ClusterView,
    pod_cidrs: list[IPNetwork],
    prefixes: Iterable[str],
    resource: str,
    what: str,
    extra: dict[str, object],
) -> Iterator[audit_pb2.Finding]:
    ranges = _parse_all(prefixes, what)
    pairs = [(p, r) for p in pod_cidrs for r in ranges if p.version == r.version and p.overlaps(r)]
    if not pairs:
        return
    overlaps = ", ".join(f"{p} with {r}" for p, r in pairs)
    yield rule.finding(
        view,
        resource=resource,
        message=f"pod CIDR overlaps the address space of {what}: {overlaps}; traffic to "
        "those addresses from pods stays in the cluster and never reaches them",
        evidence={
            "pod_cidr": ",".join(str(p) for p in pod_cidrs),
            "overlapping": ",".join(sorted({str(r) for _, r in pairs})),
            **extra,
        },
    )


def _last_segment(resource_id: str) -> str:
    return resource_id.rstrip("/").rsplit("/", 1)[-1]


OVL_002 = Rule(
    id="OVL-002",
    title="Pod CIDR overlaps VNet/peered/on-prem ranges",
    severity=audit_pb2.SEVERITY_CRITICAL,
    rationale="Pod addresses of an overlay or kubenet cluster are routed inside the "
    "cluster; when the pod CIDR overlaps the cluster VNet, a peered VNet or an on-premises "
    "range reached over VPN/ExpressRoute, pods cannot reach the endpoints in that range.",
    remediation="Choose a pod CIDR that overlaps no connected network: on overlay, "
    "recreate the cluster (or migrate workloads) with a free RFC1918/RFC6598 range; on "
    "kubenet, migrate to Azure CNI Overlay with a non-overlapping --pod-cidr.",
    references=(
        "https://learn.microsoft.com/azure/aks/concepts-network-azure-cni-overlay",
        "https://learn.microsoft.com/azure/aks/configure-kubenet",
    ),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"), inventory("virtual_networks")),
    check=_pod_cidr_overlaps,
)


# -- OVL-003 ------------------------------------------------------------------------------

SUPPORTED_POD_RANGES = tuple(
    ipaddress.IPv4Network(cidr)
    for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
)
"""RFC1918 and RFC6598 (shared address space): the overlay pod CIDRs AKS supports (A-OVC)."""


def _pod_cidr_unsupported(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """networkPluginMode == overlay ∧ an IPv4 podCidr not inside 10/8, 172.16/12,
    192.168/16 or 100.64/10 (domain.md §5 OVL-003)."""
    if _model(view) is not NetworkModel.AZURE_OVERLAY:
        return
    cluster = view.require_inventory()
    outside = [
        cidr
        for cidr in _ipv4_pod_cidrs(cluster)
        if not any(cidr.subnet_of(supported) for supported in SUPPORTED_POD_RANGES)
    ]
    if outside:
        text = ", ".join(str(c) for c in outside)
        yield rule.finding(
            view,
            resource=view.cluster_key,
            message=f"overlay pod CIDR {text} is outside RFC1918 and RFC6598 "
            "(10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 100.64.0.0/10), which AKS "
            "does not support",
            evidence={
                "pod_cidr": text,
                "supported": ",".join(str(s) for s in SUPPORTED_POD_RANGES),
            },
        )


OVL_003 = Rule(
    id="OVL-003",
    title="Pod CIDR outside RFC1918/RFC6598",
    severity=audit_pb2.SEVERITY_MEDIUM,
    rationale="Azure CNI Overlay supports pod CIDRs from the private (RFC1918) and shared "
    "(RFC6598) address spaces only; a public range is outside support and hides the real "
    "owners of those addresses from the pods.",
    remediation="Use a pod CIDR inside 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or "
    "100.64.0.0/10 that overlaps no connected network (a new cluster or pool migration).",
    references=("https://learn.microsoft.com/azure/aks/concepts-network-azure-cni-overlay",),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_pod_cidr_unsupported,
)


# -- OVL-004 ------------------------------------------------------------------------------

NSG_DIRECTIONS = ("Inbound", "Outbound")
"""A subnet NSG judges traffic leaving the subnet's interfaces (outbound) and reaching them
(inbound); overlay traffic between nodes crosses both."""


def _overlay_flows(nodes: Ranges, pods: Ranges) -> tuple[Flow, ...]:
    """The traffic A-OVC requires on all ports and protocols that §5 OVL-004 judges: Node
    CIDR -> Pod CIDR (service routing) and Pod CIDR -> Pod CIDR (pod to pod, DNS)."""
    return (Flow("node-to-pod", nodes, pods), Flow("pod-to-pod", pods, pods))


def _rule_text(rule: inventory_pb2.SecurityRule) -> str:
    source = ",".join(rule.source_address_prefixes) or "application security group"
    destination = ",".join(rule.destination_address_prefixes) or "application security group"
    ports = ",".join(rule.destination_port_ranges) or "*"
    return (
        f"{rule.name} (priority {rule.priority}, {rule.access} {rule.protocol or '*'} from "
        f"{source} to {destination} port {ports})"
    )


def _verdict_key(verdict: FlowVerdict) -> str:
    return f"{verdict.direction.lower()}.{verdict.flow.name}"


def _nsg_blocks_overlay(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """overlay ∧ the NSG of a node subnet has a Deny rule that decides part of the Node CIDR
    -> Pod CIDR or Pod CIDR -> Pod CIDR traffic (any protocol or port) before an Allow
    covers it, inbound or outbound (domain.md §5 OVL-004, A-OVC). Service tags count as
    :mod:`netaudit.collector.analysis.security_rules` says: ``*``/``Any``/
    ``VirtualNetwork`` match node and pod addresses, ``Internet``, ``AzureLoadBalancer``
    and other service tags do not.

    Node CIDR is every node subnet of the cluster (traffic reaching one subnet comes from
    nodes of all). Pools on the AKS-managed VNet have no subnet NSG of the user's (AKS
    owns the NSG of their network interfaces): nothing to judge there.
    """
    if _model(view) is not NetworkModel.AZURE_OVERLAY:
        return
    cluster = view.require_inventory()
    node_subnet_ids = list(
        dict.fromkeys(p.vnet_subnet_id.lower() for p in cluster.agent_pools if p.vnet_subnet_id)
    )
    if not node_subnet_ids:
        return
    if not cluster.network_profile.pod_cidrs:
        raise NotAssessed("ARM gave no networkProfile.podCidr for this cluster")
    subnets = {subnet.id.lower(): subnet for subnet in cluster.subnets}
    nsgs = {nsg.id.lower(): nsg for nsg in cluster.network_security_groups}
    unread = [subnet_id for subnet_id in node_subnet_ids if subnet_id not in subnets]
    node_subnets = [subnets[subnet_id] for subnet_id in node_subnet_ids if subnet_id in subnets]
    try:
        pods = network_ranges(cluster.network_profile.pod_cidrs)
        nodes = network_ranges(p for s in node_subnets for p in s.address_prefixes)
    except UnreadableRule as exc:
        raise NotAssessed(f"a pod CIDR or node subnet prefix does not parse: {exc}") from exc
    by_nsg: dict[str, list[inventory_pb2.Subnet]] = {}
    for subnet in node_subnets:
        if subnet.network_security_group_id:
            by_nsg.setdefault(subnet.network_security_group_id.lower(), []).append(subnet)
    undecided: list[str] = []
    for nsg_id, nsg_subnets in by_nsg.items():
        nsg = nsgs.get(nsg_id)
        if nsg is None:
            unread.append(nsg_id)
            continue
        try:
            verdicts = [
                evaluate(flow, rules_by_priority(nsg, direction), direction)
                for direction in NSG_DIRECTIONS
                for flow in _overlay_flows(nodes, pods)
            ]
        except UnreadableRule as exc:
            undecided.append(f"NSG {nsg.name}: {exc}")
            continue
        denied = [verdict for verdict in verdicts if verdict.denials]
        undecided.extend(
            f"NSG {nsg.name} rule {verdict.undecidable.name} uses application security groups, "
            "whose members are not read"
            for verdict in verdicts
            if verdict.undecidable is not None and not verdict.denials
        )
        if denied:
            yield _nsg_finding(rule, view, cluster, nsg, nsg_subnets, node_subnets, denied)
    if unread or undecided:
        reasons = [f"the inventory holds no {', '.join(unread)}"] if unread else []
        raise NotAssessed("; ".join(dict.fromkeys([*reasons, *undecided])))


def _nsg_finding(
    rule: Rule,
    view: ClusterView,
    cluster: inventory_pb2.ClusterInventory,
    nsg: inventory_pb2.NetworkSecurityGroup,
    subnets: list[inventory_pb2.Subnet],
    node_subnets: list[inventory_pb2.Subnet],
    denied: list[FlowVerdict],
) -> audit_pb2.Finding:
    rules = {r.name: r for verdict in denied for r in verdict.denials}
    ordered = sorted(rules.values(), key=lambda r: (r.direction, r.priority))
    blocked = "; ".join(
        f"{verdict.direction} {verdict.flow.name} by {_rule_text(verdict.denials[0])}"
        for verdict in denied
    )
    evidence: dict[str, object] = {
        "nsg": nsg.name,
        "subnets": ",".join(s.name for s in subnets),
        "node_cidr": ",".join(p for s in node_subnets for p in s.address_prefixes),
        "pod_cidr": ",".join(cluster.network_profile.pod_cidrs),
        "denying_rules": ",".join(f"{r.name}@{r.priority}" for r in ordered),
    }
    for verdict in denied:
        evidence[_verdict_key(verdict)] = ",".join(
            f"{r.name}@{r.priority}" for r in verdict.denials
        )
    return rule.finding(
        view,
        resource=nsg.id.lower(),
        message=f"NSG {nsg.name} on node subnet {', '.join(s.name for s in subnets)} denies "
        f"overlay traffic before any rule allows it: {blocked}; Azure CNI Overlay needs "
        "Node CIDR -> Pod CIDR and Pod CIDR -> Pod CIDR allowed on all ports and protocols",
        evidence=evidence,
    )


OVL_004 = Rule(
    id="OVL-004",
    title="NSG blocks overlay traffic",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale=(
        "Overlay pod traffic is not encapsulated, so the node subnet's NSG judges it: a "
        "deny rule ahead of the allows for Node CIDR -> Pod CIDR (service traffic) or Pod "
        "CIDR -> Pod CIDR (pod to pod, DNS) breaks pod networking."
    ),
    remediation=(
        "Add allow rules above the deny for Node CIDR -> Pod CIDR and Pod CIDR -> Pod CIDR "
        "on all ports and protocols, inbound and outbound: az network nsg rule create -g "
        "<rg> --nsg-name <nsg> -n allow-pod-cidr --priority <below the deny> --direction "
        "Inbound --access Allow --protocol '*' --source-address-prefixes <pod CIDR> <node "
        "CIDR> --destination-address-prefixes <pod CIDR> --destination-port-ranges '*'"
    ),
    references=(
        "https://learn.microsoft.com/azure/aks/concepts-network-azure-cni-overlay",
        "https://learn.microsoft.com/azure/virtual-network/network-security-groups-overview",
    ),
    data_source=DataSource.ARM,
    reads=(
        inventory("cluster"),
        inventory("subnets"),
        inventory("network_security_groups"),
    ),
    check=_nsg_blocks_overlay,
)


# -- OVL-005 ------------------------------------------------------------------------------

MAX_NAME_LENGTH = 63
"""AKS puts the BYO subnet, VNet and VNet resource-group names in node labels, whose
values are at most 63 characters (A-OVC limitations)."""


def _names_too_long(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """overlay ∧ len(subnet, VNet or VNet resource group name) > 63 for a BYO node or pod
    subnet (domain.md §5 OVL-005); the names are read from the pools' subnet ids."""
    if _model(view) is not NetworkModel.AZURE_OVERLAY:
        return
    cluster = view.require_inventory()
    subnet_ids: dict[str, str] = {}
    for pool in cluster.agent_pools:
        for subnet_id in (pool.vnet_subnet_id, pool.pod_subnet_id):
            if subnet_id:
                subnet_ids.setdefault(subnet_id.lower(), subnet_id)
    for key, subnet_id in subnet_ids.items():
        names = {
            "subnet": _id_segment(subnet_id, "subnets"),
            "virtual_network": _id_segment(subnet_id, "virtualnetworks"),
            "resource_group": _id_segment(subnet_id, "resourcegroups"),
        }
        long_names = {kind: name for kind, name in names.items() if len(name) > MAX_NAME_LENGTH}
        if not long_names:
            continue
        described = ", ".join(f"{kind} {name!r} ({len(name)})" for kind, name in long_names.items())
        evidence: dict[str, object] = {"max_length": MAX_NAME_LENGTH}
        for kind, name in long_names.items():
            evidence[f"{kind}.name"] = name
            evidence[f"{kind}.length"] = len(name)
        yield rule.finding(
            view,
            resource=key,
            message=f"names longer than {MAX_NAME_LENGTH} characters, which overlay puts in "
            f"node labels: {described}",
            evidence=evidence,
        )


def _id_segment(resource_id: str, name: str) -> str:
    parts = resource_id.strip("/").split("/")
    for index, part in enumerate(parts[:-1]):
        if part.lower() == name:
            return parts[index + 1]
    return ""


OVL_005 = Rule(
    id="OVL-005",
    title="BYO network names >63 chars",
    severity=audit_pb2.SEVERITY_MEDIUM,
    rationale="Azure CNI Overlay labels nodes with the names of their subnet, VNet and "
    "VNet resource group; a name longer than 63 characters is not a valid label value, "
    "which Azure CNI Overlay lists as a limitation.",
    remediation="Put the node pools on a subnet whose subnet, VNet and resource group names "
    "are at most 63 characters (names cannot be changed: create the network anew and add "
    "pools on it).",
    references=("https://learn.microsoft.com/azure/aks/concepts-network-azure-cni-overlay",),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_names_too_long,
)


# -- OVL-006 ------------------------------------------------------------------------------

AVAILABILITY_SET = "availabilityset"
DCSV2_SIZE = re.compile(r"^(standard_)?dc\d+s?_v2$", re.IGNORECASE)
"""The DCsv2-series sizes (Standard_DC1s_v2, DC2s_v2, DC4s_v2 and DC8_v2), which Azure
CNI Overlay does not support (A-OVC limitations)."""


def _unsupported_node_shape(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """overlay ∧ (pool type AvailabilitySet or vmSize of the DCsv2 series), per pool
    (domain.md §5 OVL-006)."""
    if _model(view) is not NetworkModel.AZURE_OVERLAY:
        return
    cluster = view.require_inventory()
    for pool in cluster.agent_pools:
        reasons = []
        if pool.type.lower() == AVAILABILITY_SET:
            reasons.append("runs on a VM availability set")
        if DCSV2_SIZE.match(pool.vm_size.strip()):
            reasons.append(f"uses {pool.vm_size}, a DCsv2-series size")
        if not reasons:
            continue
        yield rule.finding(
            view,
            resource=pool_resource_id(cluster, pool),
            message=f"pool {pool.name} {' and '.join(reasons)}, which Azure CNI Overlay does "
            "not support",
            evidence={"pool": pool.name, "type": pool.type, "vm_size": pool.vm_size},
        )


OVL_006 = Rule(
    id="OVL-006",
    title="Unsupported node shape with overlay",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="Azure CNI Overlay does not support VM availability sets or DCsv2-series "
    "VMs; such pools are outside support and may fail to get pod networking.",
    remediation="Replace the pool with a VirtualMachineScaleSets pool of a supported size "
    "(for confidential computing, DCasv5 or DCadsv5): az aks nodepool add ... then "
    "az aks nodepool delete the old one.",
    references=("https://learn.microsoft.com/azure/aks/concepts-network-azure-cni-overlay",),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_unsupported_node_shape,
)


# -- OVL-007 ------------------------------------------------------------------------------


def _expansion_blocked(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """overlay ∧ any Windows pool: the pod CIDR cannot be expanded (domain.md §5 OVL-007)."""
    if _model(view) is not NetworkModel.AZURE_OVERLAY:
        return
    cluster = view.require_inventory()
    windows = windows_pools(cluster)
    if not windows:
        return
    names = ",".join(pool.name for pool in windows)
    yield rule.finding(
        view,
        resource=view.cluster_key,
        message=f"the overlay pod CIDR {', '.join(cluster.network_profile.pod_cidrs)} cannot "
        f"be expanded while the cluster has Windows pools ({names}): pod CIDR expansion is "
        "supported on Linux-only clusters",
        evidence={
            "windows_pools": names,
            "pod_cidr": ",".join(cluster.network_profile.pod_cidrs),
            "linux_pools": sum(1 for pool in cluster.agent_pools if not is_windows(pool)),
        },
    )


OVL_007 = Rule(
    id="OVL-007",
    title="Pod CIDR expansion blocked",
    severity=audit_pb2.SEVERITY_INFO,
    rationale="An overlay pod CIDR can be expanded in place only on Linux-only clusters; "
    "with Windows pools, running out of pod ranges means a new cluster.",
    remediation="Size the pod CIDR for the cluster's full growth now (see OVL-001), or keep "
    "Windows workloads in a separate cluster so this one can expand its pod CIDR.",
    references=(
        "https://learn.microsoft.com/azure/aks/azure-cni-overlay-pod-expand",
        "https://learn.microsoft.com/azure/aks/update-azure-cni",
    ),
    data_source=DataSource.ARM,
    reads=(inventory("cluster"),),
    check=_expansion_blocked,
)
