"""Kubenet rules: KUB-001 (retirement), KUB-002 (400 nodes), KUB-004 (route table),
KUB-005 (unsupported features). KUB-003 is fleet-wide and tested with the fleet rules."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from netaudit.agent.gatherers import agc, nodes
from netaudit.collector.rules import Outcome, RuleOutcome
from netaudit.collector.rules.kubenet import KUB_001, KUB_002, KUB_004, KUB_005
from netaudit.v1 import audit_pb2, report_pb2
from tests.rule_cases import (
    ARM,
    FleetCase,
    RuleCase,
    arm_json,
    facts_of,
    inventory_of,
    k8s_documents,
    managed_cluster,
    new_report,
    outcome_of,
)

FAMILY = (KUB_001, KUB_002, KUB_004, KUB_005)
KUBENET = "ManagedClustersGet.json"
BYO_SUBNET = "azcli-recording_ManagedClusterGet_byo-subnet-ingress-appgw.json"
OVERLAY = "azcli-recording_ManagedClusterGet_cni-overlay.json"


# -- facts ------------------------------------------------------------------------------


def arm_facts(
    name: str, alter: Callable[[dict[str, Any]], None] | None = None
) -> Callable[[], audit_pb2.ClusterFacts]:
    def build() -> audit_pb2.ClusterFacts:
        body = managed_cluster(name)
        if alter is not None:
            alter(body)
        return facts_of(inventory_of(body))

    return build


def pools(body: dict[str, Any]) -> list[dict[str, Any]]:
    profiles: list[dict[str, Any]] = body["properties"]["agentPoolProfiles"]
    return profiles


def windows_pool() -> dict[str, Any]:
    """The Windows2022 pool of the AgentPools_CreateOrUpdate example (agentPools shape)."""
    pool: dict[str, Any] = arm_json("managedclusters/AgentPoolsCreate_WindowsOSSKU.json")
    return pool


def cluster_fixtures() -> list[str]:
    names = []
    for path in sorted((ARM / "managedclusters").glob("*.json")):
        data = json.loads(path.read_text())
        body = data["responses"]["200"]["body"] if "responses" in data else data
        if "networkProfile" in (body.get("properties") or {}):
            names.append(path.name)
    return names


def kubenet_node(name: str, pod_cidr: str) -> report_pb2.Node:
    """A node as a kubenet cluster shows it: spec.podCIDR set. Hand-made: the fixtures hold
    no real AKS Node objects (MANIFEST "Missing" 8); labels as incluster.md §1 lists them."""
    return nodes.node(
        {
            "metadata": {
                "name": name,
                "labels": {
                    "kubernetes.azure.com/agentpool": "nodepool1",
                    "kubernetes.azure.com/cluster": "MC_rg1_clustername1_location1",
                    "kubernetes.azure.com/mode": "system",
                    "kubernetes.io/os": "linux",
                },
            },
            "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]},
            "status": {
                "allocatable": {"pods": "110"},
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        }
    )


def kubenet_report(*, nnc_not_served: bool = False) -> report_pb2.Report:
    """An agent report of clustername1 whose nodes show kubenet (every node has a podCIDR,
    no NNC, no azure-cns): the model comes from the report."""
    report = new_report(managed_cluster(KUBENET)["id"])
    report.nodes.extend(
        kubenet_node(f"aks-nodepool1-0000000{i}-vmss00000{i}", f"10.244.{i}.0/24") for i in range(3)
    )
    if nnc_not_served:
        # a kubenet cluster has no NodeNetworkConfig CRD: the agent records it as not served
        report.gaps.add(
            gatherer="nodes",
            resource=nodes.NODE_NETWORK_CONFIGS.label,
            reason="not_found",
            message="not served by the API server (CRD not installed)",
        )
    return report


def report_facts(report: report_pb2.Report) -> Callable[[], audit_pb2.ClusterFacts]:
    return lambda: facts_of(None, report)


# -- checks -------------------------------------------------------------------------------


def one_finding(outcome: RuleOutcome) -> audit_pb2.Finding:
    assert len(outcome.findings) == 1, outcome.findings
    return outcome.findings[0]


def medium_490_days(outcome: RuleOutcome) -> None:
    finding = one_finding(outcome)
    assert finding.severity == audit_pb2.SEVERITY_MEDIUM
    assert finding.evidence["days_remaining"] == "490"
    assert finding.evidence["retirement_date"] == "2028-03-31"
    assert finding.evidence["model_from"] == "inventory"
    assert finding.resource == finding.cluster_key
    assert "in 490 days" in finding.message


def high(outcome: RuleOutcome) -> None:
    assert one_finding(outcome).severity == audit_pb2.SEVERITY_HIGH


def model_from_report(outcome: RuleOutcome) -> None:
    finding = one_finding(outcome)
    assert finding.evidence["model_from"] == "report"
    assert finding.severity == audit_pb2.SEVERITY_MEDIUM
    assert finding.resource == managed_cluster(KUBENET)["id"].lower()


def says(text: str) -> Callable[[RuleOutcome], None]:
    def check(outcome: RuleOutcome) -> None:
        assert text in outcome.reason, outcome.reason

    return check


def evidence(**expected: str) -> Callable[[RuleOutcome], None]:
    def check(outcome: RuleOutcome) -> None:
        finding = one_finding(outcome)
        for key, value in expected.items():
            assert finding.evidence[key] == value, (key, dict(finding.evidence))

    return check


# -- KUB-001 ----------------------------------------------------------------------------------

KUB_001_CASES = [
    RuleCase(
        "KUB-001",
        f"fixture-{name.removesuffix('.json')}",
        arm_facts(name),
        Outcome.FINDINGS
        if managed_cluster(name)["properties"]["networkProfile"].get("networkPlugin") == "kubenet"
        else Outcome.PASSED,
    )
    for name in cluster_fixtures()
] + [
    RuleCase("KUB-001", "medium-490-days-before", arm_facts(KUBENET), Outcome.FINDINGS,
             check=medium_490_days),
    RuleCase("KUB-001", "urgent-window-from-settings", arm_facts(KUBENET), Outcome.FINDINGS,
             settings={"KUB-001": {"urgent_days": 500}}, check=high),
    RuleCase("KUB-001", "no-inventory-report-nodes-show-kubenet", report_facts(kubenet_report()),
             Outcome.FINDINGS, check=model_from_report),
    RuleCase("KUB-001", "no-inventory-nnc-crd-not-served",
             report_facts(kubenet_report(nnc_not_served=True)), Outcome.FINDINGS,
             check=model_from_report),
    RuleCase("KUB-001", "no-inventory-no-report", lambda: facts_of(), Outcome.NOT_ASSESSED,
             check=says("no inventory")),
]  # fmt: skip


def test_kub001_fires_exactly_on_the_kubenet_fixtures() -> None:
    kubenet = [c for c in KUB_001_CASES if c.name.startswith("fixture-")]
    assert {c.expect for c in kubenet} == {Outcome.FINDINGS, Outcome.PASSED}
    for case in kubenet:
        outcome = case.run()
        assert outcome.outcome is case.expect, case.name
        assert len(outcome.findings) == (case.expect is Outcome.FINDINGS)


@pytest.mark.parametrize(
    ("when", "severity"),
    [
        (datetime(2027, 10, 2, tzinfo=UTC), audit_pb2.SEVERITY_MEDIUM),  # 181 days
        (datetime(2027, 10, 3, tzinfo=UTC), audit_pb2.SEVERITY_HIGH),  # 180 days
        (datetime(2028, 5, 1, tzinfo=UTC), audit_pb2.SEVERITY_HIGH),  # after retirement
    ],
)
def test_kub001_is_high_from_180_days_before(when: datetime, severity: int) -> None:
    facts = facts_of(inventory_of(managed_cluster(KUBENET)), now=when)
    (finding,) = outcome_of("KUB-001", facts).findings
    assert finding.severity == severity


def test_kub001_after_retirement_says_how_long_ago() -> None:
    facts = facts_of(inventory_of(managed_cluster(KUBENET)), now=datetime(2028, 5, 1, tzinfo=UTC))
    (finding,) = outcome_of("KUB-001", facts).findings
    assert finding.evidence["days_remaining"] == "-31"
    assert "31 days ago" in finding.message


def test_kub001_report_without_a_kubenet_signal_is_not_assessed() -> None:
    report = new_report(managed_cluster(KUBENET)["id"])
    node = kubenet_node("aks-nodepool1-00000000-vmss000000", "10.244.0.0/24")
    del node.pod_cidrs[:]  # no podCIDR: no reliable signal for any model
    report.nodes.append(node)
    outcome = outcome_of("KUB-001", facts_of(None, report))
    assert outcome.outcome is Outcome.NOT_ASSESSED
    assert "network model is unknown" in outcome.reason


# -- KUB-002 ----------------------------------------------------------------------------------


def autoscale(*max_counts: int | None) -> Callable[[dict[str, Any]], None]:
    """Pools copied from the first one, autoscaling to these maxima (None: no maxCount)."""

    def alter(body: dict[str, Any]) -> None:
        first = pools(body)[0]
        body["properties"]["agentPoolProfiles"] = []
        for index, max_count in enumerate(max_counts):
            pool = dict(first, name=f"pool{index}", enableAutoScaling=True, minCount=1)
            pool.pop("maxCount", None)
            if max_count is not None:
                pool["maxCount"] = max_count
            pools(body).append(pool)

    return alter


KUB_002_CASES = [
    RuleCase("KUB-002", "kubenet-autoscaling-to-450", arm_facts(KUBENET, autoscale(300, 150)),
             Outcome.FINDINGS,
             check=evidence(nodes="450", excess="50",
                            **{"pool.pool0": "300", "pool.pool1": "150"})),
    RuleCase("KUB-002", "kubenet-3-nodes", arm_facts(KUBENET), Outcome.PASSED),
    RuleCase("KUB-002", "kubenet-exactly-400", arm_facts(KUBENET, autoscale(250, 150)),
             Outcome.PASSED),
    RuleCase("KUB-002", "overlay-autoscaling-to-450", arm_facts(OVERLAY, autoscale(300, 150)),
             Outcome.PASSED),
    RuleCase("KUB-002", "pool-without-maxcount", arm_facts(KUBENET, autoscale(300, None)),
             Outcome.NOT_ASSESSED, check=says("gave no maxCount")),
    RuleCase("KUB-002", "known-pools-exceed-despite-unknown-one",
             arm_facts(KUBENET, autoscale(401, None)), Outcome.FINDINGS,
             check=evidence(nodes="401", unknown_pools="pool1")),
]  # fmt: skip


# -- KUB-004 ----------------------------------------------------------------------------------


def byo_subnet(route_table: bool) -> dict[str, Any]:
    """SubnetGet.json renamed to the recorded cluster's BYO node subnet (aks-subnet);
    with ``route_table``, RouteTableGet.json's table associated."""
    cluster = managed_cluster(BYO_SUBNET)
    subnet_id = pools(cluster)[0]["vnetSubnetID"]
    subnet: dict[str, Any] = arm_json("network/SubnetGet.json")
    subnet["id"] = subnet_id
    subnet["name"] = subnet_id.rsplit("/", 1)[-1]
    if route_table:
        subnet["properties"]["routeTable"] = {"id": arm_json("network/RouteTableGet.json")["id"]}
    return subnet


