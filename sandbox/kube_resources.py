"""The resource types the sandbox API server knows: built-in kinds and those its CRDs define."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

READ_VERBS = ("get", "list", "watch")
ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class PrinterColumn:
    """An additionalPrinterColumn of a CRD version (jsonPath evaluated per object)."""

    name: str
    type: str
    json_path: str
    priority: int = 0
    description: str = ""


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    plural: str
    singular: str
    kind: str
    namespaced: bool
    versions: tuple[str, ...]
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    # True for kinds that exist only because a CustomResourceDefinition defines them.
    custom: bool = False
    printer_columns: Mapping[str, tuple[PrinterColumn, ...]] = field(default_factory=dict)
    verbs: tuple[str, ...] = ALL_VERBS

    @property
    def readable(self) -> bool:
        """False for kinds that can only be created, such as access reviews."""
        return bool({"get", "list", "watch"} & set(self.verbs))

    @property
    def qualified_name(self) -> str:
        """kubectl's resource.group spelling: ``pods``, ``deployments.apps``."""
        return self.plural if not self.group else f"{self.plural}.{self.group}"

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def api_version(self, version: str) -> str:
        return version if not self.group else f"{self.group}/{version}"

    def discovery_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(self.verbs),
        }
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        if self.categories:
            entry["categories"] = list(self.categories)
        return entry


def _builtin(
    group: str,
    version: str,
    plural: str,
    kind: str,
    namespaced: bool = True,
    short_names: tuple[str, ...] = (),
    categories: tuple[str, ...] = (),
    verbs: tuple[str, ...] = ALL_VERBS,
) -> ResourceType:
    return ResourceType(
        group=group,
        plural=plural,
        singular=kind.lower(),
        kind=kind,
        namespaced=namespaced,
        versions=(version,),
        short_names=short_names,
        categories=categories,
        verbs=verbs,
    )


