"""Gateway API: GatewayClasses, Gateways, routes, ReferenceGrants and the CRD
bundle version/channel annotations.

Each kind is read at the first of its versions the API server serves
(discovery), so a cluster on an older or newer bundle is read, not gapped.
Unset references are given their spec-defined defaults (namespace of the
referring object, Gateway/Service kinds) so the collector compares like with like.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from netaudit.agent.gatherers.gatherer import Gatherer, KubeObject, Resource, access_for
from netaudit.agent.gatherers.objects import (
    EXTERNAL_DNS_ANNOTATION_PREFIXES,
    annotations_of,
    as_dict,
    as_list,
    conditions,
    generation_of,
    metadata,
    name_of,
    namespace_of,
    prefixed,
    spec,
    status,
    timestamp,
)
from netaudit.v1 import report_pb2

if TYPE_CHECKING:
    from netaudit.agent.config import GatherSettings
    from netaudit.agent.gatherers.reads import Reads

GROUP = "gateway.networking.k8s.io"
CRDS = Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
BUNDLE_VERSION_ANNOTATION = "gateway.networking.k8s.io/bundle-version"
CHANNEL_ANNOTATION = "gateway.networking.k8s.io/channel"
GATEWAY_ANNOTATION_PREFIXES = ("alb.networking.azure.io/", *EXTERNAL_DNS_ANNOTATION_PREFIXES)
DEFAULT_NAMESPACES_FROM = "Same"

# plural -> versions to try, preferred first.
GATEWAY_CLASSES = ("gatewayclasses", ("v1", "v1beta1"))
GATEWAYS = ("gateways", ("v1", "v1beta1"))
REFERENCE_GRANTS = ("referencegrants", ("v1", "v1beta1"))
ROUTES = {
    "HTTPRoute": ("httproutes", ("v1", "v1beta1")),
    "GRPCRoute": ("grpcroutes", ("v1",)),
    # TLS/TCP/UDP routes are v1alpha2 in most installed bundles; newer ones serve v1.
    "TLSRoute": ("tlsroutes", ("v1", "v1alpha3", "v1alpha2")),
    "TCPRoute": ("tcproutes", ("v1", "v1alpha2")),
    "UDPRoute": ("udproutes", ("v1", "v1alpha2")),
}
ALL_PLURALS = (
    GATEWAY_CLASSES[0],
    GATEWAYS[0],
    REFERENCE_GRANTS[0],
    *(plural for plural, _ in ROUTES.values()),
)


def object_reference(
    raw: Mapping[str, Any],
    *,
    default_group: str,
    default_kind: str,
    default_namespace: str,
    default_weight: int = 0,
) -> report_pb2.ObjectReference:
    group, weight = raw.get("group"), raw.get("weight")
    return report_pb2.ObjectReference(
        group=default_group if group is None else str(group),
        kind=str(raw.get("kind") or default_kind),
        namespace=str(raw.get("namespace") or default_namespace),
        name=str(raw.get("name", "")),
        section_name=str(raw.get("sectionName", "")),
        port=int(raw.get("port") or 0),
        weight=default_weight if weight is None else int(weight),
    )


def parent_reference(raw: Mapping[str, Any], namespace: str) -> report_pb2.ObjectReference:
    return object_reference(
        raw, default_group=GROUP, default_kind="Gateway", default_namespace=namespace
    )


def gateway_class(obj: KubeObject) -> report_pb2.GatewayClass:
    return report_pb2.GatewayClass(
        name=name_of(obj),
        controller_name=str(spec(obj).get("controllerName", "")),
        generation=generation_of(obj),
        conditions=conditions(status(obj).get("conditions")),
    )


def allowed_routes(raw: Mapping[str, Any]) -> report_pb2.AllowedRoutes:
    """``allowedRoutes``; selector expressions become ``"<key> <operator>" -> values``."""
    namespaces = as_dict(raw.get("namespaces"))
    selector = as_dict(namespaces.get("selector"))
    flat = {str(k): str(v) for k, v in as_dict(selector.get("matchLabels")).items()}
    for expression in map(as_dict, as_list(selector.get("matchExpressions"))):
        key = f"{expression.get('key', '')} {expression.get('operator', '')}"
        flat[key] = ",".join(str(v) for v in as_list(expression.get("values")))
    return report_pb2.AllowedRoutes(
        namespaces_from=str(namespaces.get("from") or DEFAULT_NAMESPACES_FROM),
        namespace_selector=flat,
        kinds=[str(as_dict(k).get("kind", "")) for k in as_list(raw.get("kinds"))],
    )


def listener(raw: Mapping[str, Any], namespace: str) -> report_pb2.Listener:
    tls = as_dict(raw.get("tls"))
    return report_pb2.Listener(
        name=str(raw.get("name", "")),
        hostname=str(raw.get("hostname") or ""),
        port=int(raw.get("port") or 0),
        protocol=str(raw.get("protocol", "")),
        allowed_routes=allowed_routes(as_dict(raw.get("allowedRoutes"))),
        certificate_refs=[
            object_reference(
                as_dict(ref), default_group="", default_kind="Secret", default_namespace=namespace
            )
            for ref in as_list(tls.get("certificateRefs"))
        ],
    )


def listener_status(raw: Mapping[str, Any]) -> report_pb2.ListenerStatus:
    return report_pb2.ListenerStatus(
        name=str(raw.get("name", "")),
        attached_routes=int(raw.get("attachedRoutes") or 0),
        conditions=conditions(raw.get("conditions")),
    )


def gateway(obj: KubeObject) -> report_pb2.Gateway:
    """A Gateway with listeners, status conditions, listener statuses and assigned addresses."""
    namespace = namespace_of(obj)
    state = status(obj)
    message = report_pb2.Gateway(
        namespace=namespace,
        name=name_of(obj),
        gateway_class_name=str(spec(obj).get("gatewayClassName", "")),
        generation=generation_of(obj),
        annotations=prefixed(annotations_of(obj), GATEWAY_ANNOTATION_PREFIXES),
        listeners=[
            listener(as_dict(raw), namespace) for raw in as_list(spec(obj).get("listeners"))
        ],
        conditions=conditions(state.get("conditions")),
        listener_statuses=[
            listener_status(as_dict(raw)) for raw in as_list(state.get("listeners"))
        ],
        addresses=[
            str(as_dict(a).get("value"))
            for a in as_list(state.get("addresses"))
            if as_dict(a).get("value")
        ],
    )
    created = timestamp(metadata(obj).get("creationTimestamp"))
    if created is not None:
        message.created_at.CopyFrom(created)
    return message


def route(obj: KubeObject, kind: str) -> report_pb2.Route:
    """A route of any kind: hostnames, parentRefs, backendRefs of every rule, status.parents."""
    namespace = namespace_of(obj)
    route_spec = spec(obj)
    backends = [
        object_reference(
            as_dict(ref),
            default_group="",
            default_kind="Service",
            default_namespace=namespace,
            default_weight=1,
        )
        for rule in as_list(route_spec.get("rules"))
        for ref in as_list(as_dict(rule).get("backendRefs"))
    ]
    parents = [
        report_pb2.RouteParentStatus(
            parent_ref=parent_reference(as_dict(p.get("parentRef")), namespace),
            controller_name=str(p.get("controllerName", "")),
            conditions=conditions(p.get("conditions")),
        )
        for p in map(as_dict, as_list(status(obj).get("parents")))
    ]
    return report_pb2.Route(
        kind=kind,
        namespace=namespace,
        name=name_of(obj),
        generation=generation_of(obj),
        hostnames=[str(h) for h in as_list(route_spec.get("hostnames"))],
        parent_refs=[
            parent_reference(as_dict(p), namespace) for p in as_list(route_spec.get("parentRefs"))
        ],
        backend_refs=backends,
        parents=parents,
        annotations=prefixed(annotations_of(obj), EXTERNAL_DNS_ANNOTATION_PREFIXES),
    )


def reference_grant(obj: KubeObject) -> report_pb2.ReferenceGrant:
    grant_spec = spec(obj)
    return report_pb2.ReferenceGrant(
        namespace=namespace_of(obj),
        name=name_of(obj),
        **{
            "from": [
                report_pb2.ObjectReference(
                    group=str(as_dict(f).get("group", "")),
                    kind=str(as_dict(f).get("kind", "")),
                    namespace=str(as_dict(f).get("namespace", "")),
                )
                for f in as_list(grant_spec.get("from"))
            ]
        },
        to=[
            report_pb2.ObjectReference(
                group=str(as_dict(t).get("group", "")),
                kind=str(as_dict(t).get("kind", "")),
                name=str(as_dict(t).get("name", "")),
            )
            for t in as_list(grant_spec.get("to"))
        ],
    )


def crd_annotations(crds: Iterable[KubeObject], key: str) -> dict[str, str]:
    """CRD name -> value of ``key`` for the Gateway API CRDs that carry it."""
    found = {}
    for crd in crds:
        name = name_of(crd)
        value = annotations_of(crd).get(key)
        if name.endswith(f".{GROUP}") and value:
            found[name] = value
    return found


def served_resource(reads: Reads, plural: str, versions: tuple[str, ...]) -> Resource | None:
    """The first served version of ``plural``; a not_found Gap when none is."""
    unknown = False
    for version in versions:
        served = reads.served(Resource(GROUP, version, plural))
        if served:
            return Resource(GROUP, version, plural)
        unknown = unknown or served is None
    if not unknown:
        reads.gap(
            f"{plural}.{GROUP}",
            "not_found",
            f"not served at {', '.join(versions)} (CRD not installed)",
        )
    return None


def list_kind(reads: Reads, plural: str, versions: tuple[str, ...]) -> list[KubeObject]:
    resource = served_resource(reads, plural, versions)
    if resource is None:
        return []
    return reads.list(resource) or []


def gather(reads: Reads, report: report_pb2.Report, settings: GatherSettings) -> None:
    evidence = report.gateway_api
    crds = reads.list(CRDS, metadata_only=True)
    if crds is not None:
        evidence.crd_bundle_versions.update(crd_annotations(crds, BUNDLE_VERSION_ANNOTATION))
        evidence.crd_channels.update(crd_annotations(crds, CHANNEL_ANNOTATION))
    evidence.gateway_classes.extend(
        reads.each(list_kind(reads, *GATEWAY_CLASSES), gateway_class, "gatewayclasses")
    )
    evidence.gateways.extend(reads.each(list_kind(reads, *GATEWAYS), gateway, "gateways"))
    for kind, (plural, versions) in ROUTES.items():
        objects = list_kind(reads, plural, versions)
        evidence.routes.extend(reads.each(objects, partial(route, kind=kind), plural))
    evidence.reference_grants.extend(
        reads.each(list_kind(reads, *REFERENCE_GRANTS), reference_grant, "referencegrants")
    )


GATHERER = Gatherer(
    name="gateway_api",
    reads=(
        access_for(CRDS),
        *(access_for(Resource(GROUP, "", plural)) for plural in ALL_PLURALS),
    ),
    gather=gather,
)
