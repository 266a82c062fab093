"""Reassembles a report from its chunks, bounded in size and time.

Chunks of one report arrive in order on one stream (index 0..count-1). A
chunk out of order, a count that changes, or a report over the size limit is
refused, once: the rest of a refused report's chunks are dropped unanswered.
A report still incomplete when the stream ends is the servicer's to report.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from netaudit.collector.ingest.validation import clip
from netaudit.v1 import ingest_pb2, report_pb2


class ChunkRejected(Exception):
    """The chunk or the report it completes cannot be accepted."""


@dataclass
class _Partial:
    chunk_count: int
    agent_epoch: int
    sequence: int
    started: float
    parts: list[bytes] = field(default_factory=list)
    size: int = 0


@dataclass(frozen=True)
class CompleteReport:
    report: report_pb2.Report
    size: int


class Reassembler:
    """Collects the chunks of the reports of one stream."""

    def __init__(
        self,
        max_report_bytes: int,
        timeout_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max = max_report_bytes
        self._timeout = timeout_seconds
        self._clock = clock
        self._partial: dict[str, _Partial] = {}
        self._refused: str | None = None

    def add(self, chunk: ingest_pb2.ReportChunk) -> CompleteReport | None:
        """Add one chunk; return the report once its last chunk arrived.

        ChunkRejected once per refused report: its later chunks are dropped (None)."""
        if chunk.report_id == self._refused and chunk.chunk_index > 0:
            return None
        self._refused = None
        try:
            return self._add(chunk)
        except ChunkRejected:
            self._refused = chunk.report_id
            raise

    def _add(self, chunk: ingest_pb2.ReportChunk) -> CompleteReport | None:
        self._drop_expired()
        if not chunk.report_id or chunk.chunk_count < 1:
            raise ChunkRejected("chunk without report_id or chunk_count")
        partial = self._partial.get(chunk.report_id)
        if partial is None:
            if chunk.chunk_index != 0:
                raise ChunkRejected(f"report {clip(chunk.report_id)} did not start at chunk 0")
            partial = _Partial(chunk.chunk_count, chunk.agent_epoch, chunk.sequence, self._clock())
            self._partial[chunk.report_id] = partial
        self._append(chunk, partial)
        if len(partial.parts) < partial.chunk_count:
            return None
        del self._partial[chunk.report_id]
        return self._decode(chunk.report_id, partial)

    def _append(self, chunk: ingest_pb2.ReportChunk, partial: _Partial) -> None:
        if chunk.chunk_count != partial.chunk_count or chunk.chunk_index != len(partial.parts):
            del self._partial[chunk.report_id]
            raise ChunkRejected(
                f"report {clip(chunk.report_id)}: chunk {chunk.chunk_index}/{chunk.chunk_count} "
                f"out of order (expected {len(partial.parts)}/{partial.chunk_count})"
            )
        partial.size += len(chunk.data)
        if partial.size > self._max:
            del self._partial[chunk.report_id]
            raise ChunkRejected(
                f"report {clip(chunk.report_id)} exceeds {self._max} bytes; "
                "raise ingest.max_report_bytes if the cluster is really that large"
            )
        partial.parts.append(chunk.data)

    def _decode(self, report_id: str, partial: _Partial) -> CompleteReport:
        data = b"".join(partial.parts)
        report = report_pb2.Report()
        try:
            report.ParseFromString(data)
        except DecodeError as exc:
            raise ChunkRejected(
                f"report {clip(report_id)} is not a valid Report message: {exc}"
            ) from exc
        if report.report_id != report_id:
            raise ChunkRejected(
                f"report {clip(report_id)} carries report_id {clip(report.report_id)!r}"
            )
        if not report.cluster.arm_resource_id:
            raise ChunkRejected(f"report {clip(report_id)} has no cluster.arm_resource_id")
        report.agent_epoch = report.agent_epoch or partial.agent_epoch
        report.sequence = report.sequence or partial.sequence
        return CompleteReport(report, len(data))

    def _drop_expired(self) -> None:
        now = self._clock()
        for report_id in [
            rid for rid, p in self._partial.items() if now - p.started > self._timeout
        ]:
            del self._partial[report_id]

    @property
    def pending(self) -> int:
        return len(self._partial)

    def incomplete(self) -> list[str]:
        """The reports still waiting for chunks, as "report R: 2 of 5 chunks"."""
        return [
            f"report {clip(report_id)}: {len(p.parts)} of {p.chunk_count} chunks"
            for report_id, p in self._partial.items()
        ]
