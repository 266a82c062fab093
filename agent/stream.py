"""The gRPC stream to the collector (the agent's only importer of ``grpc``).

One bidirectional ``IngestService.Stream`` per connection: the agent sends an
``AgentHello`` (with the contract version it speaks), then the chunks of every
spooled report (oldest first, a few reports in flight at a time); the collector
answers each report with a ``ReportAck`` once committed and may send a
``ReportRequest``. A report leaves the spool only when acked COMMITTED or
DUPLICATE (or REJECTED, which a resend cannot fix). A broken stream is reopened
with exponential backoff and jitter; unacked reports are simply sent again (the
collector deduplicates by id).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import grpc

from netaudit.agent.config import CollectorSettings
from netaudit.agent.errors import CollectorUnreachable, ConfigError
from netaudit.agent.ledger import ACKED, SENT, Ledger
from netaudit.agent.report import chunk_bytes
from netaudit.agent.spool import Spool, SpooledReport
from netaudit.contract import CONTRACT_VERSION
from netaudit.v1 import ingest_pb2, ingest_pb2_grpc

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 4
"""Reports sent but not yet acked on one stream: bounds memory and resend work."""
WATCHDOG_PERIOD_SECONDS = 0.5
REMOVING_STATUSES = {
    ingest_pb2.ACK_STATUS_COMMITTED: "committed",
    ingest_pb2.ACK_STATUS_DUPLICATE: "duplicate",
}

_STATUS_NAMES = {**REMOVING_STATUSES, ingest_pb2.ACK_STATUS_REJECTED: "rejected"}

ReportRequestHandler = Callable[[ingest_pb2.ReportRequest], None]


class StreamEvents(Protocol):
    """Who hears what happens on the stream (the agent's health)."""

    def report_acked(self, report_id: str) -> None:
        """The collector committed the report, or already had it."""

    def reconnecting(self) -> None:
        """The stream failed; the agent will connect again after a delay."""


class _Unheard:
    def report_acked(self, report_id: str) -> None:
        pass

    def reconnecting(self) -> None:
        pass


@dataclass(frozen=True)
class Backoff:
    """Reconnect delays: ``initial`` growing by ``multiplier`` up to ``maximum``, jittered."""

    initial: float
    maximum: float
    multiplier: float
    jitter: float = 0.2
    rng: random.Random = field(default_factory=random.Random, compare=False)

    @classmethod
    def from_settings(cls, settings: CollectorSettings) -> Backoff:
        return cls(
            settings.backoff_initial_seconds,
            settings.backoff_max_seconds,
            settings.backoff_multiplier,
        )

    def delays(self) -> Iterator[float]:
        """Each delay is the nominal one minus up to ``jitter`` of it, so agents spread out."""
        nominal = self.initial
        while True:
            yield nominal * (1.0 - self.jitter * self.rng.random())
            nominal = min(self.maximum, nominal * self.multiplier)


def channel_options(settings: CollectorSettings) -> list[tuple[str, int | str]]:
    options: list[tuple[str, int | str]] = [
        ("grpc.keepalive_time_ms", int(settings.keepalive_time_seconds * 1000)),
        ("grpc.keepalive_timeout_ms", int(settings.keepalive_timeout_seconds * 1000)),
        # Keep pinging while the stream idles between reports: idle flows get dropped.
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.keepalive_permit_without_calls", 0),
    ]
    if settings.tls_server_name:
        options.append(("grpc.ssl_target_name_override", settings.tls_server_name))
    return options


def open_channel(settings: CollectorSettings) -> grpc.Channel:
    """A plaintext channel, or TLS verified against ``tls_root_cert`` (the system's CAs when
    only a client certificate is set), with the client certificate for mutual TLS.
    The files are read at every connect, so rotated ones are used."""
    options = channel_options(settings)
    if not settings.uses_tls:
        return grpc.insecure_channel(settings.address, options=options)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_read_pem(settings.tls_root_cert, "collector CA"),
        private_key=_read_pem(settings.tls_client_key, "client key"),
        certificate_chain=_read_pem(settings.tls_client_cert, "client certificate"),
    )
    return grpc.secure_channel(settings.address, credentials, options=options)