def byo_facts(*subnets: dict[str, Any]) -> Callable[[], audit_pb2.ClusterFacts]:
    return lambda: facts_of(inventory_of(managed_cluster(BYO_SUBNET), subnets))


def subnet_finding(outcome: RuleOutcome) -> None:
    finding = one_finding(outcome)
    assert finding.resource == pools(managed_cluster(BYO_SUBNET))[0]["vnetSubnetID"].lower()
    assert finding.evidence["pools"] == "nodepool1"
    assert "no route table" in finding.message


def subnets_gap() -> audit_pb2.ClusterFacts:
    inventory = inventory_of(managed_cluster(BYO_SUBNET))
    inventory.gaps.add(
        resource_id=pools(managed_cluster(BYO_SUBNET))[0]["vnetSubnetID"],
        reason="forbidden",
        message="AuthorizationFailed",
    )
    return facts_of(inventory)


KUB_004_CASES = [
    RuleCase("KUB-004", "byo-subnet-without-route-table", byo_facts(byo_subnet(False)),
             Outcome.FINDINGS, check=subnet_finding),
    RuleCase("KUB-004", "byo-subnet-with-route-table", byo_facts(byo_subnet(True)),
             Outcome.PASSED),
    RuleCase("KUB-004", "aks-managed-vnet", arm_facts(KUBENET), Outcome.PASSED),
    RuleCase("KUB-004", "subnet-not-in-inventory", byo_facts(), Outcome.NOT_ASSESSED,
             check=says("holds no subnet")),
    RuleCase("KUB-004", "subnet-read-forbidden", subnets_gap, Outcome.NOT_ASSESSED,
             check=says("forbidden")),
]  # fmt: skip


