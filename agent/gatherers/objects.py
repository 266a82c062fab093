"""Pure readers of Kubernetes object fields shared by the gatherers.

Objects are the API server's JSON as dicts. Lists from the API server omit
``kind`` on their items, so converters take the kind as an argument.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from netaudit.agent.gatherers.gatherer import KubeObject
from netaudit.v1 import report_pb2

EXTERNAL_DNS_ANNOTATION_PREFIXES = (
    "external-dns.alpha.kubernetes.io/",
    "external-dns.kubernetes.io/",
)
HOSTNAME_ANNOTATIONS = (
    "external-dns.alpha.kubernetes.io/hostname",
    "external-dns.kubernetes.io/hostname",
)
# Annotations that copy whole objects; never evidence, often large.
NOISY_ANNOTATIONS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def metadata(obj: KubeObject) -> dict[str, Any]:
    return as_dict(obj.get("metadata"))


def name_of(obj: KubeObject) -> str:
    return str(metadata(obj).get("name", ""))


def namespace_of(obj: KubeObject) -> str:
    return str(metadata(obj).get("namespace", ""))


def labels_of(obj: KubeObject) -> dict[str, str]:
    return {str(k): str(v) for k, v in as_dict(metadata(obj).get("labels")).items()}


def annotations_of(obj: KubeObject) -> dict[str, str]:
    return {str(k): str(v) for k, v in as_dict(metadata(obj).get("annotations")).items()}


def generation_of(obj: KubeObject) -> int:
    return int(metadata(obj).get("generation") or 0)


def spec(obj: KubeObject) -> dict[str, Any]:
    return as_dict(obj.get("spec"))


def status(obj: KubeObject) -> dict[str, Any]:
    return as_dict(obj.get("status"))


def prefixed(values: Mapping[str, str], prefixes: Iterable[str]) -> dict[str, str]:
    """The entries whose key starts with one of ``prefixes``."""
    wanted = tuple(prefixes)
    return {k: v for k, v in values.items() if k.startswith(wanted)}


def timestamp(value: Any) -> Timestamp | None:
    """An RFC 3339 time (``2024-01-02T03:04:05Z``) as a protobuf Timestamp."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    result = Timestamp()
    result.FromDatetime(parsed)
    return result


def condition(raw: Mapping[str, Any]) -> report_pb2.Condition:
    message = report_pb2.Condition(
        type=str(raw.get("type", "")),
        status=str(raw.get("status", "")),
        reason=str(raw.get("reason", "")),
        message=str(raw.get("message", "")),
        observed_generation=int(raw.get("observedGeneration") or 0),
    )
    changed = timestamp(raw.get("lastTransitionTime"))
    if changed is not None:
        message.last_transition_time.CopyFrom(changed)
    return message


def conditions(raw: Any) -> list[report_pb2.Condition]:
    return [condition(c) for c in as_list(raw) if isinstance(c, dict)]


def pod_spec(workload: KubeObject) -> dict[str, Any]:
    """``spec.template.spec`` of a Deployment/DaemonSet/StatefulSet."""
    return as_dict(as_dict(spec(workload).get("template")).get("spec"))


def containers(workload: KubeObject, *, init: bool = False) -> list[dict[str, Any]]:
    template = pod_spec(workload)
    found = [c for c in as_list(template.get("containers")) if isinstance(c, dict)]
    if init:
        found += [c for c in as_list(template.get("initContainers")) if isinstance(c, dict)]
    return found


def container_command_line(container: Mapping[str, Any]) -> list[str]:
    """``command`` followed by ``args``, the way the container runtime joins them."""
    return [str(a) for a in as_list(container.get("command")) + as_list(container.get("args"))]


def image_tag(image: str) -> str:
    """The tag of an image reference (``repo/name:v1.2.3@sha256:...`` -> ``v1.2.3``)."""
    without_digest = image.split("@", 1)[0]
    last = without_digest.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


def workload(obj: KubeObject, kind: str) -> report_pb2.Workload:
    """A Deployment or DaemonSet as the audit sees it: images, args, replica counts."""
    body, state = spec(obj), status(obj)
    if kind == "DaemonSet":
        desired = state.get("desiredNumberScheduled")
        ready = state.get("numberReady")
        available = state.get("numberAvailable")
    else:
        desired = body.get("replicas", 1)
        ready = state.get("readyReplicas")
        available = state.get("availableReplicas")
    images: list[str] = []
    for container in containers(obj, init=True):
        image = str(container.get("image", ""))
        if image and image not in images:
            images.append(image)
    args = [arg for container in containers(obj) for arg in container_command_line(container)]
    return report_pb2.Workload(
        kind=kind,
        namespace=namespace_of(obj),
        name=name_of(obj),
        labels=labels_of(obj),
        images=images,
        args=args,
        desired_replicas=int(desired or 0),
        ready_replicas=int(ready or 0),
        available_replicas=int(available or 0),
    )


def load_balancer_addresses(obj: KubeObject) -> list[str]:
    """``status.loadBalancer.ingress[].ip|hostname`` of a Service or Ingress."""
    ingress = as_list(as_dict(status(obj).get("loadBalancer")).get("ingress"))
    addresses = []
    for entry in ingress:
        entry = as_dict(entry)
        value = entry.get("ip") or entry.get("hostname")
        if value:
            addresses.append(str(value))
    return addresses


def split_hostnames(value: str) -> list[str]:
    """An external-dns hostname annotation: comma-separated, whitespace tolerated."""
    return [part.strip() for part in value.split(",") if part.strip()]
