"""AGIC rules (AGW-001, AGW-002), from the recorded clusters with the ingress-appgw add-on
and the published Application Gateway (ApplicationGatewayGet) moved to the id they target.

The AGIC Deployments are hand-made from incluster.md §2 (add-on and Helm names, image
path): no AGIC manifest is published among the fixtures.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from netaudit.agent.gatherers.agic import agic_deployments
from netaudit.collector.inventory import convert
from netaudit.collector.rules import Outcome, RuleOutcome, RuleSettings, evaluate_rule
from netaudit.collector.rules.agic import AGW_002
from netaudit.collector.rules.settings import PerRuleSettings
from netaudit.collector.rules.view import ClusterView
from netaudit.v1 import audit_pb2, inventory_pb2
from tests.rule_cases import (
    RuleCase,
    arm_json,
    facts_of,
    inventory_of,
    managed_cluster,
    new_report,
    outcome_of,
)
from tests.rule_cases import reason_mentions as reason_has

Document = dict[str, Any]
CLUSTER = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/"
    "Microsoft.ContainerService/managedClusters/aks-1"
)
"""The cluster of report-only cases (no inventory)."""

ADDON_GREENFIELD = "azcli-recording_ManagedClusterGet_ingress-appgw-addon.json"
ADDON_BYO_SUBNET = "azcli-recording_ManagedClusterGet_byo-subnet-ingress-appgw.json"
NO_ADDON = "ManagedClustersGet.json"
IMAGE = "mcr.microsoft.com/azure-application-gateway/kubernetes-ingress:1.7.5"


def deployment(namespace: str, name: str, labels: dict[str, str] | None = None) -> Document:
    return {
        "metadata": {"namespace": namespace, "name": name, "labels": labels or {}},
        "spec": {
            "replicas": 1,
            "template": {"spec": {"containers": [{"name": name, "image": IMAGE}]}},
        },
        "status": {"readyReplicas": 1, "availableReplicas": 1},
    }


ADDON_DEPLOYMENT = deployment("kube-system", "ingress-appgw-deployment", {"app": "ingress-appgw"})
HELM_DEPLOYMENT = deployment("agic", "agic-ingress-azure", {"app": "ingress-azure"})
COREDNS = deployment("kube-system", "coredns")


def cluster_facts(
    relative: str | None,
    deployments: Iterable[Document] | None = (),
    alter: Callable[[Document], None] | None = None,
) -> audit_pb2.ClusterFacts:
    """Facts of a recorded cluster (or none) and, unless ``deployments`` is None, a report
    whose agic section the agent's converter filled from ``deployments``."""
    inventory = None
    if relative is not None:
        body = managed_cluster(relative)
        if alter is not None:
            alter(body)
        inventory = inventory_of(body)
    report = None
    if deployments is not None:
        report = new_report(inventory.arm_resource_id if inventory is not None else CLUSTER)
        report.agic.deployments.extend(agic_deployments(deployments))
    return facts_of(inventory, report)


def outcome(
    cluster: audit_pb2.ClusterFacts, config: Mapping[str, Any] | None = None
) -> RuleOutcome:
    settings = RuleSettings.model_construct(
        per_rule={k: PerRuleSettings.model_validate(v) for k, v in (config or {}).items()}
    )
    return evaluate_rule(AGW_002, ClusterView(cluster), settings)


def addon_from_arm(result: RuleOutcome) -> None:
    (finding,) = result.findings
    assert finding.severity == audit_pb2.SEVERITY_INFO
    assert finding.evidence["addon_enabled"] == "true"
    assert finding.evidence["application_gateway_id"].endswith(
        "/providers/microsoft.network/applicationgateways/applicationgateway"
    )
    assert "deployments" not in finding.evidence


def addon_and_deployment(result: RuleOutcome) -> None:
    (finding,) = result.findings
    assert finding.evidence["addon_enabled"] == "true"
    assert finding.evidence["deployments"] == "kube-system/ingress-appgw-deployment"
    assert finding.evidence["images"] == IMAGE


