"""Access and rules reviews (``kubectl auth can-i``) answered from the sandbox's RBAC policy."""

from __future__ import annotations

from typing import Any

import pytest

from netaudit.sandbox.kube_rbac import RbacPolicy
from netaudit.sandbox.kube_review_protobuf import ProtobufError, decode_review
from netaudit.sandbox.kube_reviews import InvalidReview, access_review, rules_review

POLICY = RbacPolicy.from_objects(
    [
        {
            "kind": "ClusterRole",
            "rules": [
                {"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["get", "list"]},
                {"nonResourceURLs": ["/metrics"], "verbs": ["get"]},
            ],
        },
        {
            "kind": "Role",
            "metadata": {"namespace": "kube-system"},
            "rules": [
                {
                    "apiGroups": [""],
                    "resources": ["configmaps"],
                    "resourceNames": ["coredns"],
                    "verbs": ["get"],
                }
            ],
        },
    ]
)


@pytest.mark.parametrize(
    ("verb", "path", "allowed"),
    [
        ("get", "/metrics", True),
        ("get", "/version", True),
        ("get", "/apis/gateway.networking.k8s.io/v1", True),
        ("get", "/healthz", True),
        ("post", "/healthz", False),
        ("get", "/logs", False),
    ],
)
def test_non_resource_urls_are_the_roles_and_the_default_discovery_ones(
    verb: str, path: str, allowed: bool
) -> None:
    assert POLICY.allows_non_resource(verb, path) is allowed


def test_everyone_may_ask_what_they_may_do_but_nothing_more() -> None:
    for review in ("selfsubjectaccessreviews", "selfsubjectrulesreviews"):
        assert POLICY.allows("create", "authorization.k8s.io", review, None, None)
    assert not POLICY.allows("list", "authorization.k8s.io", "selfsubjectaccessreviews", None, None)
    assert not POLICY.allows("create", "", "pods", "default", None)


def ask(**attributes: Any) -> dict[str, Any]:
    return {"spec": {"resourceAttributes": attributes}}


@pytest.mark.parametrize(
    ("review", "allowed"),
    [
        (ask(verb="list", resource="pods"), True),
        (ask(verb="list", resource="pods", namespace="shop"), True),
        (ask(verb="watch", resource="pods"), False),
        (ask(verb="get", resource="configmaps", namespace="kube-system", name="coredns"), True),
        (ask(verb="get", resource="configmaps", namespace="kube-system", name="other"), False),
        (ask(verb="get", resource="configmaps", namespace="shop", name="coredns"), False),
        (ask(verb="get", resource="pods", subresource="log", namespace="kube-system"), False),
        (ask(verb="list", group="apps", resource="pods"), False),
        ({"spec": {"nonResourceAttributes": {"verb": "get", "path": "/metrics"}}}, True),
        ({"spec": {"nonResourceAttributes": {"verb": "get", "path": "/logs"}}}, False),
    ],
)
def test_access_reviews_answer_what_the_policy_allows(
    review: dict[str, Any], allowed: bool
) -> None:
    answer = access_review(review, POLICY.allows, POLICY.allows_non_resource, enforcing=True)
    assert answer["kind"] == "SelfSubjectAccessReview"
    assert answer["apiVersion"] == "authorization.k8s.io/v1"
    assert answer["spec"] == review["spec"]
    assert answer["status"]["allowed"] is allowed


@pytest.mark.parametrize(
    "spec",
    [
        {},
        {
            "resourceAttributes": {"verb": "get", "resource": "pods"},
            "nonResourceAttributes": {"verb": "get", "path": "/healthz"},
        },
    ],
)
def test_an_access_review_needs_exactly_one_kind_of_attributes(spec: dict[str, Any]) -> None:
    with pytest.raises(InvalidReview, match="exactly one of"):
        access_review({"spec": spec}, POLICY.allows, POLICY.allows_non_resource, enforcing=True)


def test_a_rules_review_lists_the_cluster_rules_and_the_namespaces_roles() -> None:
    in_kube_system = rules_review({"spec": {"namespace": "kube-system"}}, POLICY, ())["status"]
    in_shop = rules_review({"spec": {"namespace": "shop"}}, POLICY, ())["status"]
    assert {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["nodes", "pods"]} in (
        in_kube_system["resourceRules"]
    )
    coredns = {
        "verbs": ["get"],
        "apiGroups": [""],
        "resources": ["configmaps"],
        "resourceNames": ["coredns"],
    }
    assert coredns in in_kube_system["resourceRules"]
    assert coredns not in in_shop["resourceRules"]
    assert {"verbs": ["get"], "nonResourceURLs": ["/metrics"]} in in_shop["nonResourceRules"]
    assert in_shop["incomplete"] is False


def test_without_a_policy_the_rules_review_allows_everything_unless_faults_deny() -> None:
    status = rules_review({"spec": {"namespace": "shop"}}, None, ())["status"]
    assert status["resourceRules"] == [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]
    faulty = rules_review({"spec": {"namespace": "shop"}}, None, ("pods",))["status"]
    assert faulty["incomplete"] is True and "pods" in faulty["evaluationError"]


# What kubectl 1.30 posted to the sandbox for `auth can-i get configmaps/coredns
# --subresource=log -n kube-system`, `auth can-i --list -n kube-system` and
# `auth can-i get /healthz` (captured from its requests).
KUBECTL_130_ACCESS_REVIEW = (
    b"k8s\x00\n2\n\x17authorization.k8s.io/v1\x12\x17SelfSubjectAccessReview\x12P\n\x10\n\x00"
    b'\x12\x00\x1a\x00"\x00*\x002\x008\x00B\x00\x122\n0\n\x0bkube-system\x12\x03get\x1a\x00"\x00'
    b'*\nconfigmaps2\x03log:\x07coredns\x1a\x08\x08\x00\x12\x00\x1a\x00 \x00\x1a\x00"\x00'
)
KUBECTL_130_RULES_REVIEW = (
    b"k8s\x00\n1\n\x17authorization.k8s.io/v1\x12\x16SelfSubjectRulesReview\x12'\n\x10\n\x00"
    b'\x12\x00\x1a\x00"\x00*\x002\x008\x00B\x00\x12\r\n\x0bkube-system\x1a\x04\x18\x00"\x00'
    b'\x1a\x00"\x00'
)
KUBECTL_130_PATH_REVIEW = (
    b"k8s\x00\n2\n\x17authorization.k8s.io/v1\x12\x17SelfSubjectAccessReview\x12/\n\x10\n\x00"
    b'\x12\x00\x1a\x00"\x00*\x002\x008\x00B\x00\x12\x11\x12\x0f\n\x08/healthz\x12\x03get\x1a'
    b'\x08\x08\x00\x12\x00\x1a\x00 \x00\x1a\x00"\x00'
)


@pytest.mark.parametrize(
    ("body", "decoded"),
    [
        (
            KUBECTL_130_ACCESS_REVIEW,
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {
                    "resourceAttributes": {
                        "namespace": "kube-system",
                        "verb": "get",
                        "resource": "configmaps",
                        "subresource": "log",
                        "name": "coredns",
                    }
                },
            },
        ),
        (
            KUBECTL_130_RULES_REVIEW,
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectRulesReview",
                "spec": {"namespace": "kube-system"},
            },
        ),
        (
            KUBECTL_130_PATH_REVIEW,
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SelfSubjectAccessReview",
                "spec": {"nonResourceAttributes": {"path": "/healthz", "verb": "get"}},
            },
        ),
    ],
)
def test_protobuf_reviews_from_kubectl_decode_to_their_json_form(
    body: bytes, decoded: dict[str, Any]
) -> None:
    assert decode_review(body) == decoded


@pytest.mark.parametrize(
    "body", [b'{"spec": {}}', b"k8s\x00\n\xff", KUBECTL_130_ACCESS_REVIEW[:40]]
)
def test_bytes_that_are_no_protobuf_review_are_rejected(body: bytes) -> None:
    with pytest.raises(ProtobufError):
        decode_review(body)
