"""Ingresses and IngressClasses (with the cluster's default class)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from netaudit.agent.gatherers.gatherer import Gatherer, KubeObject, Resource, access_for
from netaudit.agent.gatherers.objects import (
    NOISY_ANNOTATIONS,
    annotations_of,
    as_dict,
    as_list,
    load_balancer_addresses,
    name_of,
    namespace_of,
    spec,
)
from netaudit.v1 import report_pb2

if TYPE_CHECKING:
    from netaudit.agent.config import GatherSettings
    from netaudit.agent.gatherers.reads import Reads

INGRESSES = Resource("networking.k8s.io", "v1", "ingresses")
INGRESS_CLASSES = Resource("networking.k8s.io", "v1", "ingressclasses")
CLASS_ANNOTATION = "kubernetes.io/ingress.class"
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"


def backend_service(backend: dict[str, object]) -> str:
    return str(as_dict(backend.get("service")).get("name", ""))


def ingress(obj: KubeObject) -> report_pb2.Ingress:
    """An Ingress: class (spec or legacy annotation), hosts, TLS hosts, backend Services."""
    ingress_spec = spec(obj)
    annotations = annotations_of(obj)
    hosts: list[str] = []
    backends: list[str] = []
    default_backend = as_dict(ingress_spec.get("defaultBackend"))
    if backend_service(default_backend):
        backends.append(backend_service(default_backend))
    for rule in map(as_dict, as_list(ingress_spec.get("rules"))):
        if rule.get("host") and str(rule["host"]) not in hosts:
            hosts.append(str(rule["host"]))
        for path in map(as_dict, as_list(as_dict(rule.get("http")).get("paths"))):
            service = backend_service(as_dict(path.get("backend")))
            if service and service not in backends:
                backends.append(service)
    tls_hosts = [
        str(host)
        for tls in map(as_dict, as_list(ingress_spec.get("tls")))
        for host in as_list(tls.get("hosts"))
    ]
    return report_pb2.Ingress(
        namespace=namespace_of(obj),
        name=name_of(obj),
        ingress_class_name=str(
            ingress_spec.get("ingressClassName") or annotations.get(CLASS_ANNOTATION, "")
        ),
        hosts=hosts,
        tls_hosts=tls_hosts,
        backend_services=backends,
        annotations={k: v for k, v in annotations.items() if k not in NOISY_ANNOTATIONS},
        load_balancer_addresses=load_balancer_addresses(obj),
    )


def ingress_class(obj: KubeObject) -> report_pb2.IngressClass:
    return report_pb2.IngressClass(
        name=name_of(obj),
        controller=str(spec(obj).get("controller", "")),
        is_default=annotations_of(obj).get(DEFAULT_CLASS_ANNOTATION, "").lower() == "true",
    )


def gather(reads: Reads, report: report_pb2.Report, settings: GatherSettings) -> None:
    evidence = report.ingress
    evidence.ingresses.extend(reads.each(reads.list(INGRESSES) or [], ingress, INGRESSES.label))
    evidence.ingress_classes.extend(
        reads.each(reads.list(INGRESS_CLASSES) or [], ingress_class, INGRESS_CLASSES.label)
    )


GATHERER = Gatherer(
    name="ingress",
    reads=(access_for(INGRESSES), access_for(INGRESS_CLASSES)),
    gather=gather,
)
