"""CNI and IPAM rules (CNI-001..006, CNI-008..011, CNI-013, CNI-014) on real ARM payloads.

The clusters are the recorded Azure CNI node-subnet cluster (moved onto a BYO /24, the
sample fleet's aks-cni-neu), the recorded overlay cluster and the REST examples; subnets,
VNets and usages are the Microsoft.Network examples (tests/unit/rules/network_payloads.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest

from netaudit.agent.gatherers.nodes import node, node_network_config
from netaudit.collector.facts import earlier_node_network_configs
from netaudit.collector.rules import Outcome, RuleOutcome, cni
from netaudit.v1 import audit_pb2, report_pb2
from tests.rule_cases import (
    NOW,
    FactsFactory,
    RuleCase,
    evidence_has,
    facts_of,
    inventory_of,
    managed_cluster,
    new_report,
)
from tests.rule_cases import (
    reason_mentions as reason_names,
)
from tests.unit.rules.network_payloads import (
    AZURE_CNS,
    NNC_TABLE,
    NODE_SUBNET_ID,
    VNET_ID,
    agent_pool_body,
    cns_pool,
    delegated_subnet_body,
    evaluate,
    gateway_usage_row,
    nnc_nodes,
    nnc_object,
    node_object,
    node_subnet_body,
    recorded_cni_cluster,
    subnet_body,
    subnet_id,
    usage_row,
    vnet_body,
)

Body = dict[str, Any]
Usage = tuple[str, float, float]

STATIC_POD_SUBNET = subnet_id("pods-static")
DYNAMIC_POD_SUBNET = subnet_id("pods-dynamic")
OTHER_VNET_POD_SUBNET = (
    "/subscriptions/subid/resourceGroups/rg1/providers/Microsoft.Network/virtualNetworks/"
    "other-vnet/subnets/pods"
)
FULL_NODE = "aks-nodepool1-39652274-vmss000001"


def facts(
    cluster: Body,
    subnets: list[Body] | None = None,
    usages: Sequence[Usage] = (),
    vnet: Body | None = None,
    report: bool = False,
) -> audit_pb2.ClusterFacts:
    """The cluster with its subnets (default: subnet1), the fixture VNet with the published
    GatewaySubnet usage row plus ``usages``, and an empty agent report when asked."""
    rows: list[Mapping[str, Any]] = [gateway_usage_row(), *(usage_row(*u) for u in usages)]
    inventory = inventory_of(
        cluster,
        [node_subnet_body()] if subnets is None else subnets,
        [(vnet_body() if vnet is None else vnet, rows)],
    )
    return facts_of(inventory, new_report(inventory.arm_resource_id) if report else None)


def with_pools(body: Body, change: Callable[[Body, Body], None]) -> Body:
    """``body`` after ``change(nodepool1, npwin)`` altered its two pools."""
    change(*body["properties"]["agentPoolProfiles"])
    return body


def node_subnet(prefix: str) -> Body:
    subnet = node_subnet_body()
    subnet["properties"]["addressPrefix"] = prefix
    return subnet


def network(body: Body, profile: dict[str, str], **pool: str) -> Body:
    """The cluster with another network profile and pool fields."""
    body["properties"]["networkProfile"] = profile
    for entry in body["properties"]["agentPoolProfiles"]:
        entry.update(pool)
    return body


def in_network_model(profile: dict[str, str], pool: dict[str, str]) -> FactsFactory:
    """The recorded cluster (with a report) in another network model."""
    return lambda: facts(network(recorded_cni_cluster(), profile, **pool), report=True)


def with_node_subnet_usage(used: float, limit: float) -> FactsFactory:
    return lambda: facts(recorded_cni_cluster(), usages=[(NODE_SUBNET_ID, used, limit)])


def overlay_cluster() -> Body:
    """The recorded overlay cluster (nodepool1, count 1, maxPods 250) moved onto subnet1."""
    body = managed_cluster("azcli-recording_ManagedClusterGet_cni-overlay.json")
    body["properties"]["agentPoolProfiles"][0]["vnetSubnetID"] = NODE_SUBNET_ID
    return body


def mixed_pod_subnet_cluster(
    static_subnet: str = STATIC_POD_SUBNET, dynamic_subnet: str = DYNAMIC_POD_SUBNET
) -> Body:
    """The recorded cluster on pod subnets: nodepool1 (maxPods 30, autoscaling to 10) in
    StaticBlock mode, npwin replaced by agentpool1 of AgentPoolsCreate_Update in the default
    dynamic mode with maxPods 250, autoscaling to 10; both surge 1 (unset, K8s < 1.27)."""
    body = recorded_cni_cluster()
    system = body["properties"]["agentPoolProfiles"][0]
    system.update(podSubnetID=static_subnet, podIPAllocationMode="StaticBlock")
    dynamic = agent_pool_body()
    dynamic["properties"].update(
        vnetSubnetID=NODE_SUBNET_ID,
        podSubnetID=dynamic_subnet,
        maxPods=250,
        enableAutoScaling=True,
        minCount=1,
        maxCount=10,
    )
    body["properties"]["agentPoolProfiles"] = [system, dynamic]
    return body


def mixed_facts(
    dynamic_used: float, static_used: float = 100, cluster: Body | None = None
) -> audit_pb2.ClusterFacts:
    """The mixed cluster with two /22 pod subnets (1019 IPs each) and their usages."""
    return facts(
        cluster or mixed_pod_subnet_cluster(),
        subnets=[
            node_subnet_body(),
            subnet_body("pods-static", "10.0.16.0/22"),
            subnet_body("pods-dynamic", "10.0.20.0/22"),
        ],
        usages=[
            (NODE_SUBNET_ID, 20, 251),
            (STATIC_POD_SUBNET, static_used, 1019),
            (DYNAMIC_POD_SUBNET, dynamic_used, 1019),
        ],
    )


def agent_report(
    *nodes: report_pb2.Node, gaps: tuple[report_pb2.Gap, ...] = ()
) -> audit_pb2.ClusterFacts:
    """Facts with only an agent report of these nodes (and gaps)."""
    report = new_report(recorded_cni_cluster()["id"])
    report.nodes.extend(nodes)
    report.gaps.extend(gaps)
    return facts_of(report=report)


NNC_GAP = "nodenetworkconfigs.acn.azure.com/v1alpha"


# -- checks on outcomes --------------------------------------------------------------------


def evidence_is(expected: dict[str, str], index: int = 0) -> Callable[[RuleOutcome], None]:
    def check(outcome: RuleOutcome) -> None:
        assert dict(outcome.findings[index].evidence) == expected

    return check


def graded(severity: int, ratio: str) -> Callable[[RuleOutcome], None]:
    def check(outcome: RuleOutcome) -> None:
        (finding,) = outcome.findings
        assert finding.severity == severity
        assert finding.resource == NODE_SUBNET_ID.lower()
        assert (finding.evidence["limit"], finding.evidence["ratio"]) == ("251", ratio)

    return check


def resource_ends(suffix: str) -> Callable[[RuleOutcome], None]:
    def check(outcome: RuleOutcome) -> None:
        (finding,) = outcome.findings
        assert finding.resource == finding.cluster_key + suffix

    return check


def pools_are(outcome: RuleOutcome, *pools: str) -> None:
    assert sorted(f.evidence["pool"] for f in outcome.findings) == list(pools)


def resource_is(resource: str) -> Callable[[RuleOutcome], None]:
    def check(outcome: RuleOutcome) -> None:
        assert [f.resource for f in outcome.findings] == [resource]

    return check


def recorded_403_of_251(outcome: RuleOutcome) -> None:
    (finding,) = outcome.findings
    assert finding.severity == audit_pb2.SEVERITY_HIGH
    assert finding.resource == NODE_SUBNET_ID.lower()
    assert dict(finding.evidence) == {
        "required": "403",
        "usable": "251",
        "prefix": "10.0.1.0/24",
        "shortfall": "152",
        "pool.nodepool1": "(10+1)*31=341",
        "pool.npwin": "(1+1)*31=62",
    }
    assert "needs 403" in finding.message and "251 usable" in finding.message


def only_nodepool1_sized(outcome: RuleOutcome) -> None:
    (finding,) = outcome.findings
    assert finding.evidence["required"] == "341"
    assert "pool.npwin" not in finding.evidence
    assert "npwin" in outcome.reason and "'abc'" in outcome.reason


def only_npwin_sized(outcome: RuleOutcome) -> None:
    (finding,) = outcome.findings
    assert finding.evidence["pool.npwin"] == "(10+1)*31=341"
    assert "pool.nodepool1" not in finding.evidence
    assert "nodepool1 autoscales but ARM gave no maxCount" in outcome.reason


def unset_autoscaling_max(nodepool1: Body, npwin: Body) -> None:
    del nodepool1["maxCount"]


def unset_autoscaling_max_and_grow_npwin(nodepool1: Body, npwin: Body) -> None:
    del nodepool1["maxCount"]
    npwin["count"] = 10


def unparsable_surge_of_npwin(nodepool1: Body, npwin: Body) -> None:
    npwin["upgradeSettings"] = {"maxSurge": "abc"}


def no_surge(nodepool1: Body, npwin: Body) -> None:
    for pool in (nodepool1, npwin):
        pool["upgradeSettings"] = {"maxSurge": "0"}


def all_of(*checks: Callable[[RuleOutcome], None]) -> Callable[[RuleOutcome], None]:
    def check(outcome: RuleOutcome) -> None:
        for each in checks:
            each(outcome)

    return check


# -- CNI-001 / CNI-002 (moved from tests/unit/test_rules_cni.py) ----------------------------

CASES: list[RuleCase] = [
    RuleCase(
        "CNI-001",
        "recorded-cluster-autoscaling-to-10-needs-403-of-251",
        lambda: facts(recorded_cni_cluster()),
        Outcome.FINDINGS,
        check=recorded_403_of_251,
    ),
    RuleCase(
        "CNI-001",
        "slash-23-holds-the-same-cluster",
        lambda: facts(recorded_cni_cluster(), [node_subnet("10.0.0.0/23")], report=True),
        Outcome.PASSED,
    ),
    *(
        RuleCase(
            "CNI-001",
            f"only-node-subnet-mode-is-judged-{name}",
            in_network_model(profile, pool),
            Outcome.PASSED,
        )
        for name, profile, pool in (
            ("kubenet", {"networkPlugin": "kubenet"}, {}),
            ("overlay", {"networkPlugin": "azure", "networkPluginMode": "overlay"}, {}),
            ("pod-subnet", {"networkPlugin": "azure"}, {"podSubnetID": DYNAMIC_POD_SUBNET}),
        )
    ),
    RuleCase(
        "CNI-001",
        "needs-the-inventory",
        lambda: agent_report(),
        Outcome.NOT_ASSESSED,
        check=reason_names("no inventory"),
    ),
    # A pool whose size cannot be known is left out with its reason; the others still count.
    RuleCase(
        "CNI-001",
        "unparsable-surge-of-npwin-while-nodepool1-alone-exceeds",
        lambda: facts(with_pools(recorded_cni_cluster(), unparsable_surge_of_npwin)),
        Outcome.FINDINGS,
        check=only_nodepool1_sized,
    ),
    RuleCase(
        "CNI-001",
        "unparsable-surge-of-npwin-and-the-rest-fits",
        lambda: facts(
            with_pools(recorded_cni_cluster(), unparsable_surge_of_npwin),
            [node_subnet("10.0.0.0/23")],
            report=True,
        ),
        Outcome.NOT_ASSESSED,
        check=reason_names("pool npwin: maxSurge 'abc' is not a number or percentage"),
    ),
    RuleCase(
        "CNI-001",
        "autoscaling-without-maxcount-while-npwin-alone-exceeds",
        lambda: facts(with_pools(recorded_cni_cluster(), unset_autoscaling_max_and_grow_npwin)),
        Outcome.FINDINGS,
        check=only_npwin_sized,
    ),
    RuleCase(
        "CNI-001",
        "autoscaling-without-maxcount-and-the-rest-fits",
        lambda: facts(with_pools(recorded_cni_cluster(), unset_autoscaling_max), report=True),
        Outcome.NOT_ASSESSED,
        check=reason_names("pool nodepool1 autoscales but ARM gave no maxCount"),
    ),
    RuleCase(
        "CNI-002",
        "248-of-251-is-high",
        lambda: facts(recorded_cni_cluster(), usages=[(NODE_SUBNET_ID, 248, 251)]),
        Outcome.FINDINGS,
        check=graded(audit_pb2.SEVERITY_HIGH, "0.988"),
    ),
    RuleCase(
        "CNI-002",
        "226-of-251-is-high-at-90-percent",
        lambda: facts(recorded_cni_cluster(), usages=[(NODE_SUBNET_ID, 226, 251)]),
        Outcome.FINDINGS,
        check=graded(audit_pb2.SEVERITY_HIGH, "0.9"),
    ),
    RuleCase(
        "CNI-002",
        "205-of-251-is-medium",
        lambda: facts(recorded_cni_cluster(), usages=[(NODE_SUBNET_ID, 205, 251)]),
        Outcome.FINDINGS,
        check=graded(audit_pb2.SEVERITY_MEDIUM, "0.817"),
    ),
    RuleCase(
        "CNI-002",
        "thresholds-come-from-settings",
        lambda: facts(recorded_cni_cluster(), usages=[(NODE_SUBNET_ID, 248, 251)]),
        Outcome.FINDINGS,
        settings={"CNI-002": {"high": 0.99, "medium": 0.5}},
        check=all_of(graded(audit_pb2.SEVERITY_MEDIUM, "0.988"), evidence_has(threshold="0.5")),
    ),
    RuleCase(
        "CNI-002",
        "kubenet-subnets-are-judged-too",
        lambda: facts(
            network(recorded_cni_cluster(), {"networkPlugin": "kubenet"}),
            usages=[(NODE_SUBNET_ID, 248, 251)],
        ),
        Outcome.FINDINGS,
    ),
    *(
        RuleCase(
            "CNI-002",
            f"{used:g}-of-{limit:g}-is-quiet",
            with_node_subnet_usage(used, limit),
            Outcome.PASSED,
        )
        for used, limit in ((200, 251), (2, -1), (0, 0))
    ),
]

# -- CNI-003 upgrade headroom ---------------------------------------------------------------

CASES += [
    RuleCase(
        "CNI-003",
        "51-free-for-62-surge-ips",
        lambda: facts(recorded_cni_cluster(), usages=[(NODE_SUBNET_ID, 200, 251)]),
        Outcome.FINDINGS,
        check=evidence_is(
            {
                "role": "node",
                "free": "51",
                "used": "200",
                "limit": "251",
                "surge_ips": "62",
                "surge_nodes": "2",
                "pool.nodepool1": "1*31=31",
                "pool.npwin": "1*31=31",
            }
        ),
    ),
    RuleCase(
        "CNI-003",
        "151-free-for-62-surge-ips",
        lambda: facts(recorded_cni_cluster(), usages=[(NODE_SUBNET_ID, 100, 251)]),
        Outcome.PASSED,
    ),
    RuleCase(
        "CNI-003",
        "overlay-surge-node-takes-one-ip",
        lambda: facts(overlay_cluster(), usages=[(NODE_SUBNET_ID, 251, 251)]),
        Outcome.FINDINGS,
        check=evidence_has(free="0", surge_ips="1", **{"pool.nodepool1": "1*1=1"}),
    ),
    # The dynamic pool (maxPods 250) surges one batch of 16, not 16*ceil(251/16) = 256.
    RuleCase(
        "CNI-003",
        "mixed-modes-dynamic-surge-is-one-batch",
        lambda: mixed_facts(dynamic_used=1019 - 20),
        Outcome.PASSED,
    ),
    RuleCase(
        "CNI-003",
        "mixed-modes-static-surge-is-two-blocks",
        lambda: mixed_facts(dynamic_used=0, static_used=1019 - 31),
        Outcome.FINDINGS,
        check=evidence_has(role="pod", free="31", surge_ips="32"),
    ),
    RuleCase(
        "CNI-003",
        "unparsable-surge-is-not-assessed",
        lambda: facts(
            with_pools(recorded_cni_cluster(), unparsable_surge_of_npwin),
            usages=[(NODE_SUBNET_ID, 100, 251)],
        ),
        Outcome.NOT_ASSESSED,
        check=reason_names("npwin", "'abc'"),
    ),
    RuleCase(
        "CNI-003",
        "no-usage-row-for-the-subnet",
        lambda: facts(recorded_cni_cluster()),
        Outcome.NOT_ASSESSED,
        check=reason_names("no usage", "subnet1"),
    ),
]

# -- CNI-004 legacy node subnet -----------------------------------------------------------


def node_subnet_agent_evidence() -> audit_pb2.ClusterFacts:
    """No inventory; the agent saw AKS nodes without podCIDR and azure-ip-masq-agent
    (incluster.md §5 heuristic). The DaemonSet entry is hand-made."""
    facts_ = agent_report(*(node(node_object(f"aks-nodepool1-vmss00000{i}")) for i in range(2)))
    facts_.report.cni.workloads.add(
        kind="DaemonSet", namespace="kube-system", name="azure-ip-masq-agent"
    )
    return facts_


CASES += [
    RuleCase(
        "CNI-004",
        "recorded-azure-cni-cluster",
        lambda: facts(recorded_cni_cluster()),
        Outcome.FINDINGS,
        check=evidence_has(network_model="azure-node-subnet", model_from="inventory"),
    ),
    RuleCase(
        "CNI-004",
        "agent-evidence-without-inventory",
        node_subnet_agent_evidence,
        Outcome.FINDINGS,
        check=evidence_has(model_from="report"),
    ),
    RuleCase(
        "CNI-004", "recorded-overlay-cluster", lambda: facts(overlay_cluster()), Outcome.PASSED
    ),
    RuleCase(
        "CNI-004",
        "pod-subnet-cluster",
        lambda: mixed_facts(dynamic_used=0),
        Outcome.PASSED,
    ),
]

# -- CNI-005 maxPods too low ---------------------------------------------------------------

CASES += [
    RuleCase(
        "CNI-005",
        "maxpods-10",
        lambda: facts(with_pools(recorded_cni_cluster(), lambda s, _: s.update(maxPods=10))),
        Outcome.FINDINGS,
        check=all_of(
            evidence_has(pool="nodepool1", max_pods="10", threshold="30"),
            resource_ends("/agentpools/nodepool1"),
        ),
    ),
    RuleCase(
        "CNI-005",
        "psrule-minimum-of-50",
        lambda: facts(recorded_cni_cluster()),
        Outcome.FINDINGS,
        settings={"CNI-005": {"min_max_pods": 50}},
        check=lambda outcome: pools_are(outcome, "nodepool1", "npwin"),
    ),
    RuleCase(
        "CNI-005", "recorded-maxpods-30", lambda: facts(recorded_cni_cluster()), Outcome.PASSED
    ),
    RuleCase(
        "CNI-005",
        "pool-without-maxpods",
        lambda: facts(with_pools(recorded_cni_cluster(), lambda _, w: w.pop("maxPods"))),
        Outcome.NOT_ASSESSED,
        check=reason_names("no maxPods for pool npwin"),
    ),
]


# -- CNI-006 pod subnet exhausted (agent) -------------------------------------------------

CASES += [
    RuleCase(
        "CNI-006",
        "nnc-subnet-full-on-one-node",
        lambda: agent_report(*nnc_nodes(full={FULL_NODE})),
        Outcome.FINDINGS,
        check=all_of(
            evidence_is(
                {
                    "status": "NCUpdateSubnetFullError",
                    "subnet": "podnet",
                    "subnet_cidr": "10.241.0.0/16",
                    "nodes": "1",
                    "node_names": FULL_NODE,
                    "requested_ips": "48",
                    "assigned_ips": "48",
                }
            ),
            resource_is("subnet podnet 10.241.0.0/16"),
        ),
    ),
    RuleCase(
        "CNI-006",
        "nnc-updates-succeed",
        lambda: agent_report(*nnc_nodes()),
        Outcome.PASSED,
    ),
    RuleCase(
        "CNI-006",
        "nnc-crd-not-installed-means-no-pod-subnet",
        lambda: agent_report(
            gaps=(report_pb2.Gap(gatherer="nodes", resource=NNC_GAP, reason="not_found"),)
        ),
        Outcome.PASSED,
    ),
    RuleCase(
        "CNI-006",
        "nnc-forbidden",
        lambda: agent_report(
            *nnc_nodes(),
            gaps=(report_pb2.Gap(gatherer="nodes", resource=NNC_GAP, reason="forbidden"),),
        ),
        Outcome.NOT_ASSESSED,
        check=reason_names(NNC_GAP, "forbidden"),
    ),
    RuleCase(
        "CNI-006",
        "inventory-only",
        lambda: facts(recorded_cni_cluster()),
        Outcome.NOT_ASSESSED,
        check=reason_names("no agent report"),
    ),
]


def with_cns(
    facts_factory: Callable[[], audit_pb2.ClusterFacts],
    pools: Mapping[str, Mapping[str, int | None]],
    gaps: tuple[report_pb2.Gap, ...] = (),
) -> FactsFactory:
    """The facts with azure-cns's figures of the nodes in ``pools`` (and more gaps)."""

    def build() -> audit_pb2.ClusterFacts:
        cluster_facts = facts_factory()
        cluster_facts.report.cni.workloads.append(AZURE_CNS)
        cluster_facts.report.cni.cns_metrics.extend(
            cns_pool(name, **series) for name, series in pools.items()
        )
        cluster_facts.report.gaps.extend(gaps)
        return cluster_facts

    return build


