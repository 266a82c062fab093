"""Commands that start processes stop all of them on SIGTERM, Ctrl-C or their own failure.

Each command runs as a real process; what it started is read from /proc before the
signal (tests/process_tree.py) and must be gone after it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from netaudit.collector.processes import ManagedProcess, StopRequested, stop_on_signals
from tests.conftest import require
from tests.process_tree import everything, sessions_made_by, survivors, tree

NETAUDIT = str(Path(sys.executable).with_name("netaudit"))
START_TIMEOUT = 60.0


def _start(argv: list[str], tmp_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path), "PYTHONUNBUFFERED": "1"},
    )


def _wait_for(condition: Path | str, process: subprocess.Popen[str]) -> None:
    """Until the file exists (or the process prints the line starting with the text)."""
    deadline = time.monotonic() + START_TIMEOUT
    if isinstance(condition, str):
        assert process.stdout is not None
        for line in process.stdout:
            if line.startswith(condition) or time.monotonic() > deadline:
                return
        pytest.fail(f"exited before printing {condition!r}: {process.communicate()[1]}")
    while not condition.exists():
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, f"{condition} not written"
        time.sleep(0.1)


def _stop(process: subprocess.Popen[str], sig: signal.Signals) -> tuple[int, str]:
    process.send_signal(sig)
    try:
        _out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        _out, err = process.communicate()
    return process.returncode, err


@pytest.fixture
def managed() -> Iterator[list[ManagedProcess]]:
    started: list[ManagedProcess] = []
    yield started
    for process in started:
        process.stop()


# A leader that starts a helper in a session of its own and, on SIGTERM, exits at once
# without stopping it: as a collector killed mid-stop would leave its Redis.
LEADER = textwrap.dedent(
    """
    import signal, subprocess, sys, time
    helper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                              start_new_session=True)
    print(helper.pid, flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    time.sleep(600)
    """
)


def test_a_managed_process_is_stopped_with_what_it_left_behind(
    tmp_path: Path, managed: list[ManagedProcess]
) -> None:
    leader = ManagedProcess("leader", [sys.executable, "-c", LEADER], tmp_path / "leader.log")
    managed.append(leader)
    leader.start()
    deadline = time.monotonic() + 10
    while not (tmp_path / "leader.log").read_text().strip() and time.monotonic() < deadline:
        time.sleep(0.05)
    below = tree(leader.pid)
    assert len(below) == 1, below
    sessions = sessions_made_by(below) | {leader.pid}
    leader.stop()
    assert survivors(below, sessions, timeout=5) == []


def test_a_stop_signal_unwinds_like_ctrl_c_and_a_second_one_does_not_interrupt_it() -> None:
    unwound = []
    with pytest.raises(StopRequested) as stopped, stop_on_signals():
        try:
            signal.raise_signal(signal.SIGTERM)
            time.sleep(5)
        finally:
            signal.raise_signal(signal.SIGTERM)  # ignored: the stop is under way
            unwound.append("finally")
    assert stopped.value.signum == signal.SIGTERM
    assert isinstance(stopped.value, KeyboardInterrupt)
    assert unwound == ["finally"]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def _serve_config(tmp_path: Path, metrics_port: int = 0) -> Path:
    config = tmp_path / "netaudit.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "state_dir": str(tmp_path / "state"),
                "ingest": {"host": "127.0.0.1", "port": 0, "health_port": 0},
                "metrics": {"host": "127.0.0.1", "port": metrics_port},
            }
        )
    )
    return config


def _redis_servers_of(state: Path) -> list[str]:
    return [seen.command for seen, _ in everything() if str(state) in seen.command]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_serve_stops_its_embedded_broker_on_a_stop_signal(
    tmp_path: Path, sig: signal.Signals
) -> None:
    config = _serve_config(tmp_path)
    process = _start([NETAUDIT, "--config", str(config), "serve", "--insecure"], tmp_path)
    _wait_for(tmp_path / "state" / "endpoints.json", process)
    below = tree(process.pid)
    assert any("redis-server" in seen.command for seen in below), below
    code, stderr = _stop(process, sig)
    assert code == 0, stderr
    assert survivors(below, sessions_made_by(below)) == []
    assert not (tmp_path / "state" / "endpoints.json").exists()


def test_serve_that_fails_at_start_stops_the_broker_it_started(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        config = _serve_config(tmp_path, metrics_port=taken.getsockname()[1])
        result = subprocess.run(
            [NETAUDIT, "--config", str(config), "serve", "--insecure"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith("netaudit: error: cannot bind")
    assert _redis_servers_of(tmp_path / "state") == []


def test_worker_stops_its_pool_on_sigterm(tmp_path: Path) -> None:
    require("redis")
    config = tmp_path / "netaudit.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "state_dir": str(tmp_path / "state"),
                "broker": {
                    "url": "redis://127.0.0.1:6379/12",
                    "result_backend": "redis://127.0.0.1:6379/12",
                    "queue": f"netaudit-signals-{os.getpid()}",
                },
            }
        )
    )
    process = _start([NETAUDIT, "--config", str(config), "worker", "--concurrency", "2"], tmp_path)
    deadline = time.monotonic() + START_TIMEOUT
    while len(tree(process.pid)) < 2:
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "the worker started no pool"
        time.sleep(0.2)
    time.sleep(1)  # let it finish starting: a stop during start-up is another path
    below = tree(process.pid)
    code, stderr = _stop(process, signal.SIGTERM)
    assert code == 0, stderr
    assert survivors(below, sessions_made_by(below)) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_sandbox_stops_in_order_on_a_stop_signal_and_removes_its_folder(
    tmp_path: Path, sig: signal.Signals
) -> None:
    process = _start([NETAUDIT, "sandbox"], tmp_path)
    _wait_for("endpoints:", process)
    code, stderr = _stop(process, sig)
    assert code == 0, stderr
    assert "Traceback" not in stderr
    assert list(tmp_path.glob("netaudit-sandbox-*")) == []
