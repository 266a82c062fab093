"""Services: how many, their cluster IPs, and the LoadBalancer ones in detail."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from netaudit.agent.gatherers.gatherer import Gatherer, KubeObject, Resource, access_for
from netaudit.agent.gatherers.objects import (
    EXTERNAL_DNS_ANNOTATION_PREFIXES,
    annotations_of,
    as_list,
    load_balancer_addresses,
    name_of,
    namespace_of,
    prefixed,
    spec,
)
from netaudit.v1 import report_pb2

if TYPE_CHECKING:
    from netaudit.agent.config import GatherSettings
    from netaudit.agent.gatherers.reads import Reads

SERVICES = Resource("", "v1", "services")
INTERNAL_ANNOTATION = "service.beta.kubernetes.io/azure-load-balancer-internal"
# Azure cloud-provider annotations say which subnet/IP an LB frontend takes.
KEPT_ANNOTATION_PREFIXES = (*EXTERNAL_DNS_ANNOTATION_PREFIXES, "service.beta.kubernetes.io/azure-")
NO_CLUSTER_IP = "None"


def cluster_ips(service: KubeObject) -> list[str]:
    """``spec.clusterIPs`` (dual-stack) or ``spec.clusterIP``; headless services have none."""
    service_spec = spec(service)
    ips = [str(ip) for ip in as_list(service_spec.get("clusterIPs")) if ip]
    if not ips and service_spec.get("clusterIP"):
        ips = [str(service_spec["clusterIP"])]
    return [ip for ip in ips if ip != NO_CLUSTER_IP]


def service_network(services: Iterable[KubeObject]) -> report_pb2.ServiceNetwork:
    total = 0
    ips: list[str] = []
    for service in services:
        total += 1
        ips += cluster_ips(service)
    return report_pb2.ServiceNetwork(services_total=total, cluster_ips=ips)


def is_load_balancer(service: KubeObject) -> bool:
    return spec(service).get("type") == "LoadBalancer"


def load_balancer_service(service: KubeObject) -> report_pb2.LoadBalancerService:
    annotations = annotations_of(service)
    return report_pb2.LoadBalancerService(
        namespace=namespace_of(service),
        name=name_of(service),
        internal=annotations.get(INTERNAL_ANNOTATION, "").strip().lower() == "true",
        load_balancer_addresses=load_balancer_addresses(service),
        annotations=prefixed(annotations, KEPT_ANNOTATION_PREFIXES),
    )


def gather(reads: Reads, report: report_pb2.Report, settings: GatherSettings) -> None:
    services = reads.list(SERVICES)
    if services is None:
        return
    report.services.CopyFrom(service_network(services))
    report.load_balancer_services.extend(
        reads.each(filter(is_load_balancer, services), load_balancer_service, SERVICES.label)
    )


GATHERER = Gatherer(name="services", reads=(access_for(SERVICES),), gather=gather)
