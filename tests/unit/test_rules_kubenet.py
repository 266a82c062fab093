"""KUB-001: kubenet retires on 2028-03-31; medium, high from 180 days before."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from netaudit.collector.inventory import convert
from netaudit.collector.rules import RuleSettings
from netaudit.collector.rules.kubenet import KUB_001
from netaudit.v1 import audit_pb2
from tests.conftest import SHARED_FIXTURES

CLUSTERS = SHARED_FIXTURES / "arm" / "managedclusters"


def cluster_fixtures() -> list[str]:
    names = []
    for path in sorted(CLUSTERS.glob("*.json")):
        data = json.loads(path.read_text())
        body = data["responses"]["200"]["body"] if "responses" in data else data
        if "networkProfile" in (body.get("properties") or {}):
            names.append(path.name)
    return names


def facts(
    name: str, when: datetime | None = datetime(2026, 11, 27, tzinfo=UTC)
) -> audit_pb2.ClusterFacts:
    data: Any = json.loads((CLUSTERS / name).read_text())
    body = data["responses"]["200"]["body"] if "responses" in data else data
    inventory = convert.cluster_inventory(body)
    result = audit_pb2.ClusterFacts(
        cluster_key=inventory.arm_resource_id.lower(), inventory=inventory
    )
    if when is not None:
        result.evaluated_at.FromDatetime(when)
    return result


@pytest.mark.parametrize("name", cluster_fixtures())
def test_fires_exactly_on_kubenet_fixtures(name: str) -> None:
    subject = facts(name)
    findings = KUB_001.evaluate(subject, RuleSettings())
    assert len(findings) == (subject.inventory.network_profile.network_plugin == "kubenet")


def test_medium_with_the_days_remaining() -> None:
    (finding,) = KUB_001.evaluate(facts("ManagedClustersGet.json"), RuleSettings())
    assert finding.severity == audit_pb2.SEVERITY_MEDIUM
    assert finding.evidence["days_remaining"] == "490"
    assert finding.evidence["retirement_date"] == "2028-03-31"
    assert finding.resource == finding.cluster_key
    assert "in 490 days" in finding.message


@pytest.mark.parametrize(
    ("when", "severity"),
    [
        (datetime(2027, 10, 2, tzinfo=UTC), audit_pb2.SEVERITY_MEDIUM),  # 181 days
        (datetime(2027, 10, 3, tzinfo=UTC), audit_pb2.SEVERITY_HIGH),  # 180 days
        (datetime(2028, 5, 1, tzinfo=UTC), audit_pb2.SEVERITY_HIGH),  # after retirement
    ],
)
def test_high_from_180_days_before(when: datetime, severity: int) -> None:
    (finding,) = KUB_001.evaluate(facts("ManagedClustersGet.json", when), RuleSettings())
    assert finding.severity == severity


def test_the_urgent_window_comes_from_settings() -> None:
    (finding,) = KUB_001.evaluate(
        facts("ManagedClustersGet.json"), RuleSettings(kubenet_urgent_days=500)
    )
    assert finding.severity == audit_pb2.SEVERITY_HIGH


def test_without_a_scan_time_it_stays_medium() -> None:
    (finding,) = KUB_001.evaluate(facts("ManagedClustersGet.json", when=None), RuleSettings())
    assert finding.severity == audit_pb2.SEVERITY_MEDIUM
    assert "days_remaining" not in finding.evidence


def test_nothing_without_inventory() -> None:
    assert KUB_001.evaluate(audit_pb2.ClusterFacts(cluster_key="c"), RuleSettings()) == []
