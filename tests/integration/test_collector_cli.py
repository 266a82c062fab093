"""The `netaudit` command: help, one-line errors with the right exit codes."""

from __future__ import annotations

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


def test_invalid_config_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    config = tmp_path / "netaudit.yaml"
    config.write_text("ingest:\n  port: -1\nbroker:\n  queue: ''\n")
    result = _run("--config", str(config), "db", "upgrade")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("netaudit: error: invalid configuration:")
    assert "ingest.port" in lines[0] and "broker.queue" in lines[0]


def test_scan_without_subscriptions_for_refresh_names_the_setting(tmp_path: Path) -> None:
    result = _run("--state-dir", str(tmp_path), "inventory", "refresh", "--timeout", "1")
    assert result.returncode == 1
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