OTHER_NODE = NNC_TABLE[0][0]
EXHAUSTED = {"available": 0, "requested": 48, "total": 48, "exhausted": 1}
NOT_EXHAUSTED = {"available": 8, "requested": 48, "total": 48, "exhausted": 0}
CNS_GAP = report_pb2.Gap(
    gatherer="azure_cns_metrics",
    resource="pods/proxy kube-system/azure-cns-0001:10092",
    reason="error",
    message="dial tcp 10.224.0.5:10092: connect: connection refused",
)

CASES += [
    RuleCase(
        "CNI-006",
        "cx-ipam-exhaustion-state-on-one-node",
        with_cns(
            lambda: agent_report(*nnc_nodes()), {FULL_NODE: EXHAUSTED, OTHER_NODE: NOT_EXHAUSTED}
        ),
        Outcome.FINDINGS,
        check=all_of(
            evidence_is(
                {
                    "cx_ipam_exhausted_nodes": FULL_NODE,
                    "subnet": "podnet",
                    "subnet_cidr": "10.241.0.0/16",
                    "nodes": "1",
                    "node_names": FULL_NODE,
                }
            ),
            resource_is("subnet podnet 10.241.0.0/16"),
        ),
    ),
    RuleCase(
        "CNI-006",
        "nnc-and-cx-ipam-on-one-subnet-make-one-finding",
        with_cns(lambda: agent_report(*nnc_nodes(full={FULL_NODE})), {OTHER_NODE: EXHAUSTED}),
        Outcome.FINDINGS,
        check=all_of(
            evidence_has(
                status="NCUpdateSubnetFullError",
                cx_ipam_exhausted_nodes=OTHER_NODE,
                nodes="2",
                node_names=f"{OTHER_NODE},{FULL_NODE}",
            ),
            resource_is("subnet podnet 10.241.0.0/16"),
        ),
    ),
    RuleCase(
        "CNI-006",
        "cx-ipam-not-exhausted",
        with_cns(lambda: agent_report(*nnc_nodes()), {FULL_NODE: NOT_EXHAUSTED}),
        Outcome.PASSED,
    ),
    RuleCase(
        "CNI-006",
        "cx-ipam-unreadable-on-a-node",
        with_cns(lambda: agent_report(*nnc_nodes()), {OTHER_NODE: NOT_EXHAUSTED}, (CNS_GAP,)),
        Outcome.NOT_ASSESSED,
        check=reason_names(CNS_GAP.resource, "connection refused"),
    ),
]


