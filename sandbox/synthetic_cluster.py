"""A large synthetic cluster for the sandbox Kubernetes API: 5,000 nodes and 150,000 pods
without 400 MB of fixtures.

Nodes, pods, events and NodeNetworkConfigs are generated on demand, deterministically from
their index, in the shapes of the sample fleet's fixtures plus what real objects carry
(managedFields, images): a node ~6 KB of JSON, a pod ~4.3 KB. Only each kind's sorted keys
are kept, so a page costs time proportional to its size (``KubeApiServer`` finds the page
start by bisection over the keys), and an object's JSON is its class's template (pods of a
workload kind, events of a reason) with the object's own values formatted in: no dict is
built or encoded to serve a list. A label or field selector is answered from an index of
classes (a workload's pods share their labels; events of one reason share their
selectable fields), never by building every object. The other kinds (a few thousand
Deployments, namespaces) are generated once as fixture documents; everything in the base
fixture folder (CoreDNS and its metrics, CRDs, ConfigMaps) is served as usual.

``python -m netaudit.sandbox.synthetic_cluster --nodes 5000 --pods 150000`` serves it in
its own process and prints its URL; benchmarks start it that way.
"""

from __future__ import annotations

import argparse
import bisect
import json
import re
import signal
import sys
import threading
import uuid
from collections.abc import Callable, Collection, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, overload

import yaml

from netaudit.sandbox.kube_api import KubeApiServer
from netaudit.sandbox.kube_objects import KubeObjectStore, Object, object_key
from netaudit.sandbox.kube_resources import ResourceCatalogue, ResourceType
from netaudit.sandbox.kube_selectors import SelectorError, field_matcher, label_matcher
from netaudit.sandbox.loopback_http import Request, Response
from netaudit.sandbox.runner import kubeconfig

