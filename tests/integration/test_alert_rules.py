"""The alert rules in deploy/prometheus: promtool accepts them, its unit tests show each alert
firing and not firing, and every series they read is one the collector exports."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from tests.conftest import REPO, require
from tests.exported_series import exported_series

RULES = REPO / "deploy" / "prometheus" / "netaudit-alerts.yaml"
RULE_TESTS = REPO / "deploy" / "prometheus" / "netaudit-alerts.test.yaml"
METRIC = re.compile(r"\bnetaudit_[a-z_]+\b")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    require("promtool")
    return subprocess.run(
        ["promtool", *args], capture_output=True, text=True, timeout=60, cwd=RULES.parent
    )


def test_promtool_accepts_the_rules() -> None:
    checked = promtool("check", "rules", RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_each_alert_fires_and_stays_quiet_as_its_unit_tests_say() -> None:
    tested = promtool("test", "rules", RULE_TESTS.name)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_is_unit_tested_and_documented() -> None:
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    tested = {
        test["alertname"]
        for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for test in case.get("alert_rule_test", [])
        if test.get("exp_alerts")
    }
    readme = (REPO / "README.md").read_text()
    for rule in rules:
        assert rule["alert"] in tested, f"{rule['alert']} never fires in the unit tests"
        assert rule["labels"]["severity"] in {"warning", "critical"}
        annotations = rule["annotations"]
        assert {"summary", "description", "runbook_url"} <= set(annotations)
        anchor = annotations["runbook_url"].split("#", 1)[1]
        assert f'<a id="{anchor}"></a>' in readme, f"README has no runbook {anchor}"


def test_the_rules_read_only_series_the_collector_exports(tmp_path: Path) -> None:
    exported = exported_series(tmp_path)
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    read = {name for rule in rules for name in METRIC.findall(rule["expr"])}
    assert read and read <= exported, sorted(read - exported)
