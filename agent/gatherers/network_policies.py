"""Network policies: a count per namespace for every namespace (zero included),
CiliumNetworkPolicies when the cilium.io API is served, and a summary of the
NetworkPolicies the policy rules read (those with an ``ipBlock``, and those of
type Egress): their ipBlocks, egress ports, and whether their egress rules let
pods reach AKS LocalDNS (169.254.10.0/24 port 53, domain.md §1.9).

Policies are streamed, never kept whole: a cluster can hold thousands.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from netaudit.agent.gatherers.gatherer import Gatherer, KubeObject, Resource, access_for
from netaudit.agent.gatherers.objects import as_dict, as_list, name_of, namespace_of, spec
from netaudit.v1 import report_pb2

if TYPE_CHECKING:
    from netaudit.agent.config import GatherSettings
    from netaudit.agent.gatherers.reads import Reads

NAMESPACES = Resource("", "v1", "namespaces")
NETWORK_POLICIES = Resource("networking.k8s.io", "v1", "networkpolicies")
CILIUM_NETWORK_POLICIES = Resource("cilium.io", "v2", "ciliumnetworkpolicies")

INGRESS, EGRESS = "Ingress", "Egress"
LOCAL_DNS_RANGE = ipaddress.IPv4Network("169.254.10.0/24")
"""Where AKS LocalDNS listens (169.254.10.10 and .11); Cilium policies must allow egress
to it on UDP and TCP 53 (A-CIL)."""
DNS_PORT = 53
DEFAULT_PROTOCOL = "TCP"
ALL_PORTS = "*"
MAX_EGRESS_PORTS = 32
"""Egress ports kept per policy (evidence only; the LocalDNS verdict is computed on all)."""


# -- one policy -------------------------------------------------------------------------


def effective_policy_types(policy_spec: Mapping[str, Any]) -> list[str]:
    """``policyTypes`` as written, else as the API server defaults them: Ingress, plus
    Egress when the policy has egress rules."""
    written = [str(t) for t in as_list(policy_spec.get("policyTypes")) if t]
    if written:
        return written
    return [INGRESS, EGRESS] if as_list(policy_spec.get("egress")) else [INGRESS]


def selects_all_pods(policy_spec: Mapping[str, Any]) -> bool:
    """``podSelector: {}`` (no labels, no expressions) selects every pod of the namespace."""
    selector = as_dict(policy_spec.get("podSelector"))
    return not selector.get("matchLabels") and not selector.get("matchExpressions")


def ip_blocks(rules: Iterable[Any], peers_key: str) -> list[report_pb2.IpBlock]:
    """The distinct ipBlocks of the rules' peers (``from`` or ``to``), in order."""
    seen: dict[tuple[str, tuple[str, ...]], report_pb2.IpBlock] = {}
    for rule in rules:
        for peer in as_list(as_dict(rule).get(peers_key)):
            block = as_dict(as_dict(peer).get("ipBlock"))
            if not block.get("cidr"):
                continue
            cidr = str(block["cidr"])
            excepts = tuple(str(e) for e in as_list(block.get("except")))
            seen.setdefault((cidr, excepts), report_pb2.IpBlock(cidr=cidr, excepts=excepts))
    return list(seen.values())


def port_text(port: Mapping[str, Any]) -> str:
    """``PROTOCOL/port`` of a NetworkPolicyPort: ``UDP/53``, ``TCP/8000-8080``, ``TCP/dns``,
    ``UDP/*`` when it names no port."""
    protocol = str(port.get("protocol") or DEFAULT_PROTOCOL)
    number = port.get("port")
    if number is None:
        return f"{protocol}/{ALL_PORTS}"
    end = port.get("endPort")
    return f"{protocol}/{number}-{end}" if end is not None else f"{protocol}/{number}"


def egress_ports(rules: Iterable[Any]) -> list[str]:
    """The distinct ports the egress rules open; ``*`` for a rule without ports."""
    ports: dict[str, None] = {}
    for rule in rules:
        entries = as_list(as_dict(rule).get("ports"))
        if not entries:
            ports[ALL_PORTS] = None
        for entry in entries:
            ports[port_text(as_dict(entry))] = None
    return list(ports)[:MAX_EGRESS_PORTS]


def _reaches_local_dns(peers: list[Any]) -> bool:
    """No peers means every destination; otherwise an ipBlock must contain the LocalDNS
    range with no except cutting into it (pod and namespace selectors never match it)."""
    if not peers:
        return True
    for peer in peers:
        block = as_dict(as_dict(peer).get("ipBlock"))
        try:
            cidr = ipaddress.ip_network(str(block.get("cidr", "")), strict=False)
            excepts = [
                ipaddress.ip_network(str(e), strict=False) for e in as_list(block.get("except"))
            ]
        except ValueError:
            continue
        if not isinstance(cidr, ipaddress.IPv4Network) or not LOCAL_DNS_RANGE.subnet_of(cidr):
            continue
        if not any(e.version == 4 and e.overlaps(LOCAL_DNS_RANGE) for e in excepts):
            return True
    return False


