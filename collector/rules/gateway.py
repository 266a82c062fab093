"""Gateway API rules: Gateways not accepted or not programmed (GWA-002)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from netaudit.collector.rules.rule import DataSource, Rule
from netaudit.collector.rules.settings import RuleSettings
from netaudit.v1 import audit_pb2, report_pb2

REQUIRED_CONDITIONS = ("Accepted", "Programmed")


def _gateway_not_ready(
    rule: Rule, facts: audit_pb2.ClusterFacts, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    """Gateway Accepted != True or Programmed != True for longer than the grace period,
    on a condition the controller wrote for the current spec (observedGeneration ==
    generation), measured against the report's gathered_at (domain.md §5 GWA-002, GWAPI)."""
    if not facts.HasField("report") or not facts.report.HasField("gathered_at"):
        return
    gathered_at = _time(facts.report.gathered_at)
    for gateway in facts.report.gateway_api.gateways:
        stuck = [
            (condition, (gathered_at - _time(condition.last_transition_time)).total_seconds())
            for condition in _failing_conditions(gateway)
        ]
        stuck = [(c, age) for c, age in stuck if age > settings.gateway_grace_seconds]
        if stuck:
            yield _finding(rule, facts, gateway, stuck)


def _failing_conditions(gateway: report_pb2.Gateway) -> Iterator[report_pb2.Condition]:
    by_type = {c.type: c for c in gateway.conditions}
    for condition_type in REQUIRED_CONDITIONS:
        condition = by_type.get(condition_type)
        if (
            condition is not None
            and condition.status != "True"
            and condition.observed_generation == gateway.generation
            and condition.HasField("last_transition_time")
        ):
            yield condition


def _finding(
    rule: Rule,
    facts: audit_pb2.ClusterFacts,
    gateway: report_pb2.Gateway,
    stuck: list[tuple[report_pb2.Condition, float]],
) -> audit_pb2.Finding:
    evidence: dict[str, object] = {
        "gateway_class": gateway.gateway_class_name,
        "generation": gateway.generation,
    }
    parts = []
    for condition, age in stuck:
        prefix = condition.type.lower()
        since = _time(condition.last_transition_time).isoformat().replace("+00:00", "Z")
        evidence[f"{prefix}.status"] = condition.status
        evidence[f"{prefix}.reason"] = condition.reason
        evidence[f"{prefix}.since"] = since
        evidence[f"{prefix}.seconds"] = int(age)
        evidence[f"{prefix}.observed_generation"] = condition.observed_generation
        detail = f": {condition.message}" if condition.message else ""
        parts.append(
            f"{condition.type}={condition.status} ({condition.reason}{detail}) since {since}, "
            f"{_duration(age)} before the report"
        )
    return rule.finding(
        facts,
        resource=f"{gateway.namespace}/{gateway.name}",
        message=f"Gateway {gateway.namespace}/{gateway.name} (class "
        f"{gateway.gateway_class_name or '?'}) is not ready: {'; '.join(parts)}",
        evidence=evidence,
    )


def _time(timestamp: Timestamp) -> datetime:
    return timestamp.ToDatetime(tzinfo=UTC)


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m"


GWA_002 = Rule(
    id="GWA-002",
    title="Gateway not accepted/programmed",
    severity=audit_pb2.SEVERITY_HIGH,
    rationale="A Gateway that its controller has not accepted or programmed serves no "
    "traffic: routes attached to it are unreachable until the cause in the condition's "
    "reason is fixed.",
    remediation="Read the condition's reason: Invalid/ListenersNotValid means the spec must "
    "change; AddressNotAssigned or NoResources means the controller could not provision the "
    "data plane (for AGC check the ALB association and the controller identity's federated "
    "credential); Pending means no controller owns the GatewayClass.",
    references=(
        "https://gateway-api.sigs.k8s.io/reference/spec/#gatewayconditiontype",
        "https://learn.microsoft.com/azure/application-gateway/for-containers/troubleshooting-guide",
    ),
    data_source=DataSource.AGENT,
    check=_gateway_not_ready,
)
