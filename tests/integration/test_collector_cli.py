"""The `netaudit` command: help, one-line errors with the right exit codes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

NETAUDIT = str(Path(sys.executable).with_name("netaudit"))


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NETAUDIT, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_help_lists_the_commands() -> None:
    result = _run("--help")
    assert result.returncode == 0
    for command in ("serve", "worker", "scan", "inventory", "db", "sandbox", "demo", "rules"):
        assert command in result.stdout


def test_invalid_config_is_one_line_per_problem_and_exit_code_2(tmp_path: Path) -> None:
    config = tmp_path / "netaudit.yaml"
    config.write_text("ingest:\n  port: -1\nbroker:\n  queue: ''\n")
    result = _run("--config", str(config), "db", "upgrade")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "netaudit: error: invalid configuration, 2 problems:", result.stderr
    assert lines[1].startswith("  ingest.port: Input should be greater than or equal to 0")
    assert lines[2].startswith("  broker.queue: String should have at least 1 character")
    assert len(lines) == 3, result.stderr


def test_a_comma_separated_list_in_the_environment_is_no_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "NETAUDIT_AZURE__SUBSCRIPTIONS": "sub1,sub2", "NETAUDIT_INGEST__PROT": "5"}
    result = subprocess.run(
        [NETAUDIT, "--state-dir", str(tmp_path), "db", "upgrade"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "netaudit: error: invalid configuration: unknown key ingest.prot (from "
        "NETAUDIT_INGEST__PROT) — did you mean NETAUDIT_INGEST__PORT?"
    ]


def test_scan_without_subscriptions_for_refresh_names_the_setting(tmp_path: Path) -> None:
    result = _run("--state-dir", str(tmp_path), "inventory", "refresh", "--timeout", "1")
    assert result.returncode == 2
    assert "azure.subscriptions" in result.stderr
    assert "Traceback" not in result.stderr


def test_db_upgrade_creates_the_schema_and_is_idempotent(tmp_path: Path) -> None:
    first = _run("--state-dir", str(tmp_path), "db", "upgrade")
    second = _run("--state-dir", str(tmp_path), "db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert first.stdout.startswith("store at revision ")
    assert (tmp_path / "netaudit.db").exists()


def test_rules_lists_every_registered_rule() -> None:
    result = _run("rules")
    assert result.returncode == 0
    ids = [line.split()[0] for line in result.stdout.splitlines()]
    assert {"CNI-001", "CNI-002", "KUB-001", "GWA-002", "PDN-001", "DNS-002"} <= set(ids)


def test_report_on_an_unmigrated_store_says_to_upgrade(tmp_path: Path) -> None:
    result = _run("--state-dir", str(tmp_path), "report")
    assert result.returncode != 0
    assert "netaudit db upgrade" in result.stderr
    assert "Traceback" not in result.stderr
