"""`netaudit audit` on the sample fleet's files: every report format parsed back, --fail-on
exit codes, and a malformed file that is one warning while the audit goes on.

The command runs as a real process (``python -m netaudit.audit``, the module the
``netaudit`` script points at)."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from netaudit.agent.summary import write_report
from netaudit.collector.reports.json_report import SCHEMA_FILE
from netaudit.sandbox.runner import start_sandbox
from netaudit.sandbox.sample_fleet import DEFAULT_FLEET_ROOT, load_sample_fleet
from tests.integration.sandbox_exports import agent_report
from tests.sarif_schema import sarif_errors

ARM = DEFAULT_FLEET_ROOT / "arm"
FORMATS = ("table", "json", "csv", "markdown", "html", "sarif")


def netaudit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netaudit.audit", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def snapshots(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Each sample-fleet agent's snapshot file, as `netaudit-agent snapshot` writes it."""
    folder = tmp_path_factory.mktemp("audit-cli")
    files = []
    with start_sandbox(folder / "sandbox", load_sample_fleet(DEFAULT_FLEET_ROOT)) as running:
        for cluster in running.clusters:
            path = folder / f"{cluster.name}.pb"
            write_report(agent_report(cluster, running.dns_server), path)
            files.append(path)
    return files


def audit_args(snapshots: list[Path], *extra: str) -> list[str]:
    reports = [arg for path in snapshots for arg in ("--report", str(path))]
    return ["audit", "--arm", str(ARM), *reports, *extra]


@pytest.fixture(scope="module")
def document(snapshots: list[Path]) -> dict[str, Any]:
    done = netaudit(*audit_args(snapshots, "--format", "json"))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


def schema_errors(document: Any) -> list[str]:
    """Violations of the committed --format json schema (draft 2020-12), one line each."""
    schema = json.loads(SCHEMA_FILE.read_text())
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(document)]


def test_the_schema_check_catches_a_broken_document(document: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(document))
    broken["findings"][0]["severity"] = "SEVERE"
    del broken["findings"][0]["fingerprint"]
    broken["summary"]["extra"] = 1
    assert len(schema_errors(broken)) == 3


def test_json_follows_the_schema_and_has_every_cluster(document: dict[str, Any]) -> None:
    assert schema_errors(document) == []
    summary = document["summary"]
    assert summary["clusters"] == 3
    assert summary["findings"] == len(document["findings"]) > 0
    assert summary["passed"] == len(document["passed"]) > 0
    assert summary["not_assessed"] == len(document["not_assessed"]) > 0
    clusters = {f["cluster"] for f in document["findings"]}
    assert clusters == {"aks-kubenet-weu", "aks-cni-neu", "aks-overlay-priv-weu"}
    assert len({f["fingerprint"] for f in document["findings"]}) == len(document["findings"])


class _Cells(HTMLParser):
    """The text of every table cell, and whether the page loads anything from outside."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self.external: list[str] = []
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_cell = tag in ("td", "th")
        if self._in_cell:
            self.cells.append("")
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.external.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.cells[-1] += data


@pytest.mark.parametrize("report_format", FORMATS)
def test_every_format_of_the_sample_fleet_parses_back(
    report_format: str, snapshots: list[Path], document: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / f"report.{report_format}"
    done = netaudit(*audit_args(snapshots, "--format", report_format, "-o", str(out)))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    text = out.read_text()
    findings = document["findings"]
    rules = {f["rule"] for f in findings}
    if report_format == "table":
        summary = document["summary"]
        assert text.rstrip().splitlines()[-1] == (
            f"3 cluster(s): {summary['findings']} findings, {summary['passed']} passed, "
            f"{summary['not_assessed']} not assessed"
        )
        for finding in findings:
            assert f"{finding['rule']}  {finding['title']}" in text
            assert finding["message"] in text
    elif report_format == "json":
        assert json.loads(text) == document
    elif report_format == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert [(r["rule"], r["cluster_id"], r["resource"], r["severity"]) for r in rows] == [
            (f["rule"], f["cluster_id"], f["resource"], f["severity"]) for f in findings
        ]
        assert [json.loads(r["evidence"]) for r in rows] == [f["evidence"] for f in findings]
    elif report_format == "markdown":
        for finding in findings:
            assert f"| {finding['severity']} | {finding['rule']} |" in text
    elif report_format == "html":
        page = _Cells()
        page.feed(text)
        assert page.external == []
        assert rules <= set(page.cells)
        assert "<script>" in text and "sortable" in text
    else:
        sarif = json.loads(text)
        assert sarif_errors(sarif) == []
        assert sarif["version"] == "2.1.0"
        (run,) = sarif["runs"]
        driver_rules = run["tool"]["driver"]["rules"]
        assert {r["id"] for r in driver_rules} == rules
        assert all(r["shortDescription"]["text"] for r in driver_rules)
        assert len(run["results"]) == len(findings)
        for result in run["results"]:
            assert driver_rules[result["ruleIndex"]]["id"] == result["ruleId"]
            assert result["level"] in ("error", "warning", "note")
            assert result["message"]["text"]
            assert re.fullmatch(
                r"[0-9a-f]{64}", result["partialFingerprints"]["netauditFinding/v1"]
            )
        assert {r["partialFingerprints"]["netauditFinding/v1"] for r in run["results"]} == {
            f["fingerprint"] for f in findings
        }


def test_fail_on_high_exits_1_on_the_sample_fleet(snapshots: list[Path]) -> None:
    done = netaudit(*audit_args(snapshots, "--format", "json", "--fail-on", "high"))
    assert done.returncode == 1, done.stderr
    assert "at or above high" in done.stderr
    assert json.loads(done.stdout)["summary"]["findings"] > 0


def test_fail_on_critical_exits_0_when_the_config_disables_the_criticals(
    snapshots: list[Path], document: dict[str, Any], tmp_path: Path
) -> None:
    criticals = sorted({f["rule"] for f in document["findings"] if f["severity"] == "critical"})
    assert criticals, "the sample fleet has critical findings"
    assert netaudit(*audit_args(snapshots, "--fail-on", "critical")).returncode == 1
    config = tmp_path / "netaudit.yaml"
    config.write_text(json.dumps({"rules": {rule: {"enabled": False} for rule in criticals}}))
    done = netaudit(*audit_args(snapshots, "--config", str(config), "--fail-on", "critical"))
    assert done.returncode == 0, done.stderr
    assert "CRITICAL" not in done.stdout


def test_a_malformed_file_is_one_warning_and_the_audit_goes_on(tmp_path: Path) -> None:
    arm = Path(shutil.copytree(ARM, tmp_path / "arm"))
    (arm / "broken.json").write_text('{"id": "/subscriptions/x", ')
    done = netaudit("audit", "--arm", str(arm), "--format", "json")
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("netaudit: warning: "), done.stderr
    assert "broken.json" in lines[0]
    assert json.loads(done.stdout)["summary"]["clusters"] == 3


def test_a_missing_arm_folder_is_a_one_line_usage_error(tmp_path: Path) -> None:
    done = netaudit("audit", "--arm", str(tmp_path / "nowhere"))
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1 and "nowhere" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_root_mounts_the_collector_commands_and_audit() -> None:
    done = netaudit("--help")
    assert done.returncode == 0
    for command in ("serve", "worker", "inventory", "scan", "report", "rules", "db", "tokens",
                    "certs", "sandbox", "demo", "audit"):  # fmt: skip
        assert command in done.stdout