# -- CNI-007 IP requests not fulfilled (agent, two observations) -------------------------

SHORT_NODE = NNC_TABLE[0][0]


def observed_nodes(at: datetime, assigned: Mapping[str, int]) -> list[report_pb2.Node]:
    """The table's nodes as the nodes gatherer reads them at ``at``; ``assigned`` overrides
    a node's status.assignedIPCount (the table's nodes have all 48 requested IPs)."""
    nodes = []
    for row in NNC_TABLE:
        nnc = nnc_object(row)
        nnc["status"]["assignedIPCount"] = assigned.get(row[0], row[2])
        nodes.append(node(node_object(row[0]), nnc=node_network_config(nnc, at)))
    return nodes


def two_observations(
    now: Mapping[str, int], earlier: Mapping[str, int] | None, minutes_apart: float = 15
) -> FactsFactory:
    """Facts of a latest report at NOW and, unless ``earlier`` is None, the NodeNetworkConfigs
    of a report ``minutes_apart`` before it, as the scan assembles them."""

    def build() -> audit_pb2.ClusterFacts:
        cluster_facts = agent_report(*observed_nodes(NOW, now))
        if earlier is not None:
            before = NOW - timedelta(minutes=minutes_apart)
            old = new_report(recorded_cni_cluster()["id"])
            old.gathered_at.FromDatetime(before)
            old.nodes.extend(observed_nodes(before, earlier))
            cluster_facts.earlier_node_network_configs.CopyFrom(
                earlier_node_network_configs(old, before)
            )
        return cluster_facts

    return build


