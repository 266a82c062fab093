"""RBAC as the sandbox API server enforces it: the rules of ClusterRoles and Roles.

The sandbox has no authentication, so every rule given applies to whoever
calls, as if the roles were bound to the caller (the agent's service account).
Discovery and ``/version`` stay open, as the default ``system:discovery`` role
keeps them for every authenticated user, and everyone may ask what they may do
(``SelfSubjectAccessReview``, ``SelfSubjectRulesReview``), as ``system:basic-user``
allows. Access reviews are answered by the same ``allows`` that authorizes requests.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from netaudit.sandbox.errors import FixtureError


@dataclass(frozen=True)
class PolicyRule:
    api_groups: frozenset[str]
    resources: frozenset[str]
    verbs: frozenset[str]
    resource_names: frozenset[str]
    # None for a ClusterRole's rule (every namespace), else the Role's namespace.
    namespace: str | None

    @classmethod
    def from_rule(cls, rule: Mapping[str, Any], namespace: str | None) -> PolicyRule:
        return cls(
            api_groups=frozenset(rule.get("apiGroups") or ()),
            resources=frozenset(rule.get("resources") or ()),
            verbs=frozenset(rule.get("verbs") or ()),
            resource_names=frozenset(rule.get("resourceNames") or ()),
            namespace=namespace,
        )

    def allows(
        self, verb: str, group: str, resource: str, namespace: str | None, name: str | None
    ) -> bool:
        if self.namespace is not None and namespace != self.namespace:
            return False
        if not ({"*", verb} & self.verbs and {"*", group} & self.api_groups):
            return False
        base, _, subresource = resource.partition("/")
        wanted = {"*", resource} | ({f"{base}/*", f"*/{subresource}"} if subresource else set())
        if not wanted & self.resources:
            return False
        # resourceNames restrict requests that name an object; a list never matches them.
        return not self.resource_names or (name is not None and name in self.resource_names)


@dataclass(frozen=True)
class NonResourceRule:
    """A ClusterRole rule on URLs outside the API's resources (``/healthz``, ``/apis/*``)."""

    urls: frozenset[str]
    verbs: frozenset[str]

    def allows(self, verb: str, path: str) -> bool:
        if not {"*", verb} & self.verbs:
            return False
        return any(path == u or (u.endswith("*") and path.startswith(u[:-1])) for u in self.urls)


# What Kubernetes' default roles give every authenticated user: system:basic-user (asking
# what one may do) and system:discovery / system:public-info-viewer (discovery, health).
BASIC_USER_RULES = (
    PolicyRule(
        api_groups=frozenset({"authorization.k8s.io"}),
        resources=frozenset({"selfsubjectaccessreviews", "selfsubjectrulesreviews"}),
        verbs=frozenset({"create"}),
        resource_names=frozenset(),
        namespace=None,
    ),
)
DISCOVERY_RULES = (
    NonResourceRule(
        urls=frozenset(
            {
                "/api",
                "/api/*",
                "/apis",
                "/apis/*",
                "/healthz",
                "/livez",
                "/openapi",
                "/openapi/*",
                "/readyz",
                "/version",
                "/version/",
            }
        ),
        verbs=frozenset({"get"}),
    ),
)


class RbacPolicy:
    """The union of the rules of some ClusterRoles and Roles, and of the default roles
    every authenticated user has."""

    def __init__(
        self, rules: Iterable[PolicyRule], non_resource_rules: Iterable[NonResourceRule] = ()
    ) -> None:
        self.rules = tuple(rules)
        self.non_resource_rules = tuple(non_resource_rules)

    @classmethod
    def from_objects(cls, objects: Iterable[Mapping[str, Any]]) -> RbacPolicy:
        rules, non_resource_rules = [], []
        for obj in objects:
            kind = obj.get("kind")
            if kind not in ("ClusterRole", "Role"):
                continue
            namespace = (
                (obj.get("metadata") or {}).get("namespace", "default") if kind == "Role" else None
            )
            rules += [
                PolicyRule.from_rule(r, namespace)
                for r in obj.get("rules") or ()
                if "resources" in r
            ]
            if kind == "ClusterRole":
                non_resource_rules += [
                    NonResourceRule(
                        urls=frozenset(r["nonResourceURLs"]), verbs=frozenset(r.get("verbs") or ())
                    )
                    for r in obj.get("rules") or ()
                    if r.get("nonResourceURLs")
                ]
        return cls(rules, non_resource_rules)

    @classmethod
    def load(cls, path: Path) -> RbacPolicy:
        """The ClusterRoles and Roles of a (multi-document) YAML file; other kinds are ignored."""
        try:
            documents = [d for d in yaml.safe_load_all(Path(path).read_text(encoding="utf-8")) if d]
        except (OSError, yaml.YAMLError) as error:
            raise FixtureError(f"cannot read RBAC roles from {path}: {error}") from error
        return cls.from_objects(documents)

    def allows(
        self, verb: str, group: str, resource: str, namespace: str | None, name: str | None
    ) -> bool:
        return any(
            rule.allows(verb, group, resource, namespace, name)
            for rule in self.rules + BASIC_USER_RULES
        )

    def allows_non_resource(self, verb: str, path: str) -> bool:
        return any(rule.allows(verb, path) for rule in self.non_resource_rules + DISCOVERY_RULES)

    def resource_rules(self, namespace: str) -> tuple[PolicyRule, ...]:
        """The rules that apply in ``namespace``: every ClusterRole's, that namespace's
        Roles', and the default ones (a SelfSubjectRulesReview's answer)."""
        scoped = tuple(r for r in self.rules if r.namespace in (None, namespace))
        return scoped + BASIC_USER_RULES

    def non_resource_rules_with_defaults(self) -> tuple[NonResourceRule, ...]:
        return self.non_resource_rules + DISCOVERY_RULES
