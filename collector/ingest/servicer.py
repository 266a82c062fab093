"""The IngestService: agents stream report chunks; a report is acked only after commit."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import grpc
from prometheus_client import CollectorRegistry, Counter

from netaudit.collector.ingest.reassembly import ChunkRejected, CompleteReport, Reassembler
from netaudit.v1 import ingest_pb2, ingest_pb2_grpc, report_pb2

log = logging.getLogger(__name__)

_DONE = object()


class ReportCommitter(Protocol):
    """What ingest needs from the store: an idempotent, durable commit."""

    def commit_report(
        self, report: report_pb2.Report, *, agent_id: str, received_at: datetime
    ) -> object: ...


class RejectedReport(Exception):
    """Raised by a committer for a report that must not be retried."""


@dataclass(frozen=True)
class IngestLimits:
    max_report_bytes: int
    reassembly_timeout_seconds: float


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(
        self,
        committer: ReportCommitter,
        limits: IngestLimits,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rejected_errors: tuple[type[Exception], ...] = (RejectedReport,),
    ) -> None:
        self._committer = committer
        self._limits = limits
        self._clock = clock
        self._rejected_errors = rejected_errors
        self._streams: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Queue[object]]] = {}
        self._reports = Counter(
            "netaudit_ingest_reports",
            "Reports received over gRPC, by outcome (committed, duplicate, rejected).",
            ["outcome"],
            registry=registry,
        )

    @property
    def connected_clusters(self) -> list[str]:
        return sorted(self._streams)

    def request_report(self, cluster_key: str, reason: str) -> bool:
        """Ask the agent streaming for cluster_key for a fresh report now (any thread)."""
        stream = self._streams.get(cluster_key.lower())
        if stream is None:
            return False
        loop, queue = stream
        request = ingest_pb2.ReportRequest(request_id=str(uuid.uuid4()), reason=reason)
        loop.call_soon_threadsafe(
            queue.put_nowait, ingest_pb2.StreamResponse(report_request=request)
        )
        return True

    async def Stream(
        self,
        request_iterator: AsyncIterator[ingest_pb2.StreamRequest],
        context: grpc.aio.ServicerContext[ingest_pb2.StreamRequest, ingest_pb2.StreamResponse],
    ) -> AsyncIterator[ingest_pb2.StreamResponse]:
        hello = await self._read_hello(request_iterator, context)
        cluster_key = hello.cluster.arm_resource_id.lower()
        outgoing: asyncio.Queue[object] = asyncio.Queue()
        stream = (asyncio.get_running_loop(), outgoing)
        self._streams[cluster_key] = stream
        log.info("agent connected", extra={"cluster": cluster_key, "agent_id": hello.agent_id})
        reader = asyncio.create_task(self._read_chunks(request_iterator, hello, outgoing))
        try:
            while True:
                item = await outgoing.get()
                if item is _DONE:
                    break
                assert isinstance(item, ingest_pb2.StreamResponse)
                yield item
            await reader
        finally:
            reader.cancel()
            if self._streams.get(cluster_key) is stream:
                del self._streams[cluster_key]
            log.info("agent disconnected", extra={"cluster": cluster_key})

    async def _read_hello(
        self,
        request_iterator: AsyncIterator[ingest_pb2.StreamRequest],
        context: grpc.aio.ServicerContext[ingest_pb2.StreamRequest, ingest_pb2.StreamResponse],
    ) -> ingest_pb2.AgentHello:
        first = await anext(request_iterator, None)
        if first is None or first.WhichOneof("message") != "hello":
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "first message must be hello")
        assert first is not None
        if not first.hello.cluster.arm_resource_id:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "hello.cluster.arm_resource_id is required"
            )
        return first.hello

    async def _read_chunks(
        self,
        request_iterator: AsyncIterator[ingest_pb2.StreamRequest],
        hello: ingest_pb2.AgentHello,
        outgoing: asyncio.Queue[object],
    ) -> None:
        reassembler = Reassembler(
            self._limits.max_report_bytes, self._limits.reassembly_timeout_seconds
        )
        try:
            async for request in request_iterator:
                if request.WhichOneof("message") != "chunk":
                    continue
                ack = await self._accept_chunk(reassembler, request.chunk, hello)
                if ack is not None:
                    outgoing.put_nowait(ingest_pb2.StreamResponse(ack=ack))
        finally:
            outgoing.put_nowait(_DONE)

    async def _accept_chunk(
        self,
        reassembler: Reassembler,
        chunk: ingest_pb2.ReportChunk,
        hello: ingest_pb2.AgentHello,
    ) -> ingest_pb2.ReportAck | None:
        try:
            complete = reassembler.add(chunk)
        except ChunkRejected as exc:
            return self._rejected(chunk, str(exc))
        if complete is None:
            return None
        if complete.report.cluster.arm_resource_id.lower() != (
            hello.cluster.arm_resource_id.lower()
        ):
            return self._rejected(chunk, "report is for another cluster than the stream's hello")
        return await self._commit(complete, chunk, hello)

    async def _commit(
        self,
        complete: CompleteReport,
        chunk: ingest_pb2.ReportChunk,
        hello: ingest_pb2.AgentHello,
    ) -> ingest_pb2.ReportAck:
        loop = asyncio.get_running_loop()
        try:
            outcome = await loop.run_in_executor(
                None,
                lambda: self._committer.commit_report(
                    complete.report, agent_id=hello.agent_id, received_at=self._clock()
                ),
            )
        except self._rejected_errors as exc:
            return self._rejected(chunk, str(exc))
        duplicate = getattr(outcome, "name", str(outcome)).upper() == "DUPLICATE"
        status = ingest_pb2.ACK_STATUS_DUPLICATE if duplicate else ingest_pb2.ACK_STATUS_COMMITTED
        self._reports.labels("duplicate" if duplicate else "committed").inc()
        log.info(
            "report committed" if not duplicate else "report already committed",
            extra={
                "cluster": complete.report.cluster.arm_resource_id.lower(),
                "report_id": chunk.report_id,
                "bytes": complete.size,
            },
        )
        return ingest_pb2.ReportAck(
            report_id=chunk.report_id,
            agent_epoch=chunk.agent_epoch,
            sequence=chunk.sequence,
            status=status,
        )

    def _rejected(self, chunk: ingest_pb2.ReportChunk, why: str) -> ingest_pb2.ReportAck:
        self._reports.labels("rejected").inc()
        log.warning("report rejected", extra={"report_id": chunk.report_id, "why": why})
        return ingest_pb2.ReportAck(
            report_id=chunk.report_id,
            agent_epoch=chunk.agent_epoch,
            sequence=chunk.sequence,
            status=ingest_pb2.ACK_STATUS_REJECTED,
            message=why,
        )
