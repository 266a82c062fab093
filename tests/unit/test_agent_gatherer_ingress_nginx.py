"""ingress-nginx controllers recognised by image or chart labels in any namespace.

No controller manifest is among the shared fixtures: the Deployment below is the sample
fleet's hand-made ingress-nginx controller (sandbox/fleet_data, aks-cni-neu), shaped after
the upstream chart; the other objects vary one field of it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from netaudit.agent.gatherers.ingress_nginx import (
    MAX_CONTROLLERS,
    image_repository,
    is_controller_image,
    nginx_controller,
    nginx_controllers,
)
from netaudit.sandbox.sample_fleet import DEFAULT_FLEET_ROOT

Document = dict[str, Any]


def sample_controller() -> Document:
    text = (DEFAULT_FLEET_ROOT / "kube" / "aks-cni-neu" / "apps.yaml").read_text()
    (found,) = [
        d
        for d in yaml.safe_load_all(text)
        if d and d["kind"] == "Deployment" and d["metadata"]["name"] == "ingress-nginx-controller"
    ]
    return dict(found)


def altered(change: Callable[[Document], None]) -> Document:
    document = copy.deepcopy(sample_controller())
    change(document)
    return document


def set_image(image: str) -> Callable[[Document], None]:
    def change(document: Document) -> None:
        document["spec"]["template"]["spec"]["containers"][0]["image"] = image

    return change


def drop_labels(document: Document) -> None:
    document["metadata"]["labels"] = {}
    document["spec"]["template"]["metadata"]["labels"] = {}


K8S = "registry.k8s.io/ingress-nginx"
MCR = "mcr.microsoft.com/oss/kubernetes"
DIGEST = "sha256:" + "d5" * 32


@pytest.mark.parametrize(
    ("image", "repository", "controller"),
    [
        (f"{K8S}/controller:v1.11.3", f"{K8S}/controller", True),
        (f"{K8S}/controller:v1.11.3@{DIGEST}", f"{K8S}/controller", True),
        (f"{MCR}/ingress-nginx/controller:v1.12.1", f"{MCR}/ingress-nginx/controller", True),
        (
            f"{MCR}/ingress/nginx-ingress-controller:v1.11.5",
            f"{MCR}/ingress/nginx-ingress-controller",
            True,
        ),
        ("localhost:5000/ingress-nginx/controller:v1", "localhost:5000/ingress-nginx/controller",
         True),
        ("nginx/nginx-ingress:3.7.0", "nginx/nginx-ingress", False),  # F5's controller
        (f"{K8S}/kube-webhook-certgen:v1.4.4", f"{K8S}/kube-webhook-certgen", False),
        ("example.com/my-ingress-nginx/controller:v1", "example.com/my-ingress-nginx/controller",
         False),
        ("nginx:1.27", "nginx", False),
    ],
)  # fmt: skip
def test_controller_images_are_told_from_other_images(
    image: str, repository: str, controller: bool
) -> None:
    assert image_repository(image) == repository
    assert is_controller_image(image) is controller


@pytest.mark.parametrize(
    ("change", "kind", "version", "matched_by"),
    [
        (lambda d: None, "Deployment", "v1.11.3", ["image", "labels"]),
        (drop_labels, "Deployment", "v1.11.3", ["image"]),
        (set_image("contoso.azurecr.io/edge/nginx:2.0.1"), "Deployment", "2.0.1", ["labels"]),
        (
            set_image("registry.k8s.io/ingress-nginx/controller@sha256:" + "a" * 64),
            "DaemonSet",
            "",
            ["image", "labels"],
        ),
    ],
)
def test_a_controller_carries_image_version_and_what_recognised_it(
    change: Callable[[Document], None], kind: str, version: str, matched_by: list[str]
) -> None:
    document = altered(change)
    controller = nginx_controller(document, kind)
    assert controller is not None
    assert (controller.kind, controller.namespace, controller.name) == (
        kind,
        "ingress-nginx",
        "ingress-nginx-controller",
    )
    assert controller.image == document["spec"]["template"]["spec"]["containers"][0]["image"]
    assert controller.version == version
    assert list(controller.matched_by) == matched_by


def test_an_nginx_web_server_without_the_labels_is_not_a_controller() -> None:
    document = altered(lambda d: (drop_labels(d), set_image("nginx:1.27")(d)))
    assert nginx_controller(document, "Deployment") is None


def test_the_image_container_wins_over_a_sidecar() -> None:
    def add_sidecar(document: Document) -> None:
        containers = document["spec"]["template"]["spec"]["containers"]
        containers.insert(0, {"name": "proxy", "image": "envoyproxy/envoy:v1.31.0"})

    controller = nginx_controller(altered(add_sidecar), "Deployment")
    assert controller is not None
    assert controller.image == "registry.k8s.io/ingress-nginx/controller:v1.11.3"


def renamed(namespace: str, name: str) -> Document:
    def change(document: Document) -> None:
        document["metadata"].update(namespace=namespace, name=name)

    return altered(change)


def test_controllers_are_one_per_namespace_and_name_sorted_and_bounded() -> None:
    deployments = [renamed("b", "x"), renamed("a", "x"), renamed("a", "x")]
    daemonsets = [renamed("a", "x"), renamed("a", "y")]
    found = nginx_controllers(deployments, daemonsets)
    assert [(c.kind, c.namespace, c.name) for c in found] == [
        ("Deployment", "a", "x"),
        ("DaemonSet", "a", "y"),
        ("Deployment", "b", "x"),
    ]
    many = [renamed(f"ns-{i:04d}", "c") for i in range(MAX_CONTROLLERS + 5)]
    assert len(nginx_controllers(many, [])) == MAX_CONTROLLERS
