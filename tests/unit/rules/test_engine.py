"""The outcome engine: not assessed derived from declared needs, errors isolated, settings
(enabled, severity, thresholds, scope) applied, the fleet-wide step."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Iterator
from datetime import timedelta

import pytest
from pydantic import ValidationError

import netaudit.collector.rules as rules_package
from netaudit.collector.rules import (
    RULES,
    Outcome,
    Rule,
    RuleOutcome,
    RuleSettings,
    evaluate_cluster,
)
from netaudit.collector.rules.engine import evaluate_fleet
from netaudit.collector.rules.rule import (
    DataSource,
    DoesNotApply,
    FleetGroup,
    NotAssessed,
    Threshold,
    inventory,
    pending,
    report,
)
from netaudit.collector.rules.settings import PerRuleSettings
from netaudit.collector.rules.view import ClusterView
from netaudit.v1 import audit_pb2, inventory_pb2
from tests.rule_cases import NOW, facts_of, new_report

NOT_FAMILIES = {"rule", "settings", "engine", "view"}
KEY = "/subscriptions/s1/resourcegroups/rg1/providers/microsoft.containerservice/managedclusters/c1"


def family_modules() -> list[str]:
    return sorted(
        m.name for m in pkgutil.iter_modules(rules_package.__path__) if m.name not in NOT_FAMILIES
    )


def test_every_rule_module_registers_its_rules() -> None:
    registered = {id(rule) for rule in RULES}
    for name in family_modules():
        module = importlib.import_module(f"netaudit.collector.rules.{name}")
        defined = [value for value in vars(module).values() if isinstance(value, Rule)]
        assert defined, f"rules/{name}.py defines no Rule"
        unregistered = [rule.id for rule in defined if id(rule) not in registered]
        assert unregistered == [], f"rules/{name}.py: add {unregistered} to RULES"


def test_rule_ids_are_unique() -> None:
    assert len({rule.id for rule in RULES}) == len(RULES)


def probe(
    *reads: object,
    finds: int = 1,
    raises: Exception | None = None,
    rule_id: str = "TST-001",
    thresholds: tuple[Threshold, ...] = (),
) -> Rule:
    """A hand-made rule: ``finds`` findings (graded high, then one level lower), or raises."""

    def check(rule: Rule, view: ClusterView, settings: RuleSettings) -> Iterator[audit_pb2.Finding]:
        for index in range(finds):
            yield rule.finding(
                view,
                resource=f"r{index}",
                message="m",
                evidence={"ratio": 0.98765, "ok": True, "whole": 2.0},
                severity=rule.graded(-index),
            )
        if raises is not None:
            raise raises

    return Rule(
        rule_id, "t", audit_pb2.SEVERITY_HIGH, "why", "fix", ("ref",), DataSource.BOTH,
        tuple(reads), check, thresholds,  # type: ignore[arg-type]
    )  # fmt: skip


def outcome(
    rule: Rule, facts: audit_pb2.ClusterFacts, settings: RuleSettings | None = None
) -> RuleOutcome:
    return evaluate_cluster(facts, settings or RuleSettings(), [rule]).outcomes[0]


def cluster_inventory() -> inventory_pb2.ClusterInventory:
    return inventory_pb2.ClusterInventory(arm_resource_id=KEY, name="c1")


def test_findings_carry_the_catalogue_and_string_evidence() -> None:
    result = outcome(probe(inventory()), facts_of(cluster_inventory()))
    assert result.outcome is Outcome.FINDINGS
    (finding,) = result.findings
    assert (finding.rule_id, finding.cluster_key, finding.remediation) == ("TST-001", KEY, "fix")
    assert dict(finding.evidence) == {"ratio": "0.988", "ok": "true", "whole": "2"}


def test_no_findings_on_complete_facts_is_passed() -> None:
    assert (
        outcome(probe(inventory(), finds=0), facts_of(cluster_inventory())).outcome
        is Outcome.PASSED
    )


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        (lambda: facts_of(cluster_inventory()), "no agent report from this cluster"),
        (
            lambda: facts_of(
                cluster_inventory(), new_report(KEY), received_at=NOW - timedelta(hours=2)
            ),
            "the latest agent report is stale: received 2026-11-27T10:00:00+00:00 "
            "(120 min before the scan, limit 30 min)",
        ),
    ],
)
def test_a_missing_or_stale_report_is_not_assessed(facts, reason: str) -> None:  # type: ignore[no-untyped-def]
    result = outcome(probe(report("coredns")), facts())
    assert (result.outcome, result.reason) == (Outcome.NOT_ASSESSED, reason)
    assert result.findings == ()


def with_gap(gatherer: str, resource: str, reason: str) -> audit_pb2.ClusterFacts:
    report_ = new_report(KEY)
    report_.gaps.add(gatherer=gatherer, resource=resource, reason=reason, message="denied")
    return facts_of(cluster_inventory(), report_)


def test_a_gap_on_the_source_a_rule_reads_makes_it_not_assessed() -> None:
    facts = with_gap("coredns", "configmaps/v1 kube-system/coredns-custom", "forbidden")
    config_rule = probe(report("coredns", "configmaps/v1"))
    replicas_rule = probe(report("coredns", "deployments.apps/v1"), finds=0)
    result = outcome(config_rule, facts)
    assert result.outcome is Outcome.NOT_ASSESSED
    assert result.reason == (
        "the agent could not read configmaps/v1 kube-system/coredns-custom (forbidden: denied)"
    )
    assert outcome(replicas_rule, facts).outcome is Outcome.PASSED
    assert outcome(probe(report("nodes"), finds=0), facts).outcome is Outcome.PASSED


@pytest.mark.parametrize("reason", ["forbidden", "error", "timeout", "expired"])
def test_every_read_failure_reason_is_not_assessed_even_where_not_served_means_none(
    reason: str,
) -> None:
    facts = with_gap("nodes", "pods/v1", reason)
    lenient = probe(report("nodes", "pods/v1", not_served_means_none=True), finds=0)
    result = outcome(lenient, facts)
    assert (result.outcome, result.reason) == (
        Outcome.NOT_ASSESSED,
        f"the agent could not read pods/v1 ({reason}: denied)",
    )


def test_a_kind_that_is_not_served_means_none_only_where_declared() -> None:
    facts = with_gap("gateway_api", "gateways.gateway.networking.k8s.io/v1", "not_found")
    assert outcome(probe(report("gateway_api")), facts).outcome is Outcome.NOT_ASSESSED
    lenient = probe(report("gateway_api", not_served_means_none=True), finds=0)
    assert outcome(lenient, facts).outcome is Outcome.PASSED


def test_missing_inventory_or_a_gap_in_the_part_read_is_not_assessed() -> None:
    no_inventory = outcome(probe(inventory()), facts_of(report=new_report(KEY)))
    assert no_inventory.reason == "no inventory from Azure Resource Manager for this cluster"
    gapped = cluster_inventory()
    gapped.gaps.add(
        resource_id=f"{KEY}/../virtualNetworks/v/subnets/s", reason="forbidden", message="403"
    )
    assert outcome(probe(inventory("subnets")), facts_of(gapped)).outcome is Outcome.NOT_ASSESSED
    assert outcome(probe(inventory("cluster"), finds=0), facts_of(gapped)).outcome is Outcome.PASSED


def test_pending_evidence_is_not_assessed_with_its_name() -> None:
    rule = Rule(
        "TST-009", "t", audit_pb2.SEVERITY_LOW, "w", "f", ("r",), DataSource.ARM,
        (pending("route tables of the moon"),), None,
    )  # fmt: skip
    result = outcome(rule, facts_of(cluster_inventory(), new_report(KEY)))
    assert result.reason == "route tables of the moon is not gathered yet"


def test_either_need_is_enough_and_optional_needs_only_block_a_pass() -> None:
    either = probe(inventory(either=True), report("nodes", either=True), finds=0)
    assert outcome(either, facts_of(cluster_inventory())).outcome is Outcome.PASSED
    assert outcome(either, facts_of(report=new_report(KEY))).outcome is Outcome.PASSED
    neither = outcome(either, facts_of(cluster_key=KEY))
    assert neither.reason == (
        "no inventory from Azure Resource Manager for this cluster and no agent report from "
        "this cluster"
    )
    optional = probe(inventory(), report("services", optional=True), finds=0)
    assert outcome(optional, facts_of(cluster_inventory())).outcome is Outcome.NOT_ASSESSED
    found = probe(inventory(), report("services", optional=True))
    assert outcome(found, facts_of(cluster_inventory())).outcome is Outcome.FINDINGS


def test_a_raising_rule_is_an_error_logged_with_its_id(caplog: pytest.LogCaptureFixture) -> None:
    result = outcome(
        probe(inventory(), finds=0, raises=ValueError("bad")), facts_of(cluster_inventory())
    )
    assert (result.outcome, result.reason) == (Outcome.ERROR, "ValueError: bad")
    assert f"rule TST-001 failed on cluster {KEY}" in caplog.text


def test_not_assessed_after_some_findings_keeps_them_as_partial() -> None:
    rule = probe(inventory(), finds=1, raises=NotAssessed("pool b: no maxCount"))
    result = outcome(rule, facts_of(cluster_inventory()))
    assert (result.outcome, result.reason, len(result.findings)) == (
        Outcome.FINDINGS,
        "pool b: no maxCount",
        1,
    )
    alone = outcome(
        probe(inventory(), finds=0, raises=NotAssessed("x")), facts_of(cluster_inventory())
    )
    assert (alone.outcome, alone.reason) == (Outcome.NOT_ASSESSED, "x")


def test_a_severity_override_moves_the_grading_with_it() -> None:
    rule = probe(inventory(), finds=2)
    base = outcome(rule, facts_of(cluster_inventory())).findings
    assert [f.severity for f in base] == [audit_pb2.SEVERITY_HIGH, audit_pb2.SEVERITY_MEDIUM]
    # model_construct: the hand-made rule id is not in the registry the validator checks
    overridden = RuleSettings.model_construct(
        per_rule={"TST-001": PerRuleSettings(severity="critical")}
    )
    graded = outcome(rule, facts_of(cluster_inventory()), overridden).findings
    assert [f.severity for f in graded] == [audit_pb2.SEVERITY_CRITICAL, audit_pb2.SEVERITY_HIGH]


def test_disabled_and_out_of_scope_rules_say_why() -> None:
    rule = RULES[0]
    facts = facts_of(cluster_inventory())
    disabled = RuleSettings.model_validate({rule.id: {"enabled": False}})
    result = evaluate_cluster(facts, disabled, [rule]).outcomes[0]
    assert result.reason == f"{rule.id} is disabled in the configuration (rules.{rule.id}.enabled)"
    scoped = RuleSettings.model_validate({rule.id: {"scope": {"clusters": ["prod-*"]}}})
    result = evaluate_cluster(facts, scoped, [rule]).outcomes[0]
    assert result.reason == "cluster c1 matches none of the rule's cluster patterns"
    in_scope = RuleSettings.model_validate(
        {
            rule.id: {
                "scope": {"subscriptions": ["S1"], "resource_groups": ["rg1"], "clusters": ["c*"]}
            }
        }
    )
    assert evaluate_cluster(facts, in_scope, [rule]).outcomes[0].reason != result.reason


def test_settings_take_rule_ids_at_the_top_level_and_bare_threshold_names() -> None:
    settings = RuleSettings.model_validate(
        {"cni-002": {"high": 0.95, "medium": 0.85}, "KUB-001": {"severity": "High"}}
    )
    assert settings.per_rule["CNI-002"].thresholds == {"high": 0.95, "medium": 0.85}
    cni_002 = next(r for r in RULES if r.id == "CNI-002")
    assert cni_002.threshold("high", settings) == 0.95
    assert cni_002.threshold("high", RuleSettings()) == 0.9
    assert settings.severity_override("KUB-001") == audit_pb2.SEVERITY_HIGH


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"CNI-999": {"enabled": False}}, "unknown rule ids CNI-999"),
        ({"per_rule": {"NOPE-1": {}}}, "unknown rule ids NOPE-1"),
        (
            {"CNI-002": {"hihg": 0.9}},
            "CNI-002 has no threshold hihg \\(its thresholds: high, medium\\)",
        ),
        ({"CNI-001": {"severity": "urgent"}}, "severity"),
        ({"on_premises_cidrs": ["10.0.0.0/8", "not-a-cidr"]}, "not CIDR ranges: not-a-cidr"),
        ({"report_max_age_seconds": 0}, "report_max_age_seconds"),
        ({"CNI-001": {"scope": {"cluster": ["x"]}}}, "cluster"),
    ],
)
def test_invalid_settings_name_what_to_fix(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RuleSettings.model_validate(values)


def fleet_rule(rule_id: str = "TST-100", raises: bool = False) -> Rule:
    def check(rule: Rule, group: FleetGroup, settings: RuleSettings) -> Iterable[audit_pb2.Finding]:
        if raises:
            raise RuntimeError("boom")
        return [
            rule.finding_for(key, resource=group.resource, message="shared", evidence={})
            for key in group.cluster_keys
        ]

    return Rule(
        rule_id, "t", audit_pb2.SEVERITY_CRITICAL, "w", "f", ("r",), DataSource.ARM,
        (inventory(),), lambda r, v, s: (), fleet=("route_table", check),
    )  # fmt: skip


def test_the_fleet_step_runs_fleet_rules_over_shared_groups() -> None:
    other = KEY.replace("/c1", "/c2")
    claims = [
        audit_pb2.FleetClaim(cluster_key=key, cluster_name=key.rsplit("/", 1)[-1],
                             route_table=audit_pb2.RouteTableClaim(route_table_id="/rt"))
        for key in (KEY, other)
    ]  # fmt: skip

    def shared(kind: str, per_claim: bool) -> list[tuple[str, list[audit_pb2.FleetClaim]]]:
        return [("/rt", claims)] if kind == "route_table" else []

    result = evaluate_fleet(
        shared, RuleSettings(), [fleet_rule(), fleet_rule("TST-101", raises=True)]
    )
    assert result.rule_ids == ("TST-100",)
    assert sorted(f.cluster_key for f in result.findings) == [KEY, other]
    assert result.errors == ("TST-101: RuntimeError: boom",)


def test_a_rule_that_does_not_apply_passes_even_without_an_optional_input() -> None:
    def check(rule: Rule, view: ClusterView, settings: RuleSettings) -> Iterator[audit_pb2.Finding]:
        raise DoesNotApply
        yield  # pragma: no cover

    rule = Rule(
        "TST-010", "t", audit_pb2.SEVERITY_HIGH, "w", "f", ("r",), DataSource.ARM,
        (inventory(), report("services", optional=True)), check,
    )  # fmt: skip
    assert outcome(rule, facts_of(cluster_inventory())).outcome is Outcome.PASSED