CASES += [
    RuleCase(
        "CNI-007",
        "short-in-both-reports-15-minutes-apart",
        two_observations({SHORT_NODE: 40}, {SHORT_NODE: 32}),
        Outcome.FINDINGS,
        check=evidence_is(
            {
                "nodes": "1",
                "node_names": SHORT_NODE,
                "requested_ips": "48",
                "assigned_ips": "40",
                "first_observed_short": "2026-11-27T11:45:00+00:00",
                "last_observed_short": "2026-11-27T12:00:00+00:00",
            }
        ),
    ),
    RuleCase(
        "CNI-007",
        "short-now-but-fulfilled-15-minutes-ago",
        two_observations({SHORT_NODE: 40}, {}),
        Outcome.PASSED,
    ),
    RuleCase(
        "CNI-007",
        "short-in-both-but-only-5-minutes-apart",
        two_observations({SHORT_NODE: 40}, {SHORT_NODE: 40}, minutes_apart=5),
        Outcome.NOT_ASSESSED,
        check=reason_names("5 minutes apart", "not shown to last"),
    ),
    RuleCase(
        "CNI-007",
        "every-request-fulfilled-on-one-observation",
        two_observations({}, None),
        Outcome.PASSED,
    ),
    RuleCase(
        "CNI-007",
        "short-now-and-no-earlier-report",
        two_observations({SHORT_NODE: 40}, None),
        Outcome.NOT_ASSESSED,
        check=reason_names("no report at least 10 minutes older", "transient"),
    ),
    RuleCase(
        "CNI-007",
        "nnc-crd-not-installed-means-no-requests",
        lambda: agent_report(
            gaps=(report_pb2.Gap(gatherer="nodes", resource=NNC_GAP, reason="not_found"),)
        ),
        Outcome.PASSED,
    ),
    RuleCase(
        "CNI-007",
        "nnc-forbidden",
        lambda: agent_report(
            gaps=(report_pb2.Gap(gatherer="nodes", resource=NNC_GAP, reason="forbidden"),)
        ),
        Outcome.NOT_ASSESSED,
        check=reason_names(NNC_GAP, "forbidden"),
    ),
]


