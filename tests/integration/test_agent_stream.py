"""The agent's stream against stand-in collectors on 127.0.0.1 (real gRPC).

Each stand-in implements ``IngestServiceServicer`` here: one acks every
report once all its chunks arrived, one drops the first stream mid-report,
one asks for a report, one rejects, one never acks.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
import trustme

from netaudit.agent.config import CollectorSettings
from netaudit.agent.errors import CollectorUnreachable
from netaudit.agent.ledger import Ledger, read_ledger
from netaudit.agent.report import join_chunks
from netaudit.agent.spool import Spool
from netaudit.agent.stream import Backoff, CollectorClient
from netaudit.v1 import ingest_pb2, ingest_pb2_grpc, report_pb2

ARM_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/"
    "providers/Microsoft.ContainerService/managedClusters/aks1"
)
COMMITTED = ingest_pb2.ACK_STATUS_COMMITTED


class StandInCollector(ingest_pb2_grpc.IngestServiceServicer):
    """Reassembles chunks and acks each complete report (a stand-in for the real ingest)."""

    def __init__(
        self,
        *,
        drop_first_stream_after_chunks: int = 0,
        ack_status: int = COMMITTED,
        never_ack: bool = False,
        request_report: bool = False,
    ) -> None:
        self.drop_first_stream_after_chunks = drop_first_stream_after_chunks
        self.ack_status = ack_status
        self.never_ack = never_ack
        self.request_report = request_report
        self.hellos: list[ingest_pb2.AgentHello] = []
        self.metadata: list[dict[str, str]] = []
        self.reports: dict[str, report_pb2.Report] = {}
        self.commits: list[str] = []
        self.chunks_seen = 0
        self.streams = 0
        self._lock = threading.Lock()

    def Stream(
        self, request_iterator: Iterator[ingest_pb2.StreamRequest], context: Any
    ) -> Iterator[ingest_pb2.StreamResponse]:
        with self._lock:
            self.streams += 1
            stream = self.streams
        self.metadata.append(dict(context.invocation_metadata()))
        first = next(request_iterator)
        assert first.WhichOneof("message") == "hello"
        self.hellos.append(first.hello)
        if self.request_report:
            yield ingest_pb2.StreamResponse(
                report_request=ingest_pb2.ReportRequest(request_id="rq-1", reason="operator asked")
            )
        pending: dict[str, list[ingest_pb2.ReportChunk]] = defaultdict(list)
        received = 0
        for request in request_iterator:
            chunk = request.chunk
            received += 1
            self.chunks_seen += 1
            if (
                stream == 1
                and self.drop_first_stream_after_chunks
                and received >= self.drop_first_stream_after_chunks
            ):
                context.abort(grpc.StatusCode.UNAVAILABLE, "collector restarting")
            pending[chunk.report_id].append(chunk)
            if len(pending[chunk.report_id]) < chunk.chunk_count:
                continue
            report = join_chunks(pending.pop(chunk.report_id))
            duplicate = report.report_id in self.reports
            self.reports[report.report_id] = report
            self.commits.append(report.report_id)
            if self.never_ack:
                continue
            status = ingest_pb2.ACK_STATUS_DUPLICATE if duplicate else self.ack_status
            yield ingest_pb2.StreamResponse(
                ack=ingest_pb2.ReportAck(
                    report_id=report.report_id,
                    agent_epoch=report.agent_epoch,
                    sequence=report.sequence,
                    status=status,
                    message="cluster unknown" if status == ingest_pb2.ACK_STATUS_REJECTED else "",
                )
            )


class Server:
    def __init__(self, servicer: StandInCollector, port: int = 0, credentials: Any = None) -> None:
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        ingest_pb2_grpc.add_IngestServiceServicer_to_server(servicer, self.server)
        address = f"127.0.0.1:{port}"
        if credentials is None:
            self.port = self.server.add_insecure_port(address)
        else:
            self.port = self.server.add_secure_port(address, credentials)
        self.server.start()

    def stop(self) -> None:
        self.server.stop(0).wait()


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "spool", 64 * 1024 * 1024)


def settings(port: int, **overrides: Any) -> CollectorSettings:
    values: dict[str, Any] = {
        "address": f"127.0.0.1:{port}",
        "connect_timeout_seconds": 2,
        "ack_timeout_seconds": 5,
        "backoff_initial_seconds": 0.05,
        "backoff_max_seconds": 0.2,
        "max_chunk_bytes": 1024,
    }
    values.update(overrides)
    return CollectorSettings(**values)


def hello() -> ingest_pb2.AgentHello:
    return ingest_pb2.AgentHello(
        agent_id="agent-0",
        cluster=report_pb2.ClusterIdentity(arm_resource_id=ARM_ID),
        agent_epoch=1,
    )


def report(sequence: int, nodes: int = 40) -> report_pb2.Report:
    message = report_pb2.Report(
        report_id=str(uuid.uuid4()),
        agent_epoch=1,
        sequence=sequence,
        cluster=report_pb2.ClusterIdentity(arm_resource_id=ARM_ID, name="aks1"),
    )
    for i in range(nodes):
        message.nodes.add(
            name=f"aks-nodepool1-vmss{i:06d}", pool="nodepool1", pod_cidrs=["10.244.0.0/24"]
        )
    return message


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_once_sends_hello_and_chunks_and_removes_the_report_on_ack(spool: Spool) -> None:
    collector = StandInCollector()
    server = Server(collector)
    try:
        sent = report(1)
        spool.put(sent)
        client = CollectorClient(settings(server.port), spool, hello())
        ack = client.send_until_acked(sent.report_id)
    finally:
        server.stop()
    assert ack.status == COMMITTED
    assert collector.hellos[0].cluster.arm_resource_id == ARM_ID
    assert collector.reports[sent.report_id] == sent
    assert collector.chunks_seen == -(-sent.ByteSize() // 1024) > 1
    assert spool.pending() == []


def test_older_spooled_reports_are_sent_first(spool: Spool) -> None:
    collector = StandInCollector()
    server = Server(collector)
    try:
        older, newer = report(1), report(2)
        spool.put(newer)
        spool.put(older)
        CollectorClient(settings(server.port), spool, hello()).send_until_acked(newer.report_id)
    finally:
        server.stop()
    assert collector.commits == [older.report_id, newer.report_id]
    assert spool.pending() == []


def test_a_stream_dropped_mid_report_is_reopened_and_the_report_resent(spool: Spool) -> None:
    collector = StandInCollector(drop_first_stream_after_chunks=2)
    server = Server(collector)
    stop = threading.Event()
    sent = report(1)
    spool.put(sent)
    client = CollectorClient(settings(server.port), spool, hello())
    thread = threading.Thread(target=client.run_forever, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: spool.pending() == [])
    finally:
        stop.set()
        thread.join(timeout=10)
        server.stop()
    assert not thread.is_alive()
    assert collector.streams >= 2
    assert len(collector.hellos) == collector.streams  # every stream starts with a hello
    assert collector.commits == [sent.report_id]
    assert collector.reports[sent.report_id] == sent


def test_the_ledger_tells_each_send_and_the_ack_that_ended_it(spool: Spool, tmp_path: Path) -> None:
    collector = StandInCollector(drop_first_stream_after_chunks=2)
    server = Server(collector)
    stop = threading.Event()
    sent = report(1)
    spool.put(sent)
    ledger = Ledger(tmp_path / "ledger.jsonl")
    client = CollectorClient(settings(server.port), spool, hello(), ledger=ledger)
    thread = threading.Thread(target=client.run_forever, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: spool.pending() == [])
    finally:
        stop.set()
        thread.join(timeout=10)
        server.stop()
        ledger.close()
    events = read_ledger(tmp_path / "ledger.jsonl")
    # the first stream dropped mid-report: sent twice, acked once
    assert [(e["event"], e["report_id"], e.get("status")) for e in events] == [
        ("sent", sent.report_id, None),
        ("sent", sent.report_id, None),
        ("acked", sent.report_id, "committed"),
    ]
    assert {(e["agent_epoch"], e["sequence"]) for e in events} == {(1, 1)}
    times = [float(str(e["time"])) for e in events]
    assert times == sorted(times)


class HeardEvents:
    """What the stream tells the agent's health."""

    def __init__(self) -> None:
        self.acked: list[str] = []
        self.reconnects = 0

    def report_acked(self, report_id: str) -> None:
        self.acked.append(report_id)

    def reconnecting(self) -> None:
        self.reconnects += 1


