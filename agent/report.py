"""Building one Report from every gatherer, and slicing it into stream chunks."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from importlib import metadata

from google.protobuf.timestamp_pb2 import Timestamp

from netaudit.agent.config import AgentSettings, ClusterSettings
from netaudit.agent.errors import KubeError
from netaudit.agent.gatherers import GATHERERS
from netaudit.agent.gatherers.gatherer import Gatherer, KubeReader
from netaudit.agent.gatherers.reads import ReadCache, Reads
from netaudit.agent.logs import log_context
from netaudit.agent.probes.dns import run_probes
from netaudit.v1 import ingest_pb2, report_pb2

log = logging.getLogger(__name__)

DISTRIBUTION = "aks-netaudit"
MAX_CHUNK_BYTES = 1024 * 1024


class ReportSequence:
    """(epoch, sequence) of this agent process: epoch changes on restart, sequence per report.

    The epoch is the start time in milliseconds, so a restarted agent's
    reports sort after those of the previous run.
    """

    def __init__(self, epoch: int | None = None) -> None:
        self.epoch = epoch if epoch is not None else time.time_ns() // 1_000_000
        self._last = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            self._last += 1
            return self._last


def agent_version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def cluster_identity(cluster: ClusterSettings) -> report_pb2.ClusterIdentity:
    return report_pb2.ClusterIdentity(
        arm_resource_id=cluster.id,
        name=cluster.display_name(),
        region=cluster.region,
        agent_version=agent_version(),
    )


def build_report(
    kube: KubeReader,
    identity: report_pb2.ClusterIdentity,
    settings: AgentSettings,
    *,
    sequence: ReportSequence | None = None,
    gatherers: Sequence[Gatherer] = GATHERERS,
) -> report_pb2.Report:
    """Run every gatherer and the DNS probes; failures become gaps, never exceptions."""
    sequence = sequence or ReportSequence()
    gathered_at = Timestamp()
    gathered_at.GetCurrentTime()
    report = report_pb2.Report(
        report_id=str(uuid.uuid4()),
        gathered_at=gathered_at,
        agent_epoch=sequence.epoch,
        sequence=sequence.next(),
    )
    report.cluster.CopyFrom(identity)
    with log_context(report_id=report.report_id):
        started = time.perf_counter()
        try:
            report.cluster.kubernetes_version = kube.server_version()
        except KubeError as error:
            report.gaps.add(
                gatherer="identity", resource="version", reason=error.reason, message=error.message
            )
        cache = ReadCache(kube)
        for gatherer in gatherers:
            _run_gatherer(
                gatherer, Reads(cache, gatherer.name, gatherer.reads, report), report, settings
            )
        report.coredns.probes.extend(run_probes(settings.dns))
        log.info(
            "report %s gathered in %.2fs: %d nodes, %d gaps",
            report.sequence,
            time.perf_counter() - started,
            len(report.nodes),
            len(report.gaps),
        )
    return report


def _run_gatherer(
    gatherer: Gatherer, reads: Reads, report: report_pb2.Report, settings: AgentSettings
) -> None:
    try:
        gatherer.gather(reads, report, settings.gather)
    except Exception as error:
        # A bug or an object shape nobody foresaw must not cost the other gatherers.
        log.exception("gatherer %s failed", gatherer.name)
        reads.gap("*", "error", f"gatherer failed: {type(error).__name__}: {error}")


def chunk_bytes(
    data: bytes,
    report_id: str,
    agent_epoch: int,
    sequence: int,
    max_chunk_bytes: int = MAX_CHUNK_BYTES,
) -> list[ingest_pb2.ReportChunk]:
    """Slices of a serialized report, each at most ``max_chunk_bytes``, with index/count."""
    if max_chunk_bytes <= 0:
        raise ValueError("max_chunk_bytes must be positive")
    slices = [data[i : i + max_chunk_bytes] for i in range(0, len(data), max_chunk_bytes)] or [b""]
    return [
        ingest_pb2.ReportChunk(
            report_id=report_id,
            agent_epoch=agent_epoch,
            sequence=sequence,
            chunk_index=index,
            chunk_count=len(slices),
            data=piece,
        )
        for index, piece in enumerate(slices)
    ]


def chunk_report(
    report: report_pb2.Report, max_chunk_bytes: int = MAX_CHUNK_BYTES
) -> list[ingest_pb2.ReportChunk]:
    return chunk_bytes(
        report.SerializeToString(),
        report.report_id,
        report.agent_epoch,
        report.sequence,
        max_chunk_bytes,
    )


def join_chunks(chunks: Iterable[ingest_pb2.ReportChunk]) -> report_pb2.Report:
    """The Report back from its chunks (any order); ValueError when some are missing."""
    ordered = sorted(chunks, key=lambda c: c.chunk_index)
    if not ordered or [c.chunk_index for c in ordered] != list(range(ordered[0].chunk_count)):
        raise ValueError("chunks are missing or duplicated")
    report = report_pb2.Report()
    report.ParseFromString(b"".join(c.data for c in ordered))
    return report
