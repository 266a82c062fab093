"""`netaudit beat` schedules inventory refreshes and scans that real workers complete.

Real processes: `netaudit serve` (its embedded Redis on a unix socket), `netaudit worker`
and `netaudit beat`, all on one state folder, reading the sandbox's ARM. Nobody else
starts a scan here, so every scan in the store was started by beat; the worker's log
ties each one to a beat trigger.
"""

from __future__ import annotations

import json
import os
import shelve
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from netaudit.collector.broker import EmbeddedRedis
from netaudit.collector.config import load_settings
from netaudit.collector.demo import sandbox_azure_config, write_config
from netaudit.collector.processes import ManagedProcess
from netaudit.collector.store import ScanRecord, Store
from netaudit.sandbox.runner import start_sandbox

NETAUDIT = str(Path(sys.executable).with_name("netaudit"))
INTERVAL_SECONDS = 2
# Findings decided by ARM alone (no agent reports here).
EXPECTED = {("CNI-001", "aks-cni-neu"), ("KUB-001", "aks-kubenet-weu")}
ENV = {**os.environ, "NETAUDIT_LOG_FORMAT": "json"}


def _start_beat(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [NETAUDIT, "--config", str(config), "beat"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=ENV,
        )


def _stop(beat: subprocess.Popen[bytes], sig: signal.Signals) -> int:
    beat.send_signal(sig)
    try:
        return beat.wait(15)
    finally:
        if beat.poll() is None:
            beat.kill()
            beat.wait(5)


def _wait_for_file(path: Path, process: ManagedProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        process.ensure_running()
        assert time.monotonic() < deadline, f"{path} not written: {process.log_tail()}"
        time.sleep(0.1)


def _scan_of_the_whole_fleet(store_url: str, timeout: float) -> ScanRecord | None:
    """The first finished scan that saw every cluster (after a scheduled refresh)."""
    deadline = time.monotonic() + timeout
    with Store(store_url) as store:
        while time.monotonic() < deadline:
            record = store.last_scan(finished=True)
            if record is not None and record.clusters == 3:
                return record
            time.sleep(0.5)
    return None


def _log_lines(path: Path, message: str) -> list[dict[str, Any]]:
    lines = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if record.get("message") == message:
                lines.append(record)
    return lines


def _schedule_files(state: Path) -> list[Path]:
    return sorted(state.glob("celerybeat-schedule*"))


def test_beat_schedules_refreshes_and_scans_that_complete_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    with start_sandbox(tmp_path / "sandbox") as sandbox:
        config = write_config(
            tmp_path,
            {
                "state_dir": str(tmp_path / "state"),
                "ingest": {"host": "127.0.0.1", "port": 0, "health_port": 0},
                "metrics": {"host": "127.0.0.1", "port": 0},
                "azure": sandbox_azure_config(sandbox, tmp_path),
                "schedule": {
                    "scan_interval_seconds": INTERVAL_SECONDS,
                    "inventory_interval_seconds": INTERVAL_SECONDS,
                },
            },
        )
        settings = load_settings(config)
        cli = [NETAUDIT, "--config", str(config)]
        serve = ManagedProcess("serve", [*cli, "serve", "--insecure"], tmp_path / "serve.log")
        worker = ManagedProcess(
            "worker", [*cli, "worker", "--concurrency", "2"], tmp_path / "worker.log", env=ENV
        )
        beat: subprocess.Popen[bytes] | None = None
        try:
            serve.start()
            _wait_for_file(settings.endpoints_file, serve)  # broker up, store migrated
            worker.start()
            beat = _start_beat(config, tmp_path / "beat.log")
            record = _scan_of_the_whole_fleet(settings.store_url, timeout=90)
            second = subprocess.run(
                [*cli, "beat"], capture_output=True, text=True, timeout=60, env=ENV
            )
            assert beat.poll() is None, (tmp_path / "beat.log").read_text()
            code = _stop(beat, signal.SIGTERM)
            worker.ensure_running()
            with Store(settings.store_url) as store:
                found = {
                    (f.finding.rule_id, store.cluster_name(f.finding.cluster_key))
                    for f in store.open_findings()
                }
        finally:
            if beat is not None and beat.poll() is None:
                beat.kill()
                beat.wait(5)
            worker.stop()
            serve.stop()
    assert record is not None, f"no scheduled scan of the fleet finished: {worker.log_tail(5)}"
    assert record.status == "succeeded"
    assert found >= EXPECTED
    worker_log = tmp_path / "worker.log"
    assert _log_lines(worker_log, "scheduled inventory refresh started")
    started = {line["scan_id"] for line in _log_lines(worker_log, "scheduled scan started")}
    assert record.id in started, "the scan must come from a beat trigger"
    # a second beat on the same state folder: one line, and it never ran
    assert second.returncode == 1
    assert second.stderr.strip().splitlines() == [
        f"netaudit: error: another netaudit beat (pid {beat.pid}) runs on "
        f"{settings.state_dir.resolve()}: run exactly one per deployment"
    ]
    assert code == 0, (tmp_path / "beat.log").read_text()
    assert _log_lines(tmp_path / "beat.log", "beat stopped")
    assert _schedule_files(settings.state_dir), "the schedule state belongs in state_dir"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP], ids=lambda sig: sig.name)
def test_beat_keeps_its_schedule_in_the_state_folder_and_stops_on_a_signal(
    tmp_path: Path, sig: signal.Signals
) -> None:
    config = write_config(
        tmp_path,
        {
            "state_dir": str(tmp_path / "state"),
            "schedule": {"scan_interval_seconds": 1, "inventory_interval_seconds": 0},
            "broker": {"queue": "beat-only"},
        },
    )
    settings = load_settings(config)
    with EmbeddedRedis(settings.broker_dir) as broker:
        beat = _start_beat(config, tmp_path / "beat.log")
        try:
            client = redis.Redis(unix_socket_path=str(broker.socket_path))
            deadline = time.monotonic() + 30
            # no worker: the triggers wait in the queue
            while client.llen("beat-only") == 0 and time.monotonic() < deadline:
                assert beat.poll() is None, (tmp_path / "beat.log").read_text()
                time.sleep(0.2)
            queued = client.llen("beat-only")
            client.close()
        finally:
            code = _stop(beat, sig)
    assert queued > 0, "beat sent no trigger"
    assert code == 0, (tmp_path / "beat.log").read_text()
    files = _schedule_files(settings.state_dir)
    assert files, "the schedule state belongs in state_dir"
    with shelve.open(str(settings.beat_schedule_file), flag="r") as saved:
        entries = saved["entries"]
    assert set(entries) == {"scan"}
    assert entries["scan"].total_run_count >= 1
