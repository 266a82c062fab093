"""The findings table shows readable resources and evidence with its numbers."""

from __future__ import annotations

import pytest

from netaudit.collector.reports.table import render_findings_table, short_resource
from netaudit.v1 import audit_pb2

SUBNET = (
    "/subscriptions/aaaa/resourceGroups/rg-net/providers/Microsoft.Network/"
    "virtualNetworks/vnet-neu/subnets/snet-cni"
)
CLUSTER = (
    "/subscriptions/aaaa/resourcegroups/rg/providers/Microsoft.ContainerService/"
    "managedClusters/aks-1"
)


@pytest.mark.parametrize(
    ("resource", "short"),
    [
        (SUBNET, "vnet-neu/snet-cni"),
        (CLUSTER, "aks-1"),
        ("test-infra/gateway-01", "test-infra/gateway-01"),
        ("/subscriptions/aaaa/resourceGroups/rg", "/subscriptions/aaaa/resourceGroups/rg"),
    ],
)
def test_arm_ids_are_shortened_to_their_names(resource: str, short: str) -> None:
    assert short_resource(resource) == short


def test_table_orders_by_severity_and_prints_evidence() -> None:
    low = audit_pb2.Finding(
        rule_id="KUB-001", severity=audit_pb2.SEVERITY_MEDIUM, cluster_key="k1", resource=CLUSTER
    )
    high = audit_pb2.Finding(
        rule_id="CNI-001", severity=audit_pb2.SEVERITY_HIGH, cluster_key="k2", resource=SUBNET
    )
    high.evidence["required"] = "403"
    high.evidence["usable"] = "251"
    lines = render_findings_table([low, high], {"k1": "kubenet", "k2": "cni"}).splitlines()
    assert lines[0].split() == ["RULE", "SEVERITY", "CLUSTER", "RESOURCE", "EVIDENCE"]
    assert lines[1].split() == [
        "CNI-001",
        "HIGH",
        "cni",
        "vnet-neu/snet-cni",
        "required=403",
        "usable=251",
    ]
    assert lines[2].split() == ["KUB-001", "MEDIUM", "kubenet", "aks-1"]


def test_no_findings_says_so() -> None:
    assert render_findings_table([], {}) == "no open findings"