def cns_observations(
    now: Mapping[str, int], earlier: Mapping[str, int] | None, minutes_apart: float = 15
) -> FactsFactory:
    """Every NodeNetworkConfig fulfilled; azure-cns's pool per node holds ``now[node]``
    (else all 48 requested) at NOW and ``earlier[node]`` ``minutes_apart`` before, unless
    ``earlier`` is None (no earlier report)."""

    def pools(total: Mapping[str, int], at: datetime) -> list[report_pb2.CnsNodeMetrics]:
        return [
            cns_pool(row[0], at, available=4, requested=48, total=total.get(row[0], 48))
            for row in NNC_TABLE
        ]

    def build() -> audit_pb2.ClusterFacts:
        cluster_facts = agent_report(*observed_nodes(NOW, {}))
        cluster_facts.report.cni.cns_metrics.extend(pools(now, NOW))
        if earlier is not None:
            before = NOW - timedelta(minutes=minutes_apart)
            old = new_report(recorded_cni_cluster()["id"])
            old.gathered_at.FromDatetime(before)
            old.nodes.extend(observed_nodes(before, {}))
            old.cni.cns_metrics.extend(pools(earlier, before))
            cluster_facts.earlier_node_network_configs.CopyFrom(
                earlier_node_network_configs(old, before)
            )
        return cluster_facts

    return build