def _read_pem(path: Path | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except OSError as error:
        raise ConfigError(f"cannot read {what} {path}: {error}") from error


def call_metadata(settings: CollectorSettings) -> tuple[tuple[str, str], ...]:
    """The bearer token, re-read at every connect so a rotated token is used."""
    if settings.token_file is None:
        return ()
    try:
        token = settings.token_file.read_text().strip()
    except OSError as error:
        raise ConfigError(f"cannot read collector token {settings.token_file}: {error}") from error
    return (("authorization", f"Bearer {token}"),)


def code_name(code: int) -> str:
    """The name of a gRPC status code number, as a REJECTED ack carries it."""
    return next((c.name for c in grpc.StatusCode if c.value[0] == code), f"code {code}")


def _code(error: grpc.RpcError) -> grpc.StatusCode | None:
    return error.code() if isinstance(error, grpc.Call) else None


class _Session:
    """One open stream: feeds spooled reports, applies acks, watches for stalls."""

    def __init__(
        self,
        client: CollectorClient,
        call_factory: Callable[
            [Iterator[ingest_pb2.StreamRequest]], Iterator[ingest_pb2.StreamResponse]
        ],
        stop: threading.Event,
    ) -> None:
        self._client = client
        self._spool = client.spool
        self._stop = stop
        self._changed = threading.Condition()
        self._in_flight: dict[str, float] = {}
        self._attempted: set[str] = set()
        self._closing = False
        self._closed = threading.Event()
        self._stalled = False
        self.acks = 0
        self.outcomes: dict[str, ingest_pb2.ReportAck] = {}
        self._call = call_factory(self._requests())

    # requests side (runs on a gRPC thread)

    def _requests(self) -> Iterator[ingest_pb2.StreamRequest]:
        yield ingest_pb2.StreamRequest(hello=self._client.versioned_hello())
        while True:
            entry = self._next_report()
            if entry is None:
                return
            try:
                data = entry.read()
            except OSError:
                # Dropped by the spool cap (or acked) since it was listed.
                with self._changed:
                    self._in_flight.pop(entry.report_id, None)
                continue
            chunks = chunk_bytes(
                data,
                entry.report_id,
                entry.agent_epoch,
                entry.sequence,
                self._client.max_chunk_bytes,
            )
            log.debug("sending report %s in %d chunks", entry.report_id, len(chunks))
            self._client.ledger.record(SENT, entry.report_id, entry.agent_epoch, entry.sequence)
            for chunk in chunks:
                yield ingest_pb2.StreamRequest(chunk=chunk)

    def _next_report(self) -> SpooledReport | None:
        with self._changed:
            while not self._closing:
                if len(self._in_flight) < MAX_IN_FLIGHT:
                    for entry in self._spool.pending():
                        if entry.report_id not in self._attempted:
                            self._attempted.add(entry.report_id)
                            self._in_flight[entry.report_id] = time.monotonic()
                            return entry
                # Woken by an ack, a new report, or close; the timeout re-reads the spool.
                self._changed.wait(timeout=1.0)
        return None

    def wake(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._closed.set()
        self._call_cancel()

    def _call_cancel(self) -> None:
        cancel = getattr(self._call, "cancel", None)
        if cancel is not None:
            cancel()

    # responses side (runs on the caller's thread)

    def run(self, until: str | None) -> None:
        """Apply responses until ``until`` is acked (once mode) or the stream ends."""
        watchdog = threading.Thread(
            target=self._watch, name="netaudit-stream-watchdog", daemon=True
        )
        watchdog.start()
        try:
            for response in self._call:
                if response.HasField("ack"):
                    self._on_ack(response.ack)
                    if until is not None and response.ack.report_id == until:
                        return
                elif response.HasField("report_request"):
                    self._client.on_report_request(response.report_request)
            if until is not None or not self._closing:
                raise CollectorUnreachable(
                    f"collector {self._client.address} closed the stream"
                    + (f" before acknowledging report {until}" if until else "")
                )
        except grpc.RpcError as error:
            if self._closing and self._stop.is_set():
                return
            if self._stalled:
                raise CollectorUnreachable(
                    f"collector {self._client.address}: no ack within "
                    f"{self._client.ack_timeout_seconds:g}s"
                ) from error
            if until is None and _code(error) == grpc.StatusCode.DEADLINE_EXCEEDED:
                log.info("collector stream reached its maximum age; reopening")
                return
            raise CollectorUnreachable(self._client.describe_failure(error)) from error
        finally:
            self.close()
            watchdog.join()

    def _on_ack(self, ack: ingest_pb2.ReportAck) -> None:
        self.acks += 1
        self._client.ledger.record(
            ACKED, ack.report_id, ack.agent_epoch, ack.sequence, _STATUS_NAMES.get(ack.status, "")
        )
        self.outcomes[ack.report_id] = ack
        if ack.status in REMOVING_STATUSES:
            self._spool.remove(ack.report_id)
            log.info("report %s acked: %s", ack.report_id, REMOVING_STATUSES[ack.status])
            self._client.events.report_acked(ack.report_id)
        elif ack.status == ingest_pb2.ACK_STATUS_REJECTED:
            self._spool.remove(ack.report_id)
            log.error(
                "report %s rejected by the collector (%s), dropped: %s",
                ack.report_id,
                code_name(ack.code),
                ack.message,
            )
        else:
            log.warning("report %s: ack without a status, will resend", ack.report_id)
            with self._changed:
                self._attempted.discard(ack.report_id)
        with self._changed:
            self._in_flight.pop(ack.report_id, None)
            self._changed.notify_all()

    def _watch(self) -> None:
        timeout = self._client.ack_timeout_seconds
        while True:
            with self._changed:
                if self._closing:
                    return
                oldest = min(self._in_flight.values(), default=None)
            if self._stop.is_set():
                log.info("stopping: closing the collector stream")
                self.close()
                return
            if oldest is not None and time.monotonic() - oldest > timeout:
                log.warning("no ack within %gs: reopening the collector stream", timeout)
                self._stalled = True
                self._call_cancel()
                return
            self._closed.wait(WATCHDOG_PERIOD_SECONDS)


class CollectorClient:
    """Sends spooled reports to the collector: once (``--once``) or forever (``run``)."""

    def __init__(
        self,
        settings: CollectorSettings,
        spool: Spool,
        hello: ingest_pb2.AgentHello,
        *,
        on_report_request: ReportRequestHandler | None = None,
        backoff: Backoff | None = None,
        events: StreamEvents | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        self.settings = settings
        self.address = settings.address
        self.spool = spool
        self.hello = hello
        self.max_chunk_bytes = settings.max_chunk_bytes
        self.ack_timeout_seconds = settings.ack_timeout_seconds
        self.backoff = backoff or Backoff.from_settings(settings)
        self._on_report_request = on_report_request
        self.events: StreamEvents = events or _Unheard()
        self.ledger = ledger or Ledger(None)
        self._session: _Session | None = None
        self._last_session: _Session | None = None
        self._lock = threading.Lock()

    def versioned_hello(self) -> ingest_pb2.AgentHello:
        """The hello as sent: the caller's (which it may update between connections)
        stamped with the contract version this agent speaks."""
        hello = ingest_pb2.AgentHello()
        hello.CopyFrom(self.hello)
        hello.contract_version = CONTRACT_VERSION
        return hello

    def on_report_request(self, request: ingest_pb2.ReportRequest) -> None:
        log.info("collector asks for a fresh report (%s)", request.reason or request.request_id)
        if self._on_report_request is not None:
            self._on_report_request(request)

    def notify(self) -> None:
        """A report was spooled: let the open stream pick it up now."""
        with self._lock:
            session = self._session
        if session is not None:
            session.wake()

    def describe_failure(self, error: grpc.RpcError) -> str:
        code = _code(error)
        details = error.details() if isinstance(error, grpc.Call) else str(error)
        name = code.name if code is not None else "UNKNOWN"
        return f"collector {self.address}: stream failed: {name}: {details}"

    def send_until_acked(self, report_id: str) -> ingest_pb2.ReportAck:
        """Open one stream, send the spool, return ``report_id``'s ack once it arrives.

        Raises ``CollectorUnreachable`` (one line naming the address) when the
        collector cannot be reached or the stream ends first; the report then
        stays in the spool.
        """
        session = self._run_session(until=report_id, stop=threading.Event())
        return session.outcomes[report_id]

    def run_forever(self, stop: threading.Event) -> None:
        """Keep a stream open until ``stop``; reconnect with backoff after failures."""
        delays = self.backoff.delays()
        while not stop.is_set():
            try:
                self._run_session(until=None, stop=stop)
                # Ended by its deadline (or stop): reopen at once, the next failure starts afresh.
                delays = self.backoff.delays()
                continue
            except CollectorUnreachable as error:
                log.warning("%s", error)
                if self._last_session is not None and self._last_session.acks:
                    # It worked for a while: this is a fresh outage, start from the short delay.
                    delays = self.backoff.delays()
            except ConfigError as error:
                log.error("%s", error)
            if stop.is_set():
                return
            self.events.reconnecting()
            delay = next(delays)
            log.info("reconnecting to collector %s in %.1fs", self.address, delay)
            stop.wait(delay)

    def _run_session(self, until: str | None, stop: threading.Event) -> _Session:
        self._last_session = None
        metadata = call_metadata(self.settings)
        channel = open_channel(self.settings)
        try:
            try:
                grpc.channel_ready_future(channel).result(
                    timeout=self.settings.connect_timeout_seconds
                )
            except grpc.FutureTimeoutError as error:
                raise CollectorUnreachable(
                    f"collector {self.address} unreachable "
                    f"(no connection within {self.settings.connect_timeout_seconds:g}s)"
                ) from error
            stub = ingest_pb2_grpc.IngestServiceStub(channel)
            session = _Session(
                self,
                lambda requests: stub.Stream(
                    requests,
                    timeout=self.settings.stream_max_age_seconds,
                    metadata=metadata,
                ),
                stop,
            )
            log.info("connected to collector %s", self.address)
            with self._lock:
                self._session = self._last_session = session
            try:
                session.run(until)
            finally:
                with self._lock:
                    self._session = None
            return session
        finally:
            channel.close()
