"""Chunk reassembly: bounded in size and time, strict about order."""

from __future__ import annotations

import pytest

from netaudit.collector.ingest.budget import BudgetExhausted, ByteBudget
from netaudit.collector.ingest.reassembly import ChunkRejected, Reassembler
from netaudit.v1 import ingest_pb2, report_pb2

CLUSTER = "/subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerService/managedClusters/c"


def _report(report_id: str = "r1", nodes: int = 50) -> report_pb2.Report:
    report = report_pb2.Report(report_id=report_id, agent_epoch=3, sequence=9)
    report.cluster.arm_resource_id = CLUSTER
    for i in range(nodes):
        report.nodes.add(name=f"aks-nodepool1-0000-vmss{i:06d}", pool="nodepool1")
    return report


def _chunks(report: report_pb2.Report, size: int) -> list[ingest_pb2.ReportChunk]:
    data = report.SerializeToString()
    parts = [data[i : i + size] for i in range(0, len(data), size)]
    return [
        ingest_pb2.ReportChunk(
            report_id=report.report_id,
            agent_epoch=report.agent_epoch,
            sequence=report.sequence,
            chunk_index=i,
            chunk_count=len(parts),
            data=part,
        )
        for i, part in enumerate(parts)
    ]


def test_report_is_returned_only_after_its_last_chunk() -> None:
    report = _report()
    chunks = _chunks(report, 100)
    assembler = Reassembler(max_report_bytes=1 << 20, timeout_seconds=60)
    results = [assembler.add(chunk) for chunk in chunks]
    assert all(result is None for result in results[:-1])
    assert results[-1] is not None
    assert results[-1].report == report
    assert assembler.pending == 0


@pytest.mark.parametrize(
    ("order", "why"),
    [
        ([1, 0], "did not start at chunk 0"),
        ([0, 2], "out of order"),
        ([0, 1, 1], "out of order"),
    ],
)
def test_chunks_out_of_order_are_refused(order: list[int], why: str) -> None:
    chunks = _chunks(_report(), 100)
    assembler = Reassembler(max_report_bytes=1 << 20, timeout_seconds=60)
    with pytest.raises(ChunkRejected, match=why):
        for index in order:
            assembler.add(chunks[index])


def test_report_over_the_size_limit_is_refused_and_forgotten() -> None:
    chunks = _chunks(_report(nodes=200), 1000)
    assembler = Reassembler(max_report_bytes=1500, timeout_seconds=60)
    with pytest.raises(ChunkRejected, match="exceeds 1500 bytes"):
        for chunk in chunks:
            assembler.add(chunk)
    assert assembler.pending == 0


def test_partial_report_expires_after_the_timeout() -> None:
    now = [0.0]
    chunks = _chunks(_report(), 100)
    assembler = Reassembler(max_report_bytes=1 << 20, timeout_seconds=10, clock=lambda: now[0])
    assembler.add(chunks[0])
    assert assembler.pending == 1
    now[0] = 11.0
    with pytest.raises(ChunkRejected, match="did not start at chunk 0"):
        assembler.add(chunks[1])
    assert assembler.pending == 0


def test_garbage_bytes_are_refused() -> None:
    chunk = ingest_pb2.ReportChunk(report_id="r1", chunk_index=0, chunk_count=1, data=b"\xff\xff")
    with pytest.raises(ChunkRejected, match="not a valid Report"):
        Reassembler(1 << 20, 60).add(chunk)


def test_report_without_cluster_id_is_refused() -> None:
    report = report_pb2.Report(report_id="r1")
    chunk = ingest_pb2.ReportChunk(
        report_id="r1", chunk_index=0, chunk_count=1, data=report.SerializeToString()
    )
    with pytest.raises(ChunkRejected, match=r"no cluster\.arm_resource_id"):
        Reassembler(1 << 20, 60).add(chunk)


def test_a_report_the_budget_cannot_hold_is_refused_at_its_first_chunk() -> None:
    """The declared size (chunk count x first chunk) is reserved at chunk 0: a stream
    whose report does not fit ends before it sends the rest."""
    chunks = _chunks(_report(nodes=200), 1000)
    budget = ByteBudget(len(chunks) * 1000 - 1)
    with pytest.raises(BudgetExhausted):
        Reassembler(1 << 20, 60, budget).add(chunks[0])
    assert budget.reserved == 0


def test_the_declared_size_is_held_until_the_report_is_dropped() -> None:
    chunks = _chunks(_report(nodes=200), 1000)
    budget = ByteBudget(1 << 30)
    assembler = Reassembler(1 << 20, 60, budget)
    assembler.add(chunks[0])
    assert budget.reserved == len(chunks) * 1000
    assembler.close()
    assert budget.reserved == 0


def test_a_committed_report_releases_everything_it_reserved() -> None:
    chunks = _chunks(_report(nodes=200), 1000)
    budget = ByteBudget(1 << 30)
    assembler = Reassembler(1 << 20, 60, budget)
    complete = [assembler.add(chunk) for chunk in chunks][-1]
    assert complete is not None and budget.reserved > 0
    complete.release()
    assert budget.reserved == 0


def test_chunks_larger_than_the_first_reserve_the_difference() -> None:
    small = ingest_pb2.ReportChunk(report_id="r", chunk_index=0, chunk_count=2, data=b"a" * 10)
    large = ingest_pb2.ReportChunk(report_id="r", chunk_index=1, chunk_count=2, data=b"b" * 100)
    budget = ByteBudget(50)
    assembler = Reassembler(1 << 20, 60, budget)
    assembler.add(small)
    assert budget.reserved == 20
    with pytest.raises(BudgetExhausted):
        assembler.add(large)
    assert budget.reserved == 0


def test_every_later_chunk_of_a_refused_report_is_dropped_unanswered() -> None:
    """Chunk 1 before chunk 0: one refusal; chunk 0 after it does not start the report
    afresh (which would end in a second refusal at chunk 2)."""
    chunks = _chunks(_report(), 100)
    assembler = Reassembler(max_report_bytes=1 << 20, timeout_seconds=60)
    with pytest.raises(ChunkRejected, match="did not start at chunk 0"):
        assembler.add(chunks[1])
    assert [assembler.add(chunk) for chunk in [chunks[0], *chunks[2:]]] == [None] * (
        len(chunks) - 1
    )
    assert assembler.pending == 0
