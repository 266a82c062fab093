"""Kubernetes kinds by name: which ``(group, plural)`` an object of a kind is listed as.

Objects in a dump name their ``apiVersion`` and ``kind``; the gatherers ask for
``group/version/plural``. The built-in kinds the gatherers read are listed here;
custom kinds come from the CustomResourceDefinitions in the dump, and any other
kind is pluralised the way the API server's default RESTMapper does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    kind: str
    plural: str
    short_names: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """What ``kubectl get`` accepts for it: plural, singular, short names, plural.group."""
        qualified = (f"{self.plural}.{self.group}",) if self.group else ()
        return (self.plural, self.kind.lower(), *self.short_names, *qualified)


BUILTIN_KINDS: tuple[Kind, ...] = (
    Kind("", "v1", "Node", "nodes", ("no",)),
    Kind("", "v1", "Pod", "pods", ("po",)),
    Kind("", "v1", "Service", "services", ("svc",)),
    Kind("", "v1", "ConfigMap", "configmaps", ("cm",)),
    Kind("", "v1", "Namespace", "namespaces", ("ns",)),
    Kind("", "v1", "Event", "events", ("ev",)),
    Kind("", "v1", "Endpoints", "endpoints", ("ep",)),
    Kind("", "v1", "ServiceAccount", "serviceaccounts", ("sa",)),
    Kind("apps", "v1", "Deployment", "deployments", ("deploy",)),
    Kind("apps", "v1", "DaemonSet", "daemonsets", ("ds",)),
    Kind("apps", "v1", "ReplicaSet", "replicasets", ("rs",)),
    Kind("apps", "v1", "StatefulSet", "statefulsets", ("sts",)),
    Kind("networking.k8s.io", "v1", "Ingress", "ingresses", ("ing",)),
    Kind("networking.k8s.io", "v1", "IngressClass", "ingressclasses"),
    Kind("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", ("netpol",)),
    Kind("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices"),
    Kind("events.k8s.io", "v1", "Event", "events"),
    Kind(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        ("crd", "crds"),
    ),
)
BUILTIN_GROUP_VERSIONS = frozenset((k.group, k.version) for k in BUILTIN_KINDS)
CRD_KEY = ("apiextensions.k8s.io", "customresourcedefinitions")


def split_api_version(api_version: str) -> tuple[str, str]:
    """``apps/v1`` -> (apps, v1); ``v1`` -> ("", v1)."""
    group, _, version = api_version.rpartition("/")
    return group, version


def default_plural(kind: str) -> str:
    """The API server's guess for a kind without a registered plural."""
    lower = kind.lower()
    if lower.endswith("y") and lower[-2:-1] not in tuple("aeiou"):
        return lower[:-1] + "ies"
    if lower.endswith(("s", "x", "z", "ch", "sh")):
        return lower + "es"
    return lower + "s"


@dataclass(frozen=True)
class CustomKind:
    """A kind a CustomResourceDefinition defines, and the versions it serves."""

    kind: Kind
    served_versions: frozenset[str]


def custom_kind(crd: Mapping[str, Any]) -> CustomKind | None:
    """The kind a CRD object defines (None for a CRD missing its names)."""
    spec = _mapping(crd.get("spec"))
    names = _mapping(spec.get("names"))
    group, kind, plural = spec.get("group"), names.get("kind"), names.get("plural")
    if not (isinstance(group, str) and isinstance(kind, str) and isinstance(plural, str)):
        return None
    versions = [v for v in spec.get("versions") or () if isinstance(v, Mapping)]
    served = {str(v.get("name")) for v in versions if v.get("served", True) and v.get("name")}
    if not versions and spec.get("version"):  # apiextensions v1beta1
        served = {str(spec["version"])}
    short = tuple(str(n) for n in names.get("shortNames") or ())
    first = min(served) if served else ""
    return CustomKind(Kind(group, first, kind, plural, short), frozenset(served))


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


class KindTable:
    """Plural of a (group, kind), and the names a file may be called after a kind."""

    def __init__(self, custom: Iterable[CustomKind] = ()) -> None:
        self.custom = {(c.kind.group, c.kind.plural): c for c in custom}
        kinds = [*BUILTIN_KINDS, *(c.kind for c in self.custom.values())]
        self._plural = {(k.group, k.kind): k.plural for k in kinds}
        self._by_name: dict[str, Kind] = {}
        for kind in kinds:
            for name in kind.names:
                # A name two kinds answer to (events: core and events.k8s.io) names the first.
                self._by_name.setdefault(name, kind)

    def plural(self, group: str, kind: str) -> str:
        return self._plural.get((group, kind)) or default_plural(kind)

    def named(self, name: str) -> Kind | None:
        """The kind a file stem names (``networkpolicies``, ``netpol``, ``crds``), if any."""
        return self._by_name.get(name.lower())

    def builtin_plurals(self, group: str, version: str) -> set[str] | None:
        """Plurals an API server always serves at group/version; None for other groups."""
        if (group, version) not in BUILTIN_GROUP_VERSIONS:
            return None
        return {k.plural for k in BUILTIN_KINDS if (k.group, k.version) == (group, version)}
