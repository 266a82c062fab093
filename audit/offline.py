"""The offline audit: the whole rule catalogue over inventories and reports held in memory.

The same steps as a scan, without the store: each cluster's facts are assembled
(:func:`netaudit.collector.facts.assemble_facts`) and every rule evaluated
(:func:`evaluate_cluster`); then the fleet-wide step runs over the clusters' fleet
claims, grouped as the store groups them (by kind and shared resource, kept when
more than one cluster, or for ExternalDNS more than one claim, shares it), and its
findings join the clusters' outcomes as the store records them. Reports carry no
receive time here: files the user hands over are judged as they are, never stale.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from netaudit.agent.config import GatherSettings
from netaudit.audit.inputs import load_inputs, report_key
from netaudit.collector.analysis.fleet import (
    claim_kind,
    claim_resource,
    cluster_key,
    inventory_claims,
    report_claims,
)
from netaudit.collector.analysis.forecast import usage_points
from netaudit.collector.facts import assemble_facts
from netaudit.collector.rules import RULES, Outcome, Rule, RuleOutcome, RuleSettings
from netaudit.collector.rules.engine import FleetEvaluation, evaluate_cluster, evaluate_fleet
from netaudit.v1 import audit_pb2, inventory_pb2, report_pb2

FLEET_REASON = "found by the fleet-wide step (a resource shared with other clusters)"
"""The reason of a ``findings`` outcome only the fleet-wide step found (the store's words)."""


@dataclass(frozen=True)
class ClusterAudit:
    """Every rule's outcome on one cluster, fleet-wide findings included."""

    cluster_key: str
    name: str
    outcomes: tuple[RuleOutcome, ...]

    @property
    def findings(self) -> list[audit_pb2.Finding]:
        return [finding for outcome in self.outcomes for finding in outcome.findings]

    @property
    def passed(self) -> list[str]:
        return [o.rule_id for o in self.outcomes if o.outcome is Outcome.PASSED]

    @property
    def not_assessed(self) -> list[tuple[str, str]]:
        """(rule id, reason) of the rules that could not judge this cluster."""
        return [(o.rule_id, o.reason) for o in self.outcomes if o.outcome is Outcome.NOT_ASSESSED]

    @property
    def errors(self) -> list[tuple[str, str]]:
        return [(o.rule_id, o.reason) for o in self.outcomes if o.outcome is Outcome.ERROR]


@dataclass(frozen=True)
class FleetAudit:
    clusters: tuple[ClusterAudit, ...]
    fleet_errors: tuple[str, ...] = ()
    """Fleet-wide rules that failed (their fleet findings are left out)."""
    warnings: tuple[str, ...] = ()
    """Inputs that could not be used, one line each naming the file or folder."""

    @property
    def findings(self) -> list[audit_pb2.Finding]:
        return [finding for cluster in self.clusters for finding in cluster.findings]

    def cluster(self, name_or_key: str) -> ClusterAudit:
        wanted = name_or_key.lower()
        return next(c for c in self.clusters if wanted in {c.name.lower(), c.cluster_key})


def audit_files(
    arm: Path | None = None,
    k8s: Path | None = None,
    report_files: Sequence[Path] = (),
    settings: RuleSettings | None = None,
    *,
    gather: GatherSettings | None = None,
    now: datetime | None = None,
) -> FleetAudit:
    """``netaudit audit``: read the files, then audit what they hold."""
    inputs = load_inputs(arm, k8s, report_files, gather)
    audit = audit_fleet(inputs.inventories, inputs.reports, settings, now=now)
    return FleetAudit(audit.clusters, audit.fleet_errors, tuple(inputs.warnings))


def audit_fleet(
    inventories: Iterable[inventory_pb2.ClusterInventory],
    reports: Iterable[report_pb2.Report],
    settings: RuleSettings | None = None,
    *,
    now: datetime | None = None,
    rules: Sequence[Rule] = RULES,
) -> FleetAudit:
    """Every rule on every cluster an inventory or a report names (one report per cluster),
    then the fleet-wide rules over the clusters' shared resources."""
    settings = settings or RuleSettings()
    now = now or datetime.now(UTC)
    by_inventory = {cluster_key(i.arm_resource_id): i for i in inventories}
    by_report = {report_key(r): r for r in reports}
    claims = FleetClaims()
    evaluations = []
    for key in sorted(by_inventory.keys() | by_report.keys()):
        inventory, report = by_inventory.get(key), by_report.get(key)
        facts = assemble_facts(
            key,
            report=report,
            report_received_at=None,
            inventory=inventory,
            now=now,
            # the files are one refresh: one usage point each, as a first scan has
            usage_history=usage_points(inventory, now=now) if inventory is not None else (),
        )
        evaluations.append(evaluate_cluster(facts, settings, rules))
        if inventory is not None:
            claims.add(key, inventory_claims(inventory))
        if report is not None:
            claims.add(key, report_claims(report))
    fleet = evaluate_fleet(claims.shared, settings, rules)
    clusters = tuple(
        ClusterAudit(
            evaluation.cluster_key,
            _name(evaluation.cluster_key, by_inventory, by_report),
            with_fleet_findings(evaluation.outcomes, evaluation.cluster_key, fleet),
        )
        for evaluation in evaluations
    )
    return FleetAudit(clusters, fleet.errors)


class FleetClaims:
    """The clusters' fleet claims in memory, grouped as the store's ``shared_claims``."""

    def __init__(self) -> None:
        self._claims: dict[str, dict[str, list[tuple[str, int, audit_pb2.FleetClaim]]]] = {}

    def add(self, key: str, claims: Iterable[audit_pb2.FleetClaim]) -> None:
        for item, claim in enumerate(claims):
            claim.cluster_key = key
            by_resource = self._claims.setdefault(claim_kind(claim), {})
            by_resource.setdefault(claim_resource(claim), []).append((key, item, claim))

    def shared(
        self, kind: str, per_claim: bool
    ) -> Iterator[tuple[str, list[audit_pb2.FleetClaim]]]:
        """(resource, claims) of every resource of ``kind`` that several clusters claim
        (``per_claim``: several claims), in resource order, claims by cluster."""
        for resource, entries in sorted(self._claims.get(kind, {}).items()):
            count = len(entries) if per_claim else len({key for key, _, _ in entries})
            if count > 1:
                yield resource, [claim for _, _, claim in sorted(entries, key=_claim_order)]


def _claim_order(entry: tuple[str, int, audit_pb2.FleetClaim]) -> tuple[str, int]:
    return entry[0], entry[1]


def with_fleet_findings(
    outcomes: Iterable[RuleOutcome], key: str, fleet: FleetEvaluation
) -> tuple[RuleOutcome, ...]:
    """A cluster's outcomes with its fleet-wide findings, as the store keeps them: a
    finding is one per (rule, cluster, resource), so a fleet finding replaces the rule's
    own finding on the same resource and joins the others; a rule with no findings of its
    own becomes ``findings`` (whatever it was) when the fleet step found some."""
    found: dict[str, list[audit_pb2.Finding]] = {}
    for finding in fleet.findings:
        if finding.cluster_key.lower() == key:
            found.setdefault(finding.rule_id, []).append(finding)
    merged = []
    for outcome in outcomes:
        extra = found.get(outcome.rule_id, [])
        if not extra:
            merged.append(outcome)
        elif outcome.outcome is Outcome.FINDINGS:
            by_resource = {f.resource: f for f in (*outcome.findings, *extra)}
            merged.append(
                RuleOutcome(
                    outcome.rule_id, outcome.outcome, outcome.reason, tuple(by_resource.values())
                )
            )
        else:
            by_resource = {f.resource: f for f in extra}
            merged.append(
                RuleOutcome(
                    outcome.rule_id, Outcome.FINDINGS, FLEET_REASON, tuple(by_resource.values())
                )
            )
    return tuple(merged)


def _name(
    key: str,
    inventories: dict[str, inventory_pb2.ClusterInventory],
    reports: dict[str, report_pb2.Report],
) -> str:
    if key in inventories and inventories[key].name:
        return inventories[key].name
    if key in reports and reports[key].cluster.name:
        return reports[key].cluster.name
    return key.rstrip("/").rsplit("/", 1)[-1]
