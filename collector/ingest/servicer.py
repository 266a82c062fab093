"""The IngestService: agents stream report chunks; a report is acked only after commit.

What the agent is told, and what it does with it (agent/stream.py):

- a report committed now or before: an ack COMMITTED or DUPLICATE; it leaves the spool;
- a report no resend can cure: an ack REJECTED with a status code and the reason, and
  the stream goes on; the agent drops the report. INVALID_ARGUMENT: it does not decode
  or breaks a content rule (validation.py; the message names the field paths);
  PERMISSION_DENIED: another cluster than the hello's (on a stream without credentials;
  with one, auth.py ends the stream); FAILED_PRECONDITION: the store refused it (a later
  report of the same agent run, or a name or region at odds with the inventory).
  A status ending the stream instead would make the agent resend that same report,
  oldest first, forever: one bad report would block every later one of its cluster;
- a condition a resend cures ends the stream with a status, and the agent reconnects
  with backoff and resends every unacked report in order (nothing lost, nothing stored
  twice): UNAVAILABLE when the store is down, locked or full; ABORTED when the stream
  ends with a report incomplete; INTERNAL for a collector bug (logged here, not sent).
  Ending the stream also keeps one agent's reports committed in their order: the next
  report is not committed before the one that failed.
- a stream message that does not decode ends the stream with INVALID_ARGUMENT;
- a hello of a contract version this collector does not accept (netaudit.contract: its
  own and the previous one) ends the stream with FAILED_PRECONDITION naming the versions
  it accepts and the one it got, before any chunk is read; the agent keeps its spool and
  retries with backoff until one side is upgraded.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import grpc
from google.protobuf.message import DecodeError
from prometheus_client import CollectorRegistry

from netaudit.collector.errors import ServiceUnavailable
from netaudit.collector.ingest.auth import (
    Authenticator,
    CredentialCheckFailed,
    Identity,
    PermissionDenied,
    Unauthenticated,
    require_cluster,
)
from netaudit.collector.ingest.budget import BudgetExhausted, ByteBudget
from netaudit.collector.ingest.reassembly import (
    ChunkRejected,
    CompleteReport,
    Reassembler,
    ReportInterleaved,
)
from netaudit.collector.ingest.validation import (
    Violation,
    agent_id_violations,
    clip,
    describe,
    report_violations,
)
from netaudit.collector.metrics.ingest_counters import IngestCounters
from netaudit.contract import ACCEPTED_CONTRACT_VERSIONS
from netaudit.v1 import ingest_pb2, ingest_pb2_grpc, report_pb2

log = logging.getLogger(__name__)

_DONE = object()
ACK_MESSAGE_CHARS = 8_192
"""Longest reason sent in an ack (and logged): the rest is clipped."""


class ReportCommitter(Protocol):
    """What ingest needs from the store: an idempotent, durable commit."""

    def commit_report(
        self,
        report: report_pb2.Report,
        *,
        agent_id: str,
        received_at: datetime,
        payload: bytes | bytearray | None = None,
    ) -> object: ...


class RejectedReport(Exception):
    """Raised by a committer for a report that must not be retried."""


class InvalidContent(Exception):
    """The report breaks a content rule: never stored, never worth a resend."""

    def __init__(self, report_id: str, violations: list[Violation]) -> None:
        super().__init__(f"report {clip(report_id)} is invalid: {describe(violations)}")


class StreamEnded(Exception):
    """Ends the stream with ``code``: the agent resends every report it has no ack for."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


@dataclass(frozen=True)
class IngestLimits:
    max_report_bytes: int
    reassembly_timeout_seconds: float
    max_assembly_bytes: int = 320 << 20
    """Process-wide budget of report bytes being assembled and decoded (budget.py)."""


