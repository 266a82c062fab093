"""Agent → gRPC → collector ingest → store, over loopback with the real parts.

The collector side is the real grpc.aio server and servicer committing into a
real SQLite store; the agent side is the `netaudit-agent` command against the
sandbox Kubernetes API, or a raw gRPC client where the test needs to send
something an honest agent would not. These tests are about ingest itself, so the
collector runs as `--insecure` does (plaintext, no credentials);
test_ingest_auth.py covers TLS, tokens and client certificates.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from netaudit.collector.ingest.auth import Authenticator
from netaudit.collector.ingest.servicer import IngestLimits, IngestServicer
from netaudit.collector.store import InvalidReport, Store, upgrade
from netaudit.sandbox.runner import Sandbox, start_sandbox
from netaudit.v1 import ingest_pb2, ingest_pb2_grpc, report_pb2
from tests.integration.ingest_server import serving


@dataclass
class Collector:
    store: Store
    servicer: IngestServicer
    address: str
    loop: asyncio.AbstractEventLoop


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    url = f"sqlite:///{tmp_path / 'netaudit.db'}"
    upgrade(url)
    store = Store(url)
    servicer = IngestServicer(
        store,
        IngestLimits(8 << 20, 60),
        rejected_errors=(InvalidReport,),
        authenticator=Authenticator.insecure(),
    )
    with serving(servicer) as (ingest, loop):
        yield Collector(store, servicer, f"127.0.0.1:{ingest.port}", loop)
    loop.close()
    store.close()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with start_sandbox(tmp_path_factory.mktemp("sandbox")) as running:
        yield running


def _agent(collector: Collector, sandbox: Sandbox, name: str, spool: Path) -> list[str]:
    cluster = next(c for c in sandbox.clusters if c.name == name)
    agent = str(Path(sys.executable).with_name("netaudit-agent"))
    return [
        agent, "run", "--once", "--collector", collector.address,
        "--kubeconfig", str(cluster.kubeconfig), "--cluster-id", cluster.arm_resource_id,
        "--cluster-name", cluster.name, "--region", cluster.region,
        "--dns-server", sandbox.dns_server, "--spool-dir", str(spool),
    ]  # fmt: skip


def test_agent_report_is_committed_before_it_is_acked(
    collector: Collector, sandbox: Sandbox, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    result = subprocess.run(
        _agent(collector, sandbox, "aks-overlay-priv-weu", spool),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    cluster = next(c for c in sandbox.clusters if c.name == "aks-overlay-priv-weu")
    stored = collector.store.latest_report(cluster.arm_resource_id.lower())
    assert stored is not None
    report = stored.report
    assert report.cluster.name == "aks-overlay-priv-weu"
    assert len(report.nodes) == 3
    assert any(f.key == "upstream.override" for f in report.coredns.custom)
    assert [g.name for g in report.gateway_api.gateways]
    assert not list(spool.glob("*.pb")), "an acked report must leave the spool"


def test_unreachable_collector_keeps_the_report_and_says_where(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    spool = tmp_path / "spool"
    dead = Collector(None, None, "127.0.0.1:9", None)  # type: ignore[arg-type]
    argv = _agent(dead, sandbox, "aks-kubenet-weu", spool)
    result = subprocess.run(argv, capture_output=True, text=True, timeout=90)
    assert result.returncode != 0
    assert "127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr
    assert any(spool.iterdir()), "the unsent report stays in the spool"


def _report(report_id: str, cluster_id: str) -> report_pb2.Report:
    report = report_pb2.Report(report_id=report_id, agent_epoch=1, sequence=1)
    report.cluster.arm_resource_id = cluster_id
    report.cluster.name = "c1"
    return report


def _chunk(report: report_pb2.Report, index: int = 0, count: int = 1) -> ingest_pb2.StreamRequest:
    return ingest_pb2.StreamRequest(
        chunk=ingest_pb2.ReportChunk(
            report_id=report.report_id,
            agent_epoch=1,
            sequence=1,
            chunk_index=index,
            chunk_count=count,
            data=report.SerializeToString(),
        )
    )


def _stream(address: str, messages: list[ingest_pb2.StreamRequest]) -> list[ingest_pb2.ReportAck]:
    with grpc.insecure_channel(address) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        responses = stub.Stream(iter(messages), timeout=20)
        return [r.ack for r in responses if r.WhichOneof("message") == "ack"]


CLUSTER_ID = (
    "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/RG/providers/"
    "Microsoft.ContainerService/managedClusters/c1"
)


def _hello(cluster_id: str = CLUSTER_ID) -> ingest_pb2.StreamRequest:
    hello = ingest_pb2.AgentHello(agent_id="test-agent", agent_epoch=1)
    hello.cluster.arm_resource_id = cluster_id
    return ingest_pb2.StreamRequest(hello=hello)


def test_resent_report_is_acked_as_duplicate_and_stored_once(collector: Collector) -> None:
    report = _report("r-1", CLUSTER_ID)
    acks = _stream(collector.address, [_hello(), _chunk(report), _chunk(report)])
    assert [a.status for a in acks] == [
        ingest_pb2.ACK_STATUS_COMMITTED,
        ingest_pb2.ACK_STATUS_DUPLICATE,
    ]
    stored = collector.store.latest_report(CLUSTER_ID.lower())
    assert stored is not None and stored.report.report_id == "r-1"


def test_report_for_another_cluster_than_the_hello_is_rejected(collector: Collector) -> None:
    other = _report("r-2", CLUSTER_ID.replace("c1", "c2"))
    acks = _stream(collector.address, [_hello(), _chunk(other)])
    assert [a.status for a in acks] == [ingest_pb2.ACK_STATUS_REJECTED]
    assert acks[0].code == grpc.StatusCode.PERMISSION_DENIED.value[0]
    assert "another cluster" in acks[0].message
    assert collector.store.latest_report(CLUSTER_ID.replace("c1", "c2").lower()) is None


def test_stream_must_start_with_hello(collector: Collector) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        _stream(collector.address, [_chunk(_report("r-3", CLUSTER_ID))])
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_collector_can_ask_a_connected_agent_for_a_fresh_report(collector: Collector) -> None:
    release = threading.Event()

    def requests() -> Iterator[ingest_pb2.StreamRequest]:
        yield _hello()
        release.wait(10)

    with grpc.insecure_channel(collector.address) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        responses = stub.Stream(requests(), timeout=20)
        for _ in range(100):
            if CLUSTER_ID.lower() in collector.servicer.connected_clusters:
                break
            threading.Event().wait(0.05)

        assert collector.servicer.request_report(CLUSTER_ID, "scan --fresh")
        first = next(iter(responses))
        release.set()
    assert first.WhichOneof("message") == "report_request"
    assert first.report_request.reason == "scan --fresh"
