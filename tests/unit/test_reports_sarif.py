"""``--format sarif`` against the official OASIS SARIF 2.1.0 schema, with the rule metadata
and fingerprints a code-scanning dashboard needs."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest

from netaudit.collector.reports.fingerprints import fingerprint
from netaudit.collector.reports.model import Report, ReportFinding, RuleInfo, rule_infos
from netaudit.collector.reports.sarif import FINGERPRINT_KEY, render_sarif
from netaudit.collector.reports.waivers import Waiver
from tests.sarif_schema import sarif_errors

SUBNET = (
    "/subscriptions/aaaa/resourceGroups/rg-net/providers/Microsoft.Network/"
    "virtualNetworks/vnet-neu/subnets/snet-cni"
)
CLUSTER_ID = (
    "/subscriptions/aaaa/resourcegroups/rg/providers/Microsoft.ContainerService/"
    "managedClusters/aks-cni-neu"
)
CATALOGUE = rule_infos()


def finding(rule: str = "CNI-001", resource: str = SUBNET, **changes: Any) -> ReportFinding:
    values: dict[str, Any] = {
        "rule": rule,
        "severity": "high",
        "cluster": "aks-cni-neu",
        "cluster_id": CLUSTER_ID,
        "resource": resource,
        "title": "Node subnet too small",
        "message": "subnet snet-cni needs 403 IPs at max scale + surge, has 251 usable",
        "evidence": {"required": "403", "usable": "251"},
        "remediation": "Add a node pool on a larger subnet.",
        "references": (),
        "fingerprint": fingerprint(rule, CLUSTER_ID, resource),
    }
    values.update(changes)
    return ReportFinding(**values)


def report(*findings: ReportFinding, rules: dict[str, RuleInfo] | None = None) -> Report:
    return Report(
        findings=findings,
        passed=(),
        not_assessed=(),
        clusters=((CLUSTER_ID, "aks-cni-neu"),),
        rules=CATALOGUE if rules is None else rules,
    )


def waiver(expires: date) -> Waiver:
    return Waiver(1, "CNI-001", "aks-*", "", "accepted until the migration", "team-a", expires)


NO_URL_REFERENCE = {
    "CNI-001": RuleInfo(
        "CNI-001", "Node subnet too small", "high", "why", "how", ("AKS docs, IP planning",)
    )
}

CASES = {
    "catalogue rules": report(finding(), finding("KUB-001", CLUSTER_ID, severity="medium")),
    "no findings": report(),
    "a rule no longer in the catalogue": report(finding("OLD-999")),
    "a reference that is not a URL": report(finding(), rules=NO_URL_REFERENCE),
    "empty resource, message and evidence": report(
        finding(resource="", message="", evidence={}, cluster_id="")
    ),
    "a waived finding": report(finding(status="waived", waiver=waiver(date(2999, 1, 31)))),
    "an expired waiver": report(finding(status="expired-waiver", waiver=waiver(date(2024, 1, 31)))),
    "text beyond ASCII and markup": report(finding(message='ünïcode <b>&"quotes"</b> ✓')),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_sarif_follows_the_official_schema(case: Report) -> None:
    assert sarif_errors(json.loads(render_sarif(case))) == []


def test_the_schema_check_rejects_a_broken_log() -> None:
    document = json.loads(render_sarif(CASES["catalogue rules"]))
    result = document["runs"][0]["results"][0]
    result["level"] = "fatal"
    del result["message"]
    document["runs"][0]["tool"]["driver"]["rules"][0]["helpUri"] = "see the docs"
    errors = sarif_errors(document)
    assert len(errors) == 3, errors


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_result_points_at_its_rule_metadata_and_carries_its_fingerprint(
    case: Report,
) -> None:
    (run,) = json.loads(render_sarif(case))["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == sorted({f.rule for f in case.findings})
    for rule in rules:
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert rule["help"]["text"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
        assert float(rule["properties"]["security-severity"]) > 0
    assert sorted(r["partialFingerprints"][FINGERPRINT_KEY] for r in run["results"]) == sorted(
        f.fingerprint for f in case.findings
    )
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]


def test_a_catalogue_rule_brings_its_documentation_link() -> None:
    (run,) = json.loads(render_sarif(CASES["catalogue rules"]))["runs"]
    (cni,) = [r for r in run["tool"]["driver"]["rules"] if r["id"] == "CNI-001"]
    assert cni["helpUri"] == CATALOGUE["CNI-001"].references[0]
    assert cni["help"]["text"].startswith(CATALOGUE["CNI-001"].remediation)


def test_a_reference_that_is_not_a_url_stays_in_the_help_text_only() -> None:
    (run,) = json.loads(render_sarif(CASES["a reference that is not a URL"]))["runs"]
    (rule,) = run["tool"]["driver"]["rules"]
    assert "helpUri" not in rule
    assert "AKS docs, IP planning" in rule["help"]["text"]


@pytest.mark.parametrize(
    ("case", "suppressions"),
    [
        (
            "a waived finding",
            [
                {
                    "kind": "external",
                    "status": "accepted",
                    "justification": "accepted until the migration",
                    "properties": {"owner": "team-a", "expires": "2999-01-31", "entry": 1},
                }
            ],
        ),
        ("an expired waiver", None),
        ("catalogue rules", None),
    ],
)
def test_only_a_waived_finding_is_reported_as_suppressed(
    case: str, suppressions: list[dict[str, object]] | None
) -> None:
    (run,) = json.loads(render_sarif(CASES[case]))["runs"]
    assert run["results"][0].get("suppressions") == suppressions


def test_a_rule_no_longer_in_the_catalogue_is_described_by_its_finding() -> None:
    (run,) = json.loads(render_sarif(CASES["a rule no longer in the catalogue"]))["runs"]
    (rule,) = run["tool"]["driver"]["rules"]
    assert rule["id"] == "OLD-999"
    assert rule["shortDescription"]["text"] == "Node subnet too small"
    assert rule["defaultConfiguration"]["level"] == "error"
