"""The catalogue: domain.md §5 is the registry, and every id has its failing and passing
case (or, while its evidence is pending, its not-assessed case)."""

from __future__ import annotations

import importlib
import pkgutil
import re
from typing import Any

import pytest

import tests.unit.rules as cases_package
from netaudit.collector.rules import RULES, RULES_BY_ID, Outcome
from netaudit.v1 import audit_pb2
from tests.conftest import SHARED_FIXTURES
from tests.rule_cases import FleetCase, RuleCase

SEVERITY_LETTER = {
    "C": audit_pb2.SEVERITY_CRITICAL,
    "H": audit_pb2.SEVERITY_HIGH,
    "M": audit_pb2.SEVERITY_MEDIUM,
    "L": audit_pb2.SEVERITY_LOW,
    "I": audit_pb2.SEVERITY_INFO,
}

PENDING_IDS: set[str] = set()
"""The ids whose evidence the agent, inventory and IP-exhaustion issues will add."""


def catalogue() -> dict[str, tuple[str, int]]:
    """id -> (title, base severity) from the rule table of domain.md §5."""
    text = (SHARED_FIXTURES.parent / "domain.md").read_text()
    section = text[text.index("## 5. Compliance rule catalogue") : text.index("## 6.")]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"^\| ([A-Z]{3}-\d{3}) \| (.+?) \| (.+?) \|", line)
        if match:
            rule_id, title, severity = match.groups()
            rows[rule_id] = (title.strip(), SEVERITY_LETTER[severity.strip()[0]])
    return rows


def all_cases(name: str) -> list[Any]:
    cases: list[Any] = []
    for module in pkgutil.iter_modules(cases_package.__path__):
        loaded = importlib.import_module(f"{cases_package.__name__}.{module.name}")
        cases.extend(getattr(loaded, name, []))
    return cases


CASES: list[RuleCase] = all_cases("CASES")
FLEET_CASES: list[FleetCase] = all_cases("FLEET_CASES")


def test_the_registry_is_the_catalogue_of_domain_md() -> None:
    expected = catalogue()
    assert len(expected) == 98
    registered = {rule.id: (rule.title, rule.severity) for rule in RULES}
    assert registered == expected
    assert [rule.id for rule in RULES] == list(expected), "RULES is in §5's order"


def test_exactly_the_listed_rules_wait_for_evidence() -> None:
    assert {rule.id for rule in RULES if rule.pending_evidence} == PENDING_IDS


def test_every_rule_has_its_cases() -> None:
    outcomes: dict[str, set[Outcome]] = {}
    for case in CASES:
        outcomes.setdefault(case.rule_id, set()).add(case.expect)
    for fleet_case in FLEET_CASES:
        verdict = Outcome.FINDINGS if fleet_case.expect_clusters else Outcome.PASSED
        outcomes.setdefault(fleet_case.rule_id, set()).add(verdict)
    missing = []
    for rule in RULES:
        have = outcomes.get(rule.id, set())
        needed = (
            {Outcome.NOT_ASSESSED} if rule.id in PENDING_IDS else {Outcome.FINDINGS, Outcome.PASSED}
        )
        if not needed <= have:
            missing.append(f"{rule.id}: {', '.join(sorted(needed - have))}")
    assert missing == []


def test_catalogue_fields_are_filled() -> None:
    for rule in RULES:
        assert rule.rationale and rule.remediation and rule.references, rule.id


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_rule_case(case: RuleCase) -> None:
    assert case.rule_id in RULES_BY_ID, f"{case.rule_id} is not registered"
    outcome = case.run()
    assert outcome.outcome is case.expect, f"{outcome.outcome}: {outcome.reason}"
    if case.expect is Outcome.FINDINGS:
        assert outcome.findings and all(f.rule_id == case.rule_id for f in outcome.findings)
        resources = [f.resource for f in outcome.findings]
        assert len(set(resources)) == len(resources), "one finding per resource"
    else:
        assert outcome.findings == ()
    if case.expect is Outcome.NOT_ASSESSED:
        assert outcome.reason
    if case.check is not None:
        case.check(outcome)


@pytest.mark.parametrize("case", FLEET_CASES, ids=[case.id for case in FLEET_CASES])
def test_fleet_case(case: FleetCase) -> None:
    assert RULES_BY_ID[case.rule_id].fleet is not None, f"{case.rule_id} is not fleet-wide"
    findings = case.run()
    assert {f.cluster_key for f in findings} == case.expect_clusters
    per_cluster = [(f.cluster_key, f.resource) for f in findings]
    assert len(set(per_cluster)) == len(per_cluster), "one finding per cluster and resource"
    if case.check is not None:
        case.check(findings)
