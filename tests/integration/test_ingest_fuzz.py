"""Damaged chunk streams against the real ingest servicer, over real gRPC on loopback.

Hypothesis damages the agent's own chunking (agent/report.py chunk_report) of a small
valid report in each of the ways a client can: garbage bytes, a chunk's data cut, a
stream that ends early, chunks reordered or repeated, a report over the size limit, a
second report begun before the first is whole. Each kind has one exact outcome today
(collector/ingest/servicer.py, reassembly.py): what no resend cures is acked REJECTED
with INVALID_ARGUMENT and the stream goes on; an incomplete report at stream end, or
a second one begun, ends the stream ABORTED. Nothing of a damaged report is stored,
and a fresh stream then commits the valid report.

One store and one server per test function; every example uses a cluster and report
ids of its own, so what one example stores cannot hide what another stores.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from netaudit.agent.report import chunk_bytes, chunk_report
from netaudit.collector.ingest.auth import Authenticator
from netaudit.collector.ingest.servicer import IngestLimits, IngestServicer
from netaudit.collector.store import InvalidReport, Store, upgrade
from netaudit.v1 import ingest_pb2, ingest_pb2_grpc, report_pb2
from tests.handmade import AKS_COREFILE
from tests.integration.ingest_server import serving

MAX_REPORT_BYTES = 8 << 10
"""The servicer's size limit: the valid report (1.6 KB) fits, the oversized do not."""
INVALID_ARGUMENT = grpc.StatusCode.INVALID_ARGUMENT.value[0]
REJECTED = ingest_pb2.ACK_STATUS_REJECTED
COMMITTED = ingest_pb2.ACK_STATUS_COMMITTED

FUZZ = settings(
    max_examples=30,
    deadline=None,  # two gRPC streams and a SQLite commit per example
    derandomize=True,  # CI sees the same examples every run
    database=None,
    # One store and server per test function on purpose: the examples share them.
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
NODES = 12
CHUNK_BYTES = st.integers(min_value=64, max_value=512)
"""Chunk sizes giving the valid report (1.6 KB) 4 to 26 chunks."""

_examples = itertools.count(1)


def valid_report(name: str, report_id: str) -> report_pb2.Report:
    """A small report as the agent builds it: a few nodes and CoreDNS's Corefile last."""
    report = report_pb2.Report(report_id=report_id, agent_epoch=1, sequence=1)
    report.cluster.arm_resource_id = (
        "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg-fuzz/"
        f"providers/Microsoft.ContainerService/managedClusters/{name}"
    )
    report.cluster.name, report.cluster.region = name, "westeurope"
    report.gathered_at.FromSeconds(1_780_000_000)
    for index in range(NODES):
        node = report.nodes.add(name=f"aks-pool1-{index}", pool="pool1", ready=True)
        node.pod_cidrs.append(f"10.244.{index}.0/24")
        node.internal_ips.append(f"10.224.0.{index + 4}")
        node.allocatable_pods, node.network_labels["kubernetes.azure.com/mode"] = 110, "system"
    report.coredns.corefile = AKS_COREFILE
    return report


@dataclass
class Example:
    """One example's cluster: its valid report and a damaged one with an id of its own."""

    valid: report_pb2.Report
    damaged: report_pb2.Report

    @classmethod
    def fresh(cls) -> Example:
        number = next(_examples)
        valid = valid_report(f"fuzz-{number}", f"valid-{number}")
        damaged = report_pb2.Report()
        damaged.CopyFrom(valid)
        damaged.report_id = f"damaged-{number}"
        return cls(valid, damaged)

    @property
    def cluster(self) -> str:
        return self.valid.cluster.arm_resource_id


@dataclass
class Collector:
    store: Store
    address: str

    def send(self, example: Example, chunks: list[ingest_pb2.ReportChunk]) -> Outcome:
        """One stream: the hello of the example's cluster, the chunks, half-close."""
        hello = ingest_pb2.AgentHello(agent_id="agent-0", agent_epoch=1)
        hello.cluster.CopyFrom(example.valid.cluster)
        messages = [ingest_pb2.StreamRequest(hello=hello)]
        messages += [ingest_pb2.StreamRequest(chunk=c) for c in chunks]
        acks: list[ingest_pb2.ReportAck] = []
        with grpc.insecure_channel(self.address) as channel:
            stub = ingest_pb2_grpc.IngestServiceStub(channel)
            try:
                for response in stub.Stream(iter(messages), timeout=30):
                    acks.append(response.ack)
            except grpc.RpcError as error:
                return Outcome(acks, error.code(), error.details() or "")
        return Outcome(acks, grpc.StatusCode.OK, "")

    def assert_nothing_stored_then_valid_commits(self, example: Example) -> None:
        assert self.store.report_count(example.cluster) == 0
        assert example.cluster.lower() not in self.store.cluster_keys()
        after = self.send(example, chunk_report(example.valid, 512))
        assert (after.status, after.acks_seen) == (
            grpc.StatusCode.OK,
            [(example.valid.report_id, COMMITTED, 0)],
        )
        latest = self.store.latest_report(example.cluster)
        assert latest is not None and latest.report == example.valid
        assert self.store.report_count(example.cluster) == 1


@dataclass
class Outcome:
    acks: list[ingest_pb2.ReportAck]
    status: grpc.StatusCode
    details: str

    @property
    def acks_seen(self) -> list[tuple[str, int, int]]:
        return [(a.report_id, a.status, a.code) for a in self.acks]

    def assert_rejected(self, report_id: str, times: int, reason: str) -> None:
        """Acked REJECTED INVALID_ARGUMENT ``times``, and the stream went on to its end."""
        assert self.status == grpc.StatusCode.OK, self.details
        assert self.acks_seen == [(report_id, REJECTED, INVALID_ARGUMENT)] * times
        assert all(reason in a.message for a in self.acks), [a.message for a in self.acks]

    def assert_aborted(self, reason: str) -> None:
        assert (self.status, self.acks) == (grpc.StatusCode.ABORTED, []), self.details
        assert reason in self.details
        assert "Traceback" not in self.details


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Collector]:
    url = f"sqlite:///{tmp_path / 'netaudit.db'}"
    upgrade(url)
    with Store(url) as store:
        servicer = IngestServicer(
            store,
            IngestLimits(MAX_REPORT_BYTES, 60),
            rejected_errors=(InvalidReport,),
            authenticator=Authenticator.insecure(),
        )
        with serving(servicer) as (ingest, _loop):
            yield Collector(store, f"127.0.0.1:{ingest.port}")


