"""Inventory refresh and scans run in real Celery worker processes.

Brokers: the embedded Redis the collector starts itself (unix socket), and by
URL the machine's Redis and RabbitMQ. The worker is the `netaudit worker`
command (prefork pool), never eager mode.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from netaudit.collector.broker import EmbeddedRedis
from netaudit.collector.config import load_settings
from netaudit.collector.demo import sandbox_azure_config, write_config
from netaudit.collector.processes import ManagedProcess
from netaudit.collector.store import Store, upgrade
from netaudit.sandbox.runner import Sandbox, start_sandbox
from tests.conftest import require

# Some of the findings decided by ARM alone (no agent report in this test).
EXPECTED = {
    ("CNI-001", "aks-cni-neu"),
    ("CNI-002", "aks-cni-neu"),
    ("KUB-001", "aks-kubenet-weu"),
    ("PDN-001", "aks-overlay-priv-weu"),
}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with start_sandbox(tmp_path_factory.mktemp("sandbox")) as running:
        yield running


def _config(folder: Path, sandbox: Sandbox, broker: dict[str, str]) -> Path:
    return write_config(
        folder,
        {
            "state_dir": str(folder / "state"),
            "broker": broker,
            "azure": sandbox_azure_config(sandbox, folder),
        },
    )


BROKERS = {
    "embedded-redis": ({}, ()),
    "redis-by-url": (
        {"url": "redis://127.0.0.1:6379/14", "result_backend": "redis://127.0.0.1:6379/15"},
        ("redis",),
    ),
    "rabbitmq-by-url": (
        {
            "url": "amqp://guest:guest@127.0.0.1:5672//",
            "result_backend": "redis://127.0.0.1:6379/15",
        },
        ("rabbitmq", "redis"),
    ),
}


@pytest.mark.parametrize("broker_name", list(BROKERS))
def test_scan_runs_in_worker_processes_and_records_findings(
    broker_name: str, sandbox: Sandbox, tmp_path: Path
) -> None:
    broker, needs = BROKERS[broker_name]
    require(*needs)
    queue = f"netaudit-test-{uuid.uuid4().hex[:8]}"
    config = _config(tmp_path, sandbox, {**broker, "queue": queue})
    settings = load_settings(config)
    upgrade(settings.store_url)
    embedded = EmbeddedRedis(settings.broker_dir) if not broker else None
    if embedded:
        embedded.start()
    netaudit = str(Path(sys.executable).with_name("netaudit"))
    worker = ManagedProcess(
        "worker",
        [netaudit, "--config", str(config), "worker", "--concurrency", "2"],
        tmp_path / "worker.log",
        env={**os.environ, "NETAUDIT_LOG_FORMAT": "json"},
    )
    cli = [netaudit, "--config", str(config)]
    try:
        worker.start()
        refreshed = subprocess.run(
            [*cli, "inventory", "refresh", "--timeout", "60"],
            capture_output=True, text=True, timeout=90,
        )  # fmt: skip
        assert refreshed.returncode == 0, refreshed.stderr
        assert "3 cluster(s) read" in refreshed.stdout
        with Store(settings.store_url) as store:
            # the refresh's closing task stored the range and cluster metrics; findings wait
            # for a scan
            assert set(store.metric_snapshots()) == {"ranges", "clusters"}
            # the workers' ARM requests are kept for the fleet, not in a worker's memory
            assert store.counters()["netaudit_arm_requests"] > 0
        scanned = subprocess.run(
            [*cli, "scan", "--timeout", "60"], capture_output=True, text=True, timeout=90
        )
        assert scanned.returncode == 0, scanned.stderr
        # The same scan as a report format, failing CI on the high findings it keeps open.
        gated = subprocess.run(
            [*cli, "scan", "--timeout", "60", "--format", "json", "--fail-on", "high"],
            capture_output=True, text=True, timeout=90,
        )  # fmt: skip
        assert gated.returncode == 1, gated.stderr
        assert "at or above high" in gated.stderr
        worker.ensure_running()
    finally:
        worker.stop()
        if embedded:
            embedded.stop()
    with Store(settings.store_url) as store:
        record = store.last_scan(finished=True)
        found = {
            (f.finding.rule_id, store.cluster_name(f.finding.cluster_key))
            for f in store.open_findings()
        }
    assert record is not None and record.status == "succeeded"
    assert record.clusters == 3
    assert found >= EXPECTED
    # the findings are the data (stdout); the scan's totals and outcome a summary (stderr)
    assert f"{record.findings} finding(s)" in scanned.stderr
    assert "rule evaluations:" in scanned.stderr
    assert "finding(s)" not in scanned.stdout
    assert "rule evaluations:" not in scanned.stdout
    assert (
        "not assessed GWA-002 on aks-cni-neu, aks-kubenet-weu, aks-overlay-priv-weu: no agent "
        "report from this cluster" in scanned.stdout
    )
    log = (tmp_path / "worker.log").read_text()
    assert '"clusters scanned"' in log, "the scan must run in the worker process"
    scanned_json = json.loads(gated.stdout)
    assert {(f["rule"], f["cluster"]) for f in scanned_json["findings"]} == found
    reported = subprocess.run(
        [*cli, "report", "--format", "sarif", "--fail-on", "critical"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    (run,) = json.loads(reported.stdout)["runs"]
    assert len(run["results"]) == len(scanned_json["findings"])
    severities = {f["severity"] for f in scanned_json["findings"]}
    assert reported.returncode == (1 if "critical" in severities else 0), reported.stderr


def test_scan_over_an_unreadable_record_fails_with_the_reason(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    config = _config(tmp_path, sandbox, {})
    settings = load_settings(config)
    upgrade(settings.store_url)
    netaudit = str(Path(sys.executable).with_name("netaudit"))
    cli = [netaudit, "--config", str(config)]
    worker = ManagedProcess(
        "worker", [*cli, "worker", "--concurrency", "1"], tmp_path / "worker.log"
    )
    with EmbeddedRedis(settings.broker_dir):
        worker.start()
        try:
            refreshed = subprocess.run(
                [*cli, "inventory", "refresh", "--timeout", "60"],
                capture_output=True, text=True, timeout=90,
            )  # fmt: skip
            assert refreshed.returncode == 0, refreshed.stderr
            database = settings.store_url.removeprefix("sqlite:///")
            with sqlite3.connect(database) as connection:  # a damaged row, as on a bad disk
                connection.execute("UPDATE inventories SET payload = x'ffff' WHERE rowid = 1")
            scanned = subprocess.run(
                [*cli, "scan", "--timeout", "60"], capture_output=True, text=True, timeout=90
            )
        finally:
            worker.stop()
    assert scanned.returncode == 1
    lines = scanned.stderr.strip().splitlines()
    assert lines[-1].startswith("netaudit: error: scan 1 failed: StoreError:"), scanned.stderr
    assert "cannot be decoded" in lines[-1]
    assert "Traceback" not in scanned.stderr
