"""Registry-driven rule tests: each family's test module lists ``CASES``.

A case builds one cluster's facts (from ../shared/fixtures, altered only where
the case needs it; hand-made objects say so in the case name or a comment),
names the rule and the outcome it must end in, and may check the findings
further. ``tests/unit/rules/test_catalogue.py`` runs every case through the
engine and fails when a registered id lacks a ``findings`` and a ``passed``
case (or, for rules whose evidence is pending, a ``not_assessed`` case).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from netaudit.collector.inventory import convert
from netaudit.collector.rules import (
    RULES_BY_ID,
    Outcome,
    RuleOutcome,
    RuleSettings,
    evaluate_cluster,
)
from netaudit.collector.rules.engine import evaluate_fleet
from netaudit.v1 import audit_pb2, inventory_pb2, report_pb2
from tests.conftest import SHARED_FIXTURES

ARM = SHARED_FIXTURES / "arm"
K8S = SHARED_FIXTURES / "k8s"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
"""The scans' clock in rule tests (reports are gathered and received at this time)."""

FactsFactory = Callable[[], audit_pb2.ClusterFacts]


@dataclass(frozen=True)
class RuleCase:
    """One rule on one cluster's facts, and the outcome it must end in."""

    rule_id: str
    name: str
    facts: FactsFactory
    expect: Outcome
    settings: Mapping[str, Any] = field(default_factory=dict)
    """``rules:`` configuration for the case (validated like the config file)."""
    check: Callable[[RuleOutcome], None] | None = None
    """Further assertions on the outcome (evidence, severity, reason)."""

    @property
    def id(self) -> str:
        return f"{self.rule_id}-{self.expect.value}-{self.name}"

    def run(self) -> RuleOutcome:
        settings = RuleSettings.model_validate(dict(self.settings))
        evaluation = evaluate_cluster(self.facts(), settings, [RULES_BY_ID[self.rule_id]])
        return evaluation.outcome(self.rule_id)


def outcome_of(
    rule_id: str, facts: audit_pb2.ClusterFacts, settings: Mapping[str, Any] | None = None
) -> RuleOutcome:
    """Evaluate one registered rule on ``facts`` through the engine."""
    return RuleCase(rule_id, "adhoc", lambda: facts, Outcome.PASSED, settings or {}).run()


# -- ARM payloads -----------------------------------------------------------------


def arm_json(relative: str) -> Any:
    """A fixture under ../shared/fixtures/arm: REST examples unwrapped to the 200 body."""
    data = json.loads((ARM / relative).read_text())
    if isinstance(data, dict) and "responses" in data:
        responses = data["responses"]
        data = (responses.get("200") or responses.get("201") or next(iter(responses.values())))[
            "body"
        ]
    return copy.deepcopy(data)


def managed_cluster(relative: str) -> dict[str, Any]:
    """A managed cluster body (``arm/managedclusters/...``), a fresh copy to alter."""
    body = arm_json(f"managedclusters/{relative}")
    if "value" in body:
        body = body["value"][0]
    return dict(body)


Alter = Callable[[dict[str, Any]], None]
"""A change a case makes to a copy of a published payload."""


def altered_cluster(relative: str, *alters: Alter) -> dict[str, Any]:
    """A managed cluster body with each ``alter`` applied in turn."""
    body = managed_cluster(relative)
    for alter in alters:
        alter(body)
    return body


def inventory_of(
    cluster: Mapping[str, Any],
    subnets: Iterable[Mapping[str, Any]] = (),
    vnets: Iterable[tuple[Mapping[str, Any], list[Mapping[str, Any]]]] = (),
) -> inventory_pb2.ClusterInventory:
    """The converter's inventory of a cluster body, with subnet and (VNet, usages) bodies."""
    inventory = convert.cluster_inventory(dict(cluster))
    inventory.subnets.extend(convert.subnet(dict(s)) for s in subnets)
    for vnet, usages in vnets:
        inventory.virtual_networks.append(convert.virtual_network(dict(vnet), list(usages)))
    return inventory


