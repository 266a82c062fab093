"""Version skew over real gRPC on loopback: the collector accepts the hello's contract
version when it is its own or the previous one, and refuses any other with
FAILED_PRECONDITION naming the versions it accepts and the one it got, storing nothing.

The collector is the real grpc.aio server and servicer over a real SQLite store; the
agent side is the agent's CollectorClient, or a raw client sending a chosen version.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from netaudit.agent.config import CollectorSettings
from netaudit.agent.errors import CollectorUnreachable
from netaudit.agent.spool import Spool
from netaudit.agent.stream import CollectorClient
from netaudit.collector.ingest.auth import Authenticator
from netaudit.collector.ingest.servicer import IngestLimits, IngestServicer
from netaudit.collector.store import InvalidReport, Store, upgrade
from netaudit.contract import CONTRACT_VERSION, PREVIOUS_CONTRACT_VERSION
from netaudit.v1 import ingest_pb2, ingest_pb2_grpc, report_pb2
from tests.integration.ingest_server import serving

CLUSTER_ID = (
    "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/providers/"
    "Microsoft.ContainerService/managedClusters/skew1"
)
COMMITTED = ingest_pb2.ACK_STATUS_COMMITTED


@dataclass
class Collector:
    store: Store
    address: str


def _start_collector(tmp_path: Path, **servicer_options: Any) -> Iterator[Collector]:
    url = f"sqlite:///{tmp_path / 'netaudit.db'}"
    upgrade(url)
    store = Store(url)
    servicer = IngestServicer(
        store,
        IngestLimits(8 << 20, 60),
        rejected_errors=(InvalidReport,),
        authenticator=Authenticator.insecure(),
        **servicer_options,
    )
    with serving(servicer) as (ingest, _loop):
        yield Collector(store, f"127.0.0.1:{ingest.port}")
    store.close()


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    """A collector of this build: accepts CONTRACT_VERSION and PREVIOUS_CONTRACT_VERSION."""
    yield from _start_collector(tmp_path)


@pytest.fixture
def next_release_collector(tmp_path: Path) -> Iterator[Collector]:
    """A collector one contract version ahead (what the next release's will accept)."""
    yield from _start_collector(
        tmp_path, contract_versions=(CONTRACT_VERSION + 1, CONTRACT_VERSION)
    )


def _report(report_id: str) -> report_pb2.Report:
    report = report_pb2.Report(report_id=report_id, agent_epoch=1, sequence=1)
    report.cluster.arm_resource_id = CLUSTER_ID
    report.cluster.name = "skew1"
    return report


def _messages(version: int, report: report_pb2.Report) -> list[ingest_pb2.StreamRequest]:
    hello = ingest_pb2.AgentHello(agent_id="skew-agent", agent_epoch=1, contract_version=version)
    hello.cluster.arm_resource_id = CLUSTER_ID
    chunk = ingest_pb2.ReportChunk(
        report_id=report.report_id,
        agent_epoch=1,
        sequence=1,
        chunk_index=0,
        chunk_count=1,
        data=report.SerializeToString(),
    )
    return [ingest_pb2.StreamRequest(hello=hello), ingest_pb2.StreamRequest(chunk=chunk)]


def _stream(address: str, messages: list[ingest_pb2.StreamRequest]) -> list[ingest_pb2.ReportAck]:
    with grpc.insecure_channel(address) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        responses = stub.Stream(iter(messages), timeout=20)
        return [r.ack for r in responses if r.WhichOneof("message") == "ack"]


def _refusal(address: str, version: int) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        _stream(address, _messages(version, _report(f"r-v{version}")))
    return raised.value


@pytest.mark.parametrize(
    "version", [CONTRACT_VERSION, PREVIOUS_CONTRACT_VERSION], ids=["current", "previous"]
)
def test_current_and_previous_contract_versions_are_accepted(
    collector: Collector, version: int
) -> None:
    acks = _stream(collector.address, _messages(version, _report(f"r-v{version}")))
    assert [a.status for a in acks] == [COMMITTED]
    assert collector.store.latest_report(CLUSTER_ID.lower()) is not None


def test_a_hello_without_the_field_is_the_previous_contract_today(collector: Collector) -> None:
    """Agents built before contract_version existed send no field (0): accepted while
    0 is the previous version, i.e. until the first bump after this one."""
    assert PREVIOUS_CONTRACT_VERSION == 0
    hello = ingest_pb2.AgentHello(agent_id="old-agent", agent_epoch=1)
    hello.cluster.arm_resource_id = CLUSTER_ID
    messages = _messages(0, _report("r-unversioned"))
    messages[0] = ingest_pb2.StreamRequest(hello=hello)
    assert [a.status for a in _stream(collector.address, messages)] == [COMMITTED]


def test_a_newer_agent_is_refused_naming_the_versions_and_nothing_is_stored(
    collector: Collector,
) -> None:
    too_new = CONTRACT_VERSION + 1
    error = _refusal(collector.address, too_new)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == (
        f"the agent speaks contract version {too_new}; this collector accepts contract "
        f"versions {CONTRACT_VERSION} (current) and {PREVIOUS_CONTRACT_VERSION} (previous): "
        "upgrade the collector"
    )
    assert collector.store.latest_report(CLUSTER_ID.lower()) is None


def test_an_agent_two_versions_behind_is_refused_and_nothing_is_stored(
    next_release_collector: Collector,
) -> None:
    """At the next release, agents of today's previous version (0: no field) are too old."""
    error = _refusal(next_release_collector.address, PREVIOUS_CONTRACT_VERSION)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == (
        f"the agent speaks contract version {PREVIOUS_CONTRACT_VERSION}; this collector "
        f"accepts contract versions {CONTRACT_VERSION + 1} (current) and {CONTRACT_VERSION} "
        "(previous): upgrade the agent"
    )
    assert next_release_collector.store.latest_report(CLUSTER_ID.lower()) is None


def _agent_client(address: str, spool: Spool) -> CollectorClient:
    settings = CollectorSettings(
        address=address, connect_timeout_seconds=2, ack_timeout_seconds=5, max_chunk_bytes=1024
    )
    hello = ingest_pb2.AgentHello(agent_id="agent-0", agent_epoch=1)
    hello.cluster.arm_resource_id = CLUSTER_ID
    return CollectorClient(settings, spool, hello)


def test_the_agent_is_accepted_by_a_collector_of_the_next_release(
    next_release_collector: Collector, tmp_path: Path
) -> None:
    """Only a hello carrying CONTRACT_VERSION gets through: that collector refuses 0."""
    spool = Spool(tmp_path / "spool", 64 << 20)
    report = _report("r-agent")
    spool.put(report)
    ack = _agent_client(next_release_collector.address, spool).send_until_acked("r-agent")
    assert ack.status == COMMITTED
    assert next_release_collector.store.latest_report(CLUSTER_ID.lower()) is not None


class _RecordingCollector(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(self) -> None:
        self.hellos: list[ingest_pb2.AgentHello] = []

    def Stream(
        self, request_iterator: Iterator[ingest_pb2.StreamRequest], context: Any
    ) -> Iterator[ingest_pb2.StreamResponse]:
        self.hellos.append(next(request_iterator).hello)
        context.abort(grpc.StatusCode.UNAVAILABLE, "recorded")
        yield from ()


def test_the_agent_sends_the_current_contract_version(tmp_path: Path) -> None:
    recorder = _RecordingCollector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    ingest_pb2_grpc.add_IngestServiceServicer_to_server(recorder, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        spool = Spool(tmp_path / "spool", 64 << 20)
        spool.put(_report("r-recorded"))
        with pytest.raises(CollectorUnreachable):
            _agent_client(f"127.0.0.1:{port}", spool).send_until_acked("r-recorded")
    finally:
        server.stop(0).wait()
    assert [h.contract_version for h in recorder.hellos] == [CONTRACT_VERSION]
