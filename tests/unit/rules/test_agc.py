"""Application Gateway for Containers rules (AGC-*), from the recorded managed clusters, the
published ApplicationLoadBalancer / Gateway manifests and the published AGC association.

The ALB controller Deployment is hand-made from incluster.md §2 (Helm install names and
image path): no controller manifest is published among the fixtures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pytest

from netaudit.agent.gatherers import agc as agc_convert
from netaudit.agent.gatherers import gateway_api as gateway_convert
from netaudit.agent.gatherers.objects import workload
from netaudit.collector.inventory import convert
from netaudit.collector.rules import Outcome, RuleOutcome, RuleSettings, evaluate_rule
from netaudit.collector.rules.agc import AGC_001, AGC_002, AGC_003, AGC_004, AGC_005, _version
from netaudit.collector.rules.rule import Rule
from netaudit.collector.rules.settings import PerRuleSettings
from netaudit.collector.rules.view import ClusterView
from netaudit.v1 import audit_pb2, inventory_pb2, report_pb2
from tests.rule_cases import (
    RuleCase,
    arm_json,
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

KUBENET = "ManagedClustersGet.json"
OVERLAY = "azcli-recording_ManagedClusterGet_cni-overlay.json"
NODE_SUBNET = "azcli-recording_ManagedClusterGet_azure-cni-windows-pool.json"
ASSOCIATION_SUBNET = arm_json("servicenetworking/AssociationGet.json")["properties"]["subnet"]["id"]
"""The published AGC association's subnet (VNet vnet-tc in rg1)."""
OTHER_SUBNET = arm_json("network/SubnetGet.json")["id"]
"""A published subnet in another VNet (vnetname in subnet-test)."""


# -- facts -------------------------------------------------------------------------------


def cluster(relative: str, alter: Callable[[Document], None] | None = None) -> Document:
    body = managed_cluster(relative)
    if alter is not None:
        alter(body)
    return body


def inventory(relative: str, alter: Callable[[Document], None] | None = None) -> Any:
    return inventory_of(cluster(relative, alter))


def controller(tag: str = "1.7.9", image: str | None = None) -> Document:
    """The ALB controller Deployment of a Helm install (hand-made, incluster.md §2)."""
    return {
        "metadata": {"namespace": "azure-alb-system", "name": "alb-controller"},
        "spec": {
            "replicas": 2,
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "alb-controller",
                            "image": image
                            or f"mcr.microsoft.com/application-lb/images/alb-controller:{tag}",
                        }
                    ]
                }
            },
        },
        "status": {"readyReplicas": 2, "availableReplicas": 2},
    }


def application_load_balancer(*associations: str) -> Document:
    """The quickstart's ApplicationLoadBalancer with its published status; the
    ``$ALB_SUBNET_ID`` placeholder replaced by ``associations`` when given."""
    (alb,) = k8s_documents("gateway-api/agc_applicationloadbalancer.yaml")
    (status,) = k8s_documents("gateway-api/agc_applicationloadbalancer_status.yaml")
    alb["status"] = status["status"]
    if associations:
        alb["spec"]["associations"] = list(associations)
    return alb


def agent_report(
    inventory_: inventory_pb2.ClusterInventory | None,
    *,
    controllers: Iterable[Document] = (),
    albs: Iterable[Document] = (),
    gateways: Iterable[Document] = (),
) -> report_pb2.Report:
    report = new_report(inventory_.arm_resource_id if inventory_ is not None else CLUSTER)
    deployments = list(controllers)
    report.agc.controllers.extend(workload(d, "Deployment") for d in deployments)
    report.agc.controller_version = agc_convert.controller_version(deployments)
    report.agc.application_load_balancers.extend(
        agc_convert.application_load_balancer(a) for a in albs
    )
    report.gateway_api.gateways.extend(gateway_convert.gateway(g) for g in gateways)
    return report


def with_facts(
    relative: str | None,
    alter: Callable[[Document], None] | None = None,
    *,
    agent: bool = True,
    **objects: Iterable[Document],
) -> audit_pb2.ClusterFacts:
    inventory_ = inventory(relative, alter) if relative else None
    report = agent_report(inventory_, **objects) if agent else None
    return facts_of(inventory_, report)


