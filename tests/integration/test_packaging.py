"""The distribution builds without warnings and ships the sandbox's sample fleet."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import REPO


def test_the_wheel_builds_without_setuptools_warnings_and_holds_the_fleet_data(
    tmp_path: Path,
) -> None:
    source = tmp_path / "source"
    shutil.copytree(
        REPO,
        source,
        ignore=shutil.ignore_patterns(".venv", ".git", "node_modules", ".stamps", "build"),
    )
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w",
         str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    output = built.stdout + built.stderr
    assert "Warning" not in output and "would be ignored" not in output, output[-3000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    fleet = [n for n in names if n.startswith("netaudit/sandbox/fleet_data/")]
    shipped = {
        p.relative_to(REPO / "sandbox").as_posix()
        for p in (REPO / "sandbox" / "fleet_data").rglob("*")
        if p.is_file()
    }
    assert {n.removeprefix("netaudit/sandbox/") for n in fleet} == shipped
