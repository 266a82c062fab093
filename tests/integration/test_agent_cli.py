"""``netaudit-agent`` as a user runs it: a process against the sandbox and a
stand-in collector on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest

from netaudit.agent.report import join_chunks
from netaudit.sandbox.runner import Sandbox, SandboxCluster, start_sandbox
from netaudit.v1 import ingest_pb2, ingest_pb2_grpc, report_pb2

AGENT = Path(sys.executable).parent / "netaudit-agent"


class AckingCollector(ingest_pb2_grpc.IngestServiceServicer):
    """Acks every complete report; after the first one, optionally asks for a fresh report."""

    def __init__(self, ask_for_report: bool = False) -> None:
        self.ask_for_report = ask_for_report
        self.reports: list[report_pb2.Report] = []
        self.received = threading.Condition()

    def Stream(
        self, request_iterator: Iterator[ingest_pb2.StreamRequest], context: Any
    ) -> Iterator[ingest_pb2.StreamResponse]:
        next(request_iterator)  # hello
        pending: dict[str, list[ingest_pb2.ReportChunk]] = defaultdict(list)
        for request in request_iterator:
            chunk = request.chunk
            pending[chunk.report_id].append(chunk)
            if len(pending[chunk.report_id]) < chunk.chunk_count:
                continue
            report = join_chunks(pending.pop(chunk.report_id))
            with self.received:
                self.reports.append(report)
                self.received.notify_all()
            yield ingest_pb2.StreamResponse(
                ack=ingest_pb2.ReportAck(
                    report_id=report.report_id, status=ingest_pb2.ACK_STATUS_COMMITTED
                )
            )
            if self.ask_for_report and len(self.reports) == 1:
                yield ingest_pb2.StreamResponse(
                    report_request=ingest_pb2.ReportRequest(
                        request_id="rq-1", reason="scan --fresh"
                    )
                )

    def wait_for(self, count: int, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        with self.received:
            while len(self.reports) < count:
                remaining = deadline - time.monotonic()
                assert remaining > 0, f"only {len(self.reports)} reports arrived"
                self.received.wait(remaining)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with start_sandbox(tmp_path_factory.mktemp("sandbox")) as running:
        yield running


@pytest.fixture(scope="module")
def cluster(sandbox: Sandbox) -> SandboxCluster:
    return sandbox.cluster("aks-overlay-priv-weu")


def serve(collector: AckingCollector) -> tuple[grpc.Server, int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    ingest_pb2_grpc.add_IngestServiceServicer_to_server(collector, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


def environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETAUDIT_")}
    env.pop("KUBERNETES_SERVICE_HOST", None)
    env.update(extra)
    return env


def agent(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(AGENT), *args], capture_output=True, text=True, timeout=timeout, env=environment(**env)
    )


def cluster_flags(sandbox: Sandbox, cluster: SandboxCluster) -> list[str]:
    flags = [
        "--kubeconfig",
        str(cluster.kubeconfig),
        "--cluster-id",
        cluster.arm_resource_id,
        "--region",
        cluster.region,
        "--dns-server",
        sandbox.dns_server,
    ]
    for name in cluster.dns_probe_names:
        flags += ["--dns-probe", name]
    return flags


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_help_explains_the_commands() -> None:
    result = agent("--help")
    assert result.returncode == 0
    for command in ("run", "snapshot", "inspect"):
        assert command in result.stdout
    run_help = agent("run", "--help").stdout
    for flag in (
        "--collector",
        "--kubeconfig",
        "--cluster-id",
        "--dns-server",
        "--dns-probe",
        "--spool-dir",
        "--once",
        "--interval",
        "--health-port",
        "--health-address",
    ):
        assert flag in run_help


def test_bad_configuration_is_one_line_per_problem_and_exit_2(tmp_path: Path) -> None:
    result = agent(
        "run",
        "--once",
        "--collector",
        "no-port",
        "--cluster-id",
        "aks1",
        "--spool-dir",
        str(tmp_path),
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "netaudit-agent: error: invalid configuration, 2 problems:", result.stderr
    assert lines[1].startswith("  cluster.id: must be /subscriptions/")
    assert lines[2] == "  collector.address: 'no-port' is not HOST:PORT"
    assert len(lines) == 3, result.stderr


def test_run_without_a_collector_says_which_flag_is_missing(tmp_path: Path) -> None:
    result = agent("run", "--once", "--spool-dir", str(tmp_path))
    assert result.returncode == 2
    assert "missing --collector HOST:PORT" in result.stderr


def test_unreachable_collector_exits_3_naming_it_and_keeps_the_report(
    sandbox: Sandbox, cluster: SandboxCluster, tmp_path: Path
) -> None:
    port = free_port()
    spool = tmp_path / "spool"
    result = agent(
        "run",
        "--once",
        "--collector",
        f"127.0.0.1:{port}",
        "--spool-dir",
        str(spool),
        *cluster_flags(sandbox, cluster),
        NETAUDIT_COLLECTOR__CONNECT_TIMEOUT_SECONDS="0.5",
        NETAUDIT_LOG_LEVEL="ERROR",
    )
    assert result.returncode == 3
    (line,) = result.stderr.strip().splitlines()
    assert f"collector 127.0.0.1:{port} unreachable" in line
    assert len(list(spool.glob("*.pb"))) == 1


def test_run_once_sends_one_report_and_exits_0(
    sandbox: Sandbox, cluster: SandboxCluster, tmp_path: Path
) -> None:
    collector = AckingCollector()
    server, port = serve(collector)
    try:
        result = agent(
            "run",
            "--once",
            "--collector",
            f"127.0.0.1:{port}",
            "--spool-dir",
            str(tmp_path / "spool"),
            *cluster_flags(sandbox, cluster),
        )
    finally:
        server.stop(0)
    assert result.returncode == 0, result.stderr
    (report,) = collector.reports
    assert report.cluster.arm_resource_id == cluster.arm_resource_id
    assert len(report.nodes) == 3
    assert {p.name for p in report.coredns.probes} == set(cluster.dns_probe_names)
    assert list((tmp_path / "spool").glob("*.pb")) == []
    # Not a terminal: JSON log lines carrying the cluster and report context.
    logged = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert any(entry.get("report_id") == report.report_id for entry in logged)
    assert all(entry.get("cluster") == cluster.name for entry in logged)


def test_run_reports_again_when_the_collector_asks_and_stops_on_sigterm(
    sandbox: Sandbox, cluster: SandboxCluster, tmp_path: Path
) -> None:
    collector = AckingCollector(ask_for_report=True)
    server, port = serve(collector)
    process = subprocess.Popen(
        [
            str(AGENT),
            "run",
            "--interval",
            "3600",
            "--health-port",
            "0",
            "--collector",
            f"127.0.0.1:{port}",
            "--spool-dir",
            str(tmp_path / "spool"),
            *cluster_flags(sandbox, cluster),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(),
    )
    try:
        collector.wait_for(2)  # the first report, then the one the collector asked for
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        server.stop(0)
    assert process.returncode == 0, stderr
    first, second = collector.reports[:2]
    assert (first.agent_epoch, first.sequence + 1) == (second.agent_epoch, second.sequence)


def test_snapshot_writes_json_and_inspect_summarises_it(
    sandbox: Sandbox, cluster: SandboxCluster, tmp_path: Path
) -> None:
    output = tmp_path / "report.json"
    result = agent("snapshot", "-o", str(output), *cluster_flags(sandbox, cluster))
    assert result.returncode == 0, result.stderr
    assert "wrote report" in result.stdout
    document = json.loads(output.read_text())
    assert document["cluster"]["arm_resource_id"] == cluster.arm_resource_id
    summary = agent("inspect", str(output))
    assert summary.returncode == 0
    assert cluster.name in summary.stdout
    assert "nodes     3 in 1 pools" in summary.stdout
    assert (
        "cns pool  3 nodes scraped, 1 with no free IP ['aks-nodepool1-40915282-vmss000002'], "
        "1 see a subnet exhausted" in summary.stdout
    )
    as_json = agent("inspect", "--json", str(output))
    assert json.loads(as_json.stdout)["report_id"] == document["report_id"]


def test_snapshot_writes_binary_protobuf_by_default(
    sandbox: Sandbox, cluster: SandboxCluster, tmp_path: Path
) -> None:
    output = tmp_path / "report.pb"
    assert agent("snapshot", "-o", str(output), *cluster_flags(sandbox, cluster)).returncode == 0
    report = report_pb2.Report.FromString(output.read_bytes())
    assert report.cluster.name == cluster.name
    assert agent("inspect", str(output)).returncode == 0


def test_inspect_of_a_file_that_is_not_a_report_is_one_line_and_exit_2(tmp_path: Path) -> None:
    garbage = tmp_path / "notes.pb"
    garbage.write_bytes(b"\xff\xfe not a protobuf")
    result = agent("inspect", str(garbage))
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("netaudit-agent: error:") and str(garbage) in line