BASE_FIXTURES = Path(__file__).resolve().parent / "fleet_data" / "kube" / "aks-overlay-priv-weu"
CLUSTER = "aks-synthetic-weu"
SUBSCRIPTION = "bbbbbbbb-0000-0000-0000-000000000002"
NODE_RESOURCE_GROUP = f"MC_rg-synthetic_{CLUSTER}_westeurope"
NODES_PER_POOL = 1_000
"""AKS's node pool maximum: 5,000 nodes take five pools."""
IP_FAILURE_EVERY = 500
"""One application pod in this many waits for an IP (Pending, with a FailedCreatePodSandBox
event naming one of the CNI's IP-allocation messages)."""
EVENT_EVERY = 5
"""One application pod in this many has a recent Normal event."""
CNI_NOT_READY_EVERY = 2_000
"""One application pod in this many has a FailedCreatePodSandBox event unrelated to IPs."""
CREATED = "2026-11-20T06:12:31Z"
REVISION_BASE = 10_000_000
"""Generated objects' resourceVersions start here, above any fixture's."""
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def _mix(value: int) -> int:
    """A 64-bit integer hash (splitmix64): deterministic pseudo-random names and hashes."""
    value = (value + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return value ^ (value >> 31)


def _suffix(seed: int, length: int = 5) -> str:
    """A Kubernetes-style random name suffix (``generateName``), fixed by ``seed``."""
    value, chars = _mix(seed), []
    for _ in range(length):
        value, digit = divmod(value, len(_SUFFIX_ALPHABET))
        chars.append(_SUFFIX_ALPHABET[digit])
    return "".join(chars)


def _uid(seed: int) -> str:
    return str(uuid.UUID(int=(_mix(seed) << 64) | _mix(seed + 1), version=4))


def _base36(value: int, width: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while value:
        value, digit = divmod(value, 36)
        out = digits[digit] + out
    return out.rjust(width, "0")


@dataclass(frozen=True)
class Shape:
    """How big the cluster is; everything else follows from these numbers."""

    nodes: int = 5_000
    pods: int = 150_000
    app_namespaces: int = 300
    deployments_per_namespace: int = 20

    @property
    def pools(self) -> int:
        return max(1, -(-self.nodes // NODES_PER_POOL))


@dataclass(frozen=True)
class Workload:
    """A DaemonSet or Deployment whose pods are generated."""

    kind: str
    namespace: str
    name: str
    labels: dict[str, str]
    image: str
    port: int
    host_network: bool
    replicas: int
    first_pod: int
    template_hash: str


DAEMONSETS = (
    (
        "kube-proxy",
        {"component": "kube-proxy", "tier": "node"},
        "oss/kubernetes/kube-proxy:v1.30.6",
    ),
    ("azure-cns", {"k8s-app": "azure-cns"}, "containernetworking/azure-cns:v1.6.13"),
    (
        "azure-ip-masq-agent",
        {"k8s-app": "azure-ip-masq-agent"},
        "oss/kubernetes/ip-masq-agent:v2.5.0.12",
    ),
    (
        "cloud-node-manager",
        {"k8s-app": "cloud-node-manager"},
        "oss/kubernetes/azure-cloud-node-manager:v1.30.7",
    ),
    (
        "csi-azuredisk-node",
        {"app": "csi-azuredisk-node"},
        "oss/kubernetes-csi/azuredisk-csi:v1.30.5",
    ),
    (
        "csi-azurefile-node",
        {"app": "csi-azurefile-node"},
        "oss/kubernetes-csi/azurefile-csi:v1.30.6",
    ),
)
"""The per-node kube-system DaemonSets of an AKS overlay cluster (all host network)."""
CNS_DAEMONSET = "azure-cns"
CNS_SUBNET = "routingdomain_8b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e_overlaysubnet"
POOL_SIZE = 256
"""Addresses in a node's overlay pool (its /24 as the NodeNetworkConfig assigns it)."""
DAEMONSET_PORTS = {"azure-cns": 10092, "kube-proxy": 10249}
APP_IMAGES = (
    "contoso.azurecr.io/shop/storefront:2.14.1",
    "contoso.azurecr.io/shop/checkout:1.9.0",
    "contoso.azurecr.io/platform/api-gateway:5.2.3",
    "mcr.microsoft.com/dotnet/samples:aspnetapp-8.0",
    "docker.io/library/nginx:1.27.2",
)
IP_FAILURE_MESSAGES = (
    'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "{sandbox}": plugin type="azure-vnet" failed (add): failed to allocate for range 0: no IP addresses available in range set: {range}',  # noqa: E501
    'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "{sandbox}": plugin type="azure-vnet" failed (add): no IP addresses available in range set: {range}',  # noqa: E501
    'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "{sandbox}": plugin type="azure-vnet" failed (add): failed to request IP address from CNS: SubnetIsFull: subnet has no free addresses',  # noqa: E501
    'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "{sandbox}": plugin type="azure-vnet" failed (add): http request failed: NCUpdateSubnetFullError: the subnet of the network container is full',  # noqa: E501
)
CNI_NOT_READY = 'Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "{sandbox}": cni plugin not initialized'  # noqa: E501
NORMAL_EVENTS = (
    ("Scheduled", "default-scheduler", "Successfully assigned {namespace}/{pod} to {node}"),
    ("Pulled", "kubelet", 'Container image "{image}" already present on machine'),
    ("Created", "kubelet", "Created container app"),
    ("Started", "kubelet", "Started container app"),
)


# -- the cluster's layout: which pod is which ------------------------------------------------


@dataclass
class Layout:
    """Names and placement derived from a ``Shape``; objects are built from these."""

    shape: Shape
    pool_ids: list[str] = field(default_factory=list)
    workloads: list[Workload] = field(default_factory=list)
    _starts: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, shape: Shape) -> Layout:
        layout = cls(shape, [str(10_000_000 + _mix(p) % 89_999_999) for p in range(shape.pools)])
        first = 0
        for name, labels, image in DAEMONSETS:
            layout.workloads.append(
                Workload(
                    "DaemonSet",
                    "kube-system",
                    name,
                    labels,
                    f"mcr.microsoft.com/{image}",
                    DAEMONSET_PORTS.get(name, 0),
                    True,
                    shape.nodes,
                    first,
                    _suffix(first, 10),
                )
            )
            first += shape.nodes
        app_pods = max(shape.pods - first, 0)
        count = shape.app_namespaces * shape.deployments_per_namespace
        count = min(count, app_pods) or 1
        per, extra = divmod(app_pods, count)
        for index in range(count):
            namespace = f"team-{index // shape.deployments_per_namespace:03d}"
            name = f"svc-{_suffix(index * 7 + 1, 4)}-{index % shape.deployments_per_namespace}"
            replicas = per + (1 if index < extra else 0)
            layout.workloads.append(
                Workload(
                    "Deployment",
                    namespace,
                    name,
                    {"app": name, "team": namespace},
                    APP_IMAGES[index % len(APP_IMAGES)],
                    8080,
                    False,
                    replicas,
                    first,
                    _suffix(index * 13 + 5, 10),
                )
            )
            first += replicas
        return layout

    # -- nodes --

    def node_name(self, index: int) -> str:
        pool, instance = divmod(index, NODES_PER_POOL)
        return f"aks-pool{pool}-{self.pool_ids[pool]}-vmss{_base36(instance, 6)}"

    def node_ip(self, index: int) -> str:
        index += 4
        return f"10.224.{index >> 8 & 255}.{index & 255}" if index < 65536 else "10.239.0.4"

    def pod_cidr(self, index: int) -> str:
        return f"10.{128 + (index >> 8) % 128}.{index & 255}.0/24"

    # -- pods --

    def workload_of(self, pod: int) -> Workload:
        if len(self._starts) != len(self.workloads):
            self._starts = [w.first_pod for w in self.workloads]
        return self.workloads[bisect.bisect_right(self._starts, pod) - 1]

    def pod_name(self, workload: Workload, pod: int) -> str:
        if workload.kind == "DaemonSet":
            return f"{workload.name}-{_suffix(pod)}"
        return f"{workload.name}-{workload.template_hash}-{_suffix(pod)}"

    def pod_node(self, workload: Workload, pod: int) -> int:
        ordinal = pod - workload.first_pod
        if workload.kind == "DaemonSet":
            return ordinal
        return (_mix(pod) >> 8) % self.shape.nodes

    def waits_for_ip(self, workload: Workload, pod: int) -> bool:
        return workload.kind == "Deployment" and pod % IP_FAILURE_EVERY == 7


# -- generated kinds: sorted keys, objects built on demand -----------------------------------


Values = Mapping[str, str | int]
"""One object's own values (name, addresses, uid...), filled into its class's template."""


class _Slots(dict[str, str]):
    """Values that mark where each one goes: building a class's shape with these gives its
    template."""

    def __missing__(self, name: str) -> str:
        return f"\x01{name}\x02"


_SLOT = re.compile(r"\\u0001(\w+)\\u0002")


class Template:
    """An object's JSON text with ``%(name)s`` where its own values go: filling it is one
    string format, no dict built and no JSON encoded per object."""

    def __init__(self, shape: Object, numbers: Collection[str] = ()) -> None:
        text = json.dumps(shape, separators=(",", ":")).replace("%", "%%")
        for name in numbers:
            text = text.replace(f'"\\u0001{name}\\u0002"', f"%({name})s")
        self.text = _SLOT.sub(r"%(\1)s", text)

    def fill(self, values: Values) -> str:
        return self.text % values


class KindBuilder(Protocol):
    """How one kind's objects look: a shape per class (values left as slots) and each
    object's own values."""

    numbers: Collection[str]

    def shape(self, cls: int, v: Mapping[str, str]) -> Object: ...

    def values(self, cls: int, ordinal: int) -> Values: ...

    def template_key(self, cls: int) -> Hashable:
        """Classes with one key share a template (their differences are values)."""
        ...


class GeneratedKind:
    """One kind's objects as sorted keys; each object's JSON is its class's template
    filled with its own values when served. Objects of one class share their labels and
    the fields in ``constant_fields``, so a selector is matched once per class, against
    the class's sample. Objects from the base fixtures are classes of their own."""

    def __init__(
        self,
        resource: ResourceType,
        rows: list[tuple[str, int, int]],
        builder: KindBuilder,
        samples: list[Object],
        base: list[Object],
        constant_fields: frozenset[str] = frozenset(),
        varying_labels: frozenset[str] = frozenset(),
    ) -> None:
        self.resource = resource
        self._builder = builder
        self._generated_classes = len(samples)
        rows = rows + [(object_key(o), len(samples) + i, i) for i, o in enumerate(base)]
        rows.sort()
        self.keys = [key for key, _, _ in rows]
        self._classes = [cls for _, cls, _ in rows]
        self._ordinals = [ordinal for _, _, ordinal in rows]
        self._samples = samples + base
        self._base = [
            json.dumps(_untyped(o), separators=(",", ":")).replace("%", "%%") for o in base
        ]
        self._templates: dict[Hashable, Template] = {}
        self._constant_fields = constant_fields
        self._varying_labels = varying_labels
        self._by_class: dict[int, list[int]] = {}
        for position, cls in enumerate(self._classes):
            self._by_class.setdefault(cls, []).append(position)
        self._selections: dict[tuple[str | None, str, str], Sequence[int]] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.keys)

    def encode(self, position: int) -> str:
        """The object's JSON as a list item of a built-in kind (no apiVersion, kind)."""
        cls, ordinal = self._classes[position], self._ordinals[position]
        if cls >= self._generated_classes:
            return self._base[ordinal].replace("%%", "%")
        key = self._builder.template_key(cls)
        template = self._templates.get(key)
        if template is None:
            template = Template(self._builder.shape(cls, _Slots()), self._builder.numbers)
            self._templates[key] = template
        return template.fill(self._builder.values(cls, ordinal))

    def at(self, position: int) -> Object:
        obj: Object = {"apiVersion": self.resource.api_version(self.resource.versions[0])}
        obj["kind"] = self.resource.kind
        obj.update(json.loads(self.encode(position)))
        return obj

    def get(self, key: str) -> Object | None:
        position = bisect.bisect_left(self.keys, key)
        if position < len(self.keys) and self.keys[position] == key:
            return self.at(position)
        return None

    def view(self, namespace: str | None) -> ObjectView:
        return ObjectView(self, self._namespace_range(namespace))

    def select(self, namespace: str | None, labels: str, fields: str) -> ObjectView | None:
        """The objects matching the selectors, or None when a selector names something that
        differs within a class (then the server filters every object)."""
        if not labels and not fields:
            return self.view(namespace)
        if any(label in labels for label in self._varying_labels):
            return None
        try:
            matchers = [label_matcher(labels)] if labels else []
            if fields:
                matchers.append(field_matcher(fields, self.resource.plural))
        except SelectorError:
            return None  # the server's own filtering answers 400
        if fields and not self._constant(fields):
            return None
        with self._lock:
            selection = self._selections.get((namespace, labels, fields))
            if selection is None:
                selection = self._selection(namespace, matchers)
                self._selections[(namespace, labels, fields)] = selection
        return ObjectView(self, selection)

    def _selection(
        self, namespace: str | None, matchers: list[Callable[[Mapping[str, Any]], bool]]
    ) -> Sequence[int]:
        classes = [c for c, s in enumerate(self._samples) if all(m(s) for m in matchers)]
        if len(classes) == 1:
            positions: list[int] = self._by_class.get(classes[0], [])
        else:
            positions = sorted(p for c in classes for p in self._by_class.get(c, []))
        span = self._namespace_range(namespace)
        low = bisect.bisect_left(positions, span.start)
        high = bisect.bisect_left(positions, span.stop)
        return _Window(positions, range(low, high))

    def _constant(self, fields: str) -> bool:
        keys = [term.split("=")[0].rstrip("!") for term in fields.split(",") if term]
        return all(key in self._constant_fields for key in keys)

    def _namespace_range(self, namespace: str | None) -> range:
        if namespace is None:
            return range(len(self.keys))
        low = bisect.bisect_left(self.keys, f"{namespace}/")
        high = bisect.bisect_left(self.keys, f"{namespace}0")  # "0" sorts right after "/"
        return range(low, high)


def _untyped(obj: Object) -> Object:
    return {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}


class ObjectView(Sequence[Object]):
    """A slice of a generated kind, in key order; objects are built when read."""

    def __init__(self, kind: GeneratedKind, positions: Sequence[int]) -> None:
        self._kind = kind
        self._positions = positions

    def __len__(self) -> int:
        return len(self._positions)

    @overload
    def __getitem__(self, index: int) -> Object: ...

    @overload
    def __getitem__(self, index: slice) -> ObjectView: ...

    def __getitem__(self, index: int | slice) -> Object | ObjectView:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self._positions))
            if isinstance(self._positions, range):
                return ObjectView(self._kind, self._positions[start:stop:step])
            # A range of positions into the list: slicing stays O(1).
            return ObjectView(self._kind, _Window(self._positions, range(start, stop, step)))
        return self._kind.at(self._positions[index])

    def __iter__(self) -> Iterator[Object]:
        at = self._kind.at
        for position in self._positions:
            yield at(position)

    def json_items(self, api_version: str | None, kind: str) -> str:
        encode = self._kind.encode
        items = [encode(position) for position in self._positions]
        if api_version is not None:
            typed = f'{{"apiVersion":{json.dumps(api_version)},"kind":{json.dumps(kind)},'
            items = [typed + item[1:] if item != "{}" else typed[:-1] + "}" for item in items]
        return ",".join(items)