def test_the_valid_report_fits_and_ends_in_its_corefile() -> None:
    """What the damages below rely on: the report fits the limit, in 3+ chunks of any
    size drawn, and its last field is CoreDNS: a cut off its end within that field
    leaves bytes that never decode."""
    report = valid_report("fuzz-0", "valid-0")
    data = report.SerializeToString()
    assert 3 * 512 < len(data) < MAX_REPORT_BYTES
    assert max(f.number for f, _ in report.ListFields()) == report.COREDNS_FIELD_NUMBER


def _coredns_bytes(report: report_pb2.Report) -> int:
    """Bytes of the report's encoding that are its (last) coredns field."""
    without = report_pb2.Report()
    without.CopyFrom(report)
    without.ClearField("coredns")
    return len(report.SerializeToString()) - len(without.SerializeToString())


@FUZZ
@given(garbage=st.binary(max_size=4096), chunk_bytes_=CHUNK_BYTES)
def test_garbage_data_is_rejected_as_invalid_argument(
    running: Collector, garbage: bytes, chunk_bytes_: int
) -> None:
    example = Example.fresh()
    report_id = example.damaged.report_id
    assume(not _decodes_as(garbage, report_id))

    outcome = running.send(example, chunk_bytes(garbage, report_id, 1, 1, chunk_bytes_))

    outcome.assert_rejected(report_id, 1, f"report {report_id}")
    running.assert_nothing_stored_then_valid_commits(example)


def _decodes_as(data: bytes, report_id: str) -> bool:
    try:
        return report_pb2.Report.FromString(data).report_id == report_id
    except DecodeError:
        return False


@FUZZ
@given(chunk_bytes_=CHUNK_BYTES, cut=st.integers(min_value=1, max_value=512))
def test_a_chunk_cut_short_is_rejected_as_a_report_that_does_not_decode(
    running: Collector, chunk_bytes_: int, cut: int
) -> None:
    example = Example.fresh()
    chunks = chunk_report(example.damaged, chunk_bytes_)
    last = chunks[-1]
    # within the last chunk and the coredns field: what remains never decodes
    cut = min(cut, len(last.data), _coredns_bytes(example.damaged) - 1)
    last.data = last.data[:-cut]

    outcome = running.send(example, chunks)

    outcome.assert_rejected(example.damaged.report_id, 1, "is not a valid Report message")
    running.assert_nothing_stored_then_valid_commits(example)