# -- Kubernetes objects ---------------------------------------------------------------


def k8s_documents(relative: str) -> list[dict[str, Any]]:
    """Every YAML document of a fixture under ../shared/fixtures/k8s."""
    path: Path = K8S / relative
    return [copy.deepcopy(d) for d in yaml.safe_load_all(path.read_text()) if d]


def new_report(cluster_id: str = "") -> report_pb2.Report:
    """An empty report gathered at :data:`NOW` (fill its sections with the agent's converters)."""
    report = report_pb2.Report(report_id="r-1")
    report.cluster.arm_resource_id = cluster_id
    report.gathered_at.FromDatetime(NOW)
    return report


# -- facts ----------------------------------------------------------------------------


def facts_of(
    inventory: inventory_pb2.ClusterInventory | None = None,
    report: report_pb2.Report | None = None,
    *,
    now: datetime = NOW,
    received_at: datetime | None = None,
    cluster_key: str = "",
) -> audit_pb2.ClusterFacts:
    """ClusterFacts as the scan assembles them; the report is received at ``now`` unless
    ``received_at`` says otherwise."""
    key = cluster_key or (
        inventory.arm_resource_id
        if inventory is not None
        else report.cluster.arm_resource_id
        if report is not None
        else "/subscriptions/s/resourcegroups/g/providers/microsoft.containerservice/"
        "managedclusters/c"
    )
    facts = audit_pb2.ClusterFacts(cluster_key=key.lower())
    facts.evaluated_at.FromDatetime(now)
    if inventory is not None:
        facts.inventory.CopyFrom(inventory)
    if report is not None:
        facts.report.CopyFrom(report)
        facts.report_received_at.FromDatetime(received_at or now)
    return facts


@dataclass(frozen=True)
class FleetCase:
    """A fleet-wide rule over groups of claims several clusters share, and the clusters
    (by key) that must get its findings; none means the fleet-wide step passes them."""

    rule_id: str
    name: str
    groups: Callable[[], Mapping[str, list[tuple[str, list[audit_pb2.FleetClaim]]]]]
    """claim kind -> (shared resource, claims)."""
    expect_clusters: frozenset[str]
    check: Callable[[list[audit_pb2.Finding]], None] | None = None

    @property
    def id(self) -> str:
        verdict = "findings" if self.expect_clusters else "passed"
        return f"{self.rule_id}-fleet-{verdict}-{self.name}"

    def run(self) -> list[audit_pb2.Finding]:
        groups = self.groups()

        def shared(kind: str, per_claim: bool) -> list[tuple[str, list[audit_pb2.FleetClaim]]]:
            return list(groups.get(kind, []))

        fleet = evaluate_fleet(shared, RuleSettings(), [RULES_BY_ID[self.rule_id]])
        assert fleet.errors == ()
        return [f for f in fleet.findings if f.rule_id == self.rule_id]


# -- checks a case runs on its outcome ----------------------------------------------------

OutcomeCheck = Callable[[RuleOutcome], None]


def evidence_has(**expected: str) -> OutcomeCheck:
    """The one finding carries this evidence."""

    def check(outcome: RuleOutcome) -> None:
        (finding,) = outcome.findings
        for key, value in expected.items():
            assert finding.evidence[key] == value, (key, dict(finding.evidence))

    return check


def every_finding_has(key: str, value: str) -> OutcomeCheck:
    """Every finding carries ``key=value`` (for keys that are not identifiers)."""

    def check(outcome: RuleOutcome) -> None:
        assert [f.evidence[key] for f in outcome.findings] == [value] * len(outcome.findings)

    return check


def reason_mentions(*parts: str) -> OutcomeCheck:
    """The outcome's reason (not assessed, or a partial assessment) names every part."""

    def check(outcome: RuleOutcome) -> None:
        for part in parts:
            assert part in outcome.reason, outcome.reason

    return check