class _Window(Sequence[int]):
    def __init__(self, items: Sequence[int], span: range) -> None:
        self._items, self._span = items, span

    def __len__(self) -> int:
        return len(self._span)

    @overload
    def __getitem__(self, index: int) -> int: ...

    @overload
    def __getitem__(self, index: slice) -> _Window: ...

    def __getitem__(self, index: int | slice) -> int | _Window:
        if isinstance(index, slice):
            return _Window(self._items, self._span[index])
        return self._items[self._span[index]]


def _fields(paths: Sequence[str]) -> Object:
    """A ``fieldsV1`` tree (``f:a`` -> ``f:b`` -> {}) of dotted paths."""
    tree: Object = {}
    for path in paths:
        node = tree
        for part in path.split("."):
            node = node.setdefault(f"f:{part}", {})
    return tree


POD_MANAGED_FIELDS = (
    {
        "manager": "kube-controller-manager",
        "operation": "Update",
        "apiVersion": "v1",
        "time": CREATED,
        "fieldsType": "FieldsV1",
        "fieldsV1": _fields(
            (
                "metadata.generateName",
                "metadata.labels.app",
                "metadata.labels.pod-template-hash",
                "metadata.ownerReferences",
                "spec.containers",
                "spec.dnsPolicy",
                "spec.enableServiceLinks",
                "spec.restartPolicy",
                "spec.schedulerName",
                "spec.securityContext",
                "spec.terminationGracePeriodSeconds",
                "spec.tolerations",
            )
        ),
    },
    {
        "manager": "kubelet",
        "operation": "Update",
        "apiVersion": "v1",
        "time": CREATED,
        "fieldsType": "FieldsV1",
        "subresource": "status",
        "fieldsV1": _fields(
            (
                "status.conditions",
                "status.containerStatuses",
                "status.hostIP",
                "status.hostIPs",
                "status.phase",
                "status.podIP",
                "status.podIPs",
                "status.startTime",
            )
        ),
    },
)
NODE_MANAGED_FIELDS = (
    {
        "manager": "kubelet",
        "operation": "Update",
        "apiVersion": "v1",
        "time": CREATED,
        "fieldsType": "FieldsV1",
        "fieldsV1": _fields(
            (
                "metadata.annotations.node.alpha.kubernetes.io/ttl",
                "metadata.annotations.volumes.kubernetes.io/controller-managed-attach-detach",
                "metadata.labels.agentpool",
                "metadata.labels.kubernetes.azure.com/agentpool",
                "metadata.labels.kubernetes.azure.com/cluster",
                "metadata.labels.kubernetes.io/hostname",
                "metadata.labels.kubernetes.azure.com/node-image-version",
                "spec.providerID",
            )
        ),
    },
    {
        "manager": "kubelet",
        "operation": "Update",
        "apiVersion": "v1",
        "time": CREATED,
        "fieldsType": "FieldsV1",
        "subresource": "status",
        "fieldsV1": _fields(
            (
                "status.allocatable",
                "status.capacity",
                "status.conditions",
                "status.images",
                "status.nodeInfo",
                "status.addresses",
                "status.daemonEndpoints",
            )
        ),
    },
)
"""Real objects carry these (a kilobyte or two of a list's JSON)."""