CASES += [
    RuleCase(
        "CNI-007",
        "cx-ipam-requested-above-total-in-both-reports",
        cns_observations({SHORT_NODE: 32}, {SHORT_NODE: 32}),
        Outcome.FINDINGS,
        check=evidence_is(
            {
                "nodes": "1",
                "node_names": SHORT_NODE,
                "cx_ipam_requested_ips": "48",
                "cx_ipam_total_ips": "32",
                "cx_ipam_node_names": SHORT_NODE,
                "first_observed_short": "2026-11-27T11:45:00+00:00",
                "last_observed_short": "2026-11-27T12:00:00+00:00",
            }
        ),
    ),
    RuleCase(
        "CNI-007",
        "cx-ipam-converged-since-the-earlier-report",
        cns_observations({}, {SHORT_NODE: 32}),
        Outcome.PASSED,
    ),
    RuleCase(
        "CNI-007",
        "cx-ipam-short-now-and-no-earlier-report",
        cns_observations({SHORT_NODE: 32}, None),
        Outcome.NOT_ASSESSED,
        check=reason_names("no report at least 10 minutes older"),
    ),
    RuleCase(
        "CNI-007",
        "cx-ipam-short-but-only-5-minutes-apart",
        cns_observations({SHORT_NODE: 32}, {SHORT_NODE: 32}, minutes_apart=5),
        Outcome.NOT_ASSESSED,
        check=reason_names("not shown to last"),
    ),
    RuleCase(
        "CNI-007",
        "cx-ipam-unreadable-and-nnc-fulfilled",
        with_cns(two_observations({}, {}), {}, (CNS_GAP,)),
        Outcome.NOT_ASSESSED,
        check=reason_names(CNS_GAP.resource),
    ),
]


def test_both_signals_of_one_node_make_one_finding() -> None:
    facts = two_observations({SHORT_NODE: 40}, {SHORT_NODE: 32})()
    facts.report.cni.cns_metrics.append(cns_pool(SHORT_NODE, available=0, requested=48, total=40))
    facts.earlier_node_network_configs.cns_by_node[SHORT_NODE].CopyFrom(
        cns_pool(SHORT_NODE, NOW - timedelta(minutes=15), available=0, requested=48, total=32)
    )
    outcome = evaluate(cni.CNI_007, facts)
    (finding,) = outcome.findings
    assert finding.evidence["nodes"] == "1"
    assert (finding.evidence["requested_ips"], finding.evidence["assigned_ips"]) == ("48", "40")
    assert (finding.evidence["cx_ipam_requested_ips"], finding.evidence["cx_ipam_total_ips"]) == (
        "48", "40"
    )  # fmt: skip


def test_the_collectors_receive_times_decide_how_long_not_the_agents_clock() -> None:
    # the agent's clock says the observations were 15 minutes apart; they reached the
    # collector 5 minutes apart: the shortfall is not shown to last
    facts = two_observations({SHORT_NODE: 40}, {SHORT_NODE: 32})()
    facts.earlier_node_network_configs.report_received_at.FromDatetime(NOW - timedelta(minutes=5))
    outcome = evaluate(cni.CNI_007, facts)
    assert outcome.outcome is Outcome.NOT_ASSESSED


def test_nodes_first_seen_after_the_earlier_report_are_not_judged_as_lasting() -> None:
    # the earlier report knew the other node only: the short node may have just joined
    facts = two_observations({SHORT_NODE: 40}, {})()
    del facts.earlier_node_network_configs.by_node[SHORT_NODE]
    outcome = evaluate(cni.CNI_007, facts)
    assert outcome.outcome is Outcome.NOT_ASSESSED


# -- CNI-008 pod subnet headroom ------------------------------------------------------------

CASES += [
    # 119 free < 16*(10+1): the dynamic pool is sized 16 per node by its own mode
    RuleCase(
        "CNI-008",
        "dynamic-pool-needs-176-of-119-free",
        lambda: mixed_facts(dynamic_used=900),
        Outcome.FINDINGS,
        check=all_of(
            evidence_is(
                {
                    "free": "119",
                    "used": "900",
                    "limit": "1019",
                    "needed": "176",
                    "nodes_with_surge": "11",
                    "pool.agentpool1": "(10+1)*16=176",
                }
            ),
            resource_is(DYNAMIC_POD_SUBNET.lower()),
        ),
    ),
    # 519 free covers 176; sized as static block (256 per node) it would need 2816. The full
    # static-block subnet is not this rule's.
    RuleCase(
        "CNI-008",
        "dynamic-pool-fits-and-static-subnet-is-ignored",
        lambda: mixed_facts(dynamic_used=500, static_used=1019),
        Outcome.PASSED,
    ),
    RuleCase(
        "CNI-008",
        "overlay-has-no-pod-subnet",
        lambda: facts(overlay_cluster(), usages=[(NODE_SUBNET_ID, 251, 251)]),
        Outcome.PASSED,
    ),
    RuleCase(
        "CNI-008",
        "dynamic-pool-surge-unparsable",
        lambda: mixed_facts(
            dynamic_used=0,
            cluster=with_pools(
                mixed_pod_subnet_cluster(),
                lambda _, d: d["properties"].update(upgradeSettings={"maxSurge": "abc"}),
            ),
        ),
        Outcome.NOT_ASSESSED,
        check=reason_names("agentpool1", "'abc'"),
    ),
]

