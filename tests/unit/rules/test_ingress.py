"""Ingress rules (ING-*), from the ExternalDNS tutorial Ingresses and Deployments, the app
routing managed cluster example and the recorded clusters.

IngressClasses and ingress-nginx controller workloads are hand-made from incluster.md §2
(app routing: class webapprouting.kubernetes.azure.com, controller
webapprouting.kubernetes.azure.com/nginx; upstream chart: controller k8s.io/ingress-nginx):
no IngressClass manifest is published among the fixtures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from netaudit.agent.gatherers.cni import addon_workloads
from netaudit.agent.gatherers.ingress import ingress, ingress_class
from netaudit.agent.gatherers.ingress_nginx import nginx_controllers
from netaudit.collector.rules import Outcome, RuleOutcome, RuleSettings, evaluate_rule
from netaudit.collector.rules.ingress import ING_001, ING_002, ING_003
from netaudit.collector.rules.rule import Rule
from netaudit.collector.rules.settings import PerRuleSettings
from netaudit.collector.rules.view import ClusterView
from netaudit.v1 import audit_pb2, report_pb2
from tests.rule_cases import (
    NOW,
    RuleCase,
    facts_of,
    inventory_of,
    k8s_documents,
    managed_cluster,
    new_report,
)
from tests.rule_cases import (
    every_finding_has as evidence,
)
from tests.rule_cases import (
    reason_mentions as reason_has,
)

Document = dict[str, Any]
CLUSTER = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
    "Microsoft.ContainerService/managedClusters/aks-1"
)
"""The cluster of report-only cases (no inventory)."""

WEB_APP_ROUTING = "ManagedClustersCreate_IngressProfile_WebAppRouting.json"
PLAIN = "ManagedClustersGet.json"


def of_kind(relative: str, kind: str) -> Document:
    (document,) = [d for d in k8s_documents(relative) if d.get("kind") == kind]
    document["metadata"].setdefault("namespace", "default")
    return document


def nginx_class_ingress() -> Document:
    """ExternalDNS private-DNS tutorial Ingress: ingressClassName nginx."""
    return of_kind("externaldns/azure-private-dns_ingress.yaml", "Ingress")


def classless_ingress() -> Document:
    """ExternalDNS azure-tags Ingress: no class."""
    return of_kind("externaldns/azure_ingress_azure-tags.yaml", "Ingress")


def ingress_class_object(name: str, controller: str, *, default: bool = False) -> Document:
    annotations = {"ingressclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"controller": controller},
    }


APP_ROUTING_CLASS = ingress_class_object(
    "webapprouting.kubernetes.azure.com", "webapprouting.kubernetes.azure.com/nginx"
)
NGINX_CLASS = ingress_class_object("nginx", "k8s.io/ingress-nginx")
AGIC_CLASS = ingress_class_object("azure-application-gateway", "azure/application-gateway")


def controller_deployment(
    image: str, namespace: str = "kube-system", labels: Mapping[str, str] | None = None
) -> Document:
    container = {"name": "controller", "image": image}
    return {
        "metadata": {
            "namespace": namespace,
            "name": "ingress-nginx-controller",
            "labels": dict(labels or {}),
        },
        "spec": {"replicas": 1, "template": {"spec": {"containers": [container]}}},
    }


CHART_LABELS = {
    "app.kubernetes.io/name": "ingress-nginx",
    "app.kubernetes.io/component": "controller",
}


def plain_nginx_deployment() -> Document:
    """The tutorial's nginx web server Deployment, placed in kube-system so the cni gatherer
    keeps it: an nginx image that is not an ingress controller."""
    deployment = of_kind("externaldns/azure_nginx_ingress.yaml", "Deployment")
    deployment["metadata"]["namespace"] = "kube-system"
    return deployment


def agent_report(
    cluster_id: str = "",
    *,
    ingresses: Iterable[Document] = (),
    classes: Iterable[Document] = (),
    deployments: Iterable[Document] = (),
) -> report_pb2.Report:
    report = new_report(cluster_id)
    report.ingress.ingresses.extend(ingress(i) for i in ingresses)
    report.ingress.ingress_classes.extend(ingress_class(c) for c in classes)
    # As the agent fills them: the cni gatherer keeps the add-on namespaces' workloads, the
    # ingress_nginx gatherer the controllers of every namespace.
    deployments = list(deployments)
    report.cni.workloads.extend(addon_workloads(deployments, []))
    report.ingress.nginx_controllers.extend(nginx_controllers(deployments, []))
    return report


def older_agent_report(cluster_id: str, deployments: Iterable[Document]) -> report_pb2.Report:
    """A report of an agent without the ingress_nginx gatherer: kube-system workloads only."""
    report = new_report(cluster_id)
    report.cni.workloads.extend(addon_workloads(list(deployments), []))
    return report


def with_facts(
    relative: str | None,
    alter: Callable[[Document], None] | None = None,
    *,
    agent: bool = True,
    now: datetime = NOW,
    **objects: Iterable[Document],
) -> audit_pb2.ClusterFacts:
    inventory = None
    if relative is not None:
        body = managed_cluster(relative)
        if alter is not None:
            alter(body)
        inventory = inventory_of(body)
    report = None
    if agent:
        report = agent_report(inventory.arm_resource_id if inventory else CLUSTER, **objects)
    return facts_of(inventory, report, now=now)


def forbidden(
    cluster: audit_pb2.ClusterFacts, gatherer: str, resource: str
) -> audit_pb2.ClusterFacts:
    cluster.report.gaps.add(gatherer=gatherer, resource=resource, reason="forbidden", message="x")
    return cluster


# -- running cases before the rules are registered ------------------------------------

FAMILY: dict[str, Rule] = {rule.id: rule for rule in (ING_001, ING_002, ING_003)}


def outcome(
    rule: Rule, cluster: audit_pb2.ClusterFacts, config: Mapping[str, Any] | None = None
) -> RuleOutcome:
    settings = RuleSettings.model_construct(
        per_rule={k: PerRuleSettings.model_validate(v) for k, v in (config or {}).items()}
    )
    return evaluate_rule(rule, ClusterView(cluster), settings)


def severity(expected: int, days: int) -> Callable[[RuleOutcome], None]:
    def check(result: RuleOutcome) -> None:
        (finding,) = result.findings
        assert finding.severity == expected
        assert finding.evidence["days_remaining"] == str(days)
        assert finding.evidence["support_end"] == "2026-11-30"

    return check


# -- ING-001 -----------------------------------------------------------------------------


def unknown_class(result: RuleOutcome) -> None:
    (finding,) = result.findings
    assert finding.resource == "Ingress default/nginx"
    assert finding.evidence["ingress_class_name"] == "nginx"
    assert finding.evidence["ingress_classes"] == "webapprouting.kubernetes.azure.com"


ING_001_CASES = [
    RuleCase(
        "ING-001",
        "class-nginx-not-installed",
        lambda: with_facts(None, ingresses=[nginx_class_ingress()], classes=[APP_ROUTING_CLASS]),
        Outcome.FINDINGS,
        check=unknown_class,
    ),
    RuleCase(
        "ING-001",
        "no-class-and-no-default",
        lambda: with_facts(None, ingresses=[classless_ingress()], classes=[APP_ROUTING_CLASS]),
        Outcome.FINDINGS,
        check=evidence("default_class", ""),
    ),
    RuleCase(
        "ING-001",
        "class-nginx-installed",
        lambda: with_facts(None, ingresses=[nginx_class_ingress()], classes=[NGINX_CLASS]),
        Outcome.PASSED,
    ),
    RuleCase(
        "ING-001",
        "no-class-with-a-default",
        lambda: with_facts(
            None,
            ingresses=[classless_ingress()],
            classes=[
                AGIC_CLASS,
                ingress_class_object(
                    "webapprouting.kubernetes.azure.com",
                    "webapprouting.kubernetes.azure.com/nginx",
                    default=True,
                ),
            ],
        ),
        Outcome.PASSED,
    ),
    RuleCase("ING-001", "no-ingresses", lambda: with_facts(None), Outcome.PASSED),
    RuleCase(
        "ING-001",
        "ingress-classes-forbidden",
        lambda: forbidden(
            with_facts(None, ingresses=[nginx_class_ingress()]),
            "ingress",
            "ingressclasses.networking.k8s.io/v1",
        ),
        Outcome.NOT_ASSESSED,
        check=reason_has("forbidden"),
    ),
]


def test_a_default_class_does_not_rescue_a_wrong_class_name() -> None:
    default = ingress_class_object("nginx-internal", "k8s.io/ingress-nginx", default=True)
    result = outcome(
        ING_001, with_facts(None, ingresses=[nginx_class_ingress()], classes=[default])
    )
    assert [f.resource for f in result.findings] == ["Ingress default/nginx"]


def test_a_class_from_the_legacy_annotation_says_so() -> None:
    legacy = classless_ingress()
    legacy["metadata"]["annotations"]["kubernetes.io/ingress.class"] = (
        "addon-http-application-routing"
    )
    (finding,) = outcome(ING_001, with_facts(None, ingresses=[legacy])).findings
    assert finding.evidence["class_from"] == "annotation kubernetes.io/ingress.class"


# -- ING-002 -----------------------------------------------------------------------------

EARLY_2026 = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

ING_002_CASES = [
    RuleCase(
        "ING-002",
        "app-routing-enabled-days-before-the-end",
        lambda: with_facts(WEB_APP_ROUTING),
        Outcome.FINDINGS,
        check=severity(audit_pb2.SEVERITY_HIGH, 3),
    ),
    RuleCase(
        "ING-002",
        "app-routing-enabled-months-before-the-end",
        lambda: with_facts(WEB_APP_ROUTING, now=EARLY_2026),
        Outcome.FINDINGS,
        check=severity(audit_pb2.SEVERITY_MEDIUM, 319),
    ),
    RuleCase(
        "ING-002",
        "urgent-days-from-settings",
        lambda: with_facts(WEB_APP_ROUTING),
        Outcome.FINDINGS,
        settings={"ING-002": {"urgent_days": 2}},
        check=severity(audit_pb2.SEVERITY_MEDIUM, 3),
    ),
    RuleCase(
        "ING-002",
        "upstream-ingress-nginx-class-seen-by-the-agent",
        lambda: with_facts(None, classes=[NGINX_CLASS]),
        Outcome.FINDINGS,
        check=evidence("ingress_classes", "nginx (k8s.io/ingress-nginx)"),
    ),
    RuleCase(
        "ING-002",
        "ingress-nginx-controller-in-kube-system",
        lambda: with_facts(
            PLAIN,
            deployments=[controller_deployment("registry.k8s.io/ingress-nginx/controller:v1.11.3")],
        ),
        Outcome.FINDINGS,
        check=evidence("workloads", "Deployment kube-system/ingress-nginx-controller v1.11.3"),
    ),
    RuleCase(
        "ING-002",
        "ingress-nginx-controller-in-its-own-namespace",
        lambda: with_facts(
            PLAIN,
            deployments=[
                controller_deployment(
                    "registry.k8s.io/ingress-nginx/controller:v1.12.1", "ingress-nginx"
                )
            ],
        ),
        Outcome.FINDINGS,
        check=evidence("workloads", "Deployment ingress-nginx/ingress-nginx-controller v1.12.1"),
    ),
    RuleCase(
        "ING-002",
        "mirrored-controller-recognised-by-the-chart-labels",
        lambda: with_facts(
            PLAIN,
            deployments=[
                controller_deployment("contoso.azurecr.io/edge/nginx:1.0", "edge", CHART_LABELS)
            ],
        ),
        Outcome.FINDINGS,
        check=evidence("workloads", "Deployment edge/ingress-nginx-controller 1.0"),
    ),
    RuleCase(
        "ING-002",
        "older-agent-controller-in-kube-system",
        lambda: facts_of(
            None,
            older_agent_report(
                CLUSTER,
                [controller_deployment("registry.k8s.io/ingress-nginx/controller:v1.11.3")],
            ),
        ),
        Outcome.FINDINGS,
        check=evidence("workloads", "Deployment kube-system/ingress-nginx-controller"),
    ),
    RuleCase(
        "ING-002",
        "deployments-forbidden",
        lambda: forbidden(with_facts(PLAIN), "ingress_nginx", "deployments.apps/v1"),
        Outcome.NOT_ASSESSED,
        check=reason_has("forbidden"),
    ),
    RuleCase(
        "ING-002",
        "no-nginx-anywhere",
        lambda: with_facts(PLAIN, classes=[AGIC_CLASS], deployments=[plain_nginx_deployment()]),
        Outcome.PASSED,
    ),
    RuleCase(
        "ING-002",
        "no-app-routing-and-no-agent",
        lambda: with_facts(PLAIN, agent=False),
        Outcome.NOT_ASSESSED,
        check=reason_has("no agent report"),
    ),
    RuleCase(
        "ING-002",
        "ingress-classes-forbidden",
        lambda: forbidden(with_facts(PLAIN), "ingress", "ingressclasses.networking.k8s.io/v1"),
        Outcome.NOT_ASSESSED,
        check=reason_has("forbidden"),
    ),
]


@pytest.mark.parametrize(
    ("image", "nginx"),
    [
        ("registry.k8s.io/ingress-nginx/controller:v1.11.3", True),
        ("mcr.microsoft.com/oss/kubernetes/ingress/nginx-ingress-controller:v1.11.5", True),
        ("nginx/nginx-ingress:3.7.0", False),  # F5's NGINX Ingress Controller
        ("nginx", False),
    ],
)
def test_ingress_nginx_images_are_told_from_other_nginx(image: str, nginx: bool) -> None:
    result = outcome(ING_002, with_facts(PLAIN, deployments=[controller_deployment(image)]))
    assert (result.outcome is Outcome.FINDINGS) is nginx


def test_after_the_end_the_message_counts_days_ago() -> None:
    after = datetime(2027, 1, 4, tzinfo=UTC)
    (finding,) = outcome(ING_002, with_facts(WEB_APP_ROUTING, now=after)).findings
    assert finding.severity == audit_pb2.SEVERITY_HIGH
    assert "35 days ago" in finding.message


# -- ING-003 -----------------------------------------------------------------------------


def http_application_routing(
    key: str = "httpApplicationRouting", enabled: bool = True
) -> Callable[[Document], None]:
    """The add-on profile as the CLI sets it (hand-made: no published payload has it)."""

    def alter(body: Document) -> None:
        body["properties"].setdefault("addonProfiles", {})[key] = {
            "enabled": enabled,
            "config": {"HTTPApplicationRoutingZoneName": "0123456789abcdef.westus2.aksapp.io"},
        }

    return alter


ING_003_CASES = [
    RuleCase(
        "ING-003",
        "addon-enabled",
        lambda: with_facts(PLAIN, http_application_routing(), agent=False),
        Outcome.FINDINGS,
        check=evidence("dns_zone", "0123456789abcdef.westus2.aksapp.io"),
    ),
    RuleCase(
        "ING-003",
        "addon-key-lower-cased",
        lambda: with_facts(PLAIN, http_application_routing("httpapplicationrouting"), agent=False),
        Outcome.FINDINGS,
    ),
    RuleCase(
        "ING-003", "published-cluster", lambda: with_facts(PLAIN, agent=False), Outcome.PASSED
    ),
    RuleCase(
        "ING-003",
        "addon-disabled",
        lambda: with_facts(PLAIN, http_application_routing(enabled=False), agent=False),
        Outcome.PASSED,
    ),
    RuleCase(
        "ING-003",
        "no-inventory",
        lambda: with_facts(None),
        Outcome.NOT_ASSESSED,
        check=reason_has("inventory"),
    ),
]


# -- all cases ---------------------------------------------------------------------------

CASES: list[RuleCase] = [*ING_001_CASES, *ING_002_CASES, *ING_003_CASES]
