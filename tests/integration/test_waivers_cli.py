"""`netaudit audit --waivers FILE` (and reports.waivers_file) on the sample fleet's ARM files:
a waiver hides its finding from --fail-on, an expired one stops hiding it and says so, an
unmatched one is listed, and a malformed file is one line naming the entry (exit 2).

The command runs as a real process (``python -m netaudit.audit``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from netaudit.sandbox.sample_fleet import DEFAULT_FLEET_ROOT

ARM = DEFAULT_FLEET_ROOT / "arm"


def netaudit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netaudit.audit", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write_waivers(path: Path, *entries: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({"waivers": list(entries)}))
    return path


def high_findings() -> list[dict[str, Any]]:
    done = netaudit("audit", "--arm", str(ARM), "--format", "json")
    assert done.returncode == 0, done.stderr
    findings = json.loads(done.stdout)["findings"]
    return [f for f in findings if f["severity"] in ("critical", "high")]


def waiver_of(finding: dict[str, Any], expires: str) -> dict[str, Any]:
    return {
        "rule": finding["rule"],
        "cluster": finding["cluster"],
        "resource": finding["resource"],
        "reason": f"accepted {finding['rule']}",
        "owner": "team-network",
        "expires": expires,
    }


def test_waivers_hide_expire_and_report_unmatched_entries(tmp_path: Path) -> None:
    highs = high_findings()
    assert len(highs) >= 2, "the sample fleet has several high or critical findings"
    waivers = write_waivers(
        tmp_path / "waivers.yaml",
        *(waiver_of(f, "2999-12-31") for f in highs),
        {**waiver_of(highs[0], "2000-01-01"), "reason": "an old acceptance"},
        {"rule": "KUB-003", "cluster": "aks-gone-*", "reason": "x", "owner": "o",
         "expires": "2999-01-01"},
    )  # fmt: skip
    done = netaudit(
        "audit", "--arm", str(ARM), "--format", "json", "--fail-on", "high",
        "--waivers", str(waivers),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    by_fingerprint = {f["fingerprint"]: f for f in document["findings"]}
    for finding in highs:
        assert by_fingerprint[finding["fingerprint"]]["status"] == "waived"
        assert by_fingerprint[finding["fingerprint"]]["waiver"] == f"accepted {finding['rule']}"
    unmatched = document["summary"]["waivers"]["unmatched"]
    assert [(w["entry"], w["rule"]) for w in unmatched] == [(len(highs) + 2, "KUB-003")]
    assert document["summary"]["waivers"]["waived"] == len(highs)
    warnings = done.stderr.splitlines()
    assert warnings == [
        f"netaudit: warning: waiver {len(highs) + 2} (rule KUB-003, cluster aks-gone-*, "
        "owner o) matched no finding; remove it or correct its rule and globs"
    ]

    # Only the expired waiver is left for the first finding: it fails again and says why.
    write_waivers(
        waivers,
        {**waiver_of(highs[0], "2000-01-01"), "reason": "an old acceptance"},
        *(waiver_of(f, "2999-12-31") for f in highs[1:]),
    )
    done = netaudit("audit", "--arm", str(ARM), "--fail-on", "high", "--waivers", str(waivers))
    assert done.returncode == 1, done.stderr
    assert "WAIVER EXPIRED 2000-01-01 (team-network): an old acceptance" in done.stdout
    assert "expired on 2000-01-01: its 1 finding(s) are reported again" in done.stderr
    assert "netaudit: 1 finding(s) at or above high" in done.stderr


def test_the_configuration_names_the_waivers_file(tmp_path: Path) -> None:
    highs = high_findings()
    waivers = write_waivers(tmp_path / "w.yaml", *(waiver_of(f, "2999-12-31") for f in highs))
    config = tmp_path / "netaudit.yaml"
    config.write_text(yaml.safe_dump({"reports": {"waivers_file": str(waivers)}}))
    done = netaudit("audit", "--arm", str(ARM), "--config", str(config), "--fail-on", "high")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("WAIVED until 2999-12-31") == len(highs)


def test_a_malformed_waivers_file_is_one_line_naming_the_entry(tmp_path: Path) -> None:
    waivers = write_waivers(
        tmp_path / "waivers.yaml",
        {"rule": "CNI-002", "cluster": "*", "reason": "r", "owner": "o", "expires": "2999-01-01"},
        {"rule": "CNI-002", "cluster": "*", "reason": "r", "owner": "o", "expiry": "2999-01-01"},
    )
    done = netaudit("audit", "--arm", str(ARM), "--waivers", str(waivers))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"netaudit: error: waivers file {waivers}: entry 2 (rule CNI-002): unknown key "
        "'expiry' — did you mean expires?"
    ]
