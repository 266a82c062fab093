"""``netaudit-agent run``'s own /healthz and /metrics over HTTP, with the agent reading the
sandbox and streaming to the real ingest server (grpc.aio servicer, SQLite store)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from netaudit.agent.gatherers import GATHERERS
from netaudit.collector.ingest.auth import Authenticator
from netaudit.collector.ingest.servicer import IngestLimits, IngestServicer
from netaudit.collector.store import InvalidReport, Store, upgrade
from netaudit.sandbox.runner import Sandbox, SandboxCluster, start_sandbox
from tests.conftest import require
from tests.integration.ingest_server import serving

AGENT = Path(sys.executable).with_name("netaudit-agent")
INTERVAL_SECONDS = 2
UNHEALTHY_AFTER_INTERVALS = 1.5


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with start_sandbox(tmp_path_factory.mktemp("sandbox")) as running:
        yield running


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'netaudit.db'}"
    upgrade(url)
    opened = Store(url)
    yield opened
    opened.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    """Status and body; status 0 while nothing listens yet."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()
    except urllib.error.URLError as error:
        if isinstance(error.reason, ConnectionRefusedError):
            return 0, ""
        raise


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


@contextmanager
def stopped_at_exit(agent: subprocess.Popen[str]) -> Iterator[subprocess.Popen[str]]:
    try:
        yield agent
    finally:
        if agent.poll() is None:
            agent.kill()
        agent.communicate(timeout=30)


def start_agent(
    sandbox: Sandbox, cluster: SandboxCluster, collector: str, spool: Path, port: int
) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETAUDIT_")}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    env |= {
        "NETAUDIT_HEALTH__UNHEALTHY_AFTER_INTERVALS": str(UNHEALTHY_AFTER_INTERVALS),
        "NETAUDIT_COLLECTOR__CONNECT_TIMEOUT_SECONDS": "0.5",
        "NETAUDIT_COLLECTOR__BACKOFF_INITIAL_SECONDS": "0.2",
        "NETAUDIT_COLLECTOR__BACKOFF_MAX_SECONDS": "0.5",
    }
    argv = [
        str(AGENT), "run", "--interval", str(INTERVAL_SECONDS),
        "--health-port", str(port), "--collector", collector, "--spool-dir", str(spool),
        "--kubeconfig", str(cluster.kubeconfig), "--cluster-id", cluster.arm_resource_id,
        "--region", cluster.region, "--dns-server", sandbox.dns_server,
    ]  # fmt: skip
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def test_healthz_and_metrics_follow_reports_and_a_lost_collector(
    sandbox: Sandbox, store: Store, tmp_path: Path
) -> None:
    require("promtool")
    cluster = sandbox.cluster("aks-overlay-priv-weu")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    servicer = IngestServicer(
        store,
        IngestLimits(8 << 20, 60),
        rejected_errors=(InvalidReport,),
        authenticator=Authenticator.insecure(),
    )
    started = time.time()
    with ExitStack() as stack:
        ingest, _loop = stack.enter_context(serving(servicer))
        collector = f"127.0.0.1:{ingest.port}"
        agent = start_agent(sandbox, cluster, collector, tmp_path / "spool", port)
        with stopped_at_exit(agent):
            assert get(f"{base}/healthz")[0] in (0, 503)
            wait_until(lambda: get(f"{base}/healthz") == (200, "ok\n"), "a healthy agent")
            assert store.latest_report(cluster.key) is not None
            status, text = get(f"{base}/metrics")
            # The collector goes: reports pile up and /healthz turns 503 after 1.5 intervals.
            stack.close()
            wait_until(lambda: get(f"{base}/healthz")[0] == 503, "an unhealthy agent")
            unhealthy = get(f"{base}/healthz")[1]
            _, later = get(f"{base}/metrics")
            agent.send_signal(signal.SIGTERM)
            _, stderr = agent.communicate(timeout=30)
    assert agent.returncode == 0, stderr

    assert status == 200
    linted = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
    healthy = samples(text)
    gathered = healthy[("netaudit_agent_last_gather_success_timestamp_seconds", ())]
    sent = healthy[("netaudit_agent_last_send_success_timestamp_seconds", ())]
    # A newer report may be gathered and not yet acked when /metrics is read.
    assert started < gathered <= time.time()
    assert started < sent <= time.time()
    assert healthy[("netaudit_agent_gather_duration_seconds_count", ())] >= 1
    assert healthy[("netaudit_agent_report_size_bytes", ())] > 1000
    sources = {
        dict(labels)["source"]
        for name, labels in healthy
        if name == "netaudit_agent_gather_errors_total"
    }
    assert {gatherer.name for gatherer in GATHERERS} <= sources
    assert healthy[("netaudit_agent_collector_reconnects_total", ())] == 0
    assert ("process_resident_memory_bytes", ()) in healthy

    assert unhealthy.startswith("last report acknowledged by the collector ")
    assert unhealthy.endswith(f"ago (limit {INTERVAL_SECONDS * UNHEALTHY_AFTER_INTERVALS:g}s)\n")
    after = samples(later)
    assert after[("netaudit_agent_collector_reconnects_total", ())] >= 1
    assert after[("netaudit_agent_last_send_success_timestamp_seconds", ())] >= sent
    assert after[("netaudit_agent_spool_files", ())] >= 1
    assert after[("netaudit_agent_spool_size_bytes", ())] > 1000
    assert len(list((tmp_path / "spool").glob("*.pb"))) >= 1


def test_a_taken_port_is_one_line_and_exit_2(sandbox: Sandbox, tmp_path: Path) -> None:
    cluster = sandbox.cluster("aks-kubenet-weu")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        agent = start_agent(sandbox, cluster, "127.0.0.1:9", tmp_path / "spool", port)
        with stopped_at_exit(agent):
            _, stderr = agent.communicate(timeout=30)
    assert agent.returncode == 2
    (line,) = stderr.strip().splitlines()
    assert line.startswith(
        f"netaudit-agent: error: cannot serve /healthz and /metrics on 127.0.0.1:{port}"
    )
    assert "--health-port" in line
