"""Application Gateway for Containers: ApplicationLoadBalancer resources and the
ALB controller Deployments (Helm in azure-alb-system, add-on in kube-system)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from netaudit.agent.gatherers.gatherer import Gatherer, KubeObject, Resource, access_for
from netaudit.agent.gatherers.objects import (
    as_list,
    conditions,
    containers,
    image_tag,
    name_of,
    namespace_of,
    spec,
    status,
    workload,
)
from netaudit.v1 import report_pb2

if TYPE_CHECKING:
    from netaudit.agent.config import GatherSettings
    from netaudit.agent.gatherers.reads import Reads

APPLICATION_LOAD_BALANCERS = Resource("alb.networking.azure.io", "v1", "applicationloadbalancers")
DEPLOYMENTS = Resource("apps", "v1", "deployments")
CONTROLLER_NAME = "alb-controller"
CONTROLLER_IMAGE = "/alb-controller"


def is_alb_controller(deployment: KubeObject) -> bool:
    """``alb-controller`` (and its ``-bootstrap``) by name or by image."""
    if name_of(deployment).startswith(CONTROLLER_NAME):
        return True
    return any(CONTROLLER_IMAGE in str(c.get("image", "")) for c in containers(deployment))


def controller_version(deployments: Iterable[KubeObject]) -> str:
    """The image tag of the controller proper (not the bootstrap job)."""
    for deployment in deployments:
        if "bootstrap" in name_of(deployment):
            continue
        for container in containers(deployment):
            image = str(container.get("image", ""))
            if CONTROLLER_IMAGE in image and "bootstrap" not in image:
                return image_tag(image)
    return ""


def application_load_balancer(obj: KubeObject) -> report_pb2.ApplicationLoadBalancer:
    return report_pb2.ApplicationLoadBalancer(
        namespace=namespace_of(obj),
        name=name_of(obj),
        associations=[str(a) for a in as_list(spec(obj).get("associations"))],
        conditions=conditions(status(obj).get("conditions")),
    )


def gather(reads: Reads, report: report_pb2.Report, settings: GatherSettings) -> None:
    evidence = report.agc
    controllers = [d for d in reads.list(DEPLOYMENTS) or [] if is_alb_controller(d)]
    evidence.controllers.extend(workload(d, "Deployment") for d in controllers)
    evidence.controller_version = controller_version(controllers)
    albs = reads.list_served(APPLICATION_LOAD_BALANCERS) or []
    evidence.application_load_balancers.extend(
        reads.each(albs, application_load_balancer, APPLICATION_LOAD_BALANCERS.label)
    )


GATHERER = Gatherer(
    name="agc",
    reads=(access_for(APPLICATION_LOAD_BALANCERS), access_for(DEPLOYMENTS)),
    gather=gather,
)