class IngestServicer(ingest_pb2_grpc.IngestServiceServicer):
    def __init__(
        self,
        committer: ReportCommitter,
        limits: IngestLimits,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        rejected_errors: tuple[type[Exception], ...] = (RejectedReport,),
        authenticator: Authenticator | None = None,
        contract_versions: tuple[int, int] = ACCEPTED_CONTRACT_VERSIONS,
    ) -> None:
        """`authenticator`: who may write for which cluster; None accepts every stream
        (plaintext tests and `--insecure` only). `contract_versions`: (current, previous),
        the hello's versions accepted (netaudit.contract's unless a test plays another
        release)."""
        self._contract_versions = contract_versions
        self._committer = committer
        self._authenticator = authenticator or Authenticator.insecure()
        self._limits = limits
        self._clock = clock
        self._rejected_errors = rejected_errors
        self.budget = ByteBudget(limits.max_assembly_bytes)
        self._streams: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Queue[object]]] = {}
        self._counters = IngestCounters(registry)

    @property
    def connected_clusters(self) -> list[str]:
        """The clusters whose streams this replica holds (any thread: a copy is atomic)."""
        return sorted(self._streams.copy())

    def request_report(self, cluster_key: str, reason: str, request_id: str = "") -> bool:
        """Ask the agent streaming for cluster_key for a fresh report now (any thread);
        its report carries `request_id` (a new one when empty) back."""
        stream = self._streams.get(cluster_key.lower())
        if stream is None:
            return False
        loop, queue = stream
        request = ingest_pb2.ReportRequest(
            request_id=request_id or str(uuid.uuid4()), reason=reason
        )
        loop.call_soon_threadsafe(
            queue.put_nowait, ingest_pb2.StreamResponse(report_request=request)
        )
        return True

    async def Stream(
        self,
        request_iterator: AsyncIterator[ingest_pb2.StreamRequest],
        context: grpc.aio.ServicerContext[ingest_pb2.StreamRequest, ingest_pb2.StreamResponse],
    ) -> AsyncIterator[ingest_pb2.StreamResponse]:
        # Every refusal ends the call with set_code and a return, never context.abort():
        # abort's AbortError ties the call's state into a reference cycle, and the call
        # (with every message gRPC buffered for it) then lives until the cyclic garbage
        # collector runs, which big byte buffers hardly ever trigger: 1 GiB of refused
        # partial reports stayed resident.
        try:
            async for response in self._serve(request_iterator, context):
                yield response
        except StreamEnded as ended:
            self._counters.rejected(ended.code.name)
            context.set_code(ended.code)
            context.set_details(ended.details)

    async def _serve(
        self,
        request_iterator: AsyncIterator[ingest_pb2.StreamRequest],
        context: grpc.aio.ServicerContext[ingest_pb2.StreamRequest, ingest_pb2.StreamResponse],
    ) -> AsyncIterator[ingest_pb2.StreamResponse]:
        identity = await self._identify(context)
        hello = await self._read_hello(request_iterator)
        if identity is not None:
            _authorize(identity, hello.cluster.arm_resource_id, context.peer())
        cluster_key = hello.cluster.arm_resource_id.lower()
        outgoing: asyncio.Queue[object] = asyncio.Queue()
        stream = (asyncio.get_running_loop(), outgoing)
        self._streams[cluster_key] = stream
        log.info(
            "agent connected",
            extra={
                "cluster": cluster_key,
                "agent_id": hello.agent_id,
                "credential": identity.credential if identity else "none (insecure)",
            },
        )
        reader = asyncio.create_task(self._read_chunks(request_iterator, hello, identity, outgoing))
        try:
            while True:
                item = await outgoing.get()
                if item is _DONE:
                    break
                assert isinstance(item, ingest_pb2.StreamResponse)
                yield item
            # gather(return_exceptions) hands the reader's exception over without
            # re-raising it here: re-raised, its traceback would hold this frame, which
            # holds the task, which holds the exception (a cycle keeping the call alive).
            (outcome,) = await asyncio.gather(reader, return_exceptions=True)
            if isinstance(outcome, PermissionDenied):
                raise _refusal(grpc.StatusCode.PERMISSION_DENIED, str(outcome), context.peer())
            if isinstance(outcome, Unauthenticated):
                raise _refusal(grpc.StatusCode.UNAUTHENTICATED, str(outcome), context.peer())
            if isinstance(outcome, CredentialCheckFailed):
                raise _refusal(grpc.StatusCode.UNAVAILABLE, str(outcome), context.peer())
            if isinstance(outcome, StreamEnded):
                raise StreamEnded(outcome.code, outcome.details)
            if isinstance(outcome, BaseException):
                raise outcome
        finally:
            reader.cancel()
            if self._streams.get(cluster_key) is stream:
                del self._streams[cluster_key]
            log.info("agent disconnected", extra={"cluster": cluster_key})

    async def _identify(
        self,
        context: grpc.aio.ServicerContext[ingest_pb2.StreamRequest, ingest_pb2.StreamResponse],
    ) -> Identity | None:
        peer = context.peer()
        try:
            return await self._authenticator.identify(
                context.invocation_metadata() or (), context.auth_context()
            )
        except Unauthenticated as exc:
            raise _refusal(grpc.StatusCode.UNAUTHENTICATED, str(exc), peer) from None
        except PermissionDenied as exc:
            raise _refusal(grpc.StatusCode.PERMISSION_DENIED, str(exc), peer) from None
        except CredentialCheckFailed as exc:
            raise _refusal(grpc.StatusCode.UNAVAILABLE, str(exc), peer) from None

    async def _read_hello(
        self, request_iterator: AsyncIterator[ingest_pb2.StreamRequest]
    ) -> ingest_pb2.AgentHello:
        first = await anext(request_iterator, None)
        if first is None or first.WhichOneof("message") != "hello":
            raise StreamEnded(grpc.StatusCode.INVALID_ARGUMENT, "first message must be hello")
        refusal = contract_refusal(first.hello.contract_version, self._contract_versions)
        if refusal is not None:
            raise StreamEnded(grpc.StatusCode.FAILED_PRECONDITION, refusal)
        if not first.hello.cluster.arm_resource_id:
            raise StreamEnded(
                grpc.StatusCode.INVALID_ARGUMENT, "hello.cluster.arm_resource_id is required"
            )
        return first.hello

    async def _read_chunks(
        self,
        request_iterator: AsyncIterator[ingest_pb2.StreamRequest],
        hello: ingest_pb2.AgentHello,
        identity: Identity | None,
        outgoing: asyncio.Queue[object],
    ) -> None:
        reassembler = Reassembler(
            self._limits.max_report_bytes, self._limits.reassembly_timeout_seconds, self.budget
        )
        try:
            async for chunk in _chunks(request_iterator):
                self._counters.received(chunk.ByteSize())  # .data would copy the bytes
                ack = await self._accept_chunk(reassembler, chunk, hello, identity)
                del chunk  # not held while the next message is awaited
                if ack is not None:
                    outgoing.put_nowait(ingest_pb2.StreamResponse(ack=ack))
            if reassembler.pending:
                raise StreamEnded(
                    grpc.StatusCode.ABORTED,
                    f"the stream ended with {'; '.join(reassembler.incomplete())} received; "
                    "nothing of it is stored: resend it whole",
                )
        except (StreamEnded, PermissionDenied, Unauthenticated, CredentialCheckFailed):
            raise
        except Exception as exc:  # a bug: the agent gets INTERNAL, never UNKNOWN
            log.exception("stream failed", extra={"cluster": clip(hello.cluster.arm_resource_id)})
            raise StreamEnded(
                grpc.StatusCode.INTERNAL,
                f"the collector failed ({type(exc).__name__}; its log has the details); "
                "resend what was not acked",
            ) from exc
        finally:
            reassembler.close()
            outgoing.put_nowait(_DONE)

    async def _accept_chunk(
        self,
        reassembler: Reassembler,
        chunk: ingest_pb2.ReportChunk,
        hello: ingest_pb2.AgentHello,
        identity: Identity | None,
    ) -> ingest_pb2.ReportAck | None:
        try:
            complete = reassembler.add(chunk)
        except ChunkRejected as exc:
            return self._rejected(chunk, str(exc), grpc.StatusCode.INVALID_ARGUMENT)
        except ReportInterleaved as exc:
            raise StreamEnded(grpc.StatusCode.ABORTED, str(exc)) from exc
        except BudgetExhausted as exc:
            log.warning("stream ended: ingest byte budget exhausted", extra={"why": str(exc)})
            raise StreamEnded(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc)) from exc
        if complete is None:
            return None
        try:
            if identity is not None:
                await self._authenticator.require_active(identity)
            return await self._check_and_commit(complete, chunk, hello)
        finally:
            complete.release()

    async def _check_and_commit(
        self,
        complete: CompleteReport,
        chunk: ingest_pb2.ReportChunk,
        hello: ingest_pb2.AgentHello,
    ) -> ingest_pb2.ReportAck:
        if self._authenticator.binds_clusters:  # the hello named the credential's cluster
            require_cluster(
                complete.report.cluster.arm_resource_id,
                hello.cluster.arm_resource_id,
                "the report",
                "the stream's credential",
            )
        if complete.report.cluster.arm_resource_id.lower() != (
            hello.cluster.arm_resource_id.lower()
        ):
            return self._rejected(
                chunk,
                "report is for another cluster than the stream's hello",
                grpc.StatusCode.PERMISSION_DENIED,
            )
        return await self._commit(complete, chunk, hello)

    async def _commit(
        self,
        complete: CompleteReport,
        chunk: ingest_pb2.ReportChunk,
        hello: ingest_pb2.AgentHello,
    ) -> ingest_pb2.ReportAck:
        loop = asyncio.get_running_loop()
        try:
            # validation walks every field: off the event loop, like the commit
            outcome = await loop.run_in_executor(
                None, self._validate_and_commit, complete, hello.agent_id
            )
        except InvalidContent as exc:
            return self._rejected(chunk, str(exc), grpc.StatusCode.INVALID_ARGUMENT)
        except self._rejected_errors as exc:
            return self._rejected(chunk, str(exc), grpc.StatusCode.FAILED_PRECONDITION)
        except ServiceUnavailable as exc:
            log.warning(
                "report not committed: store unavailable",
                extra={"report_id": clip(chunk.report_id), "why": str(exc)},
            )
            raise StreamEnded(
                grpc.StatusCode.UNAVAILABLE,
                f"report {clip(chunk.report_id)} was not stored: the collector's store is "
                "unavailable; resend it later",
            ) from exc
        except Exception as exc:
            log.exception("report not committed", extra={"report_id": clip(chunk.report_id)})
            raise StreamEnded(
                grpc.StatusCode.INTERNAL,
                f"report {clip(chunk.report_id)} was not stored: the collector failed "
                f"({type(exc).__name__}; its log has the details); resend it later",
            ) from exc
        duplicate = getattr(outcome, "name", str(outcome)).upper() == "DUPLICATE"
        status = ingest_pb2.ACK_STATUS_DUPLICATE if duplicate else ingest_pb2.ACK_STATUS_COMMITTED
        self._counters.reported("duplicate" if duplicate else "committed")
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

    def _validate_and_commit(self, complete: CompleteReport, agent_id: str) -> object:
        report = complete.report
        violations = report_violations(report) or agent_id_violations(agent_id)
        if violations:
            raise InvalidContent(report.report_id, violations)
        return self._committer.commit_report(
            report, agent_id=agent_id, received_at=self._clock(), payload=complete.payload
        )

    def _rejected(
        self, chunk: ingest_pb2.ReportChunk, why: str, code: grpc.StatusCode
    ) -> ingest_pb2.ReportAck:
        """An ack REJECTED: logged once, both clipped (ids and values may be huge)."""
        self._counters.reported("rejected")
        self._counters.rejected(code.name)
        why = clip(why, ACK_MESSAGE_CHARS)
        log.warning(
            "report rejected",
            extra={"report_id": clip(chunk.report_id), "code": code.name, "why": why},
        )
        return ingest_pb2.ReportAck(
            report_id=chunk.report_id,
            agent_epoch=chunk.agent_epoch,
            sequence=chunk.sequence,
            status=ingest_pb2.ACK_STATUS_REJECTED,
            message=why,
            code=code.value[0],
        )


