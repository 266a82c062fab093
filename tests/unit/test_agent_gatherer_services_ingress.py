"""Services, LoadBalancers, Ingresses, IngressClasses, AGC, AGIC and network
policy counts, from the published manifests (and hand-made objects where
nothing is published, marked as such)."""

from __future__ import annotations

from typing import Any

import yaml

from netaudit.agent.gatherers.agc import (
    application_load_balancer,
    controller_version,
    is_alb_controller,
)
from netaudit.agent.gatherers.agic import agic_deployments
from netaudit.agent.gatherers.ingress import ingress, ingress_class
from netaudit.agent.gatherers.network_policies import policies_per_namespace
from netaudit.agent.gatherers.services import (
    cluster_ips,
    is_load_balancer,
    load_balancer_service,
    service_network,
)
from tests.conftest import SHARED_FIXTURES

K8S = SHARED_FIXTURES / "k8s"


def one(relative: str, kind: str) -> dict[str, Any]:
    (document,) = [
        d for d in yaml.safe_load_all((K8S / relative).read_text()) if d and d["kind"] == kind
    ]
    return document


def test_internal_load_balancer_service_is_flagged_with_its_annotations() -> None:
    service = one("externaldns/azure-private-dns_service_internal-lb.yaml", "Service")
    service["metadata"]["namespace"] = "default"
    service["status"] = {"loadBalancer": {"ingress": [{"ip": "10.224.0.97"}]}}
    assert is_load_balancer(service)
    message = load_balancer_service(service)
    assert message.internal is True
    assert list(message.load_balancer_addresses) == ["10.224.0.97"]
    assert message.annotations["external-dns.kubernetes.io/hostname"] == "server.example.com"
    assert message.annotations["service.beta.kubernetes.io/azure-load-balancer-internal"] == "true"


def test_public_load_balancer_service_is_not_internal() -> None:
    service = one("externaldns/azure_nginx_service-annotation.yaml", "Service")
    message = load_balancer_service(service)
    assert message.internal is False
    assert list(message.load_balancer_addresses) == []


def test_service_network_counts_services_and_skips_headless_cluster_ips() -> None:
    # Hand-made Services: dual-stack, single-stack, headless.
    services = [
        {"spec": {"clusterIP": "10.0.0.10", "clusterIPs": ["10.0.0.10", "fd00::a"]}},
        {"spec": {"clusterIP": "10.0.12.7"}},
        {"spec": {"clusterIP": "None", "clusterIPs": ["None"]}},
    ]
    assert cluster_ips(services[2]) == []
    network = service_network(services)
    assert network.services_total == 3
    assert list(network.cluster_ips) == ["10.0.0.10", "fd00::a", "10.0.12.7"]


def test_ingress_keeps_class_hosts_backends_and_annotations() -> None:
    raw = one("externaldns/azure_ingress_azure-tags.yaml", "Ingress")
    raw["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"] = "{...}"
    raw["status"] = {"loadBalancer": {"ingress": [{"hostname": "lb.example.net"}]}}
    message = ingress(raw)
    assert list(message.hosts) == ["app.example.com"]
    assert list(message.backend_services) == ["my-service"]
    assert (
        message.annotations["external-dns.kubernetes.io/azure-tags"]
        == "cost-center=12345,owner=backend-team"
    )
    assert "kubectl.kubernetes.io/last-applied-configuration" not in message.annotations
    assert list(message.load_balancer_addresses) == ["lb.example.net"]


def test_ingress_class_comes_from_the_legacy_annotation_when_spec_has_none() -> None:
    # Hand-made AGIC-style Ingress with TLS and a default backend.
    raw = {
        "metadata": {
            "namespace": "shop",
            "name": "web",
            "annotations": {"kubernetes.io/ingress.class": "azure/application-gateway"},
        },
        "spec": {
            "defaultBackend": {"service": {"name": "fallback", "port": {"number": 80}}},
            "tls": [{"hosts": ["shop.example.com"], "secretName": "shop-tls"}],
            "rules": [
                {
                    "host": "shop.example.com",
                    "http": {"paths": [{"backend": {"service": {"name": "web"}}}]},
                }
            ],
        },
    }
    message = ingress(raw)
    assert message.ingress_class_name == "azure/application-gateway"
    assert list(message.tls_hosts) == ["shop.example.com"]
    assert list(message.backend_services) == ["fallback", "web"]