def test_the_stream_tells_of_reconnects_and_of_acks_that_took_the_report(spool: Spool) -> None:
    collector = StandInCollector(drop_first_stream_after_chunks=2)
    server = Server(collector)
    stop = threading.Event()
    sent = report(1)
    spool.put(sent)
    events = HeardEvents()
    client = CollectorClient(settings(server.port), spool, hello(), events=events)
    thread = threading.Thread(target=client.run_forever, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: events.acked == [sent.report_id])
    finally:
        stop.set()
        thread.join(timeout=10)
        server.stop()
    assert events.reconnects == 1  # the dropped stream; stopping is not a reconnect


def test_a_rejected_report_is_not_a_successful_send(spool: Spool) -> None:
    collector = StandInCollector(ack_status=ingest_pb2.ACK_STATUS_REJECTED)
    server = Server(collector)
    events = HeardEvents()
    try:
        sent = report(1)
        spool.put(sent)
        client = CollectorClient(settings(server.port), spool, hello(), events=events)
        client.send_until_acked(sent.report_id)
    finally:
        server.stop()
    assert events.acked == []


def test_unreachable_collector_in_once_mode_names_the_address_and_keeps_the_report(
    spool: Spool,
) -> None:
    port = free_port()
    sent = report(1)
    spool.put(sent)
    client = CollectorClient(settings(port, connect_timeout_seconds=0.5), spool, hello())
    started = time.monotonic()
    with pytest.raises(CollectorUnreachable, match=f"collector 127.0.0.1:{port} unreachable"):
        client.send_until_acked(sent.report_id)
    assert time.monotonic() - started < 5
    assert [r.report_id for r in spool.pending()] == [sent.report_id]


