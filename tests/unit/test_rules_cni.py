"""CNI-001 (node subnet too small at max scale + surge) and CNI-002 (subnet utilisation)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from netaudit.collector.inventory import convert
from netaudit.collector.rules import RuleSettings, evaluate_rules
from netaudit.collector.rules.cni import CNI_001, CNI_002
from netaudit.v1 import audit_pb2
from tests.conftest import SHARED_FIXTURES

VNET = (
    "/subscriptions/aaaaaaaa-0000-0000-0000-000000000001/resourceGroups/rg-net/providers/"
    "Microsoft.Network/virtualNetworks/vnet-neu"
)
SNET = f"{VNET}/subnets/snet-cni"


def recorded_cni_cluster() -> dict[str, Any]:
    """The recorded Azure CNI cluster (K8s 1.25.6, nodepool1 + npwin, maxPods 30), moved onto a
    BYO /24 with nodepool1 autoscaling to 10 nodes: the sample fleet's aks-cni-neu."""
    path = (
        SHARED_FIXTURES
        / "arm/managedclusters/azcli-recording_ManagedClusterGet_azure-cni-windows-pool.json"
    )
    body = copy.deepcopy(json.loads(path.read_text()))
    system, windows = body["properties"]["agentPoolProfiles"]
    system.update(vnetSubnetID=SNET, enableAutoScaling=True, minCount=1, maxCount=10)
    windows.update(vnetSubnetID=SNET)
    return body


def facts(
    body: dict[str, Any],
    prefix: str = "10.10.0.0/24",
    used: float = 248,
    limit: float = 251,
) -> audit_pb2.ClusterFacts:
    inventory = convert.cluster_inventory(body)
    inventory.subnets.append(
        convert.subnet({"id": SNET, "name": "snet-cni", "properties": {"addressPrefix": prefix}})
    )
    inventory.virtual_networks.append(
        convert.virtual_network({"id": VNET}, [{"id": SNET, "currentValue": used, "limit": limit}])
    )
    return audit_pb2.ClusterFacts(
        cluster_key=inventory.arm_resource_id.lower(), inventory=inventory
    )


def test_cni_001_fires_when_max_scale_plus_surge_exceeds_the_subnet() -> None:
    (finding,) = CNI_001.evaluate(facts(recorded_cni_cluster()), RuleSettings())
    assert finding.rule_id == "CNI-001"
    assert finding.severity == audit_pb2.SEVERITY_HIGH
    assert finding.resource == SNET.lower()
    assert dict(finding.evidence) == {
        "required": "403",
        "usable": "251",
        "prefix": "10.10.0.0/24",
        "shortfall": "152",
        "pool.nodepool1": "(10+1)*31=341",
        "pool.npwin": "(1+1)*31=62",
    }
    assert "needs 403" in finding.message and "251 usable" in finding.message


def test_cni_001_quiet_when_the_subnet_is_big_enough() -> None:
    assert (
        CNI_001.evaluate(facts(recorded_cni_cluster(), prefix="10.10.0.0/23"), RuleSettings()) == []
    )


@pytest.mark.parametrize(
    ("network_profile", "pool_extra"),
    [
        ({"networkPlugin": "kubenet"}, {}),
        ({"networkPlugin": "azure", "networkPluginMode": "overlay"}, {}),
        ({"networkPlugin": "azure"}, {"podSubnetID": f"{VNET}/subnets/snet-pods"}),
    ],
)
def test_cni_001_only_judges_node_subnet_mode(
    network_profile: dict[str, str], pool_extra: dict[str, str]
) -> None:
    body = recorded_cni_cluster()
    body["properties"]["networkProfile"] = network_profile
    for pool in body["properties"]["agentPoolProfiles"]:
        pool.update(pool_extra)
    assert CNI_001.evaluate(facts(body), RuleSettings()) == []


def test_cni_001_needs_the_subnet_from_arm() -> None:
    inventory = convert.cluster_inventory(recorded_cni_cluster())
    assert CNI_001.evaluate(audit_pb2.ClusterFacts(inventory=inventory), RuleSettings()) == []
    assert CNI_001.evaluate(audit_pb2.ClusterFacts(cluster_key="c"), RuleSettings()) == []


@pytest.mark.parametrize(
    ("used", "severity", "ratio"),
    [
        (248, audit_pb2.SEVERITY_HIGH, "0.988"),
        (226, audit_pb2.SEVERITY_HIGH, "0.9"),
        (205, audit_pb2.SEVERITY_MEDIUM, "0.817"),
    ],
)
def test_cni_002_grades_utilisation(used: int, severity: int, ratio: str) -> None:
    (finding,) = CNI_002.evaluate(facts(recorded_cni_cluster(), used=used), RuleSettings())
    assert finding.severity == severity
    assert finding.resource == SNET.lower()
    assert (finding.evidence["used"], finding.evidence["limit"], finding.evidence["ratio"]) == (
        str(used),
        "251",
        ratio,
    )


@pytest.mark.parametrize(("used", "limit"), [(200, 251), (2, -1), (0, 0)])
def test_cni_002_quiet_below_the_threshold_or_without_a_limit(used: int, limit: int) -> None:
    assert (
        CNI_002.evaluate(facts(recorded_cni_cluster(), used=used, limit=limit), RuleSettings())
        == []
    )


def test_cni_002_thresholds_come_from_settings() -> None:
    settings = RuleSettings(utilisation_high=0.99, utilisation_medium=0.5)
    (finding,) = CNI_002.evaluate(facts(recorded_cni_cluster(), used=248), settings)
    assert finding.severity == audit_pb2.SEVERITY_MEDIUM
    assert finding.evidence["threshold"] == "0.5"


def test_cni_002_judges_every_network_model() -> None:
    body = recorded_cni_cluster()
    body["properties"]["networkProfile"] = {"networkPlugin": "kubenet"}
    assert [f.rule_id for f in evaluate_rules(facts(body), RuleSettings())] == [
        "CNI-002",
        "KUB-001",
    ]


def test_both_rules_on_the_sample_cluster_through_the_registry() -> None:
    findings = evaluate_rules(facts(recorded_cni_cluster()), RuleSettings())
    assert [(f.rule_id, f.severity) for f in findings] == [
        ("CNI-001", audit_pb2.SEVERITY_HIGH),
        ("CNI-002", audit_pb2.SEVERITY_HIGH),
    ]
