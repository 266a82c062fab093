"""`netaudit rules` and `rules show ID`: what each rule needs, its sheet, the nearest ids."""

from __future__ import annotations

import dataclasses

import pytest

from netaudit.collector.reports.rule_sheet import (
    nearest_rule_ids,
    needs_text,
    render_rule_list,
    render_rule_sheet,
)
from netaudit.collector.rules import RULES, RULES_BY_ID, Rule, RuleSettings
from netaudit.collector.rules.rule import pending

# Every rule of the catalogue reads its evidence now; a rule waiting for evidence is still
# possible (a new rule lands before its gatherer), so its sheet is shown on a copy of one.
WAITING = dataclasses.replace(
    RULES_BY_ID["IPX-004"],
    reads=(pending("azure-cns available-IP metrics per node and pending pods"),),
    check=None,
)
RULES_OR_WAITING = {**RULES_BY_ID, "WAITING": WAITING}


@pytest.mark.parametrize(
    ("rule_id", "needs"),
    [
        ("CNI-002", "inventory cluster, inventory virtual_networks"),
        ("CNI-001", "inventory cluster, inventory subnets, agent services (optional)"),
        ("CNI-004", "inventory cluster or agent nodes"),
        ("PDN-012", "inventory cluster, inventory resource_providers"),
        ("WAITING", "azure-cns available-IP metrics per node and pending pods"),
    ],
)
def test_needs_name_every_input_and_how_it_is_used(rule_id: str, needs: str) -> None:
    assert needs_text(RULES_OR_WAITING[rule_id]) == needs


def test_the_list_has_one_line_per_rule_with_severity_title_and_needs() -> None:
    lines = render_rule_list(RULES).splitlines()
    assert [line.split()[0] for line in lines] == [rule.id for rule in RULES]
    for rule, line in zip(RULES, lines, strict=True):
        assert rule.title in line
        assert line.endswith(f"needs: {needs_text(rule)}")
    assert lines[1].split()[:3] == ["CNI-002", "HIGH", "arm"]


@pytest.mark.parametrize(
    ("query", "nearest"),
    [
        ("CNI-0001", ["CNI-001"]),
        ("cni-02", ["CNI-002"]),
        ("KUB", ["KUB-001", "KUB-002", "KUB-003"]),
        ("zzzzzz", []),
    ],
)
def test_an_unknown_id_suggests_the_nearest(query: str, nearest: list[str]) -> None:
    found = nearest_rule_ids(query, RULES_BY_ID)
    assert found[: len(nearest)] == nearest
    assert len(found) <= 3


SETTINGS = RuleSettings.model_validate(
    {"CNI-002": {"high": 0.95, "severity": "critical"}, "KUB-001": {"enabled": False}}
)


@pytest.mark.parametrize(
    ("rule_id", "settings", "expected"),
    [
        (
            "CNI-002",
            RuleSettings(),
            [
                "CNI-002  Subnet IP utilisation high",
                "severity: high",
                "needs:    inventory cluster, inventory virtual_networks",
                "state:    enabled",
                "Rationale",
                "Condition",
                "  currentValue/limit of VirtualNetworks.list_usage",
                "  high = 0.9 (default)",
                "  medium = 0.8 (default)",
                "Remediation",
                "References",
                "  https://learn.microsoft.com/rest/api/virtualnetwork/virtual-networks/list-usage",
            ],
        ),
        (
            "CNI-002",
            SETTINGS,
            [
                "severity: critical (configured; base high)",
                "  high = 0.95 (configured; default 0.9)",
                "  medium = 0.8 (default)",
            ],
        ),
        ("KUB-001", SETTINGS, ["state:    disabled in the configuration (rules.KUB-001.enabled)"]),
        ("CNI-001", RuleSettings(), ["  Across the fleet (clusters sharing a subnet): "]),
        (
            "WAITING",
            RuleSettings(),
            [
                "state:    pending: its evidence is not gathered yet, so it comes out not assessed",
                "  Not evaluated yet: it needs azure-cns available-IP metrics per node and",
            ],
        ),
    ],
)
def test_the_sheet_shows_condition_thresholds_and_configuration_in_effect(
    rule_id: str, settings: RuleSettings, expected: list[str]
) -> None:
    lines = render_rule_sheet(RULES_OR_WAITING[rule_id], settings).splitlines()
    for wanted in expected:
        assert any(line.startswith(wanted) for line in lines), (wanted, lines)
    assert not any("domain.md" in line or "``" in line for line in lines)
    assert all(len(line) <= 88 or line.startswith("  http") for line in lines)


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.id)
def test_every_rule_has_a_condition_and_remediation_on_its_sheet(rule: Rule) -> None:
    sheet = render_rule_sheet(rule, RuleSettings())
    sections = sheet.split("\n\n")
    headings = [section.splitlines()[0] for section in sections[2:]]
    assert {"Rationale", "Condition", "Remediation"} <= set(headings)
    condition = next(s for s in sections if s.startswith("Condition"))
    assert len(condition.splitlines()) > 1 and condition.splitlines()[1].strip()
