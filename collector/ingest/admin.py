"""The AdminService (admin.proto): report requests and connected agents, for operators.

A report request reaches every replica (request_fanout.py, through the shared broker);
each one records the clusters whose streams it holds and sends their agents the request
(`LocalRequests`). The replica that was asked then follows the store, which every replica
shares: a report carrying the request id, once committed, answers it for its cluster.
Which replicas exist is not known here, so the request waits `settle_seconds` for every
replica to record its clusters before "everyone answered" ends it early.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, Protocol

import grpc

from netaudit.collector.ingest.admin_auth import AdminAuthenticator
from netaudit.collector.ingest.auth import (
    CredentialCheckFailed,
    PermissionDenied,
    Unauthenticated,
    cluster_key,
    is_aks_cluster_id,
)
from netaudit.collector.ingest.servicer import IngestServicer
from netaudit.v1 import admin_pb2, admin_pb2_grpc

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 60.0
"""How long a request waits for answers when the caller sets no timeout."""
MAX_TIMEOUT_SECONDS = 3600.0
DEFAULT_SETTLE_SECONDS = 2.0
"""How long a request waits for every replica to record the clusters it holds."""
POLL_SECONDS = 0.2
"""Between two reads of the request's progress in the store."""

Broadcast = Callable[[str, Sequence[str], str], object]
"""Sends (request id, cluster keys or none for all, reason) to every replica."""


class RequestStore(Protocol):
    def record_report_requests(self, request_id: str, cluster_keys: Iterable[str]) -> None: ...

    def report_request_progress(self, request_id: str) -> dict[str, str | None]: ...

    def cluster_keys(self) -> list[str]: ...


class LocalRequests:
    """This replica's part of a report request: the agents whose streams it holds."""

    def __init__(self, ingest: IngestServicer, store: RequestStore) -> None:
        self._ingest = ingest
        self._store = store

    def handle(self, request_id: str, cluster_keys: Sequence[str], reason: str) -> list[str]:
        """Record, then send, the request to the held streams among `cluster_keys` (all
        when empty); recorded first, so an answer always finds its row. Any thread."""
        wanted = {cluster_key(key) for key in cluster_keys}
        held = [key for key in self._ingest.connected_clusters if not wanted or key in wanted]
        if not held:
            return []
        self._store.record_report_requests(request_id, held)
        sent = [key for key in held if self._ingest.request_report(key, reason, request_id)]
        log.info("report request sent", extra={"request_id": request_id, "clusters": len(sent)})
        return sent