# -- KUB-005 ----------------------------------------------------------------------------------


def with_policy(policy: str) -> Callable[[dict[str, Any]], None]:
    def alter(body: dict[str, Any]) -> None:
        body["properties"]["networkProfile"]["networkPolicy"] = policy

    return alter


def with_windows_pool(body: dict[str, Any]) -> None:
    pools(body).append(windows_pool())


def with_virtual_nodes(body: dict[str, Any]) -> None:
    # hand-made add-on profile: no fixture enables aciConnectorLinux (CLI _consts.py key)
    body["properties"]["addonProfiles"] = {
        "aciConnectorLinux": {"enabled": True, "config": {"SubnetName": "virtual-node-aci"}}
    }


def with_agc_addon(body: dict[str, Any]) -> None:
    # hand-made: the enabled-state AGC add-on body was not extracted (MANIFEST "Missing" 3)
    body["properties"]["ingressProfile"] = {"applicationLoadBalancer": {"enabled": True}}


def agc_report(with_alb: bool) -> report_pb2.Report:
    report = new_report(managed_cluster(KUBENET)["id"])
    if with_alb:
        for document in k8s_documents("gateway-api/agc_applicationloadbalancer.yaml"):
            report.agc.application_load_balancers.append(agc.application_load_balancer(document))
    return report


