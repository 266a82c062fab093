"""The agent's loop: gather -> spool -> send, once or every interval."""

from __future__ import annotations

import contextvars
import logging
import os
import socket
import threading
import time
from contextlib import ExitStack

from netaudit.agent.config import AgentSettings, require_for_run
from netaudit.agent.errors import CollectorUnreachable
from netaudit.agent.gatherers import GATHERERS
from netaudit.agent.gatherers.gatherer import KubeReader
from netaudit.agent.health import AgentHealth, metrics_registry
from netaudit.agent.health_server import HealthServer
from netaudit.agent.kube import Kube
from netaudit.agent.ledger import DROPPED, PRODUCED, Ledger
from netaudit.agent.logs import log_context
from netaudit.agent.report import ReportSequence, build_report, cluster_identity
from netaudit.agent.spool import Spool, SpooledReport
from netaudit.agent.stream import CollectorClient
from netaudit.v1 import ingest_pb2, report_pb2

log = logging.getLogger(__name__)

MAX_PENDING_REQUESTS = 64
"""Report requests one report answers at most (the collector refuses more)."""


def agent_id() -> str:
    """The Pod name in a cluster (downward API ``POD_NAME``, else the hostname)."""
    return os.environ.get("POD_NAME") or socket.gethostname()


def connect_kube(settings: AgentSettings) -> Kube:
    return Kube.connect(
        settings.kube.kubeconfig,
        settings.kube.context,
        page_size=settings.kube.page_size,
        request_timeout_seconds=settings.kube.request_timeout_seconds,
        connect_timeout_seconds=settings.kube.connect_timeout_seconds,
        retries=settings.kube.retries,
    )


class Runner:
    """Builds reports into the spool and hands them to the collector client."""

    def __init__(self, settings: AgentSettings, kube: KubeReader) -> None:
        require_for_run(settings)
        self.settings = settings
        self.kube = kube
        self.ledger = Ledger(settings.spool.ledger)
        self.spool = Spool(settings.spool.dir, settings.spool.max_bytes, on_drop=self._dropped)
        self.identity = cluster_identity(settings.cluster)
        self.sequence = ReportSequence()
        self.hello = ingest_pb2.AgentHello(
            agent_id=agent_id(), cluster=self.identity, agent_epoch=self.sequence.epoch
        )
        self.health = AgentHealth(
            settings.gather.interval_seconds,
            settings.health.unhealthy_after_intervals,
            sources=("identity", *(gatherer.name for gatherer in GATHERERS)),
        )
        self.wake = threading.Event()
        self._requests_lock = threading.Lock()
        self._pending_requests: list[str] = []
        self.client = CollectorClient(
            settings.collector,
            self.spool,
            self.hello,
            on_report_request=self._on_report_request,
            events=self.health,
            ledger=self.ledger,
        )

    def _dropped(self, entry: SpooledReport) -> None:
        self.ledger.record(DROPPED, entry.report_id, entry.agent_epoch, entry.sequence)

    def _on_report_request(self, request: ingest_pb2.ReportRequest) -> None:
        """Called on the stream's thread: the next gather answers it, and starts now."""
        with self._requests_lock:
            if request.request_id and len(self._pending_requests) < MAX_PENDING_REQUESTS:
                self._pending_requests.append(request.request_id)
        self.wake.set()

    def _take_requests(self) -> list[str]:
        with self._requests_lock:
            taken, self._pending_requests = self._pending_requests, []
        return taken

    def gather(self) -> report_pb2.Report:
        """Build one report and spool it (then the stream may send it)."""
        started = time.perf_counter()
        # Taken before gathering: a request arriving meanwhile wakes the next gather,
        # whose report reflects the cluster after the request.
        answers = self._take_requests()
        try:
            report = build_report(self.kube, self.identity, self.settings, sequence=self.sequence)
            report.answers_request_ids.extend(answers)
            data = report.SerializeToString()
            self.spool.put_bytes(data, report.report_id, report.agent_epoch, report.sequence)
            self.ledger.record(PRODUCED, report.report_id, report.agent_epoch, report.sequence)
        except Exception:
            with self._requests_lock:  # the next report answers them
                pending = answers + self._pending_requests
                self._pending_requests = pending[:MAX_PENDING_REQUESTS]
            self.health.gather_failed()
            raise
        self.health.report_gathered(report, len(data), time.perf_counter() - started)
        # The hello of the next connection carries what the report learnt (server version).
        self.hello.cluster.CopyFrom(report.cluster)
        self.client.notify()
        return report

    def serve_health(self) -> HealthServer | None:
        """Start /healthz and /metrics unless their port is 0."""
        if not self.settings.health.port:
            return None
        registry = metrics_registry(self.health, self.spool)
        return HealthServer(self.settings.health, self.health, registry)

    def run_once(self) -> report_pb2.Report:
        """One report, sent with whatever else is spooled; returns once it is acked."""
        report = self.gather()
        with log_context(report_id=report.report_id):
            ack = self.client.send_until_acked(report.report_id)
        if ack.status == ingest_pb2.ACK_STATUS_REJECTED:
            raise CollectorUnreachable(
                f"collector {self.settings.collector.address} rejected report "
                f"{report.report_id}: {ack.message or 'no reason given'}"
            )
        return report

    def _wake_on(self, stop: threading.Event) -> None:
        stop.wait()
        self.wake.set()

    def run_forever(self, stop: threading.Event) -> None:
        """Report every interval (or when the collector asks) until ``stop`` is set."""
        # The stream thread logs with this thread's context (cluster).
        context = contextvars.copy_context()
        sender = threading.Thread(
            target=context.run,
            args=(self.client.run_forever, stop),
            name="netaudit-stream",
            daemon=True,
        )
        sender.start()
        # Stop must also end the wait between reports.
        threading.Thread(target=self._wake_on, args=(stop,), daemon=True).start()
        interval = self.settings.gather.interval_seconds
        try:
            while not stop.is_set():
                try:
                    self.gather()
                except Exception:
                    # A failed report (spool full disk, bug) must not stop the agent.
                    log.exception("report failed; next attempt in %.0fs", interval)
                self.wake.wait(interval)
                self.wake.clear()
        finally:
            stop.set()
            self.wake.set()
            sender.join()


def run(settings: AgentSettings, *, once: bool, stop: threading.Event | None = None) -> None:
    """``netaudit-agent run``: connect, then report once or until ``stop``."""
    require_for_run(settings)
    with log_context(cluster=settings.cluster.display_name()), connect_kube(settings) as kube:
        runner = Runner(settings, kube)
        if once:
            runner.run_once()
            return
        with ExitStack() as serving:
            health_server = runner.serve_health()
            if health_server is not None:
                serving.enter_context(health_server)
            runner.run_forever(stop or threading.Event())