def gap(
    cluster_facts: audit_pb2.ClusterFacts, resource: str, reason: str
) -> audit_pb2.ClusterFacts:
    cluster_facts.report.gaps.add(gatherer="agc", resource=resource, reason=reason, message="x")
    return cluster_facts


def alb_addon(body: Document) -> None:
    """The AKS AGC add-on enabled (ingressProfile.applicationLoadBalancer, SDK)."""
    body["properties"]["ingressProfile"] = {"applicationLoadBalancer": {"enabled": True}}


def node_subnet(subnet_id: str) -> Callable[[Document], None]:
    def alter(body: Document) -> None:
        for pool in body["properties"]["agentPoolProfiles"]:
            pool["vnetSubnetID"] = subnet_id

    return alter


# -- running cases before the rules are registered ------------------------------------

FAMILY: dict[str, Rule] = {rule.id: rule for rule in (AGC_001, AGC_002, AGC_003, AGC_004, AGC_005)}


def outcome(
    rule: Rule, cluster_facts: audit_pb2.ClusterFacts, config: Mapping[str, Any] | None = None
) -> RuleOutcome:
    settings = RuleSettings.model_construct(
        per_rule={k: PerRuleSettings.model_validate(v) for k, v in (config or {}).items()}
    )
    return evaluate_rule(rule, ClusterView(cluster_facts), settings)


# -- AGC-001 -----------------------------------------------------------------------------


def helm_on_kubenet(result: RuleOutcome) -> None:
    (finding,) = result.findings
    assert finding.severity == audit_pb2.SEVERITY_CRITICAL
    assert finding.evidence["controllers"] == "azure-alb-system/alb-controller"
    assert finding.evidence["application_load_balancers"] == "alb-test-infra/alb-test"
    assert finding.evidence["model_from"] == "inventory"
    assert "addon" not in finding.evidence


AGC_001_CASES = [
    RuleCase(
        "AGC-001",
        "helm-alb-controller-on-kubenet",
        lambda: with_facts(KUBENET, controllers=[controller()], albs=[application_load_balancer()]),
        Outcome.FINDINGS,
        check=helm_on_kubenet,
    ),
    RuleCase(
        "AGC-001",
        "agc-addon-on-kubenet-without-agent",
        lambda: with_facts(KUBENET, alb_addon, agent=False),
        Outcome.FINDINGS,
        check=evidence("addon", "ingressProfile.applicationLoadBalancer.enabled"),
    ),
    RuleCase(
        "AGC-001",
        "alb-controller-on-overlay",
        lambda: with_facts(OVERLAY, controllers=[controller()]),
        Outcome.PASSED,
    ),
    RuleCase("AGC-001", "kubenet-without-agc", lambda: with_facts(KUBENET), Outcome.PASSED),
    RuleCase(
        "AGC-001",
        "kubenet-without-the-alb-crd",
        lambda: gap(
            with_facts(KUBENET),
            "applicationloadbalancers.alb.networking.azure.io/v1",
            "not_found",
        ),
        Outcome.PASSED,
    ),
    RuleCase(
        "AGC-001",
        "kubenet-without-agent-report",
        lambda: with_facts(KUBENET, agent=False),
        Outcome.NOT_ASSESSED,
        check=reason_has("no agent report"),
    ),
]


# -- AGC-003 -----------------------------------------------------------------------------

AGC_003_CASES = [
    RuleCase(
        "AGC-003",
        "controller-1.4-on-overlay",
        lambda: with_facts(OVERLAY, controllers=[controller("1.4.12")]),
        Outcome.FINDINGS,
        check=evidence("controller_version", "1.4.12"),
    ),
    RuleCase(
        "AGC-003",
        "controller-1.7.9-on-overlay",
        lambda: with_facts(OVERLAY, controllers=[controller("1.7.9")]),
        Outcome.PASSED,
    ),
    RuleCase(
        "AGC-003",
        "controller-1.4-on-node-subnet",
        lambda: with_facts(NODE_SUBNET, controllers=[controller("1.4.12")]),
        Outcome.PASSED,
    ),
    RuleCase("AGC-003", "overlay-without-agc", lambda: with_facts(OVERLAY), Outcome.PASSED),
    RuleCase(
        "AGC-003",
        "image-pinned-by-digest-only",
        lambda: with_facts(
            OVERLAY,
            controllers=[
                controller(image="mcr.microsoft.com/application-lb/images/alb-controller@sha256:0f")
            ],
        ),
        Outcome.NOT_ASSESSED,
        check=reason_has("no version tag"),
    ),
    RuleCase(
        "AGC-003",
        "deployments-forbidden",
        lambda: gap(
            with_facts(OVERLAY, controllers=[controller("1.4.12")]),
            "deployments.apps/v1",
            "forbidden",
        ),
        Outcome.NOT_ASSESSED,
        check=reason_has("forbidden"),
    ),
    RuleCase(
        "AGC-003",
        "alb-crd-not-installed-does-not-matter",
        lambda: gap(
            with_facts(OVERLAY, controllers=[controller("1.4.12")]),
            "applicationloadbalancers.alb.networking.azure.io/v1",
            "not_found",
        ),
        Outcome.FINDINGS,
    ),
]