def _event(
    request_id: str,
    outcome: admin_pb2.RequestOutcome.ValueType,
    progress: dict[str, str | None],
    key: str = "",
    *,
    done: bool = False,
) -> admin_pb2.RequestReportsResponse:
    return admin_pb2.RequestReportsResponse(
        request_id=request_id,
        cluster_key=key,
        outcome=outcome,
        report_id=(progress.get(key) or "") if key else "",
        requested=len(progress),
        answered=sum(1 for answer in progress.values() if answer),
        done=done,
    )


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    def __init__(
        self,
        ingest: IngestServicer,
        store: RequestStore,
        authenticator: AdminAuthenticator,
        broadcast: Broadcast | None = None,
        *,
        settle_seconds: float = DEFAULT_SETTLE_SECONDS,
        poll_seconds: float = POLL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`broadcast`: how a request reaches every replica; None: this one only."""
        self._ingest = ingest
        self._store = store
        self._authenticator = authenticator
        self._local = LocalRequests(ingest, store)
        self._broadcast: Broadcast = broadcast or self._local.handle
        self._settle = settle_seconds
        self._poll = poll_seconds
        self._clock = clock

    async def ListConnected(
        self,
        request: admin_pb2.ListConnectedRequest,
        context: grpc.aio.ServicerContext[
            admin_pb2.ListConnectedRequest, admin_pb2.ListConnectedResponse
        ],
    ) -> admin_pb2.ListConnectedResponse:
        if await self._refused(context):
            return admin_pb2.ListConnectedResponse()
        return admin_pb2.ListConnectedResponse(cluster_keys=self._ingest.connected_clusters)

    async def RequestReports(
        self,
        request: admin_pb2.RequestReportsRequest,
        context: grpc.aio.ServicerContext[
            admin_pb2.RequestReportsRequest, admin_pb2.RequestReportsResponse
        ],
    ) -> AsyncIterator[admin_pb2.RequestReportsResponse]:
        if await self._refused(context):
            return
        problem = _invalid(request)
        if problem is not None:
            context.set_code(grpc.StatusCode.INVALID_ARGUMENT)
            context.set_details(problem)
            return
        wanted = sorted({cluster_key(cluster_id) for cluster_id in request.cluster_ids})
        timeout = request.timeout_seconds or DEFAULT_TIMEOUT_SECONDS
        request_id = str(uuid.uuid4())
        try:
            async for event in self._follow(request_id, wanted, timeout, request.reason):
                yield event
        except Exception as exc:  # the broker or the store: the caller may retry
            log.warning("report request failed", extra={"request_id": request_id, "why": str(exc)})
            context.set_code(grpc.StatusCode.UNAVAILABLE)
            context.set_details(f"report request {request_id} failed: {exc}")

    async def _follow(
        self, request_id: str, wanted: list[str], timeout: float, reason: str
    ) -> AsyncIterator[admin_pb2.RequestReportsResponse]:
        loop = asyncio.get_running_loop()
        started = self._clock()
        await loop.run_in_executor(
            None, self._broadcast, request_id, wanted, reason or "report request"
        )
        seen: dict[str, str | None] = {}
        while True:
            progress = await loop.run_in_executor(
                None, self._store.report_request_progress, request_id
            )
            for key in sorted(progress):
                if key not in seen:
                    seen[key] = None
                    yield _event(request_id, admin_pb2.REQUEST_OUTCOME_REQUESTED, seen, key)
                if progress[key] and not seen[key]:
                    seen[key] = progress[key]
                    yield _event(request_id, admin_pb2.REQUEST_OUTCOME_ANSWERED, seen, key)
            if self._finished(seen, wanted, self._clock() - started, timeout):
                break
            await asyncio.sleep(self._poll)
        for key in sorted(key for key, answer in seen.items() if not answer):
            yield _event(request_id, admin_pb2.REQUEST_OUTCOME_TIMED_OUT, seen, key)
        known = wanted or await loop.run_in_executor(None, self._store.cluster_keys)
        for key in sorted(set(known) - set(seen)):
            yield _event(request_id, admin_pb2.REQUEST_OUTCOME_NOT_CONNECTED, seen, key)
        yield _event(request_id, admin_pb2.REQUEST_OUTCOME_UNSPECIFIED, seen, done=True)

    def _finished(
        self, seen: dict[str, str | None], wanted: list[str], elapsed: float, timeout: float
    ) -> bool:
        if elapsed >= timeout:
            return True
        if not all(seen.values()):
            return False
        every_wanted_requested = bool(wanted) and set(wanted) <= set(seen)
        return every_wanted_requested or elapsed >= self._settle

    async def _refused(self, context: grpc.aio.ServicerContext[Any, Any]) -> bool:
        """Set the call's status and return True unless the caller is an admin."""
        try:
            who = await self._authenticator.identify(
                context.invocation_metadata() or (), context.auth_context()
            )
        except Unauthenticated as exc:
            code, why = grpc.StatusCode.UNAUTHENTICATED, str(exc)
        except PermissionDenied as exc:
            code, why = grpc.StatusCode.PERMISSION_DENIED, str(exc)
        except CredentialCheckFailed as exc:
            code, why = grpc.StatusCode.UNAVAILABLE, str(exc)
        else:
            log.info("admin call", extra={"admin": who, "peer": context.peer()})
            return False
        log.warning("admin call refused", extra={"code": code.name, "why": why})
        context.set_code(code)
        context.set_details(why)
        return True


def _invalid(request: admin_pb2.RequestReportsRequest) -> str | None:
    if not 0 <= request.timeout_seconds <= MAX_TIMEOUT_SECONDS:
        return f"timeout_seconds must be between 0 and {MAX_TIMEOUT_SECONDS:g}"
    bad = [cluster_id for cluster_id in request.cluster_ids if not is_aks_cluster_id(cluster_id)]
    if bad:
        return f"not an AKS cluster id: {bad[0][:300]!r}"
    return None