# -- CNI-009 static block waste ----------------------------------------------------------------

CASES += [
    RuleCase(
        "CNI-009",
        "maxpods-30-wastes-one-ip-per-node",
        lambda: mixed_facts(dynamic_used=0),
        Outcome.FINDINGS,
        check=evidence_is(
            {
                "pool": "nodepool1",
                "max_pods": "30",
                "blocks_per_node": "2",
                "wasted_ips_per_node": "1",
                "ideal_max_pods": "31",
            }
        ),
    ),
    RuleCase(
        "CNI-009",
        "maxpods-31-fills-two-blocks",
        lambda: mixed_facts(
            dynamic_used=0,
            cluster=with_pools(mixed_pod_subnet_cluster(), lambda s, _: s.update(maxPods=31)),
        ),
        Outcome.PASSED,
    ),
]

# -- CNI-010 mixed allocation modes (this cluster's pools) --------------------------------

CASES += [
    RuleCase(
        "CNI-010",
        "static-and-default-dynamic-on-one-subnet",
        lambda: mixed_facts(
            dynamic_used=0, cluster=mixed_pod_subnet_cluster(dynamic_subnet=STATIC_POD_SUBNET)
        ),
        Outcome.FINDINGS,
        check=all_of(
            evidence_is(
                {
                    "modes": "StaticBlock,DynamicIndividual",
                    "pools.StaticBlock": "nodepool1",
                    "pools.DynamicIndividual": "agentpool1",
                }
            ),
            resource_is(STATIC_POD_SUBNET.lower()),
        ),
    ),
    RuleCase(
        "CNI-010",
        "one-subnet-per-mode",
        lambda: mixed_facts(dynamic_used=0),
        Outcome.PASSED,
    ),
    RuleCase(
        "CNI-010",
        "explicit-and-default-dynamic-agree",
        lambda: mixed_facts(
            dynamic_used=0,
            cluster=with_pools(
                mixed_pod_subnet_cluster(static_subnet=DYNAMIC_POD_SUBNET),
                lambda s, _: s.update(podIPAllocationMode="dynamicindividual"),
            ),
        ),
        Outcome.PASSED,
    ),
]

# -- CNI-011 delegated node subnet ---------------------------------------------------------

CASES += [
    RuleCase(
        "CNI-011",
        "node-subnet-delegated",
        lambda: facts(recorded_cni_cluster(), [delegated_subnet_body()]),
        Outcome.FINDINGS,
        check=all_of(
            evidence_is(
                {"delegations": "Microsoft.Provider/resourceType", "pools": "nodepool1,npwin"}
            ),
            resource_is(NODE_SUBNET_ID.lower()),
        ),
    ),
    RuleCase(
        "CNI-011",
        "node-subnet-not-delegated",
        lambda: facts(recorded_cni_cluster()),
        Outcome.PASSED,
    ),
    RuleCase(
        "CNI-011",
        "node-subnet-not-read",
        lambda: facts(recorded_cni_cluster(), []),
        Outcome.NOT_ASSESSED,
        check=reason_names("no subnet subnet1"),
    ),
]

# -- CNI-013 AKS-reserved ranges ----------------------------------------------------------


def rest_example(pod_cidr: str | None = None, vnet_prefixes: list[str] | None = None) -> Any:
    """ManagedClustersGet (kubenet, pod 10.244.0.0/16, service 10.0.0.0/16) with the
    fixture VNet."""
    body = managed_cluster("ManagedClustersGet.json")
    if pod_cidr is not None:
        body["properties"]["networkProfile"].update(podCidr=pod_cidr, podCidrs=[pod_cidr])
    return facts(body, vnet=vnet_body(vnet_prefixes))


CASES += [
    RuleCase(
        "CNI-013",
        "pod-cidr-172-16-slash-12",
        lambda: rest_example(pod_cidr="172.16.0.0/12"),
        Outcome.FINDINGS,
        check=evidence_is(
            {
                "reserved": "172.30.0.0/16,172.31.0.0/16",
                "pod CIDR.172.16.0.0/12": "172.30.0.0/16,172.31.0.0/16",
            }
        ),
    ),
    RuleCase(
        "CNI-013",
        "vnet-address-space-in-test-net-1",
        lambda: rest_example(vnet_prefixes=["10.0.0.0/16", "192.0.2.0/24"]),
        Outcome.FINDINGS,
        check=resource_is(VNET_ID.lower()),
    ),
    RuleCase("CNI-013", "rest-example", lambda: rest_example(), Outcome.PASSED),
    RuleCase(
        "CNI-013",
        "dual-stack-example",
        lambda: facts(managed_cluster("ManagedClustersCreate_DualStackNetworking.json")),
        Outcome.PASSED,
    ),
]

# -- CNI-014 pod subnet in another VNet -----------------------------------------------------

