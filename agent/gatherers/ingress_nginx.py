"""ingress-nginx controllers in any namespace (domain.md §5 ING-002): the upstream chart's,
a mirror of its image, or the application routing add-on's NGINX, recognised by the
controller image or by the chart's labels, with the version from the image tag.

They come from the Deployments and DaemonSets the ``cni`` and ``agic`` gatherers already
list cluster-wide (the read cache lists each kind once per report): no Pod list of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from netaudit.agent.gatherers.gatherer import Gatherer, KubeObject, Resource, access_for
from netaudit.agent.gatherers.objects import (
    as_dict,
    containers,
    image_tag,
    labels_of,
    workload,
)
from netaudit.v1 import report_pb2

if TYPE_CHECKING:
    from netaudit.agent.config import GatherSettings
    from netaudit.agent.gatherers.reads import Reads

DEPLOYMENTS = Resource("apps", "v1", "deployments")
DAEMONSETS = Resource("apps", "v1", "daemonsets")

CONTROLLER_IMAGES = (
    "ingress-nginx/controller",  # registry.k8s.io/..., mcr.microsoft.com/oss/kubernetes/...
    "ingress/nginx-ingress-controller",  # app routing (and the retired HTTP app routing)
)
"""Image paths of the ingress-nginx controller, matched at a path boundary so that a private
mirror (``myacr.azurecr.io/ingress-nginx/controller``) counts and F5's NGINX Ingress
Controller (``nginx/nginx-ingress``), another product, does not."""
CHART_LABELS = {
    "app.kubernetes.io/name": "ingress-nginx",
    "app.kubernetes.io/component": "controller",
}
"""The upstream chart's controller labels (also on a controller whose image was renamed)."""
MAX_CONTROLLERS = 100
"""Controllers reported per cluster; more is a misconfiguration the first hundred show."""


def image_repository(image: str) -> str:
    """An image reference without its digest and tag (``reg/a/b:v1@sha256:..`` -> ``reg/a/b``)."""
    path = image.split("@", 1)[0]
    head, _, last = path.rpartition("/")
    name = last.split(":", 1)[0]
    return f"{head}/{name}" if head else name


def is_controller_image(image: str) -> bool:
    repository = image_repository(image)
    return any(
        repository == marker or repository.endswith(f"/{marker}") for marker in CONTROLLER_IMAGES
    )


def has_chart_labels(labels: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in CHART_LABELS.items())


def _template_labels(obj: KubeObject) -> dict[str, str]:
    template = as_dict(as_dict(obj.get("spec")).get("template"))
    labels = as_dict(as_dict(template.get("metadata")).get("labels"))
    return {str(k): str(v) for k, v in labels.items()}


def controller_image(obj: KubeObject) -> str:
    """The controller container's image: the one that is an ingress-nginx image, else the
    container named ``controller`` (the chart's), else the first container's."""
    images = [(str(c.get("name", "")), str(c.get("image", ""))) for c in containers(obj)]
    for _, image in images:
        if is_controller_image(image):
            return image
    named = [image for name, image in images if name == "controller"]
    return (named or [image for _, image in images] or [""])[0]


def nginx_controller(obj: KubeObject, kind: str) -> report_pb2.IngressNginxController | None:
    """The controller ``obj`` runs, or None when it is not an ingress-nginx controller."""
    image = controller_image(obj)
    matched_by = []
    if is_controller_image(image):
        matched_by.append("image")
    if has_chart_labels(labels_of(obj)) or has_chart_labels(_template_labels(obj)):
        matched_by.append("labels")
    if not matched_by:
        return None
    replicas = workload(obj, kind)
    return report_pb2.IngressNginxController(
        kind=kind,
        namespace=replicas.namespace,
        name=replicas.name,
        image=image,
        version=image_tag(image),
        matched_by=matched_by,
        desired_replicas=replicas.desired_replicas,
        ready_replicas=replicas.ready_replicas,
    )


def nginx_controllers(
    deployments: Iterable[KubeObject], daemonsets: Iterable[KubeObject]
) -> list[report_pb2.IngressNginxController]:
    """Every ingress-nginx controller, one per namespace/name (a Deployment before a DaemonSet
    of the same name), at most ``MAX_CONTROLLERS``, sorted by namespace and name."""
    found: dict[tuple[str, str], report_pb2.IngressNginxController] = {}
    candidates: list[tuple[KubeObject, str]] = [(d, "Deployment") for d in deployments]
    candidates += [(d, "DaemonSet") for d in daemonsets]
    for obj, kind in candidates:
        controller = nginx_controller(obj, kind)
        if controller is not None:
            found.setdefault((controller.namespace, controller.name), controller)
    return [found[key] for key in sorted(found)][:MAX_CONTROLLERS]


def gather(reads: Reads, report: report_pb2.Report, settings: GatherSettings) -> None:
    deployments = reads.list(DEPLOYMENTS)
    daemonsets = reads.list(DAEMONSETS)
    if deployments is None and daemonsets is None:
        return
    report.ingress.nginx_controllers.extend(nginx_controllers(deployments or [], daemonsets or []))


GATHERER = Gatherer(
    name="ingress_nginx",
    reads=(access_for(DEPLOYMENTS), access_for(DAEMONSETS)),
    gather=gather,
)