def kubenet_with_report(with_alb: bool) -> Callable[[], audit_pb2.ClusterFacts]:
    return lambda: facts_of(inventory_of(managed_cluster(KUBENET)), agc_report(with_alb))


def features(*names: str) -> Callable[[RuleOutcome], None]:
    def check(outcome: RuleOutcome) -> None:
        finding = one_finding(outcome)
        assert finding.evidence["features"] == ",".join(names)
        assert finding.resource == finding.cluster_key

    return check


KUB_005_CASES = [
    RuleCase("KUB-005", "kubenet-with-azure-npm", arm_facts(KUBENET, with_policy("azure")),
             Outcome.FINDINGS, check=features("network_policy")),
    RuleCase("KUB-005", "kubenet-with-windows-pool", arm_facts(KUBENET, with_windows_pool),
             Outcome.FINDINGS, check=features("windows_pools")),
    RuleCase("KUB-005", "kubenet-with-virtual-nodes", arm_facts(KUBENET, with_virtual_nodes),
             Outcome.FINDINGS, check=features("virtual_nodes")),
    RuleCase("KUB-005", "kubenet-with-agc-addon-no-report", arm_facts(KUBENET, with_agc_addon),
             Outcome.FINDINGS, check=features("application_gateway_for_containers")),
    RuleCase("KUB-005", "kubenet-with-agc-alb-in-report", kubenet_with_report(True),
             Outcome.FINDINGS,
             check=evidence(application_gateway_for_containers=(
                 "ApplicationLoadBalancer alb-test-infra/alb-test"))),
    RuleCase("KUB-005", "kubenet-with-calico-and-report", kubenet_with_report(False),
             Outcome.PASSED),
    RuleCase("KUB-005", "overlay-with-azure-npm",
             lambda: facts_of(inventory_of(managed_cluster(OVERLAY)), agc_report(False)),
             Outcome.PASSED),
    RuleCase("KUB-005", "kubenet-no-report-agc-unknown", arm_facts(KUBENET),
             Outcome.NOT_ASSESSED, check=says("no agent report")),
]  # fmt: skip