def test_run_keeps_retrying_until_the_collector_comes_up(spool: Spool) -> None:
    port = free_port()
    sent = report(1)
    spool.put(sent)
    client = CollectorClient(settings(port, connect_timeout_seconds=0.2), spool, hello())
    stop = threading.Event()
    thread = threading.Thread(target=client.run_forever, args=(stop,))
    thread.start()
    time.sleep(0.6)  # a few failed attempts
    collector = StandInCollector()
    server = Server(collector, port=port)
    try:
        wait_for(lambda: spool.pending() == [])
    finally:
        stop.set()
        thread.join(timeout=10)
        server.stop()
    assert collector.commits == [sent.report_id]


def test_a_new_report_spooled_while_connected_is_sent_on_the_open_stream(spool: Spool) -> None:
    collector = StandInCollector()
    server = Server(collector)
    client = CollectorClient(settings(server.port), spool, hello())
    stop = threading.Event()
    thread = threading.Thread(target=client.run_forever, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: collector.streams == 1)
        for sequence in (1, 2, 3):
            spool.put(report(sequence))
            client.notify()
        wait_for(lambda: len(collector.commits) == 3 and spool.pending() == [])
    finally:
        stop.set()
        thread.join(timeout=10)
        server.stop()
    assert collector.streams == 1


