"""``kubectl auth can-i``: the authorization.k8s.io/v1 reviews a caller creates about itself.

A SelfSubjectAccessReview asks about one request; its answer comes from the callable
the API server authorizes real requests with, so the two never disagree. A
SelfSubjectRulesReview lists the rules that apply in a namespace; without an RBAC
policy everything is allowed, which is what it then says.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from typing import Any

from netaudit.sandbox.kube_rbac import NonResourceRule, PolicyRule, RbacPolicy
from netaudit.sandbox.kube_review_protobuf import CONTENT_TYPE as PROTOBUF
from netaudit.sandbox.kube_review_protobuf import decode_review

GROUP = "authorization.k8s.io"
VERSION = "v1"
ACCESS_REVIEWS = "selfsubjectaccessreviews"
RULES_REVIEWS = "selfsubjectrulesreviews"
REVIEWS = {ACCESS_REVIEWS: "SelfSubjectAccessReview", RULES_REVIEWS: "SelfSubjectRulesReview"}

# (verb, group, resource[/subresource], namespace or None, name or None) -> allowed
ResourceAuthorizer = Callable[[str, str, str, str | None, str | None], bool]
# (verb, path) -> allowed
PathAuthorizer = Callable[[str, str], bool]


class InvalidReview(ValueError):
    """A review the API server would reject as Invalid (422)."""


def _answer(kind: str, body: Mapping[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": kind,
        "apiVersion": f"{GROUP}/{VERSION}",
        "metadata": {"creationTimestamp": None},
        "spec": body.get("spec") or {},
        "status": status,
    }


def access_review(
    body: Mapping[str, Any],
    authorize: ResourceAuthorizer,
    authorize_path: PathAuthorizer,
    enforcing: bool,
) -> dict[str, Any]:
    """The answered SelfSubjectAccessReview for ``body``."""
    spec = body.get("spec") or {}
    resource_attributes: Mapping[str, Any] = spec.get("resourceAttributes") or {}
    path_attributes: Mapping[str, Any] = spec.get("nonResourceAttributes") or {}
    if bool(resource_attributes) == bool(path_attributes):
        raise InvalidReview(
            f'{REVIEWS[ACCESS_REVIEWS]}.{GROUP} "" is invalid: spec.resourceAttributes: '
            "Invalid value: exactly one of nonResourceAttributes or resourceAttributes"
            " must be specified"
        )
    if resource_attributes:
        attributes = resource_attributes
        resource = str(attributes.get("resource") or "")
        if attributes.get("subresource"):
            resource += f"/{attributes['subresource']}"
        allowed = authorize(
            str(attributes.get("verb") or ""),
            str(attributes.get("group") or ""),
            resource,
            attributes.get("namespace") or None,
            attributes.get("name") or None,
        )
    else:
        allowed = authorize_path(
            str(path_attributes.get("verb") or ""), str(path_attributes.get("path") or "")
        )
    status: dict[str, Any] = {"allowed": allowed}
    if allowed:
        status["reason"] = (
            "RBAC: allowed by the sandbox's roles" if enforcing else "the sandbox enforces no RBAC"
        )
    return _answer(REVIEWS[ACCESS_REVIEWS], body, status)


def _resource_rule(rule: PolicyRule) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "verbs": sorted(rule.verbs),
        "apiGroups": sorted(rule.api_groups),
        "resources": sorted(rule.resources),
    }
    if rule.resource_names:
        entry["resourceNames"] = sorted(rule.resource_names)
    return entry


def _non_resource_rule(rule: NonResourceRule) -> dict[str, Any]:
    return {"verbs": sorted(rule.verbs), "nonResourceURLs": sorted(rule.urls)}


def rules_review(
    body: Mapping[str, Any], policy: RbacPolicy | None, forbidden: Collection[str]
) -> dict[str, Any]:
    """The answered SelfSubjectRulesReview for ``body``'s namespace."""
    namespace = str((body.get("spec") or {}).get("namespace") or "")
    if policy is None:
        status: dict[str, Any] = {
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": False,
        }
    else:
        status = {
            "resourceRules": [_resource_rule(r) for r in policy.resource_rules(namespace)],
            "nonResourceRules": [
                _non_resource_rule(r) for r in policy.non_resource_rules_with_defaults()
            ],
            "incomplete": False,
        }
    if forbidden:
        # Rules cannot say "except": the injected 403s make the list an overstatement.
        status["incomplete"] = True
        status["evaluationError"] = "the sandbox answers 403 Forbidden for " + ", ".join(
            sorted(forbidden)
        )
    return _answer(REVIEWS[RULES_REVIEWS], body, status)


def answer_review(
    resource: str,
    content_type: str,
    raw: bytes,
    authorize: ResourceAuthorizer,
    authorize_path: PathAuthorizer,
    policy: RbacPolicy | None,
    forbidden: Collection[str],
) -> dict[str, Any]:
    """The answer to a review posted (as JSON or protobuf) to ``resource``; ValueError for
    a body that does not decode, InvalidReview for one the API server would refuse."""
    if content_type.startswith(PROTOBUF):
        body = decode_review(raw)
    else:
        body = json.loads(raw or b"{}")
    if not isinstance(body, dict):
        raise ValueError("a review is a JSON object")
    if resource == ACCESS_REVIEWS:
        return access_review(body, authorize, authorize_path, enforcing=policy is not None)
    return rules_review(body, policy, forbidden)
