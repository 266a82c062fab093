"""Label and field selectors, parsed and applied as the Kubernetes API server does."""

from __future__ import annotations

import pytest

from netaudit.sandbox.kube_selectors import SelectorError, field_matcher, label_matcher

LABELS = {"app": "web", "tier": "frontend", "kubernetes.azure.com/mode": "system"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("app=web", True),
        ("app==web", True),
        ("app=api", False),
        ("app!=api", True),
        ("missing!=x", True),
        ("app,tier", True),
        ("kubernetes.azure.com/mode", True),
        ("!kubernetes.azure.com/mode", False),
        ("!missing", True),
        ("app=web,tier=backend", False),
        ("tier in (backend, frontend)", True),
        ("tier notin (frontend)", False),
        ("missing notin (a,b)", True),
        ("app in (web),tier", True),
        ("", True),
        # An empty value is valid: it matches objects whose label is the empty string.
        ("app=", False),
    ],
)
def test_label_selector(selector: str, matches: bool) -> None:
    assert label_matcher(selector)({"metadata": {"labels": LABELS}}) is matches


@pytest.mark.parametrize("selector", ["=web", "app=we b", "app in web", "bad key!x=1", "app=-x"])
def test_label_selector_rejects_malformed_terms(selector: str) -> None:
    with pytest.raises(SelectorError):
        label_matcher(selector)


POD = {
    "metadata": {"name": "coredns-1", "namespace": "kube-system"},
    "spec": {"nodeName": "node-a"},
}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("metadata.name=coredns-1", True),
        ("metadata.namespace!=kube-system", False),
        ("spec.nodeName=node-a", True),
        ("spec.nodeName==node-b", False),
        ("spec.nodeName=node-a,metadata.namespace=kube-system", True),
        ("spec.nodeName=", False),
    ],
)
def test_field_selector_on_pods(selector: str, matches: bool) -> None:
    assert field_matcher(selector, "pods")(POD) is matches


def test_field_selector_rejects_fields_the_kind_does_not_index() -> None:
    with pytest.raises(SelectorError, match=r"field label not supported: spec\.nodeName"):
        field_matcher("spec.nodeName=node-a", "services")
