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


def test_table_heads_each_rule_with_its_title_then_orders_by_severity() -> None:
    low = audit_pb2.Finding(
        rule_id="KUB-001",
        title="Kubenet in use",
        severity=audit_pb2.SEVERITY_MEDIUM,
        cluster_key="k1",
        resource=CLUSTER,
    )
    high = audit_pb2.Finding(
        rule_id="CNI-001",
        title="Node subnet too small",
        severity=audit_pb2.SEVERITY_HIGH,
        cluster_key="k2",
        resource=SUBNET,
    )
    high.evidence["required"] = "403"
    high.evidence["usable"] = "251"
    lines = render_findings_table([low, high], {"k1": "aks-1", "k2": "cni"}).splitlines()
    assert lines == [
        "CNI-001  HIGH      Node subnet too small",
        "  cni    vnet-neu/snet-cni  required=403  usable=251",
        "KUB-001  MEDIUM    Kubenet in use",
        "  aks-1  (cluster)",
    ]


def test_findings_of_one_rule_share_its_heading() -> None:
    findings = [
        audit_pb2.Finding(
            rule_id="NPL-001",
            title="No network policy engine",
            severity=audit_pb2.SEVERITY_MEDIUM,
            cluster_key=key,
            resource=CLUSTER,
        )
        for key in ("k2", "k1")
    ]
    lines = render_findings_table(findings, {"k1": "a", "k2": "b"}).splitlines()
    assert lines[0] == "NPL-001  MEDIUM    No network policy engine"
    assert [line.split()[0] for line in lines[1:]] == ["a", "b"]


def test_durations_in_the_evidence_are_shown_in_days_and_hours() -> None:
    finding = audit_pb2.Finding(
        rule_id="GWA-002", severity=audit_pb2.SEVERITY_HIGH, cluster_key="k", resource="ns/gw"
    )
    finding.evidence["programmed.seconds"] = "2799515"
    finding.evidence["programmed.status"] = "False"
    row = render_findings_table([finding], {}).splitlines()[1]
    assert row.endswith("programmed=32d 9h  programmed.status=False")


def test_no_findings_says_so() -> None:
    assert render_findings_table([], {}) == "no open findings"
