"""What the collector tells an agent, over real gRPC on loopback, and what the agent does.

A report no resend can cure is acked REJECTED with a status code (INVALID_ARGUMENT,
FAILED_PRECONDITION) and the stream goes on; a condition a resend cures ends the stream
with UNAVAILABLE (store locked, or a database that cannot grow), ABORTED (a report
incomplete at the end) or INTERNAL, never UNKNOWN with a traceback; the agent keeps
what was not acked and delivers it exactly once later. The reports are the agent's own,
built against the sandbox's Kubernetes API.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from netaudit.agent.config import CollectorSettings, load_settings
from netaudit.agent.errors import CollectorUnreachable
from netaudit.agent.kube import Kube
from netaudit.agent.report import build_report, chunk_report, cluster_identity
from netaudit.agent.spool import Spool
from netaudit.agent.stream import CollectorClient
from netaudit.collector.ingest.auth import Authenticator
from netaudit.collector.ingest.servicer import IngestLimits, IngestServicer
from netaudit.collector.store import InvalidReport, Store, upgrade
from netaudit.sandbox.runner import start_sandbox
from netaudit.v1 import ingest_pb2, ingest_pb2_grpc, inventory_pb2, report_pb2
from tests.conftest import REPO
from tests.integration.ingest_server import serving

CLUSTER = "aks-overlay-priv-weu"
REJECTED = ingest_pb2.ACK_STATUS_REJECTED
COMMITTED = ingest_pb2.ACK_STATUS_COMMITTED
STREAM = "/netaudit.v1.IngestService/Stream"


@pytest.fixture(scope="module")
def real_report(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The agent's report of the overlay cluster, serialized (each test parses a copy)."""
    with start_sandbox(tmp_path_factory.mktemp("sandbox")) as sandbox:
        cluster = sandbox.cluster(CLUSTER)
        settings = load_settings(
            {
                "cluster": {"id": cluster.arm_resource_id, "region": cluster.region},
                "dns": {"server": sandbox.dns_server},
            }
        )
        with Kube.connect(cluster.kubeconfig) as kube:
            return build_report(
                kube, cluster_identity(settings.cluster), settings
            ).SerializeToString()


def copy(real_report: bytes, report_id: str, sequence: int = 1) -> report_pb2.Report:
    report = report_pb2.Report.FromString(real_report)
    report.report_id, report.sequence = report_id, sequence
    return report


@dataclass
class Collector:
    store: Store
    address: str


@contextmanager
def collector(store: Store) -> Iterator[Collector]:
    """The real servicer and grpc.aio server in a thread of their own."""
    servicer = IngestServicer(
        store,
        IngestLimits(64 << 20, 60),
        rejected_errors=(InvalidReport,),
        authenticator=Authenticator.insecure(),
    )
    with serving(servicer) as (ingest, _loop):
        yield Collector(store, f"127.0.0.1:{ingest.port}")


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'netaudit.db'}"
    upgrade(url)
    return url


@pytest.fixture
def running(store_url: str) -> Iterator[Collector]:
    with Store(store_url) as store, collector(store) as started:
        yield started


def hello(report: report_pb2.Report) -> ingest_pb2.StreamRequest:
    message = ingest_pb2.AgentHello(agent_id="agent-0", agent_epoch=report.agent_epoch)
    message.cluster.CopyFrom(report.cluster)
    return ingest_pb2.StreamRequest(hello=message)


def chunks(report: report_pb2.Report, size: int = 256 << 10) -> list[ingest_pb2.StreamRequest]:
    return [ingest_pb2.StreamRequest(chunk=c) for c in chunk_report(report, size)]


def exchange(address: str, messages: list[Any]) -> tuple[list[ingest_pb2.ReportAck], Any]:
    """Send, half-close, read every ack: (acks, the stream's RpcError or None)."""
    acks: list[ingest_pb2.ReportAck] = []
    with grpc.insecure_channel(address) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        try:
            for response in stub.Stream(iter(messages), timeout=30):
                acks.append(response.ack)
        except grpc.RpcError as error:
            return acks, error
    return acks, None


def code(status: grpc.StatusCode) -> int:
    number: int = status.value[0]
    return number


def agent_settings(address: str) -> CollectorSettings:
    return CollectorSettings(
        address=address,
        connect_timeout_seconds=2,
        ack_timeout_seconds=10,
        backoff_initial_seconds=0.05,
        backoff_max_seconds=0.2,
    )


def agent(address: str, spool: Spool, report: report_pb2.Report) -> CollectorClient:
    return CollectorClient(agent_settings(address), spool, hello(report).hello)


# -- rejected reports: an ack with a code, and the stream goes on -------------------------


