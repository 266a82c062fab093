"""ExternalDNS: Deployment flags and requested hostnames, from the published tutorials."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import pytest
import yaml

from netaudit.agent.gatherers.externaldns import (
    external_dns_instance,
    ingress_names,
    is_external_dns,
    parse_flags,
    route_names,
    service_names,
)
from tests.conftest import SHARED_FIXTURES

EXTERNAL_DNS = SHARED_FIXTURES / "k8s" / "externaldns"


@cache
def load(name: str) -> tuple[dict[str, Any], ...]:
    return tuple(d for d in yaml.safe_load_all((EXTERNAL_DNS / name).read_text()) if d)


def one(name: str, kind: str) -> dict[str, Any]:
    (document,) = [d for d in load(name) if d["kind"] == kind]
    return document


@pytest.mark.parametrize(
    ("fixture", "provider", "policy", "sources", "domain_filters", "txt_prefix"),
    [
        (
            "azure_manifest_rbac-cluster.yaml",
            "azure",
            "upsert-only",
            ["service", "ingress"],
            ["example.com"],
            "externaldns-",
        ),
        (
            "azure-private-dns_manifest_rbac-cluster.yaml",
            "azure-private-dns",
            "upsert-only",
            ["service", "ingress"],
            ["example.com"],
            "",
        ),
    ],
)
def test_published_external_dns_deployments_parse_into_instances(
    fixture: str,
    provider: str,
    policy: str,
    sources: list[str],
    domain_filters: list[str],
    txt_prefix: str,
) -> None:
    deployment = one(fixture, "Deployment")
    assert is_external_dns(deployment)
    instance = external_dns_instance(deployment)
    assert instance.version == "v0.22.0"
    assert instance.provider == provider
    assert instance.policy == policy
    assert list(instance.sources) == sources
    assert list(instance.domain_filters) == domain_filters
    assert instance.txt_prefix == txt_prefix
    assert instance.txt_owner_id == "default"  # not set: ExternalDNS's default owner id
    assert instance.registry == "" and instance.annotation_prefix == ""
    assert instance.workload.kind == "Deployment"


@pytest.mark.parametrize(
    ("command_line", "expected"),
    [
        (
            ["--provider=azure", "--source=service", "--source=ingress"],
            {"provider": ["azure"], "source": ["service", "ingress"]},
        ),
        (
            ["/bin/external-dns", "--provider", "azure-private-dns"],
            {"provider": ["azure-private-dns"]},
        ),
        (
            ["--txt-owner-id", "aks-prod", "--once", "--policy=sync"],
            {"txt-owner-id": ["aks-prod"], "once": ["true"], "policy": ["sync"]},
        ),
        (
            ["--domain-filter=a.com", "--domain-filter", "b.com"],
            {"domain-filter": ["a.com", "b.com"]},
        ),
        (["--txt-encrypt-enabled"], {"txt-encrypt-enabled": ["true"]}),
    ],
)
def test_flags_parse_in_both_forms_and_keep_repeats(
    command_line: list[str], expected: dict[str, list[str]]
) -> None:
    assert parse_flags(command_line) == expected


def test_owner_id_annotation_prefix_and_suffix_flags_are_read() -> None:
    deployment = one("azure_manifest_rbac-cluster.yaml", "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["args"] = [
        "--provider=azure",
        "--txt-owner-id=aks-prod-weu",
        "--registry=txt",
        "--annotation-prefix=custom.example.io/",
        "--txt-suffix=-ext",
    ]
    instance = external_dns_instance(deployment)
    assert instance.txt_owner_id == "aks-prod-weu"
    assert instance.registry == "txt"
    assert instance.annotation_prefix == "custom.example.io/"
    assert instance.txt_suffix == "-ext"


def test_deployments_without_an_external_dns_image_are_not_instances() -> None:
    nginx = one("azure_nginx_ingress.yaml", "Deployment")
    assert not is_external_dns(nginx)


def test_service_hostname_annotation_is_a_requested_name() -> None:
    # (The MANIFEST descriptions of the two nginx tutorial files are swapped.)
    service = one("azure_nginx_ingress.yaml", "Service")
    (request,) = service_names(service)
    assert (request.hostname, request.kind, request.name) == (
        "server.example.com",
        "Service",
        "nginx-svc",
    )
    assert request.annotation == "external-dns.kubernetes.io/hostname"


def test_internal_lb_service_asks_for_its_hostname_and_internal_hostname() -> None:
    service = one("azure-private-dns_service_internal-lb.yaml", "Service")
    requests = {(r.hostname, r.annotation) for r in service_names(service)}
    assert requests == {
        ("server.example.com", "external-dns.kubernetes.io/hostname"),
        ("server-clusterip.example.com", "external-dns.kubernetes.io/internal-hostname"),
    }


def test_alpha_prefix_and_comma_separated_hostnames_are_read() -> None:
    service = {
        "metadata": {
            "namespace": "shop",
            "name": "web",
            "annotations": {
                "external-dns.alpha.kubernetes.io/hostname": "a.example.com, b.example.com"
            },
        }
    }
    assert [r.hostname for r in service_names(service)] == ["a.example.com", "b.example.com"]


@pytest.mark.parametrize(
    "fixture",
    [
        "azure_nginx_service-annotation.yaml",
        "azure-private-dns_ingress.yaml",
        "azure_ingress_azure-tags.yaml",
    ],
)
def test_ingress_rule_hosts_are_requested_names(fixture: str) -> None:
    ingress = one(fixture, "Ingress")
    hosts = [rule["host"] for rule in ingress["spec"]["rules"] if rule.get("host")]
    requests = ingress_names(ingress)
    assert [r.hostname for r in requests if not r.annotation] == hosts
    assert all(r.kind == "Ingress" for r in requests)


def test_route_hostnames_are_requested_names() -> None:
    route = one("azure_httproute_azure-tags.yaml", "HTTPRoute")
    (request,) = route_names(route, "HTTPRoute")
    assert (request.hostname, request.kind, request.name, request.annotation) == (
        "api.example.com",
        "HTTPRoute",
        "my-route",
        "",
    )


def with_container(change: Any) -> dict[str, Any]:
    """The published azure-private-dns Deployment with its container changed by ``change``."""
    deployment = copy.deepcopy(one("azure-private-dns_manifest_rbac-cluster.yaml", "Deployment"))
    change(deployment["spec"]["template"]["spec"]["containers"][0])
    return deployment


@pytest.mark.parametrize(
    ("change", "client_id"),
    [
        (lambda c: None, ""),
        (
            lambda c: c["args"].append("--azure-user-assigned-identity-client-id=cid-flag"),
            "cid-flag",
        ),
        (
            lambda c: c.setdefault("env", []).append(
                {"name": "AZURE_CLIENT_ID", "value": "cid-env"}
            ),
            "cid-env",
        ),
        (
            lambda c: c.setdefault("env", []).append(
                {
                    "name": "AZURE_CLIENT_ID",
                    "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}},
                }
            ),
            "",
        ),
    ],
)
def test_the_azure_client_id_comes_from_the_flag_or_a_literal_env(
    change: Any, client_id: str
) -> None:
    assert external_dns_instance(with_container(change)).azure_client_id == client_id