BUILTIN_RESOURCES: tuple[ResourceType, ...] = (
    _builtin("", "v1", "nodes", "Node", namespaced=False, short_names=("no",)),
    _builtin("", "v1", "pods", "Pod", short_names=("po",), categories=("all",)),
    _builtin("", "v1", "services", "Service", short_names=("svc",), categories=("all",)),
    _builtin("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
    _builtin("", "v1", "namespaces", "Namespace", namespaced=False, short_names=("ns",)),
    _builtin("", "v1", "events", "Event", short_names=("ev",)),
    _builtin("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",)),
    # Served (empty) so that a read of Secrets meets RBAC as it would on a real cluster.
    _builtin("", "v1", "secrets", "Secret"),
    _builtin(
        "apps", "v1", "deployments", "Deployment", short_names=("deploy",), categories=("all",)
    ),
    _builtin("apps", "v1", "daemonsets", "DaemonSet", short_names=("ds",), categories=("all",)),
    _builtin("apps", "v1", "replicasets", "ReplicaSet", short_names=("rs",), categories=("all",)),
    _builtin(
        "apps", "v1", "statefulsets", "StatefulSet", short_names=("sts",), categories=("all",)
    ),
    _builtin("networking.k8s.io", "v1", "ingresses", "Ingress", short_names=("ing",)),
    _builtin("networking.k8s.io", "v1", "ingressclasses", "IngressClass", namespaced=False),
    _builtin("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
    _builtin(
        "networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", short_names=("netpol",)
    ),
    _builtin(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        short_names=("crd", "crds"),
    ),
    # What ``kubectl auth can-i`` creates (sandbox/kube_reviews.py answers them).
    _builtin(
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        namespaced=False,
        verbs=("create",),
    ),
    _builtin(
        "authorization.k8s.io",
        "v1",
        "selfsubjectrulesreviews",
        "SelfSubjectRulesReview",
        namespaced=False,
        verbs=("create",),
    ),
)

_VERSION_PATTERN = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Sort key putting the version Kubernetes prefers first (v1 > v1beta1 > v1alpha2 > other)."""
    match = _VERSION_PATTERN.match(version)
    if match is None:
        return (3, 0, 0, version)
    major, stage, minor = match.groups()
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -int(major), -int(minor or 0), version)


def resource_types_from_crd(crd: Mapping[str, Any]) -> ResourceType | None:
    """The resource a CustomResourceDefinition object makes the API server serve."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, plural, kind = spec.get("group"), names.get("plural"), names.get("kind")
    if not (group and plural and kind):
        return None
    served = [v for v in spec.get("versions") or [] if v.get("served", True) and v.get("name")]
    if not served:
        return None
    columns = {
        str(v["name"]): tuple(
            PrinterColumn(
                name=str(c.get("name", "")),
                type=str(c.get("type", "string")),
                json_path=str(c.get("jsonPath", "")),
                priority=int(c.get("priority", 0)),
                description=str(c.get("description", "")),
            )
            for c in v.get("additionalPrinterColumns") or []
        )
        for v in served
    }
    versions = tuple(sorted((str(v["name"]) for v in served), key=version_priority))
    return ResourceType(
        group=str(group),
        plural=str(plural),
        singular=str(names.get("singular") or kind.lower()),
        kind=str(kind),
        namespaced=spec.get("scope", "Namespaced") == "Namespaced",
        versions=versions,
        short_names=tuple(names.get("shortNames") or ()),
        categories=tuple(names.get("categories") or ()),
        custom=True,
        printer_columns=columns,
    )


class ResourceCatalogue:
    """Resource types by group/version/plural and by group/kind, with discovery documents."""

    def __init__(self, types: Iterable[ResourceType]) -> None:
        self._types = tuple(types)
        self._by_plural = {(t.group, t.plural): t for t in self._types}
        self._by_kind = {(t.group, t.kind): t for t in self._types}

    @property
    def types(self) -> tuple[ResourceType, ...]:
        return self._types

    def lookup(self, group: str, version: str, plural: str) -> ResourceType | None:
        found = self._by_plural.get((group, plural))
        if found is None or version not in found.versions:
            return None
        return found

    def by_kind(self, group: str, kind: str) -> ResourceType | None:
        return self._by_kind.get((group, kind))

    def by_qualified_name(self, name: str) -> ResourceType | None:
        plural, _, group = name.partition(".")
        return self._by_plural.get((group, plural))

    def group_versions(self) -> dict[str, list[str]]:
        """Non-core group -> served versions, preferred first."""
        versions: dict[str, set[str]] = {}
        for resource in self._types:
            if resource.group:
                versions.setdefault(resource.group, set()).update(resource.versions)
        return {g: sorted(v, key=version_priority) for g, v in sorted(versions.items())}

    def serves(self, group: str, version: str) -> bool:
        return any(group == t.group and version in t.versions for t in self._types)

    def api_group(self, group: str) -> dict[str, Any] | None:
        versions = self.group_versions().get(group)
        if not versions:
            return None
        entries = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
        return {
            "kind": "APIGroup",
            "apiVersion": "v1",
            "name": group,
            "versions": entries,
            "preferredVersion": entries[0],
        }

    def api_group_list(self) -> dict[str, Any]:
        groups = [self.api_group(g) for g in self.group_versions()]
        for group in groups:
            if group is not None:
                del group["kind"], group["apiVersion"]
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def api_resource_list(self, group: str, version: str) -> dict[str, Any] | None:
        resources = [t for t in self._types if t.group == group and version in t.versions]
        if not resources:
            return None
        entries = []
        for resource in sorted(resources, key=lambda t: t.plural):
            entries.append(resource.discovery_entry())
            if resource.group == "" and resource.plural == "pods":
                entries += [
                    {
                        "name": f"pods/{subresource}",
                        "singularName": "",
                        "namespaced": True,
                        "kind": kind,
                        "verbs": verbs,
                    }
                    for subresource, kind, verbs in (
                        ("log", "Pod", ["get"]),
                        (
                            "proxy",
                            "PodProxyOptions",
                            ["create", "delete", "get", "patch", "update"],
                        ),
                    )
                ]
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": version if not group else f"{group}/{version}",
            "resources": entries,
        }
