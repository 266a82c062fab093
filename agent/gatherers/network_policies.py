"""Network policies: a count per namespace for every namespace (zero included),
and CiliumNetworkPolicies when the cilium.io API is served."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

from netaudit.agent.gatherers.gatherer import Gatherer, KubeObject, Resource, access_for
from netaudit.agent.gatherers.objects import name_of, namespace_of
from netaudit.v1 import report_pb2

if TYPE_CHECKING:
    from netaudit.agent.config import GatherSettings
    from netaudit.agent.gatherers.reads import Reads

NAMESPACES = Resource("", "v1", "namespaces")
NETWORK_POLICIES = Resource("networking.k8s.io", "v1", "networkpolicies")
CILIUM_NETWORK_POLICIES = Resource("cilium.io", "v2", "ciliumnetworkpolicies")


def policies_per_namespace(
    namespaces: Iterable[KubeObject],
    network_policies: Iterable[KubeObject],
    cilium_network_policies: Iterable[KubeObject] = (),
) -> list[report_pb2.NamespacePolicies]:
    """One entry per namespace, sorted by name; namespaces without policies count 0."""
    standard = Counter(namespace_of(p) for p in network_policies)
    cilium = Counter(namespace_of(p) for p in cilium_network_policies)
    names = {name_of(n) for n in namespaces} | set(standard) | set(cilium)
    return [
        report_pb2.NamespacePolicies(
            namespace=name,
            network_policies=standard[name],
            cilium_network_policies=cilium[name],
        )
        for name in sorted(names)
        if name
    ]


def gather(reads: Reads, report: report_pb2.Report, settings: GatherSettings) -> None:
    namespaces = reads.list(NAMESPACES, metadata_only=True)
    policies = reads.list(NETWORK_POLICIES, metadata_only=True)
    if namespaces is None or policies is None:
        return
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
