"""Gateway API objects -> protobuf, table-driven from the published examples."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from netaudit.agent.gatherers.gateway_api import (
    BUNDLE_VERSION_ANNOTATION,
    CHANNEL_ANNOTATION,
    crd_annotations,
    gateway,
    gateway_class,
    reference_grant,
    route,
)
from tests.conftest import SHARED_FIXTURES

GATEWAY_API = SHARED_FIXTURES / "k8s" / "gateway-api"
ROUTE_KINDS = {"HTTPRoute", "GRPCRoute", "TLSRoute", "TCPRoute", "UDPRoute"}


@cache
def documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(GATEWAY_API.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document and "kind" in document:
                found.append((path.name, document))
    return found


def of_kind(*kinds: str) -> list[Any]:
    return [
        pytest.param(doc, id=f"{name}:{doc['metadata']['name']}")
        for name, doc in documents()
        if doc["kind"] in kinds
    ]


def load_one(name: str, kind: str) -> dict[str, Any]:
    (document,) = [d for n, d in documents() if n == name and d["kind"] == kind]
    return copy.deepcopy(document)


def with_status(obj: dict[str, Any], status_file: str) -> dict[str, Any]:
    status = yaml.safe_load((GATEWAY_API / status_file).read_text())["status"]
    return {**obj, "status": status}


@pytest.mark.parametrize("doc", of_kind("Gateway"))
def test_every_published_gateway_converts_listener_by_listener(doc: dict[str, Any]) -> None:
    message = gateway(doc)
    listeners = doc["spec"]["listeners"]
    assert message.name == doc["metadata"]["name"]
    assert message.gateway_class_name == doc["spec"]["gatewayClassName"]
    assert [lst.name for lst in message.listeners] == [lst["name"] for lst in listeners]
    assert [lst.port for lst in message.listeners] == [lst["port"] for lst in listeners]
    for converted, raw in zip(message.listeners, listeners, strict=True):
        namespaces = (raw.get("allowedRoutes") or {}).get("namespaces") or {}
        assert converted.allowed_routes.namespaces_from == namespaces.get("from", "Same")


@pytest.mark.parametrize("doc", of_kind(*ROUTE_KINDS))
def test_every_published_route_keeps_parents_backends_and_hostnames(doc: dict[str, Any]) -> None:
    message = route(doc, doc["kind"])
    spec = doc["spec"]
    namespace = doc["metadata"].get("namespace", "")
    assert message.kind == doc["kind"]
    assert list(message.hostnames) == spec.get("hostnames", [])
    assert [p.name for p in message.parent_refs] == [p["name"] for p in spec.get("parentRefs", [])]
    for converted, raw in zip(message.parent_refs, spec.get("parentRefs", []), strict=True):
        assert (converted.group, converted.kind) == ("gateway.networking.k8s.io", "Gateway")
        # Unset: the route's own namespace (the API server always sets the object's).
        assert converted.namespace == raw.get("namespace", namespace)
    backends = [b for rule in spec.get("rules", []) for b in rule.get("backendRefs", [])]
    assert [b.name for b in message.backend_refs] == [b["name"] for b in backends]
    for converted, raw in zip(message.backend_refs, backends, strict=True):
        assert converted.kind == raw.get("kind", "Service")
        assert converted.namespace == raw.get("namespace", namespace)
        assert converted.weight == raw.get("weight", 1)


def test_selector_listener_keeps_match_labels_and_defaults_certificate_refs() -> None:
    message = gateway(load_one("examples_cross-namespace-routing_gateway.yaml", "Gateway"))
    (https,) = message.listeners
    assert (https.hostname, https.port, https.protocol) == ("foo.example.com", 443, "HTTPS")
    assert https.allowed_routes.namespaces_from == "Selector"
    assert dict(https.allowed_routes.namespace_selector) == {"shared-gateway-access": "true"}
    (certificate,) = https.certificate_refs
    assert (certificate.group, certificate.kind) == ("", "Secret")
    assert (certificate.namespace, certificate.name) == ("infra-ns", "foo-example-com")


def test_allowed_route_kinds_are_kept() -> None:
    message = gateway(load_one("examples_http-route-attachment_gateway-strict.yaml", "Gateway"))
    kinds = [list(lst.allowed_routes.kinds) for lst in message.listeners]
    assert any(kinds), kinds


def test_agc_gateway_status_gives_conditions_listener_statuses_and_address() -> None:
    managed = load_one("agc_gateway_alb-managed.yaml", "Gateway")
    message = gateway(with_status(managed, "agc_gateway_status.yaml"))
    assert dict(message.annotations) == {
        "alb.networking.azure.io/alb-namespace": "alb-test-infra",
        "alb.networking.azure.io/alb-name": "alb-test",
    }
    assert {(c.type, c.status, c.reason) for c in message.conditions} == {
        ("Accepted", "True", "Accepted"),
        ("Programmed", "True", "Programmed"),
    }
    programmed = next(c for c in message.conditions if c.type == "Programmed")
    assert programmed.observed_generation == 1
    assert programmed.last_transition_time.ToJsonString() == "2023-06-19T21:04:55Z"
    (listener,) = message.listener_statuses
    assert (listener.name, listener.attached_routes) == ("gateway-01-http", 0)
    assert {c.type for c in listener.conditions} == {"ResolvedRefs", "Accepted", "Programmed"}
    assert list(message.addresses) == ["xxxx.yyyy.alb.azure.com"]


def test_gateway_without_status_has_no_assigned_addresses() -> None:
    # spec.addresses are requests; only status.addresses are assigned.
    message = gateway(load_one("agc_gateway_byo.yaml", "Gateway"))
    assert list(message.addresses) == []
    assert message.annotations["alb.networking.azure.io/alb-id"] == "$RESOURCE_ID"


def test_agc_httproute_status_names_the_parent_and_controller() -> None:
    split = load_one("agc_httproute_traffic-split.yaml", "HTTPRoute")
    message = route(with_status(split, "agc_httproute_status.yaml"), "HTTPRoute")
    (parent,) = message.parents
    assert parent.controller_name == "alb.networking.azure.io/alb-controller"
    assert (parent.parent_ref.namespace, parent.parent_ref.name) == ("test-infra", "gateway-01")
    assert {(c.type, c.status) for c in parent.conditions} == {
        ("ResolvedRefs", "True"),
        ("Accepted", "True"),
        ("Programmed", "True"),
    }
    assert sorted(b.weight for b in message.backend_refs) == [50, 50]


def test_weighted_backends_keep_their_weights() -> None:
    message = route(
        load_one("examples_traffic-splitting_traffic-split-2.yaml", "HTTPRoute"), "HTTPRoute"
    )
    assert [(b.name, b.port, b.weight) for b in message.backend_refs] == [
        ("foo-v1", 8080, 90),
        ("foo-v2", 8080, 10),
    ]


def test_tcp_route_parent_keeps_its_section_name() -> None:
    message = route(load_one("examples_tcp-routing_tcp-route.yaml", "TCPRoute"), "TCPRoute")
    (parent,) = message.parent_refs
    assert (parent.name, parent.section_name) == ("my-tcp-gateway", "foo")


def test_cross_namespace_backend_and_its_reference_grant() -> None:
    name = "conformance_httproute-reference-grant.yaml"
    message = route(load_one(name, "HTTPRoute"), "HTTPRoute")
    (backend,) = message.backend_refs
    assert backend.namespace == "gateway-conformance-web-backend"
    assert message.parent_refs[0].namespace == "gateway-conformance-infra"
    grant = reference_grant(load_one(name, "ReferenceGrant"))
    assert grant.namespace == "gateway-conformance-web-backend"
    (source,) = getattr(grant, "from")
    assert (source.group, source.kind, source.namespace) == (
        "gateway.networking.k8s.io",
        "HTTPRoute",
        "gateway-conformance-infra",
    )
    (target,) = grant.to
    assert (target.group, target.kind, target.name) == ("", "Service", "web-backend")


def test_gateway_class_keeps_controller_and_conditions() -> None:
    doc = load_one("examples_basic-http.yaml", "GatewayClass")
    doc = {
        **doc,
        "metadata": {**doc["metadata"], "generation": 2},
        "status": {
            "conditions": [
                {
                    "type": "Accepted",
                    "status": "False",
                    "reason": "Pending",
                    "observedGeneration": 2,
                }
            ]
        },
    }
    message = gateway_class(doc)
    assert message.controller_name == doc["spec"]["controllerName"]
    assert message.generation == 2
    assert [(c.type, c.status, c.reason) for c in message.conditions] == [
        ("Accepted", "False", "Pending")
    ]


def test_crd_bundle_version_and_channel_annotations_are_read_per_gateway_crd() -> None:
    # Hand-made CRD metadata with the annotations documented for managed Gateway API.
    crds = [
        {
            "metadata": {
                "name": "gateways.gateway.networking.k8s.io",
                "annotations": {
                    BUNDLE_VERSION_ANNOTATION: "v1.2.1",
                    CHANNEL_ANNOTATION: "standard",
                },
            }
        },
        {"metadata": {"name": "httproutes.gateway.networking.k8s.io", "annotations": {}}},
        {
            "metadata": {
                "name": "ciliumnetworkpolicies.cilium.io",
                "annotations": {BUNDLE_VERSION_ANNOTATION: "v9"},
            }
        },
    ]
    assert crd_annotations(crds, BUNDLE_VERSION_ANNOTATION) == {
        "gateways.gateway.networking.k8s.io": "v1.2.1"
    }
    assert crd_annotations(crds, CHANNEL_ANNOTATION) == {
        "gateways.gateway.networking.k8s.io": "standard"
    }


def test_fixture_inventory_covers_every_route_kind() -> None:
    kinds = {doc["kind"] for _, doc in documents()}
    assert {"HTTPRoute", "TLSRoute", "TCPRoute", "UDPRoute", "ReferenceGrant", "Gateway"} <= kinds
    assert Path(GATEWAY_API).is_dir()