def _hex(seed: int, words: int = 4) -> str:
    return "".join(f"{_mix(seed + i):016x}" for i in range(words))


# -- object builders: class shapes from the sample fleet's fixtures, values per object -------


class _LayoutBuilder:
    """What the builders share: the layout they read, no numeric values by default, and a
    template per class."""

    numbers: Collection[str] = ()

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def template_key(self, cls: int) -> Hashable:
        return cls


class NodeBuilder(_LayoutBuilder):
    """Class: the node pool. Ordinal: the node's index."""

    def values(self, cls: int, ordinal: int) -> Values:
        layout = self.layout
        return {
            "name": layout.node_name(ordinal),
            "ip": layout.node_ip(ordinal),
            "cidr": layout.pod_cidr(ordinal),
            "zone": f"westeurope-{ordinal % 3 + 1}",
            "uid": _uid(ordinal * 4 + 1),
            "rv": str(REVISION_BASE + ordinal),
            "boot": _uid(ordinal * 4 + 2),
            "machine": _hex(ordinal, 2),
            "system": _uid(ordinal * 4 + 3),
            "instance": str(ordinal % NODES_PER_POOL),
        }

    def shape(self, cls: int, v: Mapping[str, str]) -> Object:
        pool_name, pool_id = f"pool{cls}", self.layout.pool_ids[cls]
        name, zone = v["name"], v["zone"]
        labels = {
            "agentpool": pool_name,
            "beta.kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/instance-type": "Standard_D8ds_v5",
            "beta.kubernetes.io/os": "linux",
            "failure-domain.beta.kubernetes.io/region": "westeurope",
            "failure-domain.beta.kubernetes.io/zone": zone,
            "kubernetes.azure.com/agentpool": pool_name,
            "kubernetes.azure.com/cluster": NODE_RESOURCE_GROUP,
            "kubernetes.azure.com/mode": "system" if cls == 0 else "user",
            "kubernetes.azure.com/node-image-version": "AKSUbuntu-2204gen2containerd-202411.12.0",
            "kubernetes.azure.com/nodepool-type": "VirtualMachineScaleSets",
            "kubernetes.azure.com/os-sku": "Ubuntu",
            "kubernetes.azure.com/role": "agent",
            "kubernetes.azure.com/storageprofile": "managed",
            "kubernetes.azure.com/storagetier": "Premium_LRS",
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/role": "agent",
            "node-role.kubernetes.io/agent": "",
            "node.kubernetes.io/instance-type": "Standard_D8ds_v5",
            "storageprofile": "managed",
            "storagetier": "Premium_LRS",
            "topology.disk.csi.azure.com/zone": zone,
            "topology.kubernetes.io/region": "westeurope",
            "topology.kubernetes.io/zone": zone,
            "kubernetes.azure.com/azure-cni-overlay": "true",
            "kubernetes.azure.com/podnetwork-type": "overlay",
            "kubernetes.azure.com/network-name": "vnet-synthetic",
            "kubernetes.azure.com/network-subnet": "snet-nodes",
            "kubernetes.azure.com/network-subscription": SUBSCRIPTION,
            "kubernetes.azure.com/network-policy": "cilium",
        }
        heartbeat = "2026-12-03T07:55:02Z"
        conditions = [
            {
                "lastHeartbeatTime": heartbeat,
                "lastTransitionTime": CREATED,
                "message": message,
                "reason": reason,
                "status": "True" if kind == "Ready" else "False",
                "type": kind,
            }
            for kind, reason, message in (
                (
                    "MemoryPressure",
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                ),
                ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                ("Ready", "KubeletReady", "kubelet is posting ready status"),
            )
        ]
        images = [
            {
                "names": [
                    f"mcr.microsoft.com/{image}",
                    f"mcr.microsoft.com/{image.split(':')[0]}@sha256:{_hex(i * 4)}",
                ],
                "sizeBytes": 30_000_000 + _mix(i) % 90_000_000,
            }
            for i, (_, _, image) in enumerate(DAEMONSETS)
        ]
        scale_set = f"aks-{pool_name}-{pool_id}-vmss"
        return {
            "metadata": {
                "name": name,
                "uid": v["uid"],
                "resourceVersion": v["rv"],
                "creationTimestamp": CREATED,
                "labels": labels,
                "managedFields": NODE_MANAGED_FIELDS,
                "annotations": {
                    "csi.volume.kubernetes.io/nodeid": json.dumps(
                        {"disk.csi.azure.com": name, "file.csi.azure.com": name},
                        separators=(",", ":"),
                    ),
                    "node.alpha.kubernetes.io/ttl": "0",
                    "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                },
            },
            "spec": {
                "podCIDR": v["cidr"],
                "podCIDRs": [v["cidr"]],
                "providerID": f"azure:///subscriptions/{SUBSCRIPTION}/resourceGroups/{NODE_RESOURCE_GROUP.lower()}/providers/Microsoft.Compute/virtualMachineScaleSets/{scale_set}/virtualMachines/{v['instance']}",
            },
            "status": {
                "addresses": [
                    {"address": v["ip"], "type": "InternalIP"},
                    {"address": name, "type": "Hostname"},
                ],
                "allocatable": {
                    "cpu": "7820m",
                    "ephemeral-storage": "119703055367",
                    "hugepages-1Gi": "0",
                    "hugepages-2Mi": "0",
                    "memory": "28409396Ki",
                    "pods": "250",
                },
                "capacity": {
                    "cpu": "8",
                    "ephemeral-storage": "129886128Ki",
                    "hugepages-1Gi": "0",
                    "hugepages-2Mi": "0",
                    "memory": "32863284Ki",
                    "pods": "250",
                },
                "conditions": conditions,
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "images": images,
                "nodeInfo": {
                    "architecture": "amd64",
                    "bootID": v["boot"],
                    "containerRuntimeVersion": "containerd://1.7.22-1",
                    "kernelVersion": "5.15.0-1074-azure",
                    "kubeProxyVersion": "v1.30.6",
                    "kubeletVersion": "v1.30.6",
                    "machineID": v["machine"],
                    "operatingSystem": "linux",
                    "osImage": "Ubuntu 22.04.5 LTS",
                    "systemUUID": v["system"],
                },
            },
        }


class NodeNetworkConfigBuilder(_LayoutBuilder):
    """Class: the node pool. Ordinal: the node's index."""

    def values(self, cls: int, ordinal: int) -> Values:
        layout = self.layout
        return {
            "name": layout.node_name(ordinal),
            "uid": _uid(ordinal * 4 + 900_001),
            "rv": str(REVISION_BASE + 20_000 + ordinal),
            "node_uid": _uid(ordinal * 4 + 1),
            "nc": _uid(ordinal * 4 + 900_002),
            "ip": layout.node_ip(ordinal),
            "cidr": layout.pod_cidr(ordinal),
        }

    def shape(self, cls: int, v: Mapping[str, str]) -> Object:
        return {
            "metadata": {
                "name": v["name"],
                "namespace": "kube-system",
                "uid": v["uid"],
                "resourceVersion": v["rv"],
                "creationTimestamp": CREATED,
                "generation": 1,
                "finalizers": ["finalizers.acn.azure.com/dnc-operations"],
                "labels": {
                    "kubernetes.azure.com/podnetwork-type": "overlay",
                    "managed": "true",
                    "owner": v["name"],
                },
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "blockOwnerDeletion": True,
                        "controller": True,
                        "kind": "Node",
                        "name": v["name"],
                        "uid": v["node_uid"],
                    }
                ],
            },
            "spec": {"requestedIPCount": 0},
            "status": {
                "assignedIPCount": 256,
                "networkContainers": [
                    {
                        "assignmentMode": "static",
                        "id": v["nc"],
                        "nodeIP": v["ip"],
                        "primaryIP": v["cidr"],
                        "subnetAddressSpace": "10.128.0.0/9",
                        "subnetName": "routingdomain_8b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e_overlaysubnet",  # noqa: E501
                        "subcriptionID": SUBSCRIPTION,
                        "resourceGroupID": "rg-synthetic",
                        "type": "overlay",
                        "version": 0,
                        "vnetID": "vnet-synthetic",
                    }
                ],
                "status": "Updated",
            },
        }