def test_invalid_content_is_rejected_as_invalid_argument_naming_the_field_path(
    running: Collector, real_report: bytes
) -> None:
    bad = copy(real_report, "bad-cidr")
    bad.nodes[1].pod_cidrs[0] = "10.244.1.0/33"
    good = copy(real_report, "good", sequence=2)

    acks, error = exchange(running.address, [hello(good), *chunks(bad), *chunks(good)])

    assert error is None
    assert [(a.report_id, a.status, a.code) for a in acks] == [
        ("bad-cidr", REJECTED, code(grpc.StatusCode.INVALID_ARGUMENT)),
        ("good", COMMITTED, 0),
    ]
    assert "nodes[1].pod_cidrs[0]: not a CIDR: '10.244.1.0/33'" in acks[0].message
    latest = running.store.latest_report(good.cluster.arm_resource_id)
    assert latest is not None and latest.report.report_id == "good"
    assert running.store.report_count(good.cluster.arm_resource_id) == 1


def test_a_1_mib_report_id_is_refused_and_logged_once_clipped(
    running: Collector, real_report: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    huge = copy(real_report, "r" * (1 << 20))
    caplog.set_level(logging.INFO, logger="netaudit")

    acks, error = exchange(running.address, [hello(huge), *chunks(huge)])

    assert error is None
    assert [(a.status, a.code) for a in acks] == [
        (REJECTED, code(grpc.StatusCode.INVALID_ARGUMENT))
    ]
    assert acks[0].message.startswith("report rrrr")
    assert "report_id: 1048576 characters, more than 1024" in acks[0].message
    assert len(acks[0].message) < 2_000
    rejected = [r for r in caplog.records if r.getMessage() == "report rejected"]
    assert len(rejected) == 1
    logged = sum(len(repr(vars(record))) for record in caplog.records)
    assert logged < 64 << 10, f"{logged} bytes of log for one refused report"
    assert running.store.cluster_keys() == []


def test_bytes_that_do_not_decode_as_a_report_are_invalid_argument(
    running: Collector, real_report: bytes
) -> None:
    good = copy(real_report, "good")
    garbage = ingest_pb2.StreamRequest(
        chunk=ingest_pb2.ReportChunk(
            report_id="garbage", chunk_index=0, chunk_count=1, data=b"\x0a\xff\xff\xff"
        )
    )

    acks, error = exchange(running.address, [hello(good), garbage, *chunks(good)])

    assert error is None
    assert [(a.report_id, a.status, a.code) for a in acks] == [
        ("garbage", REJECTED, code(grpc.StatusCode.INVALID_ARGUMENT)),
        ("good", COMMITTED, 0),
    ]
    assert "is not a valid Report message" in acks[0].message


def test_the_store_refusing_a_replay_or_another_name_is_failed_precondition(
    running: Collector, real_report: bytes
) -> None:
    first = copy(real_report, "first", sequence=5)
    replay = copy(real_report, "replayed-under-a-new-id", sequence=5)
    inventory = inventory_pb2.ClusterInventory(
        arm_resource_id=first.cluster.arm_resource_id, name=CLUSTER, location="westeurope"
    )
    running.store.save_inventory(inventory)
    renamed = copy(real_report, "renamed", sequence=6)
    renamed.cluster.name = "prod-payments"

    messages = [hello(first), *chunks(first), *chunks(replay), *chunks(renamed)]
    acks, error = exchange(running.address, messages)

    assert error is None
    precondition = code(grpc.StatusCode.FAILED_PRECONDITION)
    assert [(a.report_id, a.status, a.code) for a in acks] == [
        ("first", COMMITTED, 0),
        ("replayed-under-a-new-id", REJECTED, precondition),
        ("renamed", REJECTED, precondition),
    ]
    assert "sequence 5, not after 5" in acks[1].message
    assert "names cluster 'prod-payments'" in acks[2].message
    assert running.store.report_count(first.cluster.arm_resource_id) == 1


def test_the_agent_drops_a_rejected_report_and_logs_the_code(
    running: Collector, real_report: bytes, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = copy(real_report, "negative-pods")
    bad.nodes[0].allocatable_pods = -1
    spool = Spool(tmp_path / "spool", 64 << 20)
    spool.put(bad)

    ack = agent(running.address, spool, bad).send_until_acked(bad.report_id)

    assert (ack.status, ack.code) == (REJECTED, code(grpc.StatusCode.INVALID_ARGUMENT))
    assert spool.pending() == []
    assert "rejected by the collector (INVALID_ARGUMENT)" in caplog.text
    assert "nodes[0].allocatable_pods: must not be negative" in caplog.text


# -- conditions a resend cures: the stream ends with a status --------------------------


def test_a_report_incomplete_at_stream_end_is_aborted_and_nothing_is_stored(
    running: Collector, real_report: bytes
) -> None:
    report = copy(real_report, "cut-short")
    parts = chunks(report, size=len(report.SerializeToString()) // 3 + 1)
    assert len(parts) == 3

    acks, error = exchange(running.address, [hello(report), parts[0]])

    assert acks == []
    assert error is not None and error.code() == grpc.StatusCode.ABORTED
    assert "report cut-short: 1 of 3 chunks received" in error.details()
    assert running.store.cluster_keys() == []


def test_a_stream_message_that_does_not_decode_ends_the_stream_as_invalid_argument(
    running: Collector, real_report: bytes
) -> None:
    report = copy(real_report, "r-1")
    with grpc.insecure_channel(running.address) as channel:
        raw = channel.stream_stream(
            STREAM,
            request_serializer=lambda data: data,
            response_deserializer=ingest_pb2.StreamResponse.FromString,
        )
        messages = [hello(report).SerializeToString(), b"\x12\xff\xff\xff\xff"]
        with pytest.raises(grpc.RpcError) as raised:
            list(raw(iter(messages), timeout=30))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a netaudit.v1.StreamRequest" in raised.value.details()
    assert "Traceback" not in raised.value.details()


def hold_write_lock(store_url: str) -> sqlite3.Connection:
    """Another process's writer, as it looks to the store: a SQLite write lock held."""
    holder = sqlite3.connect(store_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_a_locked_store_is_unavailable_and_the_agent_delivers_the_report_once_later(
    store_url: str, real_report: bytes, tmp_path: Path
) -> None:
    report = copy(real_report, "while-locked")
    spool = Spool(tmp_path / "spool", 64 << 20)
    spool.put(report)
    with Store(store_url, busy_timeout=0.3) as store, collector(store) as running:
        holder = hold_write_lock(store_url)
        try:
            acks, error = exchange(running.address, [hello(report), *chunks(report)])
            assert acks == []
            assert error is not None and error.code() == grpc.StatusCode.UNAVAILABLE
            assert "the collector's store is unavailable; resend it later" in error.details()
            assert "sqlite" not in error.details(), "the store's location stays in its log"
            with pytest.raises(CollectorUnreachable, match="stream failed: UNAVAILABLE"):
                agent(running.address, spool, report).send_until_acked(report.report_id)
            assert [r.report_id for r in spool.pending()] == ["while-locked"]
        finally:
            holder.rollback()
            holder.close()

        ack = agent(running.address, spool, report).send_until_acked(report.report_id)

        assert ack.status == COMMITTED
        assert spool.pending() == []
        assert store.report_count(report.cluster.arm_resource_id) == 1


def test_a_store_error_that_is_no_outage_is_internal_never_unknown(
    store_url: str, real_report: bytes
) -> None:
    with sqlite3.connect(store_url.removeprefix("sqlite:///")) as broken:
        broken.execute("DROP TABLE reports")
    report = copy(real_report, "r-1")
    with Store(store_url) as store, collector(store) as running:
        acks, error = exchange(running.address, [hello(report), *chunks(report)])
    assert acks == []
    assert error is not None and error.code() == grpc.StatusCode.INTERNAL
    assert "report r-1 was not stored: the collector failed (SchemaNotCurrent" in error.details()
    assert "Traceback" not in error.details()


@contextmanager
def ingest_process(store_url: str, *extra: str) -> Iterator[str]:
    """`python -m tests.integration.ingest_process`: its address; SIGKILLed at the end."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [env.get("PYTHONPATH"), str(REPO)]))
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.ingest_process", store_url, *extra],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("PORT "), f"ingest process said {line!r}"
        yield f"127.0.0.1:{line.split()[1]}"
    finally:
        process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_a_database_that_cannot_grow_is_unavailable_and_a_restarted_collector_commits_once(
    store_url: str, real_report: bytes, tmp_path: Path
) -> None:
    report = copy(real_report, "on-a-full-disk")
    report.coredns.corefile += "# padding\n" * 60_000  # 600 kB: more than the disk has left
    spool = Spool(tmp_path / "spool", 64 << 20)
    spool.put(report)

    full = ingest_process(store_url, "--file-size-limit", str(100_000))
    with full as address, pytest.raises(CollectorUnreachable, match="failed: UNAVAILABLE"):
        agent(address, spool, report).send_until_acked(report.report_id)
    assert [r.report_id for r in spool.pending()] == ["on-a-full-disk"]

    with ingest_process(store_url) as address:  # room again (a new collector process)
        ack = agent(address, spool, report).send_until_acked(report.report_id)

    assert ack.status == COMMITTED
    assert spool.pending() == []
    with Store(store_url) as store:
        assert store.report_count(report.cluster.arm_resource_id) == 1
        latest = store.latest_report(report.cluster.arm_resource_id)
        assert latest is not None and latest.report == report
