"""`netaudit rules` and `netaudit rules show ID` as a real process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from netaudit.collector.rules import RULES


def netaudit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netaudit.audit", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_rules_lists_every_rule_with_the_data_it_needs() -> None:
    done = netaudit("rules")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [rule.id for rule in RULES]
    assert all(" needs: " in line for line in lines)


def test_rules_show_prints_the_sheet_with_the_configured_thresholds(tmp_path: Path) -> None:
    config = tmp_path / "netaudit.yaml"
    config.write_text(yaml.safe_dump({"rules": {"CNI-002": {"high": 0.95}}}))
    done = netaudit("--config", str(config), "rules", "show", "cni-002")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "CNI-002  Subnet IP utilisation high"
    for heading in ("Rationale", "Condition", "Thresholds", "Remediation", "References"):
        assert heading in lines
    assert "  high = 0.95 (configured; default 0.9)" in lines


def test_rules_show_of_an_unknown_id_is_one_line_with_the_nearest_ids() -> None:
    done = netaudit("rules", "show", "CNI-0002")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "netaudit: error: unknown rule 'CNI-0002'; nearest: CNI-002, CNI-001, CNI-003"
    ]
