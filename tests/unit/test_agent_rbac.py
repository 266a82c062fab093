"""The agent's RBAC grants exactly what its gatherers read, and they are all registered."""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any

import pytest
import yaml

import netaudit.agent.gatherers as gatherers_package
from netaudit.agent.gatherers import GATHERERS
from netaudit.agent.gatherers.gatherer import Access
from tests.conftest import REPO

RBAC_FILE = REPO / "deploy" / "rbac" / "agent-clusterrole.yaml"
READ_VERBS = {"get", "list", "watch"}


@dataclass(frozen=True)
class Grant:
    namespace: str | None  # None: a ClusterRole rule
    group: str
    resource: str
    verbs: frozenset[str]
    names: frozenset[str]


def load_grants() -> list[Grant]:
    grants = []
    for document in yaml.safe_load_all(RBAC_FILE.read_text()):
        if not document or document["kind"] not in ("ClusterRole", "Role"):
            continue
        namespace = document["metadata"].get("namespace") if document["kind"] == "Role" else None
        for rule in document.get("rules", []):
            for group in rule.get("apiGroups", []):
                for resource in rule.get("resources", []):
                    grants.append(
                        Grant(
                            namespace,
                            group,
                            resource,
                            frozenset(rule["verbs"]),
                            frozenset(rule.get("resourceNames", [])),
                        )
                    )
    return grants


def granted(access: Access, verb: str, grants: list[Grant]) -> bool:
    for grant in grants:
        if (grant.group, grant.resource) != (access.group, access.resource):
            continue
        if verb not in grant.verbs:
            continue
        if grant.namespace is not None and grant.namespace != access.namespace:
            continue
        if grant.names and not (access.names and set(access.names) <= grant.names):
            continue
        return True
    return False


def all_accesses() -> list[Any]:
    return [
        pytest.param(gatherer.name, access, id=f"{gatherer.name}:{access.resource}.{access.group}")
        for gatherer in GATHERERS
        for access in gatherer.reads
    ]


@pytest.mark.parametrize(("gatherer", "access"), all_accesses())
def test_every_read_of_every_gatherer_is_granted(gatherer: str, access: Access) -> None:
    grants = load_grants()
    missing = [verb for verb in access.verbs if not granted(access, verb, grants)]
    assert not missing, f"{gatherer} reads {access} but the agent RBAC does not grant {missing}"


def test_every_grant_is_used_by_some_gatherer() -> None:
    used = {(a.group, a.resource) for g in GATHERERS for a in g.reads}
    unused = {(g.group, g.resource) for g in load_grants()} - used
    assert not unused, f"RBAC grants reads no gatherer makes: {sorted(unused)}"


def test_rbac_is_read_only_and_never_touches_secrets() -> None:
    for grant in load_grants():
        assert grant.verbs <= READ_VERBS, grant
        assert grant.resource != "secrets" and "*" not in grant.resource, grant
        assert "*" not in grant.group and "*" not in grant.verbs, grant


def test_config_maps_are_granted_by_name_in_kube_system_only() -> None:
    config_maps = [g for g in load_grants() if g.resource == "configmaps"]
    assert config_maps
    assert all(g.namespace == "kube-system" and g.names and g.verbs == {"get"} for g in config_maps)


def test_the_check_fails_for_a_read_the_rbac_does_not_grant() -> None:
    grants = load_grants()
    assert not granted(Access("", "secrets"), "list", grants)
    assert not granted(Access("", "configmaps", ("get",), ("other",), "kube-system"), "get", grants)
    assert not granted(Access("", "configmaps", ("list",), (), "kube-system"), "list", grants)
    assert not granted(Access("", "pods/log", ("get",)), "get", grants)  # cluster-wide logs


def test_every_gatherer_module_is_registered_once() -> None:
    modules = [
        importlib.import_module(f"{gatherers_package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(gatherers_package.__path__)
    ]
    defined = [m.GATHERER for m in modules if hasattr(m, "GATHERER")]
    assert sorted(g.name for g in defined) == sorted(g.name for g in GATHERERS)
    assert len({g.name for g in GATHERERS}) == len(GATHERERS)