def helm_only(result: RuleOutcome) -> None:
    (finding,) = result.findings
    assert finding.evidence["deployments"] == "agic/agic-ingress-azure"
    assert "addon_enabled" not in finding.evidence


def disabled(body: Document) -> None:
    body["properties"]["addonProfiles"]["ingressApplicationGateway"]["enabled"] = False


AGW_002_CASES: list[RuleCase] = [
    RuleCase(
        "AGW-002",
        "addon-enabled-in-arm-without-agent",
        lambda: cluster_facts(ADDON_GREENFIELD, None),
        Outcome.FINDINGS,
        check=addon_from_arm,
    ),
    RuleCase(
        "AGW-002",
        "addon-in-arm-and-its-deployment",
        lambda: cluster_facts(ADDON_BYO_SUBNET, [ADDON_DEPLOYMENT, COREDNS]),
        Outcome.FINDINGS,
        check=addon_and_deployment,
    ),
    RuleCase(
        "AGW-002",
        "helm-install-seen-by-the-agent-only",
        lambda: cluster_facts(None, [HELM_DEPLOYMENT, COREDNS]),
        Outcome.FINDINGS,
        check=helm_only,
    ),
    RuleCase(
        "AGW-002",
        "neither-addon-nor-deployment",
        lambda: cluster_facts(NO_ADDON, [COREDNS]),
        Outcome.PASSED,
    ),
    RuleCase(
        "AGW-002",
        "addon-disabled",
        lambda: cluster_facts(ADDON_GREENFIELD, [COREDNS], disabled),
        Outcome.PASSED,
    ),
    RuleCase(
        "AGW-002",
        "no-addon-in-arm-and-no-agent",
        lambda: cluster_facts(NO_ADDON, None),
        Outcome.NOT_ASSESSED,
        check=reason_has("no agent report"),
    ),
    RuleCase(
        "AGW-002",
        "no-deployment-and-no-inventory",
        lambda: cluster_facts(None, [COREDNS]),
        Outcome.NOT_ASSESSED,
        check=reason_has("no inventory"),
    ),
]


# -- AGW-001 ---------------------------------------------------------------------------------

GREENFIELD_GATEWAY_ID: str = managed_cluster(ADDON_GREENFIELD)["properties"]["addonProfiles"][
    "ingressApplicationGateway"
]["config"]["effectiveApplicationGatewayId"]


def gateway(gateway_id: str = GREENFIELD_GATEWAY_ID, **state: str) -> dict[str, Any]:
    """ApplicationGatewayGet (Succeeded, Running, Standard_Medium) moved to ``gateway_id``,
    with provisioningState/operationalState replaced when given."""
    body: dict[str, Any] = arm_json("network/ApplicationGatewayGet.json")
    body.update(id=gateway_id, name=gateway_id.rsplit("/", 1)[-1])
    body["properties"].update(state)
    return body


def agw001_facts(
    relative: str = ADDON_GREENFIELD,
    read: inventory_pb2.ApplicationGateway | dict[str, Any] | None = None,
    alter: Callable[[Document], None] | None = None,
    gaps: Iterable[inventory_pb2.InventoryGap] = (),
) -> Callable[[], audit_pb2.ClusterFacts]:
    def build() -> audit_pb2.ClusterFacts:
        facts = cluster_facts(relative, None, alter)
        if isinstance(read, dict):
            facts.inventory.application_gateways.append(convert.application_gateway(read))
        elif read is not None:
            facts.inventory.application_gateways.append(read)
        facts.inventory.gaps.extend(gaps)
        return facts

    return build


def gateway_finding(**expected: str) -> Callable[[RuleOutcome], None]:
    def check(result: RuleOutcome) -> None:
        (finding,) = result.findings
        assert finding.severity == audit_pb2.SEVERITY_HIGH
        for key, value in expected.items():
            assert finding.evidence[key] == value, (key, dict(finding.evidence))

    return check


def without_effective_id(body: Document) -> None:
    # Hand-made: the add-on as AKS shows it before (or after failing) to attach a gateway.
    config = body["properties"]["addonProfiles"]["ingressApplicationGateway"]["config"]
    del config["effectiveApplicationGatewayId"]


