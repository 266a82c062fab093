"""GWA-002: a Gateway not Accepted / not Programmed for over 5 minutes, for its current spec."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml

from netaudit.collector.rules import RuleSettings
from netaudit.collector.rules.gateway import GWA_002
from netaudit.v1 import audit_pb2, report_pb2
from tests.conftest import SHARED_FIXTURES

GATEWAY_API = SHARED_FIXTURES / "k8s" / "gateway-api"


def gateway_from(manifest: dict[str, Any], status: dict[str, Any]) -> report_pb2.Gateway:
    """The report's Gateway from a manifest and a status (the agent's gatherer does the same)."""
    metadata = manifest["metadata"]
    gateway = report_pb2.Gateway(
        namespace=metadata.get("namespace", "default"),
        name=metadata["name"],
        gateway_class_name=manifest["spec"]["gatewayClassName"],
        generation=metadata.get("generation", 1),
    )
    for item in status.get("conditions", []):
        condition = gateway.conditions.add(
            type=item["type"],
            status=item["status"],
            reason=item.get("reason", ""),
            message=item.get("message", ""),
            observed_generation=item.get("observedGeneration", 0),
        )
        if "lastTransitionTime" in item:
            condition.last_transition_time.FromJsonString(item["lastTransitionTime"])
    return gateway


def agc_status() -> dict[str, Any]:
    return dict(yaml.safe_load((GATEWAY_API / "agc_gateway_status.yaml").read_text())["status"])


def agc_manifest() -> dict[str, Any]:
    return dict(yaml.safe_load((GATEWAY_API / "agc_gateway_alb-managed.yaml").read_text()))


def facts(gateway: report_pb2.Gateway, gathered_at: datetime | None) -> audit_pb2.ClusterFacts:
    report = report_pb2.Report()
    if gathered_at is not None:
        report.gathered_at.FromDatetime(gathered_at)
    report.gateway_api.gateways.append(gateway)
    return audit_pb2.ClusterFacts(
        cluster_key="/subscriptions/s/resourcegroups/g/providers/x/y/c", report=report
    )


def not_programmed(since: str = "2026-11-01T00:00:00Z", observed: int = 1) -> dict[str, Any]:
    status = copy.deepcopy(agc_status())
    programmed = status["conditions"][1]
    programmed.update(
        status="False",
        reason="AddressNotAssigned",
        message="federated credential error AADSTS70021",
        lastTransitionTime=since,
        observedGeneration=observed,
    )
    return status


REPORT_TIME = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def test_programmed_false_for_weeks_fires_with_the_reason() -> None:
    (finding,) = GWA_002.evaluate(
        facts(gateway_from(agc_manifest(), not_programmed()), REPORT_TIME), RuleSettings()
    )
    assert finding.rule_id == "GWA-002"
    assert finding.severity == audit_pb2.SEVERITY_HIGH
    assert finding.resource == "test-infra/gateway-01"
    assert finding.evidence["programmed.reason"] == "AddressNotAssigned"
    assert finding.evidence["programmed.status"] == "False"
    assert finding.evidence["programmed.since"] == "2026-11-01T00:00:00Z"
    assert finding.evidence["programmed.seconds"] == str(26 * 86400 + 12 * 3600)
    assert "accepted.status" not in finding.evidence
    assert "26d 12h before the report" in finding.message


def test_the_published_healthy_status_is_quiet() -> None:
    assert (
        GWA_002.evaluate(
            facts(gateway_from(agc_manifest(), agc_status()), REPORT_TIME), RuleSettings()
        )
        == []
    )


@pytest.mark.parametrize(
    ("since", "observed", "reason"),
    [
        ("2026-11-27T11:56:00Z", 1, "within the 5-minute grace"),
        ("2026-11-01T00:00:00Z", 0, "status written for an older generation"),
    ],
)
def test_quiet_while_young_or_stale(since: str, observed: int, reason: str) -> None:
    gateway = gateway_from(agc_manifest(), not_programmed(since, observed))
    assert GWA_002.evaluate(facts(gateway, REPORT_TIME), RuleSettings()) == [], reason


def test_grace_period_comes_from_settings() -> None:
    gateway = gateway_from(agc_manifest(), not_programmed("2026-11-27T11:56:00Z"))
    (finding,) = GWA_002.evaluate(
        facts(gateway, REPORT_TIME), RuleSettings(gateway_grace_seconds=60)
    )
    assert finding.evidence["programmed.seconds"] == "240"


def test_both_conditions_failing_make_one_finding() -> None:
    status = not_programmed()
    status["conditions"][0].update(status="Unknown", reason="Pending")
    (finding,) = GWA_002.evaluate(
        facts(gateway_from(agc_manifest(), status), REPORT_TIME), RuleSettings()
    )
    assert (finding.evidence["accepted.reason"], finding.evidence["programmed.reason"]) == (
        "Pending",
        "AddressNotAssigned",
    )


def test_nothing_without_a_report_or_its_time() -> None:
    gateway = gateway_from(agc_manifest(), not_programmed())
    assert GWA_002.evaluate(facts(gateway, None), RuleSettings()) == []
    assert GWA_002.evaluate(audit_pb2.ClusterFacts(cluster_key="c"), RuleSettings()) == []
