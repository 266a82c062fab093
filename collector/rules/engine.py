"""The outcome engine: every (rule, cluster) evaluation ends as findings, passed,
not assessed (with the reason) or error.

"Not assessed" is derived here from each rule's declared needs and the facts:
no agent report, a stale report (older than ``report_max_age_seconds`` from
the collector's receive time), a gap on a source the rule reads, no inventory
or a gap in the inventory part it reads, evidence that is not gathered yet,
or the rule disabled or out of scope by configuration. A check adds only what
a declaration cannot say (raising :class:`NotAssessed`). Unknown is never
compliant: only an evaluation that ran on complete input and found nothing
is ``passed``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC

from netaudit.collector.rules.rule import (
    DoesNotApply,
    FleetGroup,
    NeedKind,
    Needs,
    NotAssessed,
    Outcome,
    Rule,
    clamp_severity,
)
from netaudit.collector.rules.settings import RuleSettings
from netaudit.collector.rules.view import ClusterView
from netaudit.v1 import audit_pb2, inventory_pb2, report_pb2

logger = logging.getLogger(__name__)

NOT_SERVED = "not_found"
PROVIDER_ID = re.compile(r"/subscriptions/[^/]+/providers/[^/]+")
"""A resource provider's id in a subscription (Providers_Get)."""
"""The agent's gap reason when the API server does not serve a kind (CRD not installed)."""


@dataclass(frozen=True)
class RuleOutcome:
    rule_id: str
    outcome: Outcome
    reason: str = ""
    findings: tuple[audit_pb2.Finding, ...] = ()


@dataclass(frozen=True)
class ClusterEvaluation:
    cluster_key: str
    outcomes: tuple[RuleOutcome, ...] = field(default=())

    @property
    def findings(self) -> list[audit_pb2.Finding]:
        return [finding for outcome in self.outcomes for finding in outcome.findings]

    def outcome(self, rule_id: str) -> RuleOutcome:
        return next(o for o in self.outcomes if o.rule_id == rule_id)


def evaluate_cluster(
    facts: audit_pb2.ClusterFacts,
    settings: RuleSettings,
    rules: Iterable[Rule],
) -> ClusterEvaluation:
    """Every rule's outcome on one cluster; derived facts are computed once and shared."""
    view = ClusterView(facts)
    outcomes = tuple(evaluate_rule(rule, view, settings) for rule in rules)
    return ClusterEvaluation(view.cluster_key, outcomes)


def evaluate_rule(rule: Rule, view: ClusterView, settings: RuleSettings) -> RuleOutcome:
    """One rule on one cluster; a rule that raises is logged and ends as ``error``."""
    excluded = settings.out_of_scope(rule, view.subscription_id, view.resource_group, view.name)
    if excluded is not None:
        return RuleOutcome(rule.id, Outcome.NOT_ASSESSED, excluded)
    missing = list(_unmet_needs(rule, view, settings))
    required = [why for need, why in missing if not need.optional and not need.either]
    alternatives = [need for need in rule.reads if need.either]
    unmet_alternatives = [why for need, why in missing if need.either]
    if alternatives and len(unmet_alternatives) == len(alternatives):
        required.append(" and ".join(unmet_alternatives))
    if required:
        return RuleOutcome(rule.id, Outcome.NOT_ASSESSED, _joined(required))
    assert rule.check is not None  # a rule without a check has a pending need
    findings: list[audit_pb2.Finding] = []
    try:
        for finding in rule.check(rule, view, settings):
            findings.append(_rebased(rule, finding, settings))
    except DoesNotApply:
        return RuleOutcome(rule.id, Outcome.PASSED)
    except NotAssessed as exc:
        # A check may judge part of the cluster and then say what it could not judge:
        # the findings stand, and without any the rule is not assessed.
        if findings:
            return RuleOutcome(rule.id, Outcome.FINDINGS, exc.reason, tuple(findings))
        return RuleOutcome(rule.id, Outcome.NOT_ASSESSED, exc.reason)
    except Exception as exc:
        logger.exception(
            "rule %s failed on cluster %s",
            rule.id,
            view.cluster_key,
            extra={"rule_id": rule.id, "cluster": view.cluster_key},
        )
        return RuleOutcome(rule.id, Outcome.ERROR, f"{type(exc).__name__}: {exc}")
    if findings:
        return RuleOutcome(rule.id, Outcome.FINDINGS, "", tuple(findings))
    optional = [why for need, why in missing if need.optional]
    if optional:
        return RuleOutcome(rule.id, Outcome.NOT_ASSESSED, _joined(optional))
    return RuleOutcome(rule.id, Outcome.PASSED)