CASES += [
    RuleCase(
        "CNI-014",
        "pod-subnet-in-other-vnet",
        lambda: mixed_facts(
            dynamic_used=0, cluster=mixed_pod_subnet_cluster(dynamic_subnet=OTHER_VNET_POD_SUBNET)
        ),
        Outcome.FINDINGS,
        check=all_of(
            evidence_has(
                pool="agentpool1", pod_vnet=OTHER_VNET_POD_SUBNET.lower().split("/subnets/")[0]
            ),
            resource_ends("/agentpools/agentpool1"),
        ),
    ),
    RuleCase(
        "CNI-014",
        "pod-and-node-subnets-in-one-vnet",
        lambda: mixed_facts(dynamic_used=0),
        Outcome.PASSED,
    ),
]


# -- plain tests ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("max_pods", "blocks", "wasted", "ideal"),
    [(32, 3, 15, 47), (10, 1, 5, 15), (250, 16, 5, 239)],
)
def test_static_block_waste_is_graded_by_blocks(
    max_pods: int, blocks: int, wasted: int, ideal: int
) -> None:
    cluster = with_pools(mixed_pod_subnet_cluster(), lambda s, _: s.update(maxPods=max_pods))
    outcome = evaluate(cni.CNI_009, mixed_facts(0, cluster=cluster))
    (finding,) = outcome.findings
    assert finding.severity == audit_pb2.SEVERITY_LOW
    assert (
        finding.evidence["blocks_per_node"],
        finding.evidence["wasted_ips_per_node"],
        finding.evidence["ideal_max_pods"],
    ) == (str(blocks), str(wasted), str(ideal))


@pytest.mark.parametrize("max_pods", [15, 47, 239])
def test_static_block_max_pods_of_16n_minus_1_waste_nothing(max_pods: int) -> None:
    cluster = with_pools(mixed_pod_subnet_cluster(), lambda s, _: s.update(maxPods=max_pods))
    assert evaluate(cni.CNI_009, mixed_facts(0, cluster=cluster)).outcome is Outcome.PASSED


def test_dynamic_pool_is_not_sized_as_static_block_in_a_static_cluster() -> None:
    """The cluster is static block (one pool is); the dynamic pool still takes 16 per node:
    the pod-subnet headroom turns at exactly 16*(10+1) = 176 free IPs."""
    assert evaluate(cni.CNI_008, mixed_facts(1019 - 176)).outcome is Outcome.PASSED
    assert evaluate(cni.CNI_008, mixed_facts(1019 - 175)).outcome is Outcome.FINDINGS


def test_upgrade_headroom_turns_at_the_surge_ips() -> None:
    def outcome(used: int) -> Outcome:
        usage = (NODE_SUBNET_ID, used, 251)
        return evaluate(cni.CNI_003, facts(recorded_cni_cluster(), usages=[usage])).outcome

    assert outcome(251 - 62) is Outcome.PASSED
    assert outcome(251 - 61) is Outcome.FINDINGS


def test_upgrade_headroom_without_surge_needs_nothing() -> None:
    """maxSurge 0 (upgrade with maxUnavailable instead) takes no surge IPs, even when full."""
    body = with_pools(recorded_cni_cluster(), no_surge)
    outcome = evaluate(cni.CNI_003, facts(body, usages=[(NODE_SUBNET_ID, 251, 251)]))
    assert outcome.outcome is Outcome.PASSED


def test_unknown_network_model_is_not_assessed_for_capacity_rules() -> None:
    body = network(recorded_cni_cluster(), {"networkPlugin": "something-new"})
    for rule in (cni.CNI_003, cni.CNI_004, cni.CNI_008):
        outcome = evaluate(rule, facts(body, usages=[(NODE_SUBNET_ID, 0, 251)]))
        assert outcome.outcome is Outcome.NOT_ASSESSED, rule.id
        assert "network model is unknown" in outcome.reason


def test_reserved_ranges_are_judged_when_a_vnet_could_not_be_read() -> None:
    gap = {"resource_id": VNET_ID, "reason": "forbidden", "message": "no read on the VNet"}
    unreadable = rest_example()
    unreadable.inventory.gaps.add(**gap)
    outcome = evaluate(cni.CNI_013, unreadable)
    assert outcome.outcome is Outcome.NOT_ASSESSED and "forbidden" in outcome.reason

    reserved = rest_example(pod_cidr="169.254.0.0/17")
    reserved.inventory.gaps.add(**gap)
    outcome = evaluate(cni.CNI_013, reserved)
    assert outcome.outcome is Outcome.FINDINGS
    assert outcome.findings[0].evidence["reserved"] == "169.254.0.0/16"


def test_unparsable_range_is_not_assessed() -> None:
    outcome = evaluate(cni.CNI_013, rest_example(pod_cidr="10.244.0.0/33"))
    assert outcome.outcome is Outcome.NOT_ASSESSED
    assert "10.244.0.0/33 (pod CIDR)" in outcome.reason


def test_subnet_full_findings_group_nodes_by_subnet() -> None:
    nodes = nnc_nodes(full={FULL_NODE, "aks-nodepool1-39652274-vmss000000"})
    outcome = evaluate(cni.CNI_006, agent_report(*nodes))
    (finding,) = outcome.findings
    assert finding.severity == audit_pb2.SEVERITY_CRITICAL
    assert finding.evidence["nodes"] == "2"
    assert finding.evidence["requested_ips"] == "96"


def test_subnet_full_resource_is_the_arm_subnet_when_the_nc_names_it() -> None:
    nodes = nnc_nodes(full={FULL_NODE})
    nodes[1].node_network_config.network_containers[0].subnet_id = DYNAMIC_POD_SUBNET
    (finding,) = evaluate(cni.CNI_006, agent_report(*nodes)).findings
    assert finding.resource == DYNAMIC_POD_SUBNET.lower()