def test_a_report_request_reaches_the_handler(spool: Spool) -> None:
    collector = StandInCollector(request_report=True)
    server = Server(collector)
    asked = threading.Event()
    requests: list[ingest_pb2.ReportRequest] = []

    def on_request(request: ingest_pb2.ReportRequest) -> None:
        requests.append(request)
        asked.set()

    client = CollectorClient(settings(server.port), spool, hello(), on_report_request=on_request)
    stop = threading.Event()
    thread = threading.Thread(target=client.run_forever, args=(stop,))
    thread.start()
    try:
        assert asked.wait(10)
    finally:
        stop.set()
        thread.join(timeout=10)
        server.stop()
    assert requests[0].reason == "operator asked"


def test_a_rejected_report_is_dropped_from_the_spool(
    spool: Spool, caplog: pytest.LogCaptureFixture
) -> None:
    collector = StandInCollector(ack_status=ingest_pb2.ACK_STATUS_REJECTED)
    server = Server(collector)
    try:
        sent = report(1)
        spool.put(sent)
        ack = CollectorClient(settings(server.port), spool, hello()).send_until_acked(
            sent.report_id
        )
    finally:
        server.stop()
    assert ack.status == ingest_pb2.ACK_STATUS_REJECTED
    assert spool.pending() == []
    assert "rejected by the collector" in caplog.text


def test_a_resent_report_acked_duplicate_leaves_the_spool(spool: Spool) -> None:
    collector = StandInCollector()
    server = Server(collector)
    try:
        sent = report(1)
        collector.reports[sent.report_id] = sent  # committed before, ack lost
        spool.put(sent)
        ack = CollectorClient(settings(server.port), spool, hello()).send_until_acked(
            sent.report_id
        )
    finally:
        server.stop()
    assert ack.status == ingest_pb2.ACK_STATUS_DUPLICATE
    assert spool.pending() == []


def test_no_ack_within_the_timeout_fails_once_mode_and_keeps_the_report(spool: Spool) -> None:
    collector = StandInCollector(never_ack=True)
    server = Server(collector)
    try:
        sent = report(1)
        spool.put(sent)
        client = CollectorClient(settings(server.port, ack_timeout_seconds=0.5), spool, hello())
        with pytest.raises(CollectorUnreachable, match=r"no ack within 0\.5s"):
            client.send_until_acked(sent.report_id)
    finally:
        server.stop()
    assert [r.report_id for r in spool.pending()] == [sent.report_id]


def test_tls_with_a_root_certificate_and_a_bearer_token(spool: Spool, tmp_path: Path) -> None:
    authority = trustme.CA()
    certificate = authority.issue_cert("collector.netaudit.svc")
    credentials = grpc.ssl_server_credentials(
        [(certificate.private_key_pem.bytes(), certificate.cert_chain_pems[0].bytes())]
    )
    collector = StandInCollector()
    server = Server(collector, credentials=credentials)
    root = tmp_path / "ca.pem"
    root.write_bytes(authority.cert_pem.bytes())
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    try:
        sent = report(1)
        spool.put(sent)
        client = CollectorClient(
            settings(
                server.port,
                tls_root_cert=root,
                tls_server_name="collector.netaudit.svc",
                token_file=token,
            ),
            spool,
            hello(),
        )
        assert client.send_until_acked(sent.report_id).status == COMMITTED
    finally:
        server.stop()
    assert collector.metadata[0]["authorization"] == "Bearer s3cret-token"


def test_backoff_grows_to_its_maximum_with_jitter_below_the_nominal_delay() -> None:
    import random

    delays = Backoff(5.0, 30.0, 1.5, jitter=0.2, rng=random.Random(7)).delays()
    observed = [next(delays) for _ in range(8)]
    nominal = [5.0, 7.5, 11.25, 16.875, 25.3125, 30.0, 30.0, 30.0]
    for got, expected in zip(observed, nominal, strict=True):
        assert expected * 0.8 <= got <= expected
    assert len(set(observed)) == len(observed)  # jittered, not lock-step