def _joined(reasons: list[str]) -> str:
    return "; ".join(dict.fromkeys(reasons))


def _rebased(rule: Rule, finding: audit_pb2.Finding, settings: RuleSettings) -> audit_pb2.Finding:
    """Apply a configured severity: the finding keeps its grade relative to the base."""
    if finding.rule_id != rule.id:
        raise ValueError(f"rule {rule.id} produced a finding of {finding.rule_id}")
    override = settings.severity_override(rule.id)
    if override is not None:
        finding.severity = clamp_severity(int(override) + finding.severity - rule.severity)
    return finding


def _unmet_needs(
    rule: Rule, view: ClusterView, settings: RuleSettings
) -> Iterator[tuple[Needs, str]]:
    for need in rule.reads:
        # Many rules share a need (the coredns ConfigMaps, the inventory): judge each once
        # per cluster.
        if need not in view.need_reasons:
            view.need_reasons[need] = _unmet(need, view, settings)
        reason = view.need_reasons[need]
        if reason is not None:
            yield need, reason


def _unmet(need: Needs, view: ClusterView, settings: RuleSettings) -> str | None:
    if need.kind is NeedKind.PENDING:
        return f"{need.source} is not gathered yet"
    if need.kind is NeedKind.REPORT:
        return _report_unmet(need, view, settings)
    return _inventory_unmet(need, view)


def _report_unmet(need: Needs, view: ClusterView, settings: RuleSettings) -> str | None:
    report = view.report
    if report is None:
        return "no agent report from this cluster"
    stale = _staleness(view, settings)
    if stale is not None:
        return stale
    for gap in report.gaps:
        if _gap_matches(need, gap):
            detail = f": {gap.message}" if gap.message else ""
            return f"the agent could not read {gap.resource} ({gap.reason}{detail})"
    return None


def _staleness(view: ClusterView, settings: RuleSettings) -> str | None:
    facts = view.facts
    if not facts.HasField("report_received_at"):
        return None
    received = facts.report_received_at.ToDatetime(tzinfo=UTC)
    age = (view.now - received).total_seconds()
    if age > settings.report_max_age_seconds:
        return (
            f"the latest agent report is stale: received {received.isoformat()} "
            f"({age / 60:.0f} min before the scan, limit {settings.report_max_age_seconds / 60:.0f}"
            " min)"
        )
    return None


def _gap_matches(need: Needs, gap: report_pb2.Gap) -> bool:
    if gap.gatherer != need.source:
        return False
    if need.resource and gap.resource != "*" and not gap.resource.startswith(need.resource):
        return False
    return not (gap.reason == NOT_SERVED and need.not_served_means_none)


def _inventory_unmet(need: Needs, view: ClusterView) -> str | None:
    inventory = view.inventory
    if inventory is None:
        return "no inventory from Azure Resource Manager for this cluster"
    for gap in inventory.gaps:
        if inventory_part(gap) == need.source:
            detail = f": {gap.message}" if gap.message else ""
            return f"Azure Resource Manager did not return {gap.resource_id} ({gap.reason}{detail})"
    return None