def test_kub005_names_every_unsupported_feature() -> None:
    body = managed_cluster(KUBENET)
    for alter in (with_policy("cilium"), with_windows_pool, with_virtual_nodes, with_agc_addon):
        alter(body)
    (finding,) = outcome_of("KUB-005", facts_of(inventory_of(body))).findings
    assert finding.evidence["features"] == (
        "network_policy,windows_pools,virtual_nodes,application_gateway_for_containers"
    )
    assert finding.evidence["network_policy"] == "networkPolicy=cilium"
    assert finding.evidence["windows_pools"] == "wnp2"


def test_kub005_calico_is_supported() -> None:
    facts = facts_of(inventory_of(managed_cluster(KUBENET)), agc_report(False))
    facts.inventory.network_profile.network_policy = "calico"
    assert outcome_of("KUB-005", facts).outcome is Outcome.PASSED


CASES = KUB_001_CASES + KUB_002_CASES + KUB_004_CASES + KUB_005_CASES


# -- KUB-003: a route table shared across clusters (the fleet-wide step) ------------------

ROUTE_TABLE = arm_json("network/RouteTableGet.json")["id"].lower()


def kubenet_key(name: str) -> str:
    return managed_cluster(KUBENET)["id"].lower().rsplit("/", 1)[0] + f"/{name}"


def route_table_claim(name: str, plugin: str, subnet: str) -> audit_pb2.FleetClaim:
    return audit_pb2.FleetClaim(
        cluster_key=kubenet_key(name),
        cluster_name=name,
        route_table=audit_pb2.RouteTableClaim(
            route_table_id=ROUTE_TABLE, network_plugin=plugin, subnet_ids=[subnet]
        ),
    )


def tables(*claims: tuple[str, str, str]) -> Callable[[], dict[str, Any]]:
    """The sample route table (arm/network/RouteTableGet.json) claimed by hand-made clusters."""
    return lambda: {"route_table": [(ROUTE_TABLE, [route_table_claim(*c) for c in claims])]}


def names_every_other_cluster(findings: list[audit_pb2.Finding]) -> None:
    first = next(f for f in findings if f.cluster_key == kubenet_key("aks-0"))
    assert first.resource == ROUTE_TABLE
    assert first.severity == audit_pb2.SEVERITY_CRITICAL
    others = sorted({f.cluster_key.rsplit("/", 1)[-1] for f in findings} - {"aks-0"})
    assert first.evidence["shared_with"] == ",".join(others)
    assert first.evidence["clusters"] == str(len(findings))
    assert all(name in first.message for name in others)


FLEET_CASES = [
    FleetCase(
        "KUB-003",
        "two-kubenet-clusters",
        tables(("aks-0", "kubenet", "/s0"), ("aks-1", "kubenet", "/s1")),
        frozenset({kubenet_key("aks-0"), kubenet_key("aks-1")}),
        names_every_other_cluster,
    ),
    FleetCase(
        "KUB-003",
        "three-clusters-one-kubenet",
        tables(("aks-0", "kubenet", "/s0"), ("aks-1", "azure", "/s1"), ("aks-2", "azure", "/s2")),
        frozenset({kubenet_key(f"aks-{i}") for i in range(3)}),
        names_every_other_cluster,
    ),
    FleetCase(
        "KUB-003",
        "shared-by-clusters-that-are-not-kubenet",
        tables(("aks-0", "azure", "/s0"), ("aks-1", "azure", "/s1")),
        frozenset(),
    ),
    FleetCase(
        "KUB-003",
        "one-cluster-two-subnets",
        tables(("aks-0", "kubenet", "/s0"), ("aks-0", "kubenet", "/s1")),
        frozenset(),
    ),
]

CASES += [
    RuleCase("KUB-003", "kubenet-cluster-from-arm", arm_facts(KUBENET), Outcome.PASSED),
    RuleCase(
        "KUB-003",
        "without-inventory",
        lambda: facts_of(report=new_report(managed_cluster(KUBENET)["id"])),
        Outcome.NOT_ASSESSED,
    ),
]