def _opens_dns_port(port: Mapping[str, Any], protocol: str) -> bool:
    if str(port.get("protocol") or DEFAULT_PROTOCOL).upper() != protocol:
        return False
    number = port.get("port")
    if number is None:
        return True
    if isinstance(number, str) and not number.isdigit():
        return False  # a named port resolves on destination pods, never on LocalDNS
    end = port.get("endPort")
    first = int(number)
    return first == DNS_PORT or (end is not None and first <= DNS_PORT <= int(end))


def local_dns_allowed(rules: Iterable[Any]) -> tuple[bool, bool]:
    """(UDP, TCP): whether some egress rule allows 169.254.10.0/24 on port 53."""
    udp = tcp = False
    for raw in rules:
        rule = as_dict(raw)
        if not _reaches_local_dns(as_list(rule.get("to"))):
            continue
        ports = [as_dict(p) for p in as_list(rule.get("ports"))]
        if not ports:
            return True, True
        udp = udp or any(_opens_dns_port(p, "UDP") for p in ports)
        tcp = tcp or any(_opens_dns_port(p, "TCP") for p in ports)
    return udp, tcp


def policy_summary(policy: KubeObject) -> report_pb2.NetworkPolicySummary | None:
    """What the rules read of one NetworkPolicy; None for one they do not read (ingress
    only, without ipBlock)."""
    body = spec(policy)
    types = effective_policy_types(body)
    ingress = as_list(body.get("ingress"))
    egress = as_list(body.get("egress"))
    ingress_blocks = ip_blocks(ingress, "from")
    egress_blocks = ip_blocks(egress, "to")
    if EGRESS not in types and not ingress_blocks and not egress_blocks:
        return None
    udp, tcp = local_dns_allowed(egress) if EGRESS in types else (False, False)
    return report_pb2.NetworkPolicySummary(
        name=name_of(policy),
        policy_types=types,
        selects_all_pods=selects_all_pods(body),
        ingress_ip_blocks=ingress_blocks,
        egress_ip_blocks=egress_blocks,
        egress_rules=len(egress) if EGRESS in types else 0,
        egress_ports=egress_ports(egress) if EGRESS in types else [],
        egress_allows_local_dns_udp=udp,
        egress_allows_local_dns_tcp=tcp,
    )


# -- per namespace ----------------------------------------------------------------------


@dataclass
class PolicyDigest:
    """NetworkPolicies folded one at a time: counts and summaries per namespace."""

    counts: Counter[str] = field(default_factory=Counter)
    summaries: dict[str, list[report_pb2.NetworkPolicySummary]] = field(default_factory=dict)
    malformed: dict[str, str] = field(default_factory=dict)
    """namespace/name -> why a policy could not be summarised (reported as gaps)."""

    def add(self, policy: KubeObject) -> None:
        namespace = namespace_of(policy)
        self.counts[namespace] += 1
        try:
            summary = policy_summary(policy)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            self.malformed[f"{namespace}/{name_of(policy)}"] = repr(error)
            return
        if summary is not None:
            self.summaries.setdefault(namespace, []).append(summary)

    def fold(self, policies: Iterable[KubeObject]) -> PolicyDigest:
        for policy in policies:
            self.add(policy)
        return self


def policies_per_namespace(
    namespaces: Iterable[KubeObject],
    network_policies: Iterable[KubeObject] | PolicyDigest,
    cilium_network_policies: Iterable[KubeObject] = (),
) -> list[report_pb2.NamespacePolicies]:
    """One entry per namespace, sorted by name; namespaces without policies count 0."""
    digest = (
        network_policies
        if isinstance(network_policies, PolicyDigest)
        else PolicyDigest().fold(network_policies)
    )
    cilium = Counter(namespace_of(p) for p in cilium_network_policies)
    names = {name_of(n) for n in namespaces} | set(digest.counts) | set(cilium)
    return [
        report_pb2.NamespacePolicies(
            namespace=name,
            network_policies=digest.counts[name],
            policies_examined=digest.counts[name],
            cilium_network_policies=cilium[name],
            policies=sorted(digest.summaries.get(name, []), key=lambda s: s.name),
        )
        for name in sorted(names)
        if name
    ]


def gather(reads: Reads, report: report_pb2.Report, settings: GatherSettings) -> None:
    namespaces = reads.list(NAMESPACES, metadata_only=True)
    policies = reads.fold(NETWORK_POLICIES, PolicyDigest().fold)
    if namespaces is None or policies is None:
        return
    for where, why in policies.malformed.items():
        reads.gap(f"{NETWORK_POLICIES.label} {where}", "error", f"malformed object: {why}")
    cilium: list[KubeObject] = []
    if reads.served(CILIUM_NETWORK_POLICIES):
        cilium = reads.list(CILIUM_NETWORK_POLICIES, metadata_only=True) or []
    report.network_policies.extend(policies_per_namespace(namespaces, policies, cilium))


GATHERER = Gatherer(
    name="network_policies",
    reads=(
        access_for(NAMESPACES),
        access_for(NETWORK_POLICIES),
        access_for(CILIUM_NETWORK_POLICIES),
    ),
    gather=gather,
)