def _refusal(code: grpc.StatusCode, why: str, peer: str) -> StreamEnded:
    log.warning("stream refused", extra={"code": code.name, "why": why, "peer": peer})
    return StreamEnded(code, why)


def _authorize(identity: Identity, cluster_id: str, peer: str) -> None:
    try:
        identity.require(cluster_id, "hello")
    except PermissionDenied as exc:
        raise _refusal(grpc.StatusCode.PERMISSION_DENIED, str(exc), peer) from None


def contract_refusal(version: int, accepted: tuple[int, int]) -> str | None:
    """Why a hello's contract version is refused, naming the (current, previous)
    versions accepted and which side to upgrade; None when it is accepted."""
    if version in accepted:
        return None
    current, previous = accepted
    upgrade = "the collector" if version > current else "the agent"
    return (
        f"the agent speaks contract version {version}; this collector accepts contract "
        f"versions {current} (current) and {previous} (previous): upgrade {upgrade}"
    )


async def _chunks(
    request_iterator: AsyncIterator[ingest_pb2.StreamRequest],
) -> AsyncIterator[ingest_pb2.ReportChunk]:
    """The stream's report chunks; StreamEnded(INVALID_ARGUMENT) at a message that does
    not decode."""
    try:
        async for request in request_iterator:
            if request.WhichOneof("message") == "chunk":
                chunk = request.chunk
                del request
                yield chunk
                del chunk
    except DecodeError as exc:
        raise StreamEnded(
            grpc.StatusCode.INVALID_ARGUMENT,
            f"a stream message is not a netaudit.v1.StreamRequest: {exc}",
        ) from exc
