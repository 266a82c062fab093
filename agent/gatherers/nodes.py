"""Nodes: one message per node with pool, OS, network-revealing labels, pod
CIDRs, pod counts from a single pod list, and its NodeNetworkConfig."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from netaudit.agent.gatherers.gatherer import Gatherer, KubeObject, Resource, access_for
from netaudit.agent.gatherers.objects import (
    as_dict,
    as_list,
    labels_of,
    name_of,
    spec,
    status,
    timestamp,
)
from netaudit.v1 import report_pb2

if TYPE_CHECKING:
    from netaudit.agent.config import GatherSettings
    from netaudit.agent.gatherers.reads import Reads

NODES = Resource("", "v1", "nodes")
PODS = Resource("", "v1", "pods")
NODE_NETWORK_CONFIGS = Resource("acn.azure.com", "v1alpha", "nodenetworkconfigs")
NNC_NAMESPACE = "kube-system"

POOL_LABELS = ("kubernetes.azure.com/agentpool", "agentpool")
NETWORK_LABEL_PREFIX = "kubernetes.azure.com/"
EXTRA_NETWORK_LABELS = ("agentpool", "type")
OS_LABELS = ("kubernetes.io/os", "beta.kubernetes.io/os")
OS_SKU_LABEL = "kubernetes.azure.com/os-sku"
INSTANCE_TYPE_LABELS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")
VIRTUAL_KUBELET = "virtual-kubelet"
# Pods in these phases hold no IP address any more.
FINISHED_PHASES = frozenset({"Succeeded", "Failed"})

_QUANTITY = re.compile(r"^(\d+)([kMG]?)$")
_QUANTITY_FACTOR = {"": 1, "k": 1000, "M": 1000**2, "G": 1000**3}


@dataclass
class PodCounts:
    """Running/pending pods on one node, split by where their IP comes from."""

    pod_network: int = 0
    host_network: int = 0
    pending_pod_network: int = 0


def count_pods_by_node(pods: Iterable[KubeObject]) -> dict[str, PodCounts]:
    """Pods per node, skipping finished and unscheduled pods."""
    counts: dict[str, PodCounts] = {}
    for pod in pods:
        pod_spec = spec(pod)
        node = pod_spec.get("nodeName")
        if not node or status(pod).get("phase") in FINISHED_PHASES:
            continue
        entry = counts.setdefault(str(node), PodCounts())
        if pod_spec.get("hostNetwork"):
            entry.host_network += 1
        else:
            entry.pod_network += 1
            entry.pending_pod_network += status(pod).get("phase") == "Pending"
    return counts


def parse_count(value: Any) -> int:
    """A Kubernetes integer quantity (``110``, ``1k``); 0 when it is not one."""
    match = _QUANTITY.match(str(value or "").strip())
    if not match:
        return 0
    return int(match.group(1)) * _QUANTITY_FACTOR[match.group(2)]


def first_label(labels: Mapping[str, str], keys: Iterable[str]) -> str:
    for key in keys:
        if labels.get(key):
            return labels[key]
    return ""


def network_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """Every ``kubernetes.azure.com/*`` label plus ``agentpool`` and ``type``."""
    return {
        k: v
        for k, v in labels.items()
        if k.startswith(NETWORK_LABEL_PREFIX) or k in EXTRA_NETWORK_LABELS
    }


def network_container(raw: Mapping[str, Any]) -> report_pb2.NetworkContainer:
    return report_pb2.NetworkContainer(
        id=str(raw.get("id", "")),
        type=str(raw.get("type", "")),
        assignment_mode=str(raw.get("assignmentMode", "")),
        subnet_name=str(raw.get("subnetName", "")),
        subnet_address_space=str(raw.get("subnetAddressSpace", "")),
        subnet_id=str(raw.get("subnetID", "")),
        vnet_id=str(raw.get("vnetID", "")),
        status=str(raw.get("status", "")),
        ip_assignment_count=len(as_list(raw.get("ipAssignments"))),
    )


def last_transition_time(state: Mapping[str, Any]) -> datetime | None:
    """The newest ``lastTransitionTime`` of a status's conditions (None without any)."""
    stamps = [
        timestamp(as_dict(entry).get("lastTransitionTime"))
        for entry in as_list(state.get("conditions"))
    ]
    moments = [s.ToDatetime(tzinfo=UTC) for s in stamps if s is not None]
    return max(moments, default=None)


def node_network_config(
    nnc: KubeObject, observed_at: datetime | None = None
) -> report_pb2.NodeNetworkConfig:
    """A NodeNetworkConfig (acn.azure.com/v1alpha): requested/assigned IPs and its NCs, with
    when the agent read them."""
    state = status(nnc)
    message = report_pb2.NodeNetworkConfig(
        requested_ip_count=int(spec(nnc).get("requestedIPCount") or 0),
        assigned_ip_count=int(state.get("assignedIPCount") or 0),
        status=str(state.get("status", "")),
        network_containers=[
            network_container(nc)
            for nc in as_list(state.get("networkContainers"))
            if isinstance(nc, dict)
        ],
        labels=labels_of(nnc),
    )
    if observed_at is not None:
        message.observed_at.FromDatetime(observed_at)
    transition = last_transition_time(state)
    if transition is not None:
        message.status_last_transition_time.FromDatetime(transition)
    return message


def is_ready(node: KubeObject) -> bool:
    for entry in as_list(status(node).get("conditions")):
        entry = as_dict(entry)
        if entry.get("type") == "Ready":
            return entry.get("status") == "True"
    return False


def pod_cidrs(node: KubeObject) -> list[str]:
    node_spec = spec(node)
    cidrs = [str(c) for c in as_list(node_spec.get("podCIDRs")) if c]
    if not cidrs and node_spec.get("podCIDR"):
        cidrs = [str(node_spec["podCIDR"])]
    return cidrs


def node(
    obj: KubeObject,
    counts: PodCounts | None = None,
    nnc: report_pb2.NodeNetworkConfig | None = None,
) -> report_pb2.Node:
    """One Node with its pod counts and NodeNetworkConfig joined in."""
    labels = labels_of(obj)
    state = status(obj)
    node_info = as_dict(state.get("nodeInfo"))
    message = report_pb2.Node(
        name=name_of(obj),
        pool=first_label(labels, POOL_LABELS),
        os=first_label(labels, OS_LABELS) or str(node_info.get("operatingSystem", "")),
        os_sku=labels.get(OS_SKU_LABEL, ""),
        instance_type=first_label(labels, INSTANCE_TYPE_LABELS),
        zone=first_label(labels, ZONE_LABELS),
        network_labels=network_labels(labels),
        pod_cidrs=pod_cidrs(obj),
        allocatable_pods=parse_count(as_dict(state.get("allocatable")).get("pods")),
        ready=is_ready(obj),
        internal_ips=[
            str(a.get("address"))
            for a in map(as_dict, as_list(state.get("addresses")))
            if a.get("type") == "InternalIP" and a.get("address")
        ],
        virtual_kubelet=labels.get("type") == VIRTUAL_KUBELET,
    )
    if counts is not None:
        message.pods_on_pod_network = counts.pod_network
        message.host_network_pods = counts.host_network
        message.pending_pods_on_pod_network = counts.pending_pod_network
    if nnc is not None:
        message.node_network_config.CopyFrom(nnc)
    return message


def gather(reads: Reads, report: report_pb2.Report, settings: GatherSettings) -> None:
    # Pods and NodeNetworkConfigs first, so that nodes (5 KB of JSON each, 5,000 of them)
    # stream into messages as their pages arrive instead of being held as dicts.
    counts = reads.fold(PODS, count_pods_by_node) or {}
    nncs: dict[str, report_pb2.NodeNetworkConfig] = {}
    listed = reads.list_served(NODE_NETWORK_CONFIGS, NNC_NAMESPACE) or []
    observed_at = datetime.now(UTC)
    for raw in listed:
        # One NNC per node, named after it.
        converted = reads.each(
            [raw], lambda obj: node_network_config(obj, observed_at), NODE_NETWORK_CONFIGS.label
        )
        if converted:
            nncs[name_of(raw)] = converted[0]
    messages = reads.fold(
        NODES,
        lambda nodes: reads.each(
            nodes,
            lambda obj: node(obj, counts.get(name_of(obj), PodCounts()), nncs.get(name_of(obj))),
            NODES.label,
        ),
    )
    if messages is not None:
        report.nodes.extend(messages)


GATHERER = Gatherer(
    name="nodes",
    reads=(
        access_for(NODES),
        access_for(PODS),
        access_for(NODE_NETWORK_CONFIGS),
    ),
    gather=gather,
)
