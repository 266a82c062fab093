"""ExternalDNS: every Deployment running an external-dns image, with its flags
parsed, and the hostnames that Services, Ingresses and Routes ask it for."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING

from netaudit.agent.gatherers.gateway_api import GROUP as GATEWAY_GROUP
from netaudit.agent.gatherers.gateway_api import ROUTES
from netaudit.agent.gatherers.gatherer import Gatherer, KubeObject, Resource, access_for
from netaudit.agent.gatherers.objects import (
    annotations_of,
    as_dict,
    as_list,
    container_command_line,
    containers,
    image_tag,
    name_of,
    namespace_of,
    spec,
    split_hostnames,
    workload,
)
from netaudit.v1 import report_pb2

if TYPE_CHECKING:
    from netaudit.agent.config import GatherSettings
    from netaudit.agent.gatherers.reads import Reads

DEPLOYMENTS = Resource("apps", "v1", "deployments")
SERVICES = Resource("", "v1", "services")
INGRESSES = Resource("networking.k8s.io", "v1", "ingresses")
IMAGE_MARKER = "external-dns"
DEFAULT_TXT_OWNER_ID = "default"
# Both prefixes: alpha until v0.21, GA from v0.22 (and --annotation-prefix may change it).
NAME_ANNOTATIONS = tuple(
    f"{prefix}{suffix}"
    for prefix in ("external-dns.alpha.kubernetes.io/", "external-dns.kubernetes.io/")
    for suffix in ("hostname", "internal-hostname")
)


def parse_flags(command_line: Sequence[str]) -> dict[str, list[str]]:
    """``--name=value`` and ``--name value`` flags; repeated flags keep every value."""
    flags: dict[str, list[str]] = {}
    index = 0
    while index < len(command_line):
        argument = command_line[index]
        index += 1
        if not argument.startswith("--"):
            continue
        name, has_value, value = argument[2:].partition("=")
        if not has_value:
            if index < len(command_line) and not command_line[index].startswith("-"):
                value = command_line[index]
                index += 1
            else:
                value = "true"
        flags.setdefault(name, []).append(value)
    return flags


def is_external_dns(deployment: KubeObject) -> bool:
    return any(IMAGE_MARKER in str(c.get("image", "")) for c in containers(deployment))


def external_dns_instance(deployment: KubeObject) -> report_pb2.ExternalDnsInstance:
    """One ExternalDNS Deployment: version from the image tag, settings from its flags."""
    container = next(c for c in containers(deployment) if IMAGE_MARKER in str(c.get("image", "")))
    flags = parse_flags(container_command_line(container))

    def last(name: str, default: str = "") -> str:
        return flags.get(name, [default])[-1]

    return report_pb2.ExternalDnsInstance(
        workload=workload(deployment, "Deployment"),
        version=image_tag(str(container.get("image", ""))),
        provider=last("provider"),
        txt_owner_id=last("txt-owner-id", DEFAULT_TXT_OWNER_ID),
        policy=last("policy"),
        registry=last("registry"),
        sources=flags.get("source", []),
        domain_filters=flags.get("domain-filter", []),
        annotation_prefix=last("annotation-prefix"),
        txt_prefix=last("txt-prefix"),
        txt_suffix=last("txt-suffix"),
        azure_client_id=last("azure-user-assigned-identity-client-id")
        or _literal_env(container, "AZURE_CLIENT_ID"),
    )


def _literal_env(container: KubeObject, name: str) -> str:
    """An env var's literal ``value`` (one from a Secret or ConfigMap reference is not read)."""
    for entry in as_list(container.get("env")):
        if isinstance(entry, dict) and entry.get("name") == name:
            return str(entry.get("value") or "")
    return ""


def annotated_names(obj: KubeObject, kind: str) -> list[report_pb2.DnsNameRequest]:
    annotations = annotations_of(obj)
    return [
        report_pb2.DnsNameRequest(
            hostname=hostname,
            kind=kind,
            namespace=namespace_of(obj),
            name=name_of(obj),
            annotation=key,
        )
        for key in NAME_ANNOTATIONS
        if key in annotations
        for hostname in split_hostnames(annotations[key])
    ]


def spec_names(
    obj: KubeObject, kind: str, hostnames: Iterable[str]
) -> list[report_pb2.DnsNameRequest]:
    return [
        report_pb2.DnsNameRequest(
            hostname=h, kind=kind, namespace=namespace_of(obj), name=name_of(obj)
        )
        for h in dict.fromkeys(hostnames)
        if h
    ]


def service_names(service: KubeObject) -> list[report_pb2.DnsNameRequest]:
    return annotated_names(service, "Service")


def ingress_names(ingress: KubeObject) -> list[report_pb2.DnsNameRequest]:
    hosts = [str(as_dict(rule).get("host") or "") for rule in as_list(spec(ingress).get("rules"))]
    return annotated_names(ingress, "Ingress") + spec_names(ingress, "Ingress", hosts)


def route_names(route: KubeObject, kind: str) -> list[report_pb2.DnsNameRequest]:
    hosts = [str(h) for h in as_list(spec(route).get("hostnames"))]
    return annotated_names(route, kind) + spec_names(route, kind, hosts)


def _first_served(reads: Reads, plural: str, versions: Sequence[str]) -> Resource | None:
    # A kind that is not served is gapped by the gateway_api gatherer, not here.
    for version in versions:
        resource = Resource(GATEWAY_GROUP, version, plural)
        if reads.served(resource):
            return resource
    return None


def gather(reads: Reads, report: report_pb2.Report, settings: GatherSettings) -> None:
    evidence = report.external_dns
    deployments = [d for d in reads.list(DEPLOYMENTS) or [] if is_external_dns(d)]
    evidence.instances.extend(reads.each(deployments, external_dns_instance, DEPLOYMENTS.label))
    requests: list[report_pb2.DnsNameRequest] = []
    for names in reads.each(reads.list(SERVICES) or [], service_names, SERVICES.label):
        requests += names
    for names in reads.each(reads.list(INGRESSES) or [], ingress_names, INGRESSES.label):
        requests += names
    for kind, (plural, versions) in ROUTES.items():
        resource = _first_served(reads, plural, versions)
        if resource is None:
            continue
        objects = reads.list(resource) or []
        for names in reads.each(objects, partial(route_names, kind=kind), resource.label):
            requests += names
    evidence.requested_names.extend(requests)


GATHERER = Gatherer(
    name="externaldns",
    reads=(
        access_for(DEPLOYMENTS),
        access_for(SERVICES),
        access_for(INGRESSES),
        *(access_for(Resource(GATEWAY_GROUP, "", plural)) for plural, _ in ROUTES.values()),
    ),
    gather=gather,
)
