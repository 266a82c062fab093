"""The rule registry: every rule module registered, settings applied, a broken rule isolated."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator

import pytest
from pydantic import ValidationError

import netaudit.collector.rules as rules_package
from netaudit.collector.rules import (
    RULES,
    RULES_BY_ID,
    DataSource,
    Rule,
    RuleSettings,
    evaluate_rules,
)
from netaudit.collector.rules.settings import SEVERITY_BY_NAME
from netaudit.v1 import audit_pb2

NOT_FAMILIES = {"rule", "settings"}


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


def test_rule_ids_are_unique_and_catalogue_fields_filled() -> None:
    assert len(RULES_BY_ID) == len(RULES)
    for rule in RULES:
        assert rule.title and rule.rationale and rule.remediation and rule.references
        assert rule.severity != audit_pb2.SEVERITY_UNSPECIFIED
        assert isinstance(rule.data_source, DataSource)


def constant_rule(rule_id: str = "TST-001") -> Rule:
    def check(
        rule: Rule, facts: audit_pb2.ClusterFacts, settings: RuleSettings
    ) -> Iterator[audit_pb2.Finding]:
        yield rule.finding(
            facts,
            resource="r",
            message="m",
            evidence={"ratio": 0.98765, "n": 3, "ok": True, "whole": 2.0, "inf": float("inf")},
        )

    return Rule(
        rule_id, "t", audit_pb2.SEVERITY_MEDIUM, "why", "fix", ("ref",), DataSource.ARM, check
    )


def broken_rule() -> Rule:
    def check(
        rule: Rule, facts: audit_pb2.ClusterFacts, settings: RuleSettings
    ) -> Iterator[audit_pb2.Finding]:
        raise ValueError("pool bad: maxSurge 'x' is not a number")

    return Rule(
        "TST-002", "t", audit_pb2.SEVERITY_HIGH, "why", "fix", ("ref",), DataSource.ARM, check
    )


def test_findings_carry_the_catalogue_and_string_evidence() -> None:
    (finding,) = constant_rule().evaluate(audit_pb2.ClusterFacts(cluster_key="c1"), RuleSettings())
    assert (finding.rule_id, finding.title, finding.cluster_key, finding.remediation) == (
        "TST-001",
        "t",
        "c1",
        "fix",
    )
    assert dict(finding.evidence) == {
        "ratio": "0.988",
        "n": "3",
        "ok": "true",
        "whole": "2",
        "inf": "inf",
    }


def test_a_failing_rule_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    findings = evaluate_rules(
        audit_pb2.ClusterFacts(cluster_key="c1"), RuleSettings(), [broken_rule(), constant_rule()]
    )
    assert [f.rule_id for f in findings] == ["TST-001"]
    assert "rule TST-002 failed on cluster c1" in caplog.text


def test_no_facts_no_findings() -> None:
    assert evaluate_rules(audit_pb2.ClusterFacts(cluster_key="c1"), RuleSettings()) == []


def test_disabled_rules_do_not_run_and_overrides_replace_severity() -> None:
    facts = audit_pb2.ClusterFacts(cluster_key="c1")
    rules = [constant_rule()]
    settings = RuleSettings.model_construct(disabled=[], severity_overrides={"TST-001": "critical"})
    assert [f.severity for f in evaluate_rules(facts, settings, rules)] == [
        audit_pb2.SEVERITY_CRITICAL
    ]
    disabled = RuleSettings.model_construct(disabled=["TST-001"], severity_overrides={})
    assert evaluate_rules(facts, disabled, rules) == []


def test_settings_normalise_ids_and_severity_names() -> None:
    settings = RuleSettings(disabled=[" kub-001"], severity_overrides={"cni-002": "Medium"})
    assert settings.disabled == ["KUB-001"]
    assert settings.severity_override("CNI-002") == audit_pb2.SEVERITY_MEDIUM
    assert settings.severity_override("CNI-001") is None
    assert set(SEVERITY_BY_NAME) == {"info", "low", "medium", "high", "critical"}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"disabled": ["CNI-999"]}, "unknown rule ids CNI-999"),
        ({"severity_overrides": {"NOPE-1": "high"}}, "unknown rule ids NOPE-1"),
        ({"severity_overrides": {"CNI-001": "urgent"}}, "severity_overrides.CNI-001"),
        ({"utilisation_medium": 0.95, "utilisation_high": 0.9}, "must not exceed"),
        ({"utilisation_high": 1.5}, "utilisation_high"),
        ({"on_premises_cidrs": ["10.0.0.0/8", "not-a-cidr"]}, "not CIDR ranges: not-a-cidr"),
        ({"thresholds": 1}, "thresholds"),
    ],
)
def test_invalid_settings_name_the_field(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        RuleSettings.model_validate(values)
