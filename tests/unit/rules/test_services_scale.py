"""Service network (SVC-001..003) and scale (SCL-001, SCL-002) rules on real ARM payloads:
ManagedClustersGet (kubenet, service 10.0.0.0/16, dnsServiceIP 10.0.0.10, no sku), the
dual-stack example, the recorded Azure CNI cluster (sku Free) and the Microsoft.Network
VNet examples."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from netaudit.collector.rules import Outcome, scale, services
from netaudit.v1 import audit_pb2
from tests.rule_cases import (
    FactsFactory,
    RuleCase,
    arm_json,
    evidence_has,
    facts_of,
    inventory_of,
    managed_cluster,
)
from tests.rule_cases import (
    reason_mentions as reason_names,
)
from tests.unit.rules.network_payloads import (
    VNET_ID,
    agent_pool_body,
    evaluate,
    peering,
    recorded_cni_cluster,
    vnet_body,
)

Body = dict[str, Any]

HUB = arm_json("network/VirtualNetworkList.json")["value"][0]
"""vnet1 of VirtualNetworks_List: 10.0.0.0/8, the hub the hand-made peering points to."""


def rest_example(**profile: Any) -> Body:
    """ManagedClustersGet with networkProfile fields replaced (a list value sets both the
    singular and the plural field, as ARM returns them)."""
    body = managed_cluster("ManagedClustersGet.json")
    network = body["properties"]["networkProfile"]
    for key, value in profile.items():
        if value is None:
            network.pop(key, None)
        else:
            network[key] = value
    return body


def cidrs(pod: str | None = None, service: str | None = None) -> dict[str, Any]:
    """networkProfile fields for a single-stack pod and/or service CIDR."""
    fields: dict[str, Any] = {}
    if pod is not None:
        fields.update(podCidr=pod, podCidrs=[pod])
    if service is not None:
        fields.update(serviceCidr=service, serviceCidrs=[service])
    return fields


def dual_stack(**profile: Any) -> Body:
    body = managed_cluster("ManagedClustersCreate_DualStackNetworking.json")
    body["properties"]["networkProfile"].update(profile)
    return body


def facts(
    cluster: Body, vnet: Body | None = None, vnet_gap: bool = False
) -> audit_pb2.ClusterFacts:
    """The cluster with the fixture VNet (10.0.0.0/16 unless ``vnet`` is given)."""
    inventory = inventory_of(cluster, vnets=[(vnet_body() if vnet is None else vnet, [])])
    if vnet_gap:
        inventory.gaps.add(resource_id=VNET_ID, reason="forbidden", message="no read on the VNet")
    return facts_of(inventory)


def aks_default_vnet(peerings: list[Body] | None = None) -> Body:
    """The fixture VNet with the AKS default address space 10.224.0.0/12."""
    return vnet_body(["10.224.0.0/12"], peerings)


# -- SVC-001 dnsServiceIP ---------------------------------------------------------------------


def with_dns_service_ip(ip: str) -> FactsFactory:
    return lambda: facts(rest_example(dnsServiceIP=ip))


CASES: list[RuleCase] = [
    RuleCase(
        "SVC-001",
        f"dns-service-ip-{ip}",
        with_dns_service_ip(ip),
        Outcome.FINDINGS,
        check=evidence_has(dns_service_ip=ip, problem=problem, service_cidrs="10.0.0.0/16"),
    )
    for ip, problem in (
        ("10.1.0.10", "is outside the service CIDR 10.0.0.0/16"),
        ("10.0.0.0", "is the network address of 10.0.0.0/16"),
        ("10.0.0.1", "is the first address of 10.0.0.0/16, which kubernetes.default takes"),
    )
]
CASES += [
    RuleCase("SVC-001", "rest-example-10-0-0-10", lambda: facts(rest_example()), Outcome.PASSED),
    RuleCase("SVC-001", "dual-stack-example", lambda: facts(dual_stack()), Outcome.PASSED),
    RuleCase(
        "SVC-001",
        "no-dns-service-ip",
        lambda: facts(rest_example(dnsServiceIP=None)),
        Outcome.NOT_ASSESSED,
        check=reason_names("no networkProfile.dnsServiceIP"),
    ),
    RuleCase(
        "SVC-001",
        "dns-service-ip-not-an-address",
        lambda: facts(rest_example(dnsServiceIP="10.0.0.300")),
        Outcome.NOT_ASSESSED,
        check=reason_names("'10.0.0.300' is not an IP address"),
    ),
]

# -- SVC-002 overlaps -------------------------------------------------------------------------

CASES += [
    # The recorded cluster's service CIDR is the fixture VNet's own address space.
    RuleCase(
        "SVC-002",
        "service-cidr-is-the-vnet-space",
        lambda: facts(recorded_cni_cluster()),
        Outcome.FINDINGS,
        check=evidence_has(**{"overlaps.10.0.0.0/16": "10.0.0.0/16 (VNet test-vnet)"}),
    ),
    RuleCase(
        "SVC-002",
        "peered-hub-10-slash-8",
        lambda: facts(
            rest_example(),
            aks_default_vnet(
                [peering("to-hub", HUB["id"], HUB["properties"]["addressSpace"]["addressPrefixes"])]
            ),
        ),
        Outcome.FINDINGS,
        check=evidence_has(**{"overlaps.10.0.0.0/16": "10.0.0.0/8 (peered VNet vnet1)"}),
    ),
    RuleCase(
        "SVC-002",
        "pod-cidr-inside-service-cidr",
        lambda: facts(rest_example(**cidrs(pod="10.0.128.0/17")), aks_default_vnet()),
        Outcome.FINDINGS,
        check=evidence_has(**{"overlaps.10.0.0.0/16": "10.0.128.0/17 (pod CIDR)"}),
    ),
    RuleCase(
        "SVC-002",
        "declared-on-premises-range",
        lambda: facts(rest_example(), aks_default_vnet()),
        Outcome.FINDINGS,
        settings={"on_premises_cidrs": ["10.0.0.0/20", "192.168.0.0/16"]},
        check=evidence_has(**{"overlaps.10.0.0.0/16": "10.0.0.0/20 (on-premises range)"}),
    ),
    RuleCase(
        "SVC-002",
        "aks-default-vnet-and-pod-cidr",
        lambda: facts(rest_example(), aks_default_vnet()),
        Outcome.PASSED,
        settings={"on_premises_cidrs": ["192.168.0.0/16"]},
    ),
    RuleCase(
        "SVC-002",
        "dual-stack-in-aks-default-vnet",
        lambda: facts(dual_stack(), aks_default_vnet()),
        Outcome.PASSED,
    ),
    RuleCase(
        "SVC-002",
        "vnet-not-read-and-no-other-overlap",
        lambda: facts(rest_example(), aks_default_vnet(), vnet_gap=True),
        Outcome.NOT_ASSESSED,
        check=reason_names("forbidden"),
    ),
]

# -- SVC-003 size ---------------------------------------------------------------------------

CASES += [
    RuleCase(
        "SVC-003",
        "ipv4-slash-12",
        lambda: facts(rest_example(**cidrs(service="10.0.0.0/12"))),
        Outcome.FINDINGS,
        check=evidence_has(too_large="10.0.0.0/12"),
    ),
    RuleCase(
        "SVC-003",
        "ipv6-slash-64",
        lambda: facts(dual_stack(serviceCidrs=["10.0.0.0/16", "fd00:1234::/64"])),
        Outcome.FINDINGS,
        check=evidence_has(too_large="fd00:1234::/64"),
    ),
    RuleCase("SVC-003", "dual-stack-defaults", lambda: facts(dual_stack()), Outcome.PASSED),
    RuleCase(
        "SVC-003",
        "ipv4-slash-13",
        lambda: facts(rest_example(**cidrs(service="10.0.0.0/13"))),
        Outcome.PASSED,
    ),
    RuleCase(
        "SVC-003",
        "no-service-cidr",
        lambda: facts(rest_example(serviceCidr=None, serviceCidrs=None)),
        Outcome.NOT_ASSESSED,
        check=reason_names("no networkProfile.serviceCidr"),
    ),
]

# -- SCL-001 scale limits -----------------------------------------------------------------------


def pools(count: int, **fields: Any) -> Body:
    """ManagedClustersGet with ``count`` copies of its nodepool1 (pool<i>), fields replaced."""
    body = managed_cluster("ManagedClustersGet.json")
    template = body["properties"]["agentPoolProfiles"][0]
    body["properties"]["agentPoolProfiles"] = [
        {**copy.deepcopy(template), "name": f"pool{index}", **fields} for index in range(count)
    ]
    return body


def autoscaling(max_count: int) -> dict[str, Any]:
    return {"enableAutoScaling": True, "minCount": 1, "maxCount": max_count}


CASES += [
    RuleCase(
        "SCL-001",
        "pool-autoscaling-to-1001",
        lambda: facts(pools(1, **autoscaling(1001))),
        Outcome.FINDINGS,
        check=evidence_has(pool="pool0", nodes="1001"),
    ),
    RuleCase(
        "SCL-001",
        "six-pools-of-1000-exceed-5000",
        lambda: facts(pools(6, **autoscaling(1000))),
        Outcome.FINDINGS,
        check=evidence_has(max_nodes="6000", pools="6"),
    ),
    RuleCase(
        "SCL-001",
        "101-pools",
        lambda: facts(pools(101)),
        Outcome.FINDINGS,
        check=evidence_has(max_nodes="303", pools="101"),
    ),
    RuleCase(
        "SCL-001",
        "maxpods-251",
        lambda: facts(pools(1, maxPods=251)),
        Outcome.FINDINGS,
        check=evidence_has(max_pods="251"),
    ),
    RuleCase("SCL-001", "rest-example", lambda: facts(rest_example()), Outcome.PASSED),
    RuleCase(
        "SCL-001",
        "five-pools-of-1000-at-maxpods-250-are-at-the-limits",
        lambda: facts(pools(5, **autoscaling(1000), maxPods=250)),
        Outcome.PASSED,
    ),
    RuleCase(
        "SCL-001",
        "autoscaling-without-maxcount",
        lambda: facts(pools(1, enableAutoScaling=True)),
        Outcome.NOT_ASSESSED,
        check=reason_names("pool0 autoscales but ARM gave no maxCount"),
    ),
]

# -- SCL-002 Free tier --------------------------------------------------------------------------


def recorded_with_nodes(nodes: int, tier: str | None = "Free") -> Body:
    """The recorded cluster (sku Base/Free, nodepool1 + npwin of 1 node) with nodepool1 at
    ``nodes - 1`` nodes and another tier when given (None: sku removed)."""
    body = recorded_cni_cluster()
    body["properties"]["agentPoolProfiles"][0]["count"] = nodes - 1
    if tier is None:
        del body["sku"]
    else:
        body["sku"]["tier"] = tier
    return body


CASES += [
    RuleCase(
        "SCL-002",
        "free-with-11-nodes",
        lambda: facts(recorded_with_nodes(11)),
        Outcome.FINDINGS,
        check=evidence_has(tier="Free", nodes="11", threshold="10"),
    ),
    RuleCase(
        "SCL-002",
        "tier-unset-means-free",
        lambda: facts(recorded_with_nodes(11, tier=None)),
        Outcome.FINDINGS,
        check=evidence_has(tier="(unset, Free)", nodes="11"),
    ),
    RuleCase(
        "SCL-002",
        "threshold-from-settings",
        lambda: facts(recorded_cni_cluster()),
        Outcome.FINDINGS,
        settings={"SCL-002": {"max_nodes": 1}},
        check=evidence_has(nodes="2", threshold="1"),
    ),
    RuleCase(
        "SCL-002",
        "recorded-free-with-2-nodes",
        lambda: facts(recorded_cni_cluster()),
        Outcome.PASSED,
    ),
    RuleCase(
        "SCL-002", "free-with-10-nodes", lambda: facts(recorded_with_nodes(10)), Outcome.PASSED
    ),
    RuleCase(
        "SCL-002",
        "standard-with-11-nodes",
        lambda: facts(recorded_with_nodes(11, tier="Standard")),
        Outcome.PASSED,
    ),
]


# -- plain tests ---------------------------------------------------------------------------


def test_ipv4_dns_service_ip_is_looked_up_in_the_ipv4_range_of_a_dual_stack_cluster() -> None:
    outcome = evaluate(services.SVC_001, facts(dual_stack(dnsServiceIP="fd00:1234::1")))
    (finding,) = outcome.findings
    assert finding.severity == audit_pb2.SEVERITY_CRITICAL
    assert (
        finding.evidence["problem"]
        == "is the first address of fd00:1234::/108, which kubernetes.default takes"
    )


def test_every_overlap_is_in_one_finding_per_cluster() -> None:
    cluster = rest_example(**cidrs(pod="10.0.128.0/17"))
    outcome = evaluate(services.SVC_002, facts(cluster), on_premises_cidrs=["10.0.0.0/20"])
    (finding,) = outcome.findings
    assert finding.resource == finding.cluster_key
    assert finding.evidence["overlaps.10.0.0.0/16"] == (
        "10.0.0.0/16 (VNet test-vnet); 10.0.128.0/17 (pod CIDR); 10.0.0.0/20 (on-premises range)"
    )


def test_ipv6_service_cidr_overlaps_only_ipv6_ranges() -> None:
    vnet = vnet_body(["10.224.0.0/12", "fd00:1234::/64"])
    outcome = evaluate(services.SVC_002, facts(dual_stack(), vnet))
    (finding,) = outcome.findings
    assert [k for k in finding.evidence if k.startswith("overlaps.")] == [
        "overlaps.fd00:1234::/108"
    ]


def test_overlap_found_before_a_vnet_gap_stands() -> None:
    outcome = evaluate(services.SVC_002, facts(recorded_cni_cluster(), vnet_gap=True))
    assert outcome.outcome is Outcome.FINDINGS


@pytest.mark.parametrize(
    ("prefix", "flagged"),
    [("10.0.0.0/8", True), ("10.0.0.0/12", True), ("10.0.0.0/13", False), ("10.0.0.0/16", False)],
)
def test_ipv4_service_cidr_must_be_smaller_than_slash_12(prefix: str, flagged: bool) -> None:
    outcome = evaluate(services.SVC_003, facts(rest_example(**cidrs(service=prefix))))
    assert (outcome.outcome is Outcome.FINDINGS) is flagged


def test_scale_findings_are_per_pool_and_per_cluster() -> None:
    body = pools(6, **autoscaling(1000))
    body["properties"]["agentPoolProfiles"][0].update(maxCount=1200, maxPods=300)
    outcome = evaluate(scale.SCL_001, facts(body))
    assert sorted(f.resource.rsplit("/", 1)[-1] for f in outcome.findings) == [
        "clustername1",
        "pool0",
    ]
    pool = next(f for f in outcome.findings if f.resource.endswith("/agentpools/pool0"))
    assert "1200 nodes" in pool.message and "maxPods 300" in pool.message


def test_a_pool_without_maxcount_leaves_the_others_judged() -> None:
    body = pools(2, **autoscaling(1001))
    del body["properties"]["agentPoolProfiles"][1]["maxCount"]
    outcome = evaluate(scale.SCL_001, facts(body))
    assert outcome.outcome is Outcome.FINDINGS
    assert [f.evidence["pool"] for f in outcome.findings] == ["pool0"]
    assert "pool1 autoscales but ARM gave no maxCount" in outcome.reason


def test_free_tier_counts_current_nodes_of_every_pool() -> None:
    body = recorded_cni_cluster()
    extra = agent_pool_body()
    extra["properties"]["count"] = 9
    body["properties"]["agentPoolProfiles"].append(extra)
    (finding,) = evaluate(scale.SCL_002, facts(body)).findings
    assert finding.evidence["nodes"] == "11"
    assert finding.severity == audit_pb2.SEVERITY_MEDIUM