def pod_labels(workload: Workload) -> dict[str, str]:
    """A workload's pods' labels: its own plus the controller's template hash."""
    if workload.kind == "DaemonSet":
        extra = {"controller-revision-hash": workload.template_hash, "pod-template-generation": "1"}
    else:
        extra = {"pod-template-hash": workload.template_hash}
    return workload.labels | extra


class PodBuilder(_LayoutBuilder):
    """Class: 2 x workload + 1 when the pod waits for an IP. Ordinal: the pod's index.
    Pods of all workloads of one kind share a template; the workload's own values (labels,
    image, owner) are filled in like the pod's."""

    numbers: Collection[str] = ("labels", "port", "probe_port")

    def __init__(self, layout: Layout) -> None:
        super().__init__(layout)
        self._workload_values = [self._of_workload(i, w) for i, w in enumerate(layout.workloads)]

    @staticmethod
    def _of_workload(index: int, workload: Workload) -> dict[str, str | int]:
        daemonset = workload.kind == "DaemonSet"
        owner = workload.name if daemonset else f"{workload.name}-{workload.template_hash}"
        return {
            "namespace": workload.namespace,
            "labels": json.dumps(pod_labels(workload), separators=(",", ":")),
            "image": workload.image,
            "image_id": f"{workload.image.split(':')[0]}@sha256:{_hex(index * 8)}",
            "app": workload.name if daemonset else "app",
            "owner": owner,
            "owner_uid": _uid(index * 4 + 3_000_001),
            "account": workload.name if daemonset else "default",
            "port": workload.port,
            "probe_port": workload.port or 8080,
        }

    def template_key(self, cls: int) -> Hashable:
        workload = self.layout.workloads[cls // 2]
        return (workload.kind, cls % 2, workload.host_network, bool(workload.port))

    def values(self, cls: int, ordinal: int) -> Values:
        layout = self.layout
        workload = layout.workloads[cls // 2]
        name = layout.pod_name(workload, ordinal)
        node = layout.pod_node(workload, ordinal)
        host_ip = layout.node_ip(node)
        prefix = layout.pod_cidr(node).rsplit(".", 1)[0]
        return self._workload_values[cls // 2] | {
            "name": name,
            "generate": name[: -len(_suffix(ordinal))],
            "uid": _uid(ordinal * 4 + 2_000_001),
            "rv": str(REVISION_BASE + 40_000 + ordinal),
            "node": layout.node_name(node),
            "host_ip": host_ip,
            "pod_ip": host_ip if workload.host_network else f"{prefix}.{ordinal % 250 + 4}",
            "container": _hex(ordinal),
            "volume": f"kube-api-access-{_suffix(ordinal + 3)}",
        }

    def shape(self, cls: int, v: Mapping[str, str]) -> Object:
        workload = self.layout.workloads[cls // 2]
        pending = cls % 2 == 1
        daemonset = workload.kind == "DaemonSet"
        owner_kind = "DaemonSet" if daemonset else "ReplicaSet"
        owner = {"apiVersion": "apps/v1", "kind": owner_kind, "name": v["owner"]}
        ports = (
            [
                {
                    "containerPort": v["port"],
                    "name": "metrics" if daemonset else "http",
                    "protocol": "TCP",
                }
            ]
            if workload.port
            else []
        )
        container_name = v["app"]
        container = {
            "name": container_name,
            "image": v["image"],
            "imagePullPolicy": "IfNotPresent",
            "ports": ports,
            "env": [
                {
                    "name": "NODE_NAME",
                    "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}},
                },
                {
                    "name": "POD_NAMESPACE",
                    "valueFrom": {
                        "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}
                    },
                },
            ],
            "resources": {
                "limits": {"memory": "512Mi"},
                "requests": {"cpu": "50m", "memory": "128Mi"},
            },
            "livenessProbe": {
                "failureThreshold": 3,
                "httpGet": {"path": "/healthz", "port": v["probe_port"], "scheme": "HTTP"},
                "initialDelaySeconds": 10,
                "periodSeconds": 10,
                "successThreshold": 1,
                "timeoutSeconds": 1,
            },
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
            "volumeMounts": [
                {
                    "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                    "name": v["volume"],
                    "readOnly": True,
                }
            ],
        }
        started = {"lastProbeTime": None, "lastTransitionTime": CREATED, "status": "True"}
        not_ready = {
            "status": "False",
            "reason": "ContainersNotReady",
            "message": f"containers with unready status: [{container_name}]",
        }
        if pending:
            state: Object = {
                "conditions": [
                    started | {"type": "PodReadyToStartContainers", "status": "False"},
                    started | {"type": "Initialized"},
                    started | {"type": "Ready"} | not_ready,
                    started | {"type": "ContainersReady"} | not_ready,
                    started | {"type": "PodScheduled"},
                ],
                "containerStatuses": [
                    {
                        "image": v["image"],
                        "imageID": "",
                        "lastState": {},
                        "name": container_name,
                        "ready": False,
                        "restartCount": 0,
                        "started": False,
                        "state": {"waiting": {"reason": "ContainerCreating"}},
                    }
                ],
                "hostIP": v["host_ip"],
                "hostIPs": [{"ip": v["host_ip"]}],
                "phase": "Pending",
                "qosClass": "Burstable",
                "startTime": CREATED,
            }
        else:
            state = {
                "conditions": [
                    started | {"type": kind}
                    for kind in (
                        "PodReadyToStartContainers",
                        "Initialized",
                        "Ready",
                        "ContainersReady",
                        "PodScheduled",
                    )
                ],
                "containerStatuses": [
                    {
                        "containerID": f"containerd://{v['container']}",
                        "image": v["image"],
                        "imageID": v["image_id"],
                        "lastState": {},
                        "name": container_name,
                        "ready": True,
                        "restartCount": 0,
                        "started": True,
                        "state": {"running": {"startedAt": CREATED}},
                    }
                ],
                "hostIP": v["host_ip"],
                "hostIPs": [{"ip": v["host_ip"]}],
                "phase": "Running",
                "podIP": v["pod_ip"],
                "podIPs": [{"ip": v["pod_ip"]}],
                "qosClass": "Burstable",
                "startTime": CREATED,
            }
        return {
            "metadata": {
                "name": v["name"],
                "generateName": v["generate"],
                "namespace": v["namespace"],
                "uid": v["uid"],
                "resourceVersion": v["rv"],
                "creationTimestamp": CREATED,
                "labels": v["labels"],
                "managedFields": POD_MANAGED_FIELDS,
                "ownerReferences": [
                    owner
                    | {
                        "blockOwnerDeletion": True,
                        "controller": True,
                        "uid": v["owner_uid"],
                    }
                ],
            },
            "spec": {
                "containers": [container],
                "dnsPolicy": "ClusterFirstWithHostNet" if workload.host_network else "ClusterFirst",
                "enableServiceLinks": True,
                "hostNetwork": workload.host_network,
                "nodeName": v["node"],
                "preemptionPolicy": "PreemptLowerPriority",
                "priority": 2000001000 if daemonset else 0,
                "priorityClassName": "system-node-critical" if daemonset else "",
                "restartPolicy": "Always",
                "schedulerName": "default-scheduler",
                "securityContext": {},
                "serviceAccount": v["account"],
                "serviceAccountName": v["account"],
                "terminationGracePeriodSeconds": 30,
                "tolerations": [
                    {
                        "effect": "NoExecute",
                        "key": "node.kubernetes.io/not-ready",
                        "operator": "Exists",
                        "tolerationSeconds": 300,
                    },
                    {
                        "effect": "NoExecute",
                        "key": "node.kubernetes.io/unreachable",
                        "operator": "Exists",
                        "tolerationSeconds": 300,
                    },
                ],
                "volumes": [
                    {
                        "name": v["volume"],
                        "projected": {
                            "defaultMode": 420,
                            "sources": [
                                {
                                    "serviceAccountToken": {
                                        "expirationSeconds": 3607,
                                        "path": "token",
                                    }
                                },
                                {
                                    "configMap": {
                                        "items": [{"key": "ca.crt", "path": "ca.crt"}],
                                        "name": "kube-root-ca.crt",
                                    }
                                },
                                {
                                    "downwardAPI": {
                                        "items": [
                                            {
                                                "fieldRef": {
                                                    "apiVersion": "v1",
                                                    "fieldPath": "metadata.namespace",
                                                },
                                                "path": "namespace",
                                            }
                                        ]
                                    }
                                },
                            ],
                        },
                    }
                ],
            },
            "status": state,
        }


EVENT_CLASSES = len(NORMAL_EVENTS) + len(IP_FAILURE_MESSAGES) + 1
"""Event classes: the Normal events, an IP-allocation failure per message, and a
FailedCreatePodSandBox that is not about IPs (last)."""


class EventBuilder(_LayoutBuilder):
    """Class: see ``EVENT_CLASSES``. Ordinal: the index of the pod the event is about."""

    numbers: Collection[str] = ("count",)

    def values(self, cls: int, ordinal: int) -> Values:
        layout = self.layout
        workload = layout.workload_of(ordinal)
        pod = layout.pod_name(workload, ordinal)
        node = layout.pod_node(workload, ordinal)
        prefix = layout.pod_cidr(node).rsplit(".", 1)[0]
        minute, count = ordinal % 50, 1 + ordinal % 9 if cls >= len(NORMAL_EVENTS) else 1
        return {
            "name": f"{pod}.{event_suffix(ordinal, cls)}",
            "namespace": workload.namespace,
            "pod": pod,
            "pod_uid": _uid(ordinal * 4 + 2_000_001),
            "pod_rv": str(REVISION_BASE + 40_000 + ordinal),
            "uid": _uid(ordinal * 4 + 5_000_001 + cls),
            "rv": str(REVISION_BASE + 400_000 + ordinal),
            "node": layout.node_name(node),
            "image": workload.image,
            "sandbox": _hex(ordinal),
            "range": f"{prefix}.1-{prefix}.254",
            "first": f"2026-12-03T07:{minute:02d}:11Z",
            "last": f"2026-12-03T07:{minute + count:02d}:41Z",
            "count": count,
        }

    def shape(self, cls: int, v: Mapping[str, str]) -> Object:
        if cls < len(NORMAL_EVENTS):
            reason, component, template = NORMAL_EVENTS[cls]
            kind = "Normal"
        else:
            reason, component, kind = "FailedCreatePodSandBox", "kubelet", "Warning"
            index = cls - len(NORMAL_EVENTS)
            template = (
                IP_FAILURE_MESSAGES[index] if index < len(IP_FAILURE_MESSAGES) else CNI_NOT_READY
            )
        kubelet = component == "kubelet"
        return {
            "metadata": {
                "name": v["name"],
                "namespace": v["namespace"],
                "uid": v["uid"],
                "resourceVersion": v["rv"],
                "creationTimestamp": v["first"],
            },
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "Pod",
                "name": v["pod"],
                "namespace": v["namespace"],
                "uid": v["pod_uid"],
                "resourceVersion": v["pod_rv"],
                "fieldPath": "spec.containers{app}"
                if reason in ("Pulled", "Created", "Started")
                else "",
            },
            "reason": reason,
            "message": template.format_map(v),
            "source": {"component": component, "host": v["node"]}
            if kubelet
            else {"component": component},
            "firstTimestamp": v["first"],
            "lastTimestamp": v["last"],
            "count": v["count"],
            "type": kind,
            "eventTime": None,
            "reportingComponent": component,
            "reportingInstance": v["node"] if kubelet else "",
        }


def event_suffix(pod: int, cls: int) -> str:
    return f"{_mix(pod * 9 + cls) & 0xFFFFFFFFFFFFFFF:x}"


def deployment(workload: Workload) -> Object:
    """An application Deployment (generated once, served as a fixture)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": workload.name,
            "namespace": workload.namespace,
            "labels": dict(workload.labels),
            "annotations": {"deployment.kubernetes.io/revision": "1"},
            "creationTimestamp": CREATED,
        },
        "spec": {
            "replicas": workload.replicas,
            "selector": {"matchLabels": {"app": workload.name}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {
                "metadata": {"labels": dict(workload.labels)},
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "image": workload.image,
                            "ports": [{"containerPort": workload.port, "protocol": "TCP"}],
                            "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}},
                        }
                    ]
                },
            },
        },
        "status": {
            "availableReplicas": workload.replicas,
            "readyReplicas": workload.replicas,
            "replicas": workload.replicas,
            "updatedReplicas": workload.replicas,
            "observedGeneration": 1,
        },
    }


# -- the store ---------------------------------------------------------------------------------


class SyntheticStore:
    """The base fixtures plus generated nodes, pods, events and NodeNetworkConfigs."""

    def __init__(self, shape: Shape, base_dir: Path = BASE_FIXTURES) -> None:
        self.shape = shape
        self.layout = layout = Layout.of(shape)
        deployments = [deployment(w) for w in layout.workloads if w.kind == "Deployment"]
        self._base = KubeObjectStore.load(base_dir, deployments)
        self._kinds: dict[tuple[str, str], GeneratedKind] = {}
        node_rows = [
            (f"/{layout.node_name(i)}", i // NODES_PER_POOL, i) for i in range(shape.nodes)
        ]
        nodes = NodeBuilder(layout)
        pools = range(shape.pools)
        self._add_kind(
            ("", "nodes"),
            node_rows,
            nodes,
            [
                {"metadata": {"labels": nodes.shape(p, _Slots())["metadata"]["labels"]}}
                for p in pools
            ],
            varying_labels=frozenset({"kubernetes.io/hostname", "zone"}),
        )
        nnc_rows = [(f"kube-system{key}", cls, i) for key, cls, i in node_rows]
        nncs = NodeNetworkConfigBuilder(layout)
        self._add_kind(
            ("acn.azure.com", "nodenetworkconfigs"),
            nnc_rows,
            nncs,
            [
                {"metadata": {"labels": nncs.shape(p, _Slots())["metadata"]["labels"]}}
                for p in pools
            ],
            varying_labels=frozenset({"owner"}),
        )
        pod_rows: list[tuple[str, int, int]] = []
        event_rows: list[tuple[str, int, int]] = []
        # Pods holding an address from each node's pool, and each node's azure-cns pod.
        self._allocated = [0] * shape.nodes
        self._cns_nodes: dict[str, int] = {}
        for index, workload in enumerate(layout.workloads):
            for pod in range(workload.first_pod, workload.first_pod + workload.replicas):
                pending = layout.waits_for_ip(workload, pod)
                name = layout.pod_name(workload, pod)
                key = f"{workload.namespace}/{name}"
                pod_rows.append((key, index * 2 + int(pending), pod))
                if not workload.host_network and not pending:
                    self._allocated[layout.pod_node(workload, pod)] += 1
                if workload.name == CNS_DAEMONSET:
                    self._cns_nodes[name] = layout.pod_node(workload, pod)
                event = _event_class(workload, pod, pending)
                if event is not None:
                    event_rows.append((f"{key}.{event_suffix(pod, event)}", event, pod))
        pods = PodBuilder(layout)
        pod_samples = [
            {
                "metadata": {"namespace": w.namespace, "labels": pod_labels(w)},
                "spec": {"serviceAccountName": w.name if w.kind == "DaemonSet" else "default"},
                "status": {"phase": "Pending" if pending else "Running"},
            }
            for w in layout.workloads
            for pending in (False, True)
        ]
        self._add_kind(
            ("", "pods"),
            pod_rows,
            pods,
            pod_samples,
            constant_fields=frozenset({"status.phase", "spec.serviceAccountName"}),
        )
        events = EventBuilder(layout)
        self._add_kind(
            ("", "events"),
            event_rows,
            events,
            [events.shape(cls, _Slots()) for cls in range(EVENT_CLASSES)],
            constant_fields=frozenset({"reason", "type", "involvedObject.kind"}),
        )

    def _add_kind(
        self,
        key: tuple[str, str],
        rows: list[tuple[str, int, int]],
        builder: KindBuilder,
        samples: list[Object],
        constant_fields: frozenset[str] = frozenset(),
        varying_labels: frozenset[str] = frozenset(),
    ) -> None:
        resource = next((t for t in self.catalogue.types if (t.group, t.plural) == key), None)
        if resource is None:
            return  # the base fixtures lack the CRD: the cluster does not serve the kind
        # The base fixtures' own objects of the kind are served too.
        base = list(self._base.objects(resource))
        self._kinds[key] = GeneratedKind(
            resource, rows, builder, samples, base, constant_fields, varying_labels
        )

    def pod_endpoint(self, namespace: str, pod: str, port: str, path: str) -> str | None:
        """What a generated pod serves on ``port``/``path``: azure-cns's IPAM metrics
        (domain.md §1.5) for its node's pool; None for anything else."""
        node = self._cns_nodes.get(pod)
        if namespace != "kube-system" or node is None or (port, path) != ("10092", "metrics"):
            return None
        allocated = self._allocated[node]
        labels = f'podnet_arm_id="",subnet="{CNS_SUBNET}",subnet_cidr="10.128.0.0/9"'
        values = {
            "available_ips": POOL_SIZE - allocated,
            "current_available_ips": POOL_SIZE - allocated,
            "expect_available_ips": POOL_SIZE - allocated,
            "max_ips": POOL_SIZE,
            "pod_allocated_ips": allocated,
            "requested_ips": 0,
            "subnet_exhaustion_state": 0,
            "total_ips": POOL_SIZE,
        }
        return "".join(
            f"# HELP cx_ipam_{name} {name.replace('_', ' ')}.\n# TYPE cx_ipam_{name} gauge\n"
            f"cx_ipam_{name}{{{labels}}} {value}\n"
            for name, value in values.items()
        )

    # -- KubeStore --

    @property
    def catalogue(self) -> ResourceCatalogue:
        return self._base.catalogue

    @property
    def resource_version(self) -> str:
        return str(REVISION_BASE * 2 + int(self._base.resource_version))

    def counts(self) -> dict[str, int]:
        return {plural: len(kind) for (_, plural), kind in self._kinds.items()}

    def objects(self, resource: ResourceType, namespace: str | None = None) -> Sequence[Object]:
        kind = self._kinds.get((resource.group, resource.plural))
        if kind is None:
            return self._base.objects(resource, namespace)
        return kind.view(namespace)

    def get(self, resource: ResourceType, namespace: str | None, name: str) -> Object | None:
        kind = self._kinds.get((resource.group, resource.plural))
        if kind is None:
            return self._base.get(resource, namespace, name)
        return kind.get(f"{namespace or ''}/{name}")

    def indexed(
        self,
        resource: ResourceType,
        namespace: str | None,
        label_selector: str,
        field_selector: str,
    ) -> Sequence[Object] | None:
        kind = self._kinds.get((resource.group, resource.plural))
        if kind is None:
            return None
        return kind.select(namespace, label_selector, field_selector)


def _event_class(workload: Workload, pod: int, pending: bool) -> int | None:
    if workload.kind != "Deployment":
        return None
    if pending:
        return len(NORMAL_EVENTS) + (pod // IP_FAILURE_EVERY) % len(IP_FAILURE_MESSAGES)
    if pod % CNI_NOT_READY_EVERY == 3:
        return EVENT_CLASSES - 1
    if pod % EVENT_EVERY == 0:
        return (pod // EVENT_EVERY) % len(NORMAL_EVENTS)
    return None


# -- serving -------------------------------------------------------------------------------------


_POD_PROXY = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/:]+):(\d+)/proxy/(.*)$")


class SyntheticKubeApiServer(KubeApiServer):
    """The sandbox API server over a ``SyntheticStore``; optionally logs every request
    (``METHOD path?query``, one a line) so a benchmark can replay what a client read."""

    def __init__(
        self,
        shape: Shape,
        base_dir: Path = BASE_FIXTURES,
        host: str = "127.0.0.1",
        port: int = 0,
        request_log: Path | None = None,
    ) -> None:
        self._synthetic = SyntheticStore(shape, base_dir)
        super().__init__(base_dir, host, port, store=self._synthetic)
        self._log = request_log.open("a", encoding="utf-8") if request_log else None
        self._log_lock = threading.Lock()

    def handle(self, request: Request) -> Response:
        if self._log is not None:
            query = "&".join(f"{k}={v}" for k, v in sorted(request.query.items()))
            with self._log_lock:
                self._log.write(f"{request.method} {request.path}?{query}\n")
                self._log.flush()
        # A generated pod's own endpoint through the pod proxy (the fixtures have no file
        # for it); the base fixtures' pods are answered by the server as usual.
        proxied = _POD_PROXY.match(request.path)
        if proxied is not None and request.method == "GET":
            text = self._synthetic.pod_endpoint(*proxied.groups())
            if text is not None:
                return Response(200, text.encode(), "text/plain; version=0.0.4")
        return super().handle(request)

    def stop(self) -> None:
        super().stop()
        if self._log is not None:
            self._log.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=Shape.nodes)
    parser.add_argument("--pods", type=int, default=Shape.pods)
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--fixtures", type=Path, default=BASE_FIXTURES, help="base fixtures")
    parser.add_argument("--kubeconfig", type=Path, help="write a kubeconfig for it here")
    parser.add_argument("--request-log", type=Path, help="append every request's path here")
    args = parser.parse_args(argv)
    server = SyntheticKubeApiServer(
        Shape(nodes=args.nodes, pods=args.pods),
        args.fixtures,
        port=args.port,
        request_log=args.request_log,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    if args.kubeconfig:
        args.kubeconfig.write_text(yaml.safe_dump(kubeconfig(CLUSTER, server.url), sort_keys=False))
    print(server.url, flush=True)
    try:
        stop.wait()
    finally:
        server.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
