"""The two command lines as a user runs them: global options after the subcommand, -h,
--version from the package metadata, one line and the documented exit code per mistake."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def _run(program: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / program), *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("program", ["netaudit", "netaudit-agent"])
def test_version_comes_from_the_package_metadata(program: str) -> None:
    result = _run(program, "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{program} {metadata.version('aks-netaudit')}\n"


@pytest.mark.parametrize(
    ("program", "args"),
    [
        ("netaudit", ["-h"]),
        ("netaudit", ["db", "upgrade", "-h"]),
        ("netaudit-agent", ["run", "-h"]),
    ],
)
def test_dash_h_is_help(program: str, args: list[str]) -> None:
    result = _run(program, *args)
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout
    assert "Exit codes:" in result.stdout


def test_rules_refuses_a_configuration_file_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "netaudit.yaml"
    result = _run("netaudit", "rules", "--config", str(missing))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [f"netaudit: error: config file {missing} does not exist"]


def test_state_dir_and_debug_after_the_subcommand_apply(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    quiet = _run("netaudit", "report", "--state-dir", str(missing))
    assert quiet.returncode == 2
    (line,) = quiet.stderr.splitlines()
    assert f"the state folder {missing} does not exist" in line
    loud = _run("netaudit", "report", "--state-dir", str(missing), "--debug")
    assert "Traceback (most recent call last)" in loud.stderr


def test_a_malformed_json_report_is_described_as_json(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text("not json at all\n")
    result = _run("netaudit-agent", "inspect", str(report))
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert f"{report} is not a netaudit report (JSON)" in line
    assert "protobuf" not in line
