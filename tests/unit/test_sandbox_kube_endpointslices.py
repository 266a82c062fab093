"""EndpointSlices the sandbox derives for Services, shaped as the endpointslice controller's."""

from __future__ import annotations

from typing import Any

import pytest

from netaudit.sandbox.kube_endpointslices import (
    MANAGED_BY_LABEL,
    SERVICE_NAME_LABEL,
    derived_endpoint_slices,
    service_slices,
)


def service(
    name: str = "web",
    selector: dict[str, str] | None = None,
    ports: list[dict[str, Any]] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "shop",
            "uid": f"uid-{name}",
            "labels": {"app": name, SERVICE_NAME_LABEL: "spoofed"},
            "creationTimestamp": "2026-10-01T08:00:00Z",
        },
        "spec": {
            "selector": {"app": "web"} if selector is None else selector,
            "ports": ports or [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
            "clusterIP": "10.0.0.10",
            **spec,
        },
    }


def pod(
    name: str,
    ip: str | None = "10.244.0.5",
    ready: bool = True,
    phase: str = "Running",
    namespace: str = "shop",
    node: str = "node-a",
    **extra: Any,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": f"uid-{name}",
        "labels": {"app": "web"},
    }
    metadata.update(extra.pop("metadata", {}))
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    if ip:
        status["podIP"] = ip
    return {
        "metadata": metadata,
        "spec": {"nodeName": node, **extra.pop("spec", {})},
        "status": status,
    }


ZONES = {"node-a": "westeurope-1"}


def test_a_slice_carries_the_controller_labels_owner_ports_and_endpoints() -> None:
    (endpoint_slice,) = service_slices(service(), [pod("web-1")], ZONES)
    metadata = endpoint_slice["metadata"]
    assert metadata["name"].startswith("web-") and len(metadata["name"]) == len("web-") + 5
    assert metadata["generateName"] == "web-"
    assert metadata["labels"] == {
        "app": "web",
        SERVICE_NAME_LABEL: "web",
        MANAGED_BY_LABEL: "endpointslice-controller.k8s.io",
    }
    assert metadata["ownerReferences"] == [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "name": "web",
            "uid": "uid-web",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert endpoint_slice["addressType"] == "IPv4"
    assert endpoint_slice["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert endpoint_slice["endpoints"] == [
        {
            "addresses": ["10.244.0.5"],
            "conditions": {"ready": True, "serving": True, "terminating": False},
            "targetRef": {"kind": "Pod", "namespace": "shop", "name": "web-1", "uid": "uid-web-1"},
            "nodeName": "node-a",
            "zone": "westeurope-1",
        }
    ]


@pytest.mark.parametrize(
    ("the_pod", "publish", "conditions"),
    [
        (pod("p", ready=True), False, {"ready": True, "serving": True, "terminating": False}),
        (pod("p", ready=False), False, {"ready": False, "serving": False, "terminating": False}),
        (pod("p", ready=False), True, {"ready": True, "serving": False, "terminating": False}),
        (
            pod("p", metadata={"deletionTimestamp": "2026-10-02T00:00:00Z"}),
            False,
            {"ready": False, "serving": True, "terminating": True},
        ),
    ],
)
def test_endpoint_conditions_follow_pod_readiness_and_termination(
    the_pod: dict[str, Any], publish: bool, conditions: dict[str, bool]
) -> None:
    (endpoint_slice,) = service_slices(service(publishNotReadyAddresses=publish), [the_pod], ZONES)
    assert endpoint_slice["endpoints"][0]["conditions"] == conditions


@pytest.mark.parametrize(
    "left_out",
    [
        pod("no-ip", ip=None),
        pod("done", phase="Succeeded"),
        pod("failed", phase="Failed"),
        pod("elsewhere", namespace="other"),
        pod("unselected", metadata={"labels": {"app": "db"}}),
    ],
)
def test_pods_without_ip_finished_or_not_selected_are_left_out(left_out: dict[str, Any]) -> None:
    slices = service_slices(service(), [pod("kept", ip="10.244.0.9"), left_out], ZONES)
    addresses = [a for s in slices for e in s["endpoints"] for a in e["addresses"]]
    assert addresses == ["10.244.0.9"]


def test_named_target_ports_resolve_per_pod_and_split_slices() -> None:
    ports = [
        {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
        {"name": "dns", "port": 53, "targetPort": 53, "protocol": "UDP"},
    ]
    serving_on = {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]}
    slices = service_slices(
        service(ports=ports),
        [pod("a", "10.244.0.1", spec=serving_on), pod("b", "10.244.0.2")],
        ZONES,
    )
    by_ports = {
        tuple((p["name"], p["port"], p["protocol"]) for p in s["ports"]): [
            e["targetRef"]["name"] for e in s["endpoints"]
        ]
        for s in slices
    }
    assert by_ports == {
        (("http", 8080, "TCP"), ("dns", 53, "UDP")): ["a"],
        (("dns", 53, "UDP"),): ["b"],
    }


def test_a_slice_holds_at_most_100_endpoints() -> None:
    pods = [pod(f"p{i}", f"10.244.{i // 200}.{i % 200 + 1}") for i in range(250)]
    slices = service_slices(service(), pods, ZONES)
    assert [len(s["endpoints"]) for s in slices] == [100, 100, 50]
    assert len({s["metadata"]["name"] for s in slices}) == 3


def test_dual_stack_services_get_a_slice_per_family() -> None:
    dual = pod("d", "10.244.0.7")
    dual["status"]["podIPs"] = [{"ip": "10.244.0.7"}, {"ip": "fd00::7"}]
    slices = service_slices(service(ipFamilies=["IPv4", "IPv6"]), [dual], ZONES)
    assert [(s["addressType"], s["endpoints"][0]["addresses"]) for s in slices] == [
        ("IPv4", ["10.244.0.7"]),
        ("IPv6", ["fd00::7"]),
    ]


def test_a_service_selecting_nothing_keeps_an_empty_slice() -> None:
    (endpoint_slice,) = service_slices(service(selector={"app": "none"}), [pod("p")], ZONES)
    assert endpoint_slice["endpoints"] is None and endpoint_slice["ports"] is None


def test_headless_services_are_labelled_so() -> None:
    (endpoint_slice,) = service_slices(service(clusterIP="None"), [pod("p")], ZONES)
    assert endpoint_slice["metadata"]["labels"]["service.kubernetes.io/headless"] == ""


@pytest.mark.parametrize(
    "unmanaged", [service(selector={}), service(type="ExternalName", externalName="x.example")]
)
def test_services_without_selector_or_external_names_get_no_slice(
    unmanaged: dict[str, Any],
) -> None:
    assert service_slices(unmanaged, [pod("p")], ZONES) == []


def test_services_whose_slices_the_fixtures_carry_are_not_derived_again() -> None:
    existing = {"metadata": {"namespace": "shop", "labels": {SERVICE_NAME_LABEL: "web"}}}
    nodes = [{"metadata": {"name": "node-a", "labels": {"topology.kubernetes.io/zone": "z1"}}}]
    services = [service("web"), service("api")]
    derived = derived_endpoint_slices(services, [pod("p")], nodes, [existing])
    assert [s["metadata"]["labels"][SERVICE_NAME_LABEL] for s in derived] == ["api"]
    assert derived[0]["endpoints"][0]["zone"] == "z1"