GATEWAY_FORBIDDEN = inventory_pb2.InventoryGap(
    resource_id=GREENFIELD_GATEWAY_ID, reason="forbidden", message="403 AuthorizationFailed"
)

AGW_001_CASES: list[RuleCase] = [
    RuleCase("AGW-001", "gateway-stopped", agw001_facts(read=gateway(operationalState="Stopped")),
             Outcome.FINDINGS,
             check=gateway_finding(operational_state="Stopped", provisioning_state="Succeeded",
                                   application_gateway="applicationgateway")),
    RuleCase("AGW-001", "gateway-failed",
             agw001_facts(read=gateway(provisioningState="Failed")), Outcome.FINDINGS,
             check=gateway_finding(provisioning_state="Failed", operational_state="Running")),
    RuleCase("AGW-001", "gateway-not-found",
             agw001_facts(read=convert.missing_application_gateway(GREENFIELD_GATEWAY_ID)),
             Outcome.FINDINGS, check=gateway_finding(exists="false")),
    RuleCase("AGW-001", "no-effective-gateway-id",
             agw001_facts(ADDON_BYO_SUBNET, alter=without_effective_id), Outcome.FINDINGS,
             check=gateway_finding(effective_application_gateway_id="none",
                                   configured_gateway="gateway")),
    RuleCase("AGW-001", "gateway-running", agw001_facts(read=gateway()), Outcome.PASSED),
    RuleCase("AGW-001", "addon-disabled", agw001_facts(alter=disabled), Outcome.PASSED),
    RuleCase("AGW-001", "no-addon", agw001_facts(NO_ADDON), Outcome.PASSED),
    RuleCase("AGW-001", "gateway-read-forbidden", agw001_facts(gaps=[GATEWAY_FORBIDDEN]),
             Outcome.NOT_ASSESSED, check=reason_has("applicationGateways/applicationgateway",
                                                    "forbidden")),
    RuleCase("AGW-001", "gateway-not-read", agw001_facts(), Outcome.NOT_ASSESSED,
             check=reason_has("was not read")),
]  # fmt: skip


def test_agw001_resource_is_the_gateway_and_states_compare_case_insensitively() -> None:
    facts = agw001_facts(read=gateway(provisioningState="succeeded", operationalState="RUNNING"))()
    assert outcome_of("AGW-001", facts).outcome is Outcome.PASSED
    stopped = outcome_of("AGW-001", agw001_facts(read=gateway(operationalState="Stopped"))())
    assert stopped.findings[0].resource == GREENFIELD_GATEWAY_ID.lower()


def test_agw001_config_key_matches_in_any_case() -> None:
    def lower_cased_key(body: Document) -> None:
        config = body["properties"]["addonProfiles"]["ingressApplicationGateway"]["config"]
        config["effectiveapplicationgatewayid"] = config.pop("effectiveApplicationGatewayId")

    facts = agw001_facts(read=gateway(operationalState="Stopped"), alter=lower_cased_key)()
    assert outcome_of("AGW-001", facts).outcome is Outcome.FINDINGS


CASES: list[RuleCase] = AGW_002_CASES + AGW_001_CASES


def test_the_addon_key_matches_in_any_case() -> None:
    def lower_cased(body: Document) -> None:
        profiles = body["properties"]["addonProfiles"]
        profiles["ingressapplicationgateway"] = profiles.pop("ingressApplicationGateway")

    result = outcome(cluster_facts(ADDON_GREENFIELD, [], lower_cased))
    assert result.outcome is Outcome.FINDINGS


def test_a_deployment_forbidden_to_the_agent_leaves_an_unseen_helm_install_unknown() -> None:
    cluster = cluster_facts(NO_ADDON, [])
    cluster.report.gaps.add(
        gatherer="agic", resource="deployments.apps/v1", reason="forbidden", message="x"
    )
    result = outcome(cluster)
    assert result.outcome is Outcome.NOT_ASSESSED
    assert "forbidden" in result.reason