@pytest.mark.parametrize(
    ("tag", "version"),
    [("1.7.9", (1, 7, 9)), ("v1.4.12", (1, 4, 12)), ("1.5.0-rc.1", (1, 5, 0)), ("1.5", (1, 5, 0)),
     ("latest", None), ("", None)],
)  # fmt: skip
def test_controller_tags_parse_to_versions(tag: str, version: tuple[int, ...] | None) -> None:
    assert _version(tag) == version


def test_the_first_release_with_overlay_support_passes() -> None:
    result = outcome(AGC_003, with_facts(OVERLAY, controllers=[controller("1.5.0")]))
    assert result.outcome is Outcome.PASSED


# -- AGC-004 -----------------------------------------------------------------------------


def managed_gateway() -> Document:
    (gateway,) = k8s_documents("gateway-api/agc_gateway_alb-managed.yaml")
    return gateway


def byo_gateway() -> Document:
    (gateway,) = k8s_documents("gateway-api/agc_gateway_byo.yaml")
    return gateway


def unannotated_gateway() -> Document:
    gateway = managed_gateway()
    del gateway["metadata"]["annotations"]
    return gateway


def basic_gateway() -> Document:
    return next(
        d for d in k8s_documents("gateway-api/examples_basic-http.yaml") if d["kind"] == "Gateway"
    ) | {"metadata": {"name": "my-gateway", "namespace": "default"}}


def names_missing_alb(result: RuleOutcome) -> None:
    (finding,) = result.findings
    assert finding.resource == "test-infra/gateway-01"
    assert (finding.evidence["alb_namespace"], finding.evidence["alb_name"]) == (
        "alb-test-infra",
        "alb-test",
    )
    assert "ApplicationLoadBalancer alb-test-infra/alb-test it names does not exist" in (
        finding.message
    )


AGC_004_CASES = [
    RuleCase(
        "AGC-004",
        "managed-gateway-naming-a-missing-alb",
        lambda: with_facts(None, gateways=[managed_gateway()]),
        Outcome.FINDINGS,
        check=names_missing_alb,
    ),
    RuleCase(
        "AGC-004",
        "gateway-without-alb-annotations",
        lambda: with_facts(
            None, gateways=[unannotated_gateway()], albs=[application_load_balancer()]
        ),
        Outcome.FINDINGS,
        check=evidence("alb_name", ""),
    ),
    RuleCase(
        "AGC-004",
        "alb-crd-not-installed",
        lambda: gap(
            with_facts(None, gateways=[managed_gateway()]),
            "applicationloadbalancers.alb.networking.azure.io/v1",
            "not_found",
        ),
        Outcome.FINDINGS,
    ),
    RuleCase(
        "AGC-004",
        "managed-gateway-and-its-alb",
        lambda: with_facts(None, gateways=[managed_gateway()], albs=[application_load_balancer()]),
        Outcome.PASSED,
    ),
    RuleCase(
        "AGC-004",
        "byo-gateway-with-alb-id",
        lambda: with_facts(None, gateways=[byo_gateway()]),
        Outcome.PASSED,
    ),
    RuleCase(
        "AGC-004",
        "gateway-of-another-class",
        lambda: with_facts(None, gateways=[basic_gateway()]),
        Outcome.PASSED,
    ),
    RuleCase(
        "AGC-004",
        "albs-forbidden",
        lambda: gap(
            with_facts(None, gateways=[managed_gateway()]),
            "applicationloadbalancers.alb.networking.azure.io/v1",
            "forbidden",
        ),
        Outcome.NOT_ASSESSED,
        check=reason_has("forbidden"),
    ),
]


