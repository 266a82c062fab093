"""`netaudit demo` stops every process it started, however it ends, and cleans up after
itself: SIGTERM as a service manager sends it, a child that dies, and a plain run.

What the demo started is read from /proc before the end (tests/process_tree.py): the
tree below it and the sessions its children made; none of them may survive."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.process_tree import Seen, sessions_made_by, survivors, tree

NETAUDIT = str(Path(sys.executable).with_name("netaudit"))
SERVING_BUDGET_SECONDS = 120


@dataclass
class Serving:
    process: subprocess.Popen[str]
    printed: list[str]
    started: list[Seen]

    def finish(self, timeout: float = 60) -> tuple[str, str]:
        try:
            rest, stderr = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            rest, stderr = _stop(self.process)
            stderr += f"\n(test: the demo did not exit within {timeout:g} s)"
        return "".join(self.printed) + rest, stderr


def _stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    """SIGTERM first: SIGKILL would leave the demo's children running, test after test."""
    process.terminate()
    try:
        return process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.communicate()


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A short TMPDIR for the demo's folder: the broker's unix socket path inside it must
    fit in 107 bytes, which pytest's own temporary folders do not leave room for."""
    folder = Path(tempfile.mkdtemp(prefix="na-e2e-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _demo(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [NETAUDIT, "demo", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # the demo's temporary working folder goes under the test's
        env={**os.environ, "TMPDIR": str(tmp_path), "PYTHONUNBUFFERED": "1"},
    )


def _serving(tmp_path: Path) -> Serving:
    process = _demo(tmp_path, "--serve")
    assert process.stdout is not None
    printed = []
    deadline = time.monotonic() + SERVING_BUDGET_SECONDS
    for line in process.stdout:
        printed.append(line)
        if line.startswith("logs:") or time.monotonic() > deadline:
            break
    if not printed or not printed[-1].startswith("logs:"):
        pytest.fail(f"the demo did not serve: {_stop(process)[1]}")
    started = tree(process.pid)
    commands = " ".join(seen.command for seen in started)
    for part in (" serve", " worker", "redis-server", "netaudit-agent run --interval"):
        if part not in commands:
            _stop(process)
            pytest.fail(f"{part!r} not running under the demo")
    return Serving(process, printed, started)


def _child(serving: Serving, part: str) -> Seen:
    return next(seen for seen in serving.started if part in seen.command)


def _working_folders(tmp_path: Path) -> list[Path]:
    return list(tmp_path.glob("netaudit-demo-*"))


def test_sigterm_stops_every_process_of_the_demo_and_removes_its_folder(
    tmp_path: Path,
) -> None:
    serving = _serving(tmp_path)
    assert len(_working_folders(tmp_path)) == 1, "the folder is kept while it serves"
    serving.process.send_signal(signal.SIGTERM)
    _stdout, stderr = serving.finish()
    assert serving.process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert survivors(serving.started, sessions_made_by(serving.started)) == []
    assert _working_folders(tmp_path) == []


def test_a_child_that_dies_stops_the_demo_and_everything_it_started(tmp_path: Path) -> None:
    serving = _serving(tmp_path)
    # The collector dies at once, without stopping its Redis: the demo must notice,
    # and find the orphaned Redis all the same.
    os.kill(_child(serving, " serve").pid, signal.SIGKILL)
    stdout, stderr = serving.finish()
    assert serving.process.returncode > 0, stderr
    assert stderr.strip().splitlines()[-1].startswith("netaudit: error: collector exited")
    assert survivors(serving.started, sessions_made_by(serving.started)) == []
    kept = _working_folders(tmp_path)
    assert len(kept) == 1, "a failed run keeps its folder for the logs"
    assert f"working folder: {kept[0]}" in stdout


def test_without_serve_no_metrics_url_and_keep_leaves_a_private_folder(tmp_path: Path) -> None:
    result = subprocess.run(
        [NETAUDIT, "demo", "--keep"],
        capture_output=True,
        text=True,
        timeout=SERVING_BUDGET_SECONDS,
        env={**os.environ, "TMPDIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert "http://" not in result.stdout + result.stderr, "no URL of a stopped server"
    [folder] = _working_folders(tmp_path)
    assert f"working folder: {folder}" in result.stdout
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    [report] = [line for line in result.stdout.splitlines() if line.startswith("report:")]
    command = shlex.split(report.removeprefix("report:").split("  (")[0])
    kept = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert kept.returncode == 0, kept.stderr
    assert "CNI-001" in kept.stdout
