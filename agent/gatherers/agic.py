"""Application Gateway Ingress Controller: the add-on Deployment
(``ingress-appgw-deployment``) or a Helm install (label ``app=ingress-azure``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from netaudit.agent.gatherers.gatherer import Gatherer, KubeObject, Resource, access_for
from netaudit.agent.gatherers.objects import labels_of, name_of, workload
from netaudit.v1 import report_pb2

if TYPE_CHECKING:
    from netaudit.agent.config import GatherSettings
    from netaudit.agent.gatherers.reads import Reads

DEPLOYMENTS = Resource("apps", "v1", "deployments")
ADDON_DEPLOYMENT = "ingress-appgw-deployment"
HELM_APP_LABEL = ("app", "ingress-azure")


def is_agic(deployment: KubeObject) -> bool:
    key, value = HELM_APP_LABEL
    return name_of(deployment) == ADDON_DEPLOYMENT or labels_of(deployment).get(key) == value


def agic_deployments(deployments: Iterable[KubeObject]) -> list[report_pb2.Workload]:
    return [workload(d, "Deployment") for d in deployments if is_agic(d)]


def gather(reads: Reads, report: report_pb2.Report, settings: GatherSettings) -> None:
    deployments = reads.list(DEPLOYMENTS)
    if deployments is not None:
        report.agic.deployments.extend(agic_deployments(deployments))


GATHERER = Gatherer(name="agic", reads=(access_for(DEPLOYMENTS),), gather=gather)