def test_a_gateway_of_a_renamed_alb_class_is_judged_by_its_controller() -> None:
    gateway = unannotated_gateway()
    gateway["spec"]["gatewayClassName"] = "agc-internal"
    cluster_facts = with_facts(None, gateways=[gateway])
    cluster_facts.report.gateway_api.gateway_classes.add(
        name="agc-internal", controller_name="alb.networking.azure.io/alb-controller"
    )
    assert outcome(AGC_004, cluster_facts).outcome is Outcome.FINDINGS


# -- AGC-005 -----------------------------------------------------------------------------


def across_vnets(result: RuleOutcome) -> None:
    (finding,) = result.findings
    assert finding.resource == "ApplicationLoadBalancer alb-test-infra/alb-test"
    assert finding.evidence["association_vnets"] == (
        "/subscriptions/subid/resourcegroups/rg1/providers/microsoft.network/virtualnetworks/vnet-tc"
    )
    assert finding.evidence["node_vnets"].endswith("/virtualnetworks/vnetname")


MANAGED_VNET_SUBNET = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/"
    "MC_clitest000001_cliakstest000001_westus2/providers/Microsoft.Network/virtualNetworks/"
    "aks-vnet-12345678/subnets/aks-appgateway"
)
"""Hand-made: the subnet the AGC add-on creates in the AKS-managed VNet (AGC-CMP)."""

AGC_005_CASES = [
    RuleCase(
        "AGC-005",
        "association-in-another-vnet-with-overlay",
        lambda: with_facts(
            OVERLAY, node_subnet(OTHER_SUBNET), albs=[application_load_balancer(ASSOCIATION_SUBNET)]
        ),
        Outcome.FINDINGS,
        check=across_vnets,
    ),
    RuleCase(
        "AGC-005",
        "managed-vnet-and-association-elsewhere",
        lambda: with_facts(OVERLAY, albs=[application_load_balancer(ASSOCIATION_SUBNET)]),
        Outcome.FINDINGS,
        check=evidence(
            "node_vnets",
            "the AKS-managed VNet in resource group mc_clitest000001_cliakstest000001_westus2",
        ),
    ),
    RuleCase(
        "AGC-005",
        "association-in-the-node-vnet",
        lambda: with_facts(
            OVERLAY,
            # hand-made node subnet next to the published association subnet
            node_subnet(ASSOCIATION_SUBNET.replace("tc-subnet", "aks-nodes")),
            albs=[application_load_balancer(ASSOCIATION_SUBNET)],
        ),
        Outcome.PASSED,
    ),
    RuleCase(
        "AGC-005",
        "addon-subnet-in-the-managed-vnet",
        lambda: with_facts(OVERLAY, albs=[application_load_balancer(MANAGED_VNET_SUBNET)]),
        Outcome.PASSED,
    ),
    RuleCase(
        "AGC-005",
        "node-subnet-cluster-may-peer",
        lambda: with_facts(
            NODE_SUBNET,
            node_subnet(OTHER_SUBNET),
            albs=[application_load_balancer(ASSOCIATION_SUBNET)],
        ),
        Outcome.PASSED,
    ),
    RuleCase(
        "AGC-005",
        "association-placeholder-as-published",
        lambda: with_facts(OVERLAY, albs=[application_load_balancer()]),
        Outcome.NOT_ASSESSED,
        check=reason_has("$ALB_SUBNET_ID"),
    ),
    RuleCase(
        "AGC-005",
        "no-inventory",
        lambda: with_facts(None, albs=[application_load_balancer(ASSOCIATION_SUBNET)]),
        Outcome.NOT_ASSESSED,
        check=reason_has("inventory"),
    ),
]


# -- all cases ---------------------------------------------------------------------------

# -- AGC-002 -----------------------------------------------------------------------------


