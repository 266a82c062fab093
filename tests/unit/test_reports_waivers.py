"""Waivers: the file's entries, what each covers, expiry, unmatched entries, and how every
report format shows a waived finding."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from netaudit.collector.reports.formats import render
from netaudit.collector.reports.model import (
    EXPIRED_WAIVER,
    OPEN,
    WAIVED,
    Report,
    ReportFinding,
)
from netaudit.collector.reports.table import render_findings_table, waiver_marks
from netaudit.collector.reports.waivers import (
    Waiver,
    WaiverFileError,
    apply_waivers,
    load_waivers,
    parse_waivers,
    waiver_warnings,
)
from netaudit.collector.rules import RULES_BY_ID
from netaudit.v1 import audit_pb2
from tests.sarif_schema import sarif_errors

TODAY = date(2026, 12, 3)
CLUSTER_ID = (
    "/subscriptions/aaaa/resourcegroups/rg-payments/providers/"
    "microsoft.containerservice/managedclusters/aks-cni-neu"
)
SUBNET = (
    "/subscriptions/aaaa/resourceGroups/rg-net/providers/Microsoft.Network/"
    "virtualNetworks/vnet-neu/subnets/snet-cni"
)


def finding(rule: str = "CNI-002", resource: str = SUBNET, severity: str = "high") -> ReportFinding:
    return ReportFinding(
        rule=rule,
        severity=severity,
        cluster="aks-cni-neu",
        cluster_id=CLUSTER_ID,
        resource=resource,
        title=f"title of {rule}",
        message=f"message of {rule}",
        evidence={},
        remediation="",
        references=(),
        fingerprint=f"{rule}-{resource}".ljust(64, "0")[:64],
    )


def waiver(
    entry: int = 1,
    expires: date = date(2027, 3, 31),
    *,
    rule: str = "CNI-002",
    cluster: str = "",
    resource: str = "",
) -> Waiver:
    return Waiver(entry, rule, cluster, resource, "accepted for Q1", "team-payments", expires)


def entry(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "rule": "CNI-002",
        "cluster": "aks-cni-*",
        "reason": "subnet replaced in Q1",
        "owner": "team-payments",
        "expires": date(2027, 3, 31),
    }
    base.update(fields)
    return {key: value for key, value in base.items() if value is not None}


# --- the file ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (None, ()),
        ({"waivers": None}, ()),
        (
            {"waivers": [entry()]},
            (
                Waiver(1, "CNI-002", "aks-cni-*", "", "subnet replaced in Q1", "team-payments",
                       date(2027, 3, 31)),
            ),
        ),
        (
            [entry(rule="npl-*", cluster=None, resource="*/snet-cni", expires="2027-01-15")],
            (
                Waiver(1, "NPL-*", "", "*/snet-cni", "subnet replaced in Q1", "team-payments",
                       date(2027, 1, 15)),
            ),
        ),
    ],
)  # fmt: skip
def test_a_waivers_file_reads_as_its_entries(document: object, expected: tuple[Waiver]) -> None:
    assert parse_waivers(document, RULES_BY_ID, "w.yaml") == expected


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"waiver": []}, "unknown top-level key 'waiver'"),
        ({"waivers": {"rule": "CNI-002"}}, "expected `waivers:` with a list of entries"),
        ([entry(), "CNI-002"], "entry 2: expected a mapping"),
        ([entry(expiry="2027-01-01")], "entry 1 (rule CNI-002): unknown key 'expiry' — did you "
                                       "mean expires?"),
        ([entry(reason=None)], "entry 1 (rule CNI-002): reason is missing"),
        ([entry(owner="")], "entry 1 (rule CNI-002): owner is missing"),
        ([entry(expires=None)], "entry 1 (rule CNI-002): expires is missing"),
        ([entry(expires="next spring")], "entry 1 (rule CNI-002): expires 'next spring' is not "
                                         "a date (YYYY-MM-DD)"),
        ([entry(cluster=None)], "entry 1 (rule CNI-002): give cluster or resource"),
        ([entry(rule="CNI-0002")], "entry 1 (rule CNI-0002): rule CNI-0002 is not a rule id — "
                                   "did you mean CNI-002?"),
        ([entry(rule="XYZ-*")], "entry 1 (rule XYZ-*): rule XYZ-* matches no rule id"),
        ([entry(rule=None)], "entry 1: rule is missing"),
        ([entry(cluster=["a", "b"])], "entry 1 (rule CNI-002): cluster must be text, not list"),
        ([entry(), entry(owner=None), entry(reason=None)],
         "entry 2 (rule CNI-002): owner is missing (and 1 more bad entries)"),
    ],
)  # fmt: skip
def test_a_malformed_waivers_file_is_one_line_naming_the_entry(
    document: object, message: str
) -> None:
    with pytest.raises(WaiverFileError) as raised:
        parse_waivers(document, RULES_BY_ID, "w.yaml")
    assert str(raised.value).startswith(f"waivers file w.yaml: {message}")
    assert "\n" not in str(raised.value)
    assert raised.value.exit_code == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("waivers:\n  - rule: CNI-002\n    cluster: [unclosed\n", "at line 4"),
        ("waivers:\n  - rule: CNI-002\n\tcluster: x\n", "at line 3"),
    ],
)
def test_a_waivers_file_that_is_not_yaml_names_the_line(
    text: str, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "waivers.yaml"
    path.write_text(text)
    with pytest.raises(WaiverFileError, match=message) as raised:
        load_waivers(path, RULES_BY_ID)
    assert "\n" not in str(raised.value)


def test_a_missing_waivers_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(WaiverFileError, match=r"nowhere\.yaml cannot be read"):
        load_waivers(tmp_path / "nowhere.yaml", RULES_BY_ID)


# --- what a waiver covers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "covered"),
    [
        ({"cluster": "aks-cni-neu"}, True),
        ({"cluster": "AKS-CNI-*"}, True),
        ({"cluster": "*/rg-payments/*"}, True),
        ({"cluster": "aks-kubenet-*"}, False),
        ({"resource": SUBNET.lower()}, True),
        ({"resource": "vnet-neu/snet-cni"}, True),
        ({"resource": "*/snet-cni"}, True),
        ({"resource": "*/snet-pods"}, False),
        ({"cluster": "aks-cni-neu", "resource": "*/snet-pods"}, False),
        ({"rule": "CNI-*", "cluster": "aks-cni-neu"}, True),
        ({"rule": "CNI-001", "cluster": "aks-cni-neu"}, False),
    ],
)
def test_a_waiver_covers_findings_by_rule_cluster_and_resource_globs(
    scope: dict[str, str], covered: bool
) -> None:
    scoped = waiver(
        rule=scope.get("rule", "CNI-002"),
        cluster=scope.get("cluster", ""),
        resource=scope.get("resource", ""),
    )
    assert scoped.covers(finding()) is covered


# --- applying them -------------------------------------------------------------------------


def report_of(*findings: ReportFinding) -> Report:
    return Report(tuple(findings), (), (), (), ((CLUSTER_ID, "aks-cni-neu"),))


@pytest.mark.parametrize(
    ("waivers", "status", "entry_used"),
    [
        ((), OPEN, None),
        ((waiver(cluster="aks-cni-neu"),), WAIVED, 1),
        ((waiver(cluster="aks-cni-neu", expires=TODAY),), WAIVED, 1),
        ((waiver(cluster="aks-cni-neu", expires=date(2026, 12, 2)),), EXPIRED_WAIVER, 1),
        (
            (
                waiver(1, date(2026, 1, 1), cluster="aks-cni-neu"),
                waiver(2, cluster="aks-*"),
            ),
            WAIVED,
            2,
        ),
        ((waiver(1, cluster="aks-cni-neu"), waiver(2, cluster="aks-*")), WAIVED, 1),
    ],
)
def test_a_covered_finding_is_waived_until_the_expiry_day_then_says_its_waiver_expired(
    waivers: tuple[Waiver, ...], status: str, entry_used: int | None
) -> None:
    (result,) = apply_waivers(report_of(finding()), waivers, TODAY).findings
    assert result.status == status
    assert (result.waiver.entry if result.waiver else None) == entry_used


def test_fail_on_ignores_waived_findings_but_not_those_of_an_expired_waiver() -> None:
    findings = (finding("CNI-002"), finding("CNI-001"), finding("CNI-003"))
    waivers = (
        waiver(1, rule="CNI-002", cluster="aks-cni-neu"),
        waiver(2, date(2026, 1, 1), rule="CNI-001", cluster="aks-cni-neu"),
    )
    report = apply_waivers(report_of(*findings), waivers, TODAY)
    assert sorted(f.rule for f in report.at_or_above("high")) == ["CNI-001", "CNI-003"]
    assert report_of(*findings).at_or_above("high") == list(findings)


def test_waivers_that_match_nothing_are_listed_and_expired_ones_warned() -> None:
    waivers = (
        waiver(1, rule="CNI-002", cluster="aks-cni-neu"),
        waiver(2, date(2026, 1, 1), rule="CNI-001", cluster="aks-cni-neu"),
        waiver(3, rule="KUB-003", cluster="aks-old-*"),
    )
    report = apply_waivers(report_of(finding("CNI-002"), finding("CNI-001")), waivers, TODAY)
    assert [w.entry for w in report.unmatched_waivers] == [3]
    assert report.summary()["waivers"] == {
        "waived": 1,
        "expired": 1,
        "unmatched": [
            {
                "entry": 3,
                "rule": "KUB-003",
                "cluster": "aks-old-*",
                "resource": "",
                "reason": "accepted for Q1",
                "owner": "team-payments",
                "expires": "2027-03-31",
            }
        ],
    }
    assert waiver_warnings(report) == [
        "waiver 2 (rule CNI-001, cluster aks-cni-neu, owner team-payments) expired on "
        "2026-01-01: its 1 finding(s) are reported again; renew it or fix them",
        "waiver 3 (rule KUB-003, cluster aks-old-*, owner team-payments) matched no finding; "
        "remove it or correct its rule and globs",
    ]


# --- every format shows it ---------------------------------------------------------------


@pytest.fixture
def waived_report() -> Report:
    waivers = (
        waiver(1, rule="CNI-002", cluster="aks-cni-neu"),
        waiver(2, date(2026, 1, 1), rule="CNI-001", cluster="aks-cni-neu"),
    )
    return apply_waivers(report_of(finding("CNI-002"), finding("CNI-001")), waivers, TODAY)


WAIVED_MARK = "WAIVED until 2027-03-31 (team-payments): accepted for Q1"
EXPIRED_MARK = "WAIVER EXPIRED 2026-01-01 (team-payments): accepted for Q1; reported again"


def test_json_fills_waiver_and_status(waived_report: Report) -> None:
    document = json.loads(render(waived_report, "json"))
    assert {(f["rule"], f["status"], f["waiver"]) for f in document["findings"]} == {
        ("CNI-002", "waived", "accepted for Q1"),
        ("CNI-001", "expired-waiver", "accepted for Q1"),
    }


def test_csv_has_status_and_waiver_columns(waived_report: Report) -> None:
    rows = list(csv.DictReader(io.StringIO(render(waived_report, "csv"))))
    assert {(r["rule"], r["status"], r["waiver"]) for r in rows} == {
        ("CNI-002", "waived", "accepted for Q1"),
        ("CNI-001", "expired-waiver", "accepted for Q1"),
    }


def test_sarif_suppresses_waived_results_only(waived_report: Report) -> None:
    (run,) = json.loads(render(waived_report, "sarif"))["runs"]
    results = {r["ruleId"]: r for r in run["results"]}
    assert results["CNI-002"]["suppressions"] == [
        {
            "kind": "external",
            "status": "accepted",
            "justification": "accepted for Q1",
            "properties": {"owner": "team-payments", "expires": "2027-03-31", "entry": 1},
        }
    ]
    assert "suppressions" not in results["CNI-001"]
    assert results["CNI-001"]["properties"]["expiredWaiver"]["expires"] == "2026-01-01"
    assert sarif_errors(json.loads(render(waived_report, "sarif"))) == []


@pytest.mark.parametrize("report_format", ["table", "markdown", "html"])
def test_the_text_formats_mark_waived_and_expired_findings(
    waived_report: Report, report_format: str
) -> None:
    text = render(waived_report, report_format)
    assert WAIVED_MARK in text
    assert EXPIRED_MARK in text


def test_the_table_counts_waived_findings_in_its_closing_line(waived_report: Report) -> None:
    assert render(waived_report, "table").splitlines()[-1] == (
        "1 cluster(s): 2 findings (1 waived), 0 passed, 0 not assessed"
    )


def test_the_findings_table_of_scan_and_report_ends_a_waived_line_with_its_mark(
    waived_report: Report,
) -> None:
    protos = [
        audit_pb2.Finding(
            rule_id=f.rule,
            title=f.title,
            severity=audit_pb2.SEVERITY_HIGH,
            cluster_key=f.cluster_id,
            resource=f.resource,
        )
        for f in waived_report.findings
    ]
    lines = render_findings_table(
        protos, {CLUSTER_ID: "aks-cni-neu"}, waiver_marks(waived_report)
    ).splitlines()
    assert lines[1].endswith(f"[{EXPIRED_MARK}]")
    assert lines[3].endswith(f"[{WAIVED_MARK}]")