def test_default_ingress_class_is_recognised() -> None:
    # Hand-made: the app routing IngressClass (incluster.md §2) marked default.
    raw = {
        "metadata": {
            "name": "webapprouting.kubernetes.azure.com",
            "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"},
        },
        "spec": {"controller": "webapprouting.kubernetes.azure.com/nginx"},
    }
    message = ingress_class(raw)
    assert message.is_default
    assert message.controller == "webapprouting.kubernetes.azure.com/nginx"
    assert not ingress_class({"metadata": {"name": "x"}, "spec": {}}).is_default


def test_application_load_balancer_keeps_associations_and_conditions() -> None:
    alb = one("gateway-api/agc_applicationloadbalancer.yaml", "ApplicationLoadBalancer")
    status = yaml.safe_load(
        (K8S / "gateway-api/agc_applicationloadbalancer_status.yaml").read_text()
    )
    message = application_load_balancer({**alb, **status})
    assert (message.namespace, message.name) == ("alb-test-infra", "alb-test")
    assert list(message.associations) == ["$ALB_SUBNET_ID"]
    deployment = next(c for c in message.conditions if c.type == "Deployment")
    assert deployment.message.startswith("alb-id=/subscriptions/")


def deployment(
    namespace: str, name: str, image: str, labels: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "metadata": {"namespace": namespace, "name": name, "labels": labels or {}},
        "spec": {
            "replicas": 2,
            "template": {"spec": {"containers": [{"name": name, "image": image}]}},
        },
        "status": {"readyReplicas": 2, "availableReplicas": 2},
    }


def test_alb_controller_version_comes_from_the_controller_image_tag() -> None:
    # Hand-made: names and image paths of the ALB controller Helm install (incluster.md §2).
    controller = deployment(
        "azure-alb-system",
        "alb-controller",
        "mcr.microsoft.com/application-lb/images/alb-controller:1.7.9",
    )
    bootstrap = deployment(
        "azure-alb-system",
        "alb-controller-bootstrap",
        "mcr.microsoft.com/application-lb/images/alb-controller-bootstrap:1.7.9",
    )
    other = deployment("shop", "web", "nginx:1.27")
    assert is_alb_controller(controller) and is_alb_controller(bootstrap)
    assert not is_alb_controller(other)
    assert controller_version([bootstrap, controller]) == "1.7.9"
    assert controller_version([]) == ""


def test_agic_is_found_as_add_on_or_helm_install() -> None:
    # Hand-made: the add-on and Helm names from incluster.md §2.
    addon = deployment(
        "kube-system",
        "ingress-appgw-deployment",
        "mcr.microsoft.com/azure-application-gateway/kubernetes-ingress:1.7.5",
    )
    helm = deployment(
        "agic",
        "agic-ingress-azure",
        "mcr.microsoft.com/azure-application-gateway/kubernetes-ingress:1.7.5",
        {"app": "ingress-azure"},
    )
    other = deployment("kube-system", "coredns", "mcr.microsoft.com/oss/kubernetes/coredns:v1.11.3")
    assert [w.name for w in agic_deployments([addon, helm, other])] == [
        "ingress-appgw-deployment",
        "agic-ingress-azure",
    ]


def test_policy_counts_cover_every_namespace_including_empty_ones() -> None:
    namespaces = [{"metadata": {"name": n}} for n in ("default", "kube-system", "shop")]
    policies = [{"metadata": {"namespace": "shop", "name": f"p{i}"}} for i in range(3)]
    cilium = [{"metadata": {"namespace": "kube-system", "name": "c"}}]
    counts = {
        p.namespace: (p.network_policies, p.cilium_network_policies)
        for p in policies_per_namespace(namespaces, policies, cilium)
    }
    assert counts == {"default": (0, 0), "kube-system": (0, 1), "shop": (3, 0)}