@FUZZ
@given(chunk_bytes_=CHUNK_BYTES, data=st.data())
def test_a_stream_ending_before_the_last_chunk_is_aborted(
    running: Collector, chunk_bytes_: int, data: st.DataObject
) -> None:
    example = Example.fresh()
    chunks = chunk_report(example.damaged, chunk_bytes_)
    sent = data.draw(st.integers(min_value=1, max_value=len(chunks) - 1), label="sent")

    outcome = running.send(example, chunks[:sent])

    outcome.assert_aborted(
        f"report {example.damaged.report_id}: {sent} of {len(chunks)} chunks received"
    )
    running.assert_nothing_stored_then_valid_commits(example)


@FUZZ
@given(chunk_bytes_=CHUNK_BYTES, data=st.data())
def test_chunks_out_of_order_are_rejected_as_invalid_argument(
    running: Collector, chunk_bytes_: int, data: st.DataObject
) -> None:
    """Chunk i+1 before chunk i: refused at i+1, the rest of the report dropped (with
    i = 0, chunk 0 after the refused chunk 1 included): one REJECTED ack."""
    example = Example.fresh()
    chunks = chunk_report(example.damaged, chunk_bytes_)
    swapped = data.draw(st.integers(min_value=0, max_value=len(chunks) - 2), label="swapped")
    chunks[swapped], chunks[swapped + 1] = chunks[swapped + 1], chunks[swapped]

    outcome = running.send(example, chunks)

    if swapped == 0:
        outcome.assert_rejected(example.damaged.report_id, 1, "did not start at chunk 0")
    else:
        expected = f"{swapped}/{len(chunks)}"
        outcome.assert_rejected(example.damaged.report_id, 1, f"(expected {expected})")
    running.assert_nothing_stored_then_valid_commits(example)


@FUZZ
@given(chunk_bytes_=CHUNK_BYTES, data=st.data())
def test_a_repeated_chunk_index_is_rejected_as_invalid_argument(
    running: Collector, chunk_bytes_: int, data: st.DataObject
) -> None:
    """A chunk sent twice before the last one: refused, the rest of the report dropped."""
    example = Example.fresh()
    chunks = chunk_report(example.damaged, chunk_bytes_)
    repeated = data.draw(st.integers(min_value=0, max_value=len(chunks) - 2), label="repeated")
    chunks.insert(repeated + 1, chunks[repeated])

    outcome = running.send(example, chunks)

    expected = f"chunk {repeated}/{len(chunks) - 1} out of order (expected {repeated + 1}/"
    outcome.assert_rejected(example.damaged.report_id, 1, expected)
    running.assert_nothing_stored_then_valid_commits(example)


@FUZZ
@given(
    chunk_bytes_=st.integers(min_value=64, max_value=4096),
    excess=st.integers(min_value=1, max_value=MAX_REPORT_BYTES),
)
def test_a_report_over_the_size_limit_is_rejected_as_invalid_argument(
    running: Collector, chunk_bytes_: int, excess: int
) -> None:
    example = Example.fresh()
    oversized = example.damaged
    padding = MAX_REPORT_BYTES - oversized.ByteSize() + excess
    oversized.coredns.corefile += "#" * padding  # grows the encoding by at least `padding`
    assert oversized.ByteSize() > MAX_REPORT_BYTES

    outcome = running.send(example, chunk_report(oversized, chunk_bytes_))

    outcome.assert_rejected(oversized.report_id, 1, f"exceeds {MAX_REPORT_BYTES} bytes")
    running.assert_nothing_stored_then_valid_commits(example)


@FUZZ
@given(chunk_bytes_=CHUNK_BYTES, data=st.data())
def test_a_second_report_begun_before_the_first_is_whole_is_aborted(
    running: Collector, chunk_bytes_: int, data: st.DataObject
) -> None:
    example = Example.fresh()
    chunks = chunk_report(example.damaged, chunk_bytes_)
    sent = data.draw(st.integers(min_value=1, max_value=len(chunks) - 1), label="sent")
    second = report_pb2.Report()
    second.CopyFrom(example.damaged)
    second.report_id, second.sequence = f"{example.damaged.report_id}-second", 2

    outcome = running.send(example, [*chunks[:sent], *chunk_report(second, chunk_bytes_)])

    outcome.assert_aborted(
        f"report {second.report_id} started while report {example.damaged.report_id} "
        f"had {sent} of {len(chunks)} chunks"
    )
    running.assert_nothing_stored_then_valid_commits(example)
