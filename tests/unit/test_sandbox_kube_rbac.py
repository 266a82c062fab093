"""RBAC rules of ClusterRoles and Roles, matched as the Kubernetes authorizer matches them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from netaudit.sandbox.errors import FixtureError
from netaudit.sandbox.kube_rbac import RbacPolicy

ROLES = """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: reader}
rules:
  - apiGroups: [""]
    resources: [nodes, pods]
    verbs: [get, list, watch]
  - apiGroups: [gateway.networking.k8s.io]
    resources: ["*"]
    verbs: [list]
  - nonResourceURLs: [/version]
    verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: kube-system-reader, namespace: kube-system}
rules:
  - apiGroups: [""]
    resources: [configmaps]
    resourceNames: [coredns, coredns-custom]
    verbs: [get]
  - apiGroups: [""]
    resources: [pods/log]
    verbs: [get]
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: ignored}
"""


@pytest.fixture(scope="module")
def policy() -> RbacPolicy:
    return RbacPolicy.from_objects(yaml.safe_load_all(ROLES))


@pytest.mark.parametrize(
    ("verb", "group", "resource", "namespace", "name", "allowed"),
    [
        ("list", "", "nodes", None, None, True),
        ("watch", "", "pods", "shop", None, True),
        ("list", "", "services", None, None, False),
        ("list", "apps", "pods", None, None, False),
        ("list", "gateway.networking.k8s.io", "httproutes", "infra", None, True),
        ("get", "gateway.networking.k8s.io", "httproutes", "infra", "r", False),
        ("get", "", "configmaps", "kube-system", "coredns", True),
        ("get", "", "configmaps", "kube-system", "other", False),
        ("list", "", "configmaps", "kube-system", None, False),
        ("get", "", "configmaps", "default", "coredns", False),
        ("get", "", "pods/log", "kube-system", "coredns-abc", True),
        ("get", "", "pods/log", "shop", "web-abc", False),
    ],
)
def test_rules_grant_exactly_their_verbs_resources_names_and_namespaces(
    policy: RbacPolicy,
    verb: str,
    group: str,
    resource: str,
    namespace: str | None,
    name: str | None,
    allowed: bool,
) -> None:
    assert policy.allows(verb, group, resource, namespace, name) is allowed


def test_subresource_wildcards() -> None:
    policy = RbacPolicy.from_objects(
        [
            {
                "kind": "ClusterRole",
                "rules": [{"apiGroups": [""], "resources": ["pods/*"], "verbs": ["get"]}],
            }
        ]
    )
    assert policy.allows("get", "", "pods/log", "a", "p")
    assert not policy.allows("get", "", "pods", "a", "p")


def test_unreadable_role_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "roles.yaml"
    path.write_text("rules: [unclosed")
    with pytest.raises(FixtureError, match=r"roles\.yaml"):
        RbacPolicy.load(path)