def inventory_part(gap: inventory_pb2.InventoryGap) -> str:
    """Which inventory part an ARM read failure leaves incomplete, from the resource id."""
    resource = gap.resource_id.lower()
    # A role assignment list is made at a subnet, VNet or zone scope: judge its suffix first.
    if resource.endswith("/providers/microsoft.authorization/roleassignments"):
        return "role_assignments"
    if "/providers/microsoft.servicenetworking/" in resource:
        return "agc_associations"
    if PROVIDER_ID.fullmatch(resource):
        return "resource_providers"
    if "/privatednszones" in resource:
        return "private_dns_zones"
    if "/dnszones" in resource:
        return "public_dns_zones"
    if "/networksecuritygroups/" in resource:
        return "network_security_groups"
    if "/privateendpoints" in resource or "/networkinterfaces/" in resource:
        return "private_endpoints"
    if "/applicationgateways/" in resource:
        return "application_gateways"
    if "/subnets/" in resource:
        return "subnets"
    if "/virtualnetworks/" in resource:
        return "virtual_networks"
    return "cluster"


SharedClaims = Callable[[str, bool], Iterable[tuple[str, list[audit_pb2.FleetClaim]]]]
"""(claim kind, per claim) -> (resource, claims) of every resource of that kind that several
clusters (per claim: several claims, e.g. two ExternalDNS instances of one cluster) share."""

PER_CLAIM_KINDS = frozenset({"external_dns"})


@dataclass(frozen=True)
class FleetEvaluation:
    rule_ids: tuple[str, ...]
    """The fleet-wide rules that ran (their absent fleet findings may resolve)."""
    findings: tuple[audit_pb2.Finding, ...]
    groups: int
    errors: tuple[str, ...] = ()


def evaluate_fleet(
    shared: SharedClaims, settings: RuleSettings, rules: Iterable[Rule]
) -> FleetEvaluation:
    """The fleet-wide step: each fleet rule over every group of clusters sharing a resource
    of its kind. Findings on clusters outside a rule's configured scope are dropped; a
    rule that raises is logged, and its fleet findings of this scan are not recorded."""
    ran: list[str] = []
    errors: list[str] = []
    found: list[audit_pb2.Finding] = []
    groups = 0
    by_kind: dict[str, list[Rule]] = {}
    for rule in rules:
        if rule.fleet is not None and settings.enabled(rule.id):
            by_kind.setdefault(rule.fleet[0], []).append(rule)
    for kind, kind_rules in sorted(by_kind.items()):
        failed: set[str] = set()
        for resource, claims in shared(kind, kind in PER_CLAIM_KINDS):
            groups += 1
            group = FleetGroup(kind, resource, tuple(claims))
            for rule in kind_rules:
                if rule.id in failed:
                    continue
                try:
                    found.extend(_fleet_findings(rule, group, settings))
                except Exception as exc:
                    logger.exception("fleet-wide rule %s failed on %s", rule.id, resource)
                    failed.add(rule.id)
                    errors.append(f"{rule.id}: {type(exc).__name__}: {exc}")
        ran.extend(rule.id for rule in kind_rules if rule.id not in failed)
        found = [f for f in found if f.rule_id not in failed]
    return FleetEvaluation(tuple(ran), tuple(found), groups, tuple(errors))


def _fleet_findings(
    rule: Rule, group: FleetGroup, settings: RuleSettings
) -> Iterator[audit_pb2.Finding]:
    assert rule.fleet is not None
    names = {claim.cluster_key: claim.cluster_name for claim in group.claims}
    for finding in rule.fleet[1](rule, group, settings):
        view = ClusterView(audit_pb2.ClusterFacts(cluster_key=finding.cluster_key))
        name = names.get(finding.cluster_key) or view.name
        if settings.out_of_scope(rule, view.subscription_id, view.resource_group, name):
            continue
        yield _rebased(rule, finding, settings)
