"""EndpointSlices for the fixtures' Services, as the endpointslice controller would write them.

Fixtures rarely carry EndpointSlices; a real cluster always has them for every Service
with a selector. So the sandbox derives them from Services, Pods and Nodes the way
kube-controller-manager's endpointslice controller does: one slice per address family
and set of resolved ports (at most 100 endpoints each), named ``<service>-<5 chars>``,
labelled with the Service's labels plus ``kubernetes.io/service-name`` and
``endpointslice.kubernetes.io/managed-by``, owned by the Service; an endpoint per Pod
that has an IP and is not finished, ready when the Pod is (or when the Service publishes
not-ready addresses), with its node, zone and a reference to the Pod. A Service that
selects no Pod still gets its (empty) slice. Services without a selector get none,
as the controller leaves them to whoever manages their endpoints.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

Object = dict[str, Any]

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
HEADLESS_LABEL = "service.kubernetes.io/headless"
ZONE_LABEL = "topology.kubernetes.io/zone"
# The controller's --max-endpoints-per-slice default.
MAX_ENDPOINTS_PER_SLICE = 100
# The alphabet of generateName suffixes (k8s.io/apimachinery's rand.String).
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_FINISHED_PHASES = ("Succeeded", "Failed")

Port = tuple[str, int, str, str | None]  # name, port, protocol, appProtocol


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _suffix(seed: str) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(_SUFFIX_ALPHABET[b % len(_SUFFIX_ALPHABET)] for b in digest[:5])


def _selects(selector: Mapping[str, str], pod: Mapping[str, Any]) -> bool:
    labels = _metadata(pod).get("labels") or {}
    return all(labels.get(key) == value for key, value in selector.items())


def _pod_ready(pod: Mapping[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _container_port(pod: Mapping[str, Any], name: str, protocol: str) -> int | None:
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == name and port.get("protocol", "TCP") == protocol:
                return int(port["containerPort"])
    return None


def _ports(service: Mapping[str, Any], pod: Mapping[str, Any]) -> tuple[Port, ...]:
    """The Service's ports as this Pod serves them; a named targetPort the Pod lacks is
    left out, as the controller does."""
    resolved = []
    for port in (service.get("spec") or {}).get("ports") or []:
        protocol = port.get("protocol", "TCP")
        target = port.get("targetPort", port.get("port"))
        number = _container_port(pod, target, protocol) if isinstance(target, str) else target
        if number is None:
            continue
        resolved.append((port.get("name", ""), int(number), protocol, port.get("appProtocol")))
    return tuple(resolved)


def _families(service: Mapping[str, Any]) -> list[str]:
    spec = service.get("spec") or {}
    families = list(spec.get("ipFamilies") or ())
    if families:
        return families
    cluster_ip = spec.get("clusterIP") or ""
    return ["IPv6" if ":" in cluster_ip else "IPv4"]


def _pod_addresses(pod: Mapping[str, Any], family: str) -> list[str]:
    status = pod.get("status") or {}
    addresses = [p.get("ip") for p in status.get("podIPs") or []] or [status.get("podIP")]
    version = 6 if family == "IPv6" else 4
    found = []
    for address in addresses:
        try:
            if address and ipaddress.ip_address(address).version == version:
                found.append(address)
        except ValueError:
            continue
    return found[:1]


def _endpoint(
    service: Mapping[str, Any], pod: Mapping[str, Any], address: str, zones: Mapping[str, str]
) -> Object:
    metadata = _metadata(pod)
    ready = _pod_ready(pod)
    terminating = metadata.get("deletionTimestamp") is not None
    publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    endpoint: Object = {
        "addresses": [address],
        "conditions": {
            "ready": publish or (ready and not terminating),
            "serving": ready,
            "terminating": terminating,
        },
        "targetRef": {
            "kind": "Pod",
            "namespace": metadata.get("namespace", ""),
            "name": metadata.get("name", ""),
            "uid": metadata.get("uid", ""),
        },
    }
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        endpoint["nodeName"] = node
        if node in zones:
            endpoint["zone"] = zones[node]
    return endpoint


def _slice(
    service: Mapping[str, Any],
    family: str,
    ports: tuple[Port, ...] | None,
    endpoints: list[Object],
    index: int,
) -> Object:
    metadata = _metadata(service)
    name, namespace = metadata.get("name", ""), metadata.get("namespace", "default")
    labels = {
        k: v
        for k, v in (metadata.get("labels") or {}).items()
        if k not in (SERVICE_NAME_LABEL, MANAGED_BY_LABEL)
    }
    labels |= {SERVICE_NAME_LABEL: name, MANAGED_BY_LABEL: CONTROLLER_NAME}
    if (service.get("spec") or {}).get("clusterIP") == "None":
        labels[HEADLESS_LABEL] = ""
    seed = f"{metadata.get('uid', '')}/{namespace}/{name}/{family}/{ports}/{index}"
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": f"{name}-{_suffix(seed)}",
            "generateName": f"{name}-",
            "namespace": namespace,
            "labels": labels,
            "creationTimestamp": metadata.get("creationTimestamp"),
            "ownerReferences": [
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "name": name,
                    "uid": metadata.get("uid", ""),
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "addressType": family,
        "endpoints": endpoints or None,
        "ports": [_port_entry(p) for p in ports] if ports is not None else None,
    }


def _port_entry(port: Port) -> Object:
    name, number, protocol, app_protocol = port
    entry: Object = {"name": name, "port": number, "protocol": protocol}
    if app_protocol:
        entry["appProtocol"] = app_protocol
    return entry


def service_slices(
    service: Mapping[str, Any], pods: Iterable[Mapping[str, Any]], zones: Mapping[str, str]
) -> list[Object]:
    """The EndpointSlices the controller keeps for one Service."""
    spec = service.get("spec") or {}
    selector = spec.get("selector")
    if not selector or spec.get("type") == "ExternalName":
        return []
    namespace = _metadata(service).get("namespace", "default")
    selected = [
        p
        for p in pods
        if _metadata(p).get("namespace") == namespace
        and _selects(selector, p)
        and (p.get("status") or {}).get("phase") not in _FINISHED_PHASES
    ]
    slices = []
    for family in _families(service):
        groups: dict[tuple[Port, ...], list[Object]] = {}
        for pod in selected:
            for address in _pod_addresses(pod, family):
                endpoint = _endpoint(service, pod, address, zones)
                groups.setdefault(_ports(service, pod), []).append(endpoint)
        if not groups:
            slices.append(_slice(service, family, None, [], 0))
        for ports, endpoints in groups.items():
            for index in range(0, len(endpoints), MAX_ENDPOINTS_PER_SLICE):
                chunk = endpoints[index : index + MAX_ENDPOINTS_PER_SLICE]
                slices.append(_slice(service, family, ports, chunk, index))
    return slices


def derived_endpoint_slices(
    services: Iterable[Mapping[str, Any]],
    pods: Iterable[Mapping[str, Any]],
    nodes: Iterable[Mapping[str, Any]],
    existing: Iterable[Mapping[str, Any]] = (),
) -> list[Object]:
    """Slices for every Service whose slices the fixtures do not already carry."""
    covered = {
        (_metadata(s).get("namespace"), (_metadata(s).get("labels") or {}).get(SERVICE_NAME_LABEL))
        for s in existing
    }
    zones = {
        _metadata(n).get("name", ""): (_metadata(n).get("labels") or {})[ZONE_LABEL]
        for n in nodes
        if ZONE_LABEL in (_metadata(n).get("labels") or {})
    }
    by_namespace: dict[str, list[Mapping[str, Any]]] = {}
    for pod in pods:
        by_namespace.setdefault(_metadata(pod).get("namespace", "default"), []).append(pod)
    derived = []
    for service in services:
        metadata = _metadata(service)
        namespace = metadata.get("namespace", "default")
        if (namespace, metadata.get("name")) in covered:
            continue
        derived += service_slices(service, by_namespace.get(namespace, []), zones)
    return derived
