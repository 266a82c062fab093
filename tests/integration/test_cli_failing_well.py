"""Failing well: a command that cannot reach what it needs ends, within its timeout, in one
line naming what is missing and how to start or point at it; exit 3 for a service that is
unavailable, 2 for usage or configuration. ``--debug`` still shows the traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from netaudit.collector.store import Store, upgrade
from tests.conftest import require

NETAUDIT = str(Path(sys.executable).with_name("netaudit"))
SERVICE_UNAVAILABLE = 3
USAGE = 2


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _netaudit(*args: str, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run(
        [NETAUDIT, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )
    return result, time.monotonic() - started


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in result.stderr.splitlines() if not line.startswith("• ")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("netaudit: error: "), result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def startup() -> float:
    """Seconds the command line takes to import what `scan` imports, on this machine now: a
    command "within its timeout" may take that much longer on a loaded machine. Measured
    once per module while the load changes, so bounds allow it twice: still well under the
    21 s a hanging connect took."""
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-c", "import netaudit.audit.cli, netaudit.collector.scanning"],
        check=True,
        timeout=60,
    )
    return time.monotonic() - started


def _migrated(folder: Path) -> Path:
    upgrade(f"sqlite:///{folder / 'netaudit.db'}")
    return folder


def _scans(folder: Path) -> int:
    with Store(f"sqlite:///{folder / 'netaudit.db'}") as store:
        last = store.last_scan()
    return 0 if last is None else last.id


MISSING_FOLDER_COMMANDS = [
    ("scan",),
    ("report",),
    ("ip",),
    ("tokens", "list"),
]


@pytest.mark.parametrize("command", MISSING_FOLDER_COMMANDS, ids=" ".join)
def test_a_state_folder_that_does_not_exist_is_named_with_how_to_create_it(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    missing = tmp_path / "nowhere"
    result, _ = _netaudit("--state-dir", str(missing), *command)
    line = _one_line(result)
    assert result.returncode == USAGE, result.stderr
    assert f"{missing} does not exist" in line
    assert f"netaudit db upgrade --state-dir {missing}" in line
    assert "unavailable" not in line
    assert not missing.exists()


def test_report_on_an_empty_folder_creates_no_database(tmp_path: Path) -> None:
    result, _ = _netaudit("--state-dir", str(tmp_path), "report")
    line = _one_line(result)
    assert result.returncode == USAGE
    assert f"no store in {tmp_path}" in line
    assert f"netaudit db upgrade --state-dir {tmp_path}" in line
    assert list(tmp_path.iterdir()) == []


def test_scan_with_a_refused_redis_broker_is_one_line_within_its_timeout(
    tmp_path: Path, startup: float
) -> None:
    folder = _migrated(tmp_path)
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    result, took = _netaudit(
        "--state-dir", str(folder), "scan", "--timeout", "5", NETAUDIT_BROKER__URL=url
    )
    line = _one_line(result)
    assert result.returncode == SERVICE_UNAVAILABLE, result.stderr
    assert f"broker {url}" in line
    assert "NETAUDIT_BROKER__URL" in line
    assert took < 5 + 2 * startup + 2
    assert _scans(folder) == 0, "a scan that was never enqueued left a row"


def test_scan_with_a_refused_amqp_broker_is_one_line(tmp_path: Path) -> None:
    folder = _migrated(tmp_path)
    url = f"amqp://guest:guest@127.0.0.1:{_closed_port()}//"
    result, _ = _netaudit(
        "--state-dir",
        str(folder),
        "scan",
        "--timeout",
        "5",
        NETAUDIT_BROKER__URL=url,
        NETAUDIT_BROKER__RESULT_BACKEND=f"redis://127.0.0.1:{_closed_port()}/0",
    )
    line = _one_line(result)
    assert result.returncode == SERVICE_UNAVAILABLE, result.stderr
    assert "guest:****@" in line
    assert "guest:guest" not in result.stderr
    assert _scans(folder) == 0


def test_scan_without_a_running_collector_says_to_start_it(tmp_path: Path) -> None:
    folder = _migrated(tmp_path)
    result, _ = _netaudit("--state-dir", str(folder), "scan", "--timeout", "5")
    line = _one_line(result)
    assert result.returncode == SERVICE_UNAVAILABLE, result.stderr
    assert "embedded broker" in line
    assert "netaudit serve" in line
    assert _scans(folder) == 0


def test_scan_with_a_broker_but_no_worker_ends_at_its_timeout(
    tmp_path: Path, startup: float
) -> None:
    require("redis")
    folder = _migrated(tmp_path)
    queue = f"netaudit-test-{uuid.uuid4().hex[:8]}"
    result, took = _netaudit(
        "--state-dir",
        str(folder),
        "scan",
        "--timeout",
        "3",
        NETAUDIT_BROKER__URL="redis://127.0.0.1:6379/14",
        NETAUDIT_BROKER__QUEUE=queue,
    )
    line = _one_line(result)
    assert result.returncode == SERVICE_UNAVAILABLE, result.stderr
    assert f"no worker consumes queue {queue}" in line
    assert "netaudit worker" in line
    assert took < 3 + 2 * startup + 2
    assert _scans(folder) == 0


def test_inventory_refresh_with_a_refused_broker_is_one_line(
    tmp_path: Path, startup: float
) -> None:
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    result, took = _netaudit(
        "--state-dir",
        str(_migrated(tmp_path)),
        "inventory",
        "refresh",
        "--timeout",
        "5",
        NETAUDIT_BROKER__URL=url,
        NETAUDIT_AZURE__SUBSCRIPTIONS="00000000-0000-0000-0000-000000000000",
    )
    line = _one_line(result)
    assert result.returncode == SERVICE_UNAVAILABLE, result.stderr
    assert f"broker {url}" in line
    assert took < 5 + 2 * startup + 2


def test_worker_with_a_refused_broker_is_one_line(tmp_path: Path, startup: float) -> None:
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    result, took = _netaudit("--state-dir", str(tmp_path), "worker", NETAUDIT_BROKER__URL=url)
    line = _one_line(result)
    assert result.returncode == SERVICE_UNAVAILABLE, result.stderr
    assert f"broker {url}" in line
    assert took < 10 + 2 * startup + 2


def test_report_with_an_unreachable_postgresql_is_exit_3() -> None:
    url = f"postgresql+psycopg://netaudit@127.0.0.1:{_closed_port()}/netaudit"
    result, _ = _netaudit("report", NETAUDIT_STORE__URL=url)
    line = _one_line(result)
    assert result.returncode == SERVICE_UNAVAILABLE, result.stderr
    assert "is unavailable" in line


def test_debug_still_shows_the_traceback(tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{_closed_port()}/0"
    result, _ = _netaudit(
        "--debug", "--state-dir", str(_migrated(tmp_path)), "scan", NETAUDIT_BROKER__URL=url
    )
    assert result.returncode != 0
    assert "Traceback (most recent call last)" in result.stderr


STATE_WRITING_COMMANDS = [("serve", "--insecure"), ("db", "upgrade"), ("certs", "init")]


@pytest.mark.parametrize("command", STATE_WRITING_COMMANDS, ids=" ".join)
def test_a_state_folder_that_cannot_be_written_is_one_line_at_start(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("")
    folder = in_the_way / "state"
    result, _ = _netaudit(*command, "--state-dir", str(folder))
    line = _one_line(result)
    assert result.returncode == USAGE, result.stderr
    assert f"state folder {folder} is not writable (Not a directory)" in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_a_read_only_state_folder_is_one_line_at_start(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir(mode=0o500)
    result, _ = _netaudit("serve", "--insecure", "--state-dir", str(folder))
    line = _one_line(result)
    assert result.returncode == USAGE, result.stderr
    assert f"state folder {folder} is not writable (Permission denied)" in line
