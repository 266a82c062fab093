"""Loading Kubernetes fixtures: lists expanded, metadata completed, CRDs deciding what is served."""

from __future__ import annotations

from pathlib import Path

import pytest

from netaudit.sandbox.errors import FixtureError
from netaudit.sandbox.kube_objects import KubeObjectStore
from netaudit.sandbox.kube_resources import resource_types_from_crd, version_priority
from tests.conftest import SHARED_FIXTURES

GATEWAY = """
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec: {gatewayClassName: x, listeners: []}
"""


def write(directory: Path, name: str, text: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(text)


def test_list_documents_are_expanded_and_metadata_completed(tmp_path: Path) -> None:
    write(
        tmp_path,
        "objects.yaml",
        """
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}
- {apiVersion: v1, kind: Node, metadata: {name: n1, namespace: ignored}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
""",
    )
    store = KubeObjectStore.load(tmp_path)
    catalogue = store.catalogue
    config_map = store.get(catalogue.by_kind("", "ConfigMap"), "default", "a")
    node = store.get(catalogue.by_kind("", "Node"), None, "n1")
    deployment = store.get(catalogue.by_kind("apps", "Deployment"), "shop", "web")
    assert config_map is not None and node is not None and deployment is not None
    assert "namespace" not in node["metadata"]
    assert config_map["metadata"]["uid"] and config_map["metadata"]["creationTimestamp"]
    assert deployment["metadata"]["generation"] == 1
    namespaces = [n["metadata"]["name"] for n in store.objects(catalogue.by_kind("", "Namespace"))]
    assert namespaces == ["default", "kube-node-lease", "kube-public", "kube-system", "shop"]


def test_custom_resources_are_served_only_with_their_crd(tmp_path: Path) -> None:
    write(tmp_path / "without", "gw.yaml", GATEWAY)
    assert (
        KubeObjectStore.load(tmp_path / "without").catalogue.by_kind(
            "gateway.networking.k8s.io", "Gateway"
        )
        is None
    )
    write(tmp_path / "with", "gw.yaml", GATEWAY)
    write(
        tmp_path / "with",
        "crd.yaml",
        """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gateways.gateway.networking.k8s.io}
spec:
  group: gateway.networking.k8s.io
  names: {kind: Gateway, plural: gateways}
  scope: Namespaced
  versions:
  - {name: v1beta1, served: true}
  - {name: v1, served: true}
  - {name: v1alpha2, served: false}
""",
    )
    store = KubeObjectStore.load(tmp_path / "with")
    gateways = store.catalogue.lookup("gateway.networking.k8s.io", "v1", "gateways")
    assert gateways is not None and gateways.versions == ("v1", "v1beta1")
    assert store.catalogue.lookup("gateway.networking.k8s.io", "v1alpha2", "gateways") is None
    assert [o["metadata"]["name"] for o in store.objects(gateways)] == ["gw"]


def test_real_nodenetworkconfig_crd_defines_a_namespaced_resource_with_printer_columns() -> None:
    path = SHARED_FIXTURES / "k8s" / "cni" / "crd_acn.azure.com_nodenetworkconfigs.yaml"
    if not path.exists():
        pytest.skip("shared fixtures are not beside the checkout")
    import yaml

    resource = resource_types_from_crd(yaml.safe_load(path.read_text()))
    assert resource is not None
    assert (resource.group, resource.plural, resource.namespaced, resource.short_names) == (
        "acn.azure.com",
        "nodenetworkconfigs",
        True,
        ("nnc",),
    )
    assert "Allocated IPs" in [c.name for c in resource.printer_columns["v1alpha"]]


@pytest.mark.parametrize(
    ("versions", "preferred_first"),
    [
        (["v1alpha2", "v1", "v1beta1"], ["v1", "v1beta1", "v1alpha2"]),
        (["v2", "v1"], ["v2", "v1"]),
        (["v1beta2", "v1beta1", "v2alpha1"], ["v1beta2", "v1beta1", "v2alpha1"]),
    ],
)
def test_versions_sort_by_kubernetes_priority(
    versions: list[str], preferred_first: list[str]
) -> None:
    assert sorted(versions, key=version_priority) == preferred_first


def test_unparseable_fixture_names_the_file(tmp_path: Path) -> None:
    write(tmp_path, "broken.yaml", "kind: [unclosed")
    with pytest.raises(FixtureError, match=r"broken\.yaml"):
        KubeObjectStore.load(tmp_path)


def test_document_without_kind_is_refused(tmp_path: Path) -> None:
    write(tmp_path, "nokind.yaml", "apiVersion: v1\nmetadata: {name: x}\n")
    with pytest.raises(FixtureError, match="needs apiVersion and kind"):
        KubeObjectStore.load(tmp_path)