def association_subnet(prefix: str = "", delegation: str = "") -> Document:
    """The published subnet delegated to ``delegation`` (VirtualNetworkGetWithSubnetDelegation,
    its serviceName replaced; none when empty), moved to the published association's subnet
    id, with ``prefix`` as its address prefix when given."""
    vnet = arm_json("network/VirtualNetworkGetWithSubnetDelegation.json")
    subnet: Document = vnet["properties"]["subnets"][0]
    subnet["id"] = ASSOCIATION_SUBNET
    subnet["name"] = ASSOCIATION_SUBNET.rsplit("/", 1)[-1]
    if prefix:
        subnet["properties"]["addressPrefix"] = prefix
    if delegation:
        subnet["properties"]["delegations"][0]["properties"]["serviceName"] = delegation
    else:
        subnet["properties"]["delegations"] = []
    return subnet


AGC_DELEGATION = "Microsoft.ServiceNetworking/trafficControllers"


def agc_subnet_facts(
    relative: str,
    subnet: Document | None,
    *,
    albs: Iterable[Document] = (),
    byo: bool = False,
) -> audit_pb2.ClusterFacts:
    """A cluster whose inventory holds ``subnet`` and, with ``byo``, the published AGC
    association (AssociationGet) read for a traffic controller a Gateway names."""
    inventory_ = inventory(relative)
    if subnet is not None:
        inventory_.subnets.append(convert.subnet(subnet))
    if byo:
        association = arm_json("servicenetworking/AssociationGet.json")
        controller_id = association["id"].rsplit("/associations/", 1)[0]
        inventory_.agc_associations.append(convert.agc_association(controller_id, association))
    return facts_of(inventory_, agent_report(inventory_, albs=albs))


AGC_002_CASES = [
    RuleCase(
        "AGC-002",
        "alb-association-subnet-not-delegated",
        lambda: agc_subnet_facts(
            OVERLAY, association_subnet(), albs=[application_load_balancer(ASSOCIATION_SUBNET)]
        ),
        Outcome.FINDINGS,
        check=evidence("delegations", ""),
    ),
    RuleCase(
        "AGC-002",
        "byo-association-subnet-delegated-elsewhere",
        lambda: agc_subnet_facts(
            NODE_SUBNET, association_subnet(delegation="Microsoft.Provider/resourceType"), byo=True
        ),
        Outcome.FINDINGS,
        check=evidence("delegations", "Microsoft.Provider/resourceType"),
    ),
    RuleCase(
        "AGC-002",
        "overlay-association-subnet-not-a-24",
        lambda: agc_subnet_facts(
            OVERLAY,
            association_subnet("10.0.0.0/23", AGC_DELEGATION),
            albs=[application_load_balancer(ASSOCIATION_SUBNET)],
        ),
        Outcome.FINDINGS,
        check=evidence("address_prefixes", "10.0.0.0/23"),
    ),
    RuleCase(
        "AGC-002",
        "flat-association-subnet-too-small",
        lambda: agc_subnet_facts(
            NODE_SUBNET, association_subnet("10.0.1.0/25", AGC_DELEGATION), byo=True
        ),
        Outcome.FINDINGS,
    ),
    RuleCase(
        "AGC-002",
        "overlay-delegated-24",
        lambda: agc_subnet_facts(
            OVERLAY,
            association_subnet(delegation=AGC_DELEGATION),
            albs=[application_load_balancer(ASSOCIATION_SUBNET)],
        ),
        Outcome.PASSED,
    ),
    RuleCase(
        "AGC-002",
        "flat-delegated-23",
        lambda: agc_subnet_facts(
            NODE_SUBNET, association_subnet("10.0.0.0/23", AGC_DELEGATION), byo=True
        ),
        Outcome.PASSED,
    ),
    RuleCase(
        "AGC-002",
        "no-agc-association",
        lambda: agc_subnet_facts(OVERLAY, None),
        Outcome.PASSED,
    ),
    RuleCase(
        "AGC-002",
        "association-subnet-not-in-inventory",
        lambda: agc_subnet_facts(
            OVERLAY, None, albs=[application_load_balancer(ASSOCIATION_SUBNET)]
        ),
        Outcome.NOT_ASSESSED,
        check=reason_has("holds no subnet", ASSOCIATION_SUBNET),
    ),
]


CASES: list[RuleCase] = [
    *AGC_001_CASES,
    *AGC_002_CASES,
    *AGC_003_CASES,
    *AGC_004_CASES,
    *AGC_005_CASES,
]
