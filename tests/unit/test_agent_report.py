"""Report identity, sequencing and chunking."""

from __future__ import annotations

import pytest

from netaudit.agent.config import ClusterSettings
from netaudit.agent.report import (
    ReportSequence,
    chunk_bytes,
    chunk_report,
    cluster_identity,
    join_chunks,
)
from netaudit.v1 import report_pb2

ARM_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-prod/"
    "providers/Microsoft.ContainerService/managedClusters/aks-prod-weu"
)


def big_report(nodes: int) -> report_pb2.Report:
    report = report_pb2.Report(report_id="r-1", agent_epoch=1700000000000, sequence=7)
    for i in range(nodes):
        report.nodes.add(
            name=f"aks-nodepool1-12345678-vmss{i:06d}",
            pool="nodepool1",
            network_labels={"kubernetes.azure.com/podnetwork-type": "overlay"},
            pod_cidrs=[f"10.244.{i % 256}.0/24"],
        )
    return report


@pytest.mark.parametrize("max_chunk_bytes", [1024, 4096, 1024 * 1024])
def test_chunks_round_trip_to_the_same_report(max_chunk_bytes: int) -> None:
    report = big_report(500)
    chunks = chunk_report(report, max_chunk_bytes)
    assert all(len(c.data) <= max_chunk_bytes for c in chunks)
    assert [c.chunk_index for c in chunks] == list(range(len(chunks)))
    assert {c.chunk_count for c in chunks} == {len(chunks)}
    assert {(c.report_id, c.agent_epoch, c.sequence) for c in chunks} == {("r-1", 1700000000000, 7)}
    assert join_chunks(reversed(chunks)) == report


def test_a_large_report_is_split_and_a_small_one_is_one_chunk() -> None:
    report = big_report(500)
    size = report.ByteSize()
    assert len(chunk_report(report, 1024)) == -(-size // 1024)
    assert len(chunk_report(big_report(1))) == 1


def test_a_missing_chunk_is_detected() -> None:
    chunks = chunk_report(big_report(200), 1024)
    with pytest.raises(ValueError, match="missing"):
        join_chunks(chunks[:-1])


def test_empty_data_still_makes_one_chunk() -> None:
    (chunk,) = chunk_bytes(b"", "r", 1, 1, 10)
    assert (chunk.chunk_index, chunk.chunk_count, chunk.data) == (0, 1, b"")


def test_sequence_increases_within_an_epoch() -> None:
    sequence = ReportSequence(epoch=42)
    assert [sequence.next() for _ in range(3)] == [1, 2, 3]
    assert sequence.epoch == 42
    assert ReportSequence().epoch > 1_600_000_000_000  # milliseconds since 1970


def test_cluster_identity_takes_its_name_from_the_arm_id() -> None:
    identity = cluster_identity(ClusterSettings(id=ARM_ID, region="westeurope"))
    assert identity.arm_resource_id == ARM_ID
    assert identity.name == "aks-prod-weu"
    assert identity.region == "westeurope"
    assert identity.agent_version
