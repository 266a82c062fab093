"""`netaudit serve`: the embedded broker (when no URL is set), gRPC ingest and /metrics.

Ingest serves TLS, and agents authenticate with a client certificate or a bearer
token; plaintext without credentials only with `ingest.insecure` (`--insecure`). The
AdminService (report requests, admin credentials only) shares the ingest port; report
requests reach the other replicas through the broker (request_fanout.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server

from netaudit.collector.broker import EmbeddedRedis
from netaudit.collector.broker_supervisor import BrokerSupervisor, ExternalBrokerWatch
from netaudit.collector.certificates import ServerTls, load_server_tls
from netaudit.collector.config import IngestSettings, Settings
from netaudit.collector.errors import ConfigError, ServiceUnavailable
from netaudit.collector.exporter import StoreCollector
from netaudit.collector.ingest.admin import AdminServicer, LocalRequests
from netaudit.collector.ingest.admin_auth import AdminAuthenticator
from netaudit.collector.ingest.auth import Authenticator
from netaudit.collector.ingest.server import ServerOptions, start_ingest
from netaudit.collector.ingest.servicer import IngestLimits, IngestServicer
from netaudit.collector.metrics.queue_depth import QueueDepthCollector
from netaudit.collector.redaction import mask_url
from netaudit.collector.request_fanout import RequestFanout
from netaudit.collector.scan_recovery import ScanRecovery
from netaudit.collector.store import InvalidReport, Store, upgrade

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoints:
    """Where a running collector listens; written to state_dir/endpoints.json and logged,
    so the broker URL is kept with its password masked."""

    grpc: str
    metrics_url: str
    broker_url: str
    pid: int
    health: str = ""

    def write(self, path: Path) -> None:
        """Write atomically, readable by its owner only (0600)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.unlink(missing_ok=True)
        descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(json.dumps(self.__dict__, indent=2))
        tmp.replace(path)

    @classmethod
    def read(cls, path: Path) -> Endpoints:
        data: dict[str, Any] = json.loads(path.read_text())
        return cls(**data)


def _start_metrics(settings: Settings, registry: CollectorRegistry) -> tuple[Any, str]:
    try:
        server, _thread = start_http_server(
            settings.metrics.port, addr=settings.metrics.host, registry=registry
        )
    except OSError as exc:
        raise ServiceUnavailable(
            f"cannot bind /metrics to {settings.metrics.host}:{settings.metrics.port}: {exc}; "
            "set metrics.port to a free port"
        ) from exc
    return server, f"http://{settings.metrics.host}:{server.server_port}/metrics"


def ingest_tls(ingest: IngestSettings) -> ServerTls | None:
    """The ingest port's TLS files, checked; None (and a warning) only when insecure."""
    if ingest.insecure:
        log.warning(
            "ingest runs insecure: plaintext and no credentials, so anyone who reaches its "
            "port can write reports for any cluster; for loopback tests only",
            extra={"host": ingest.host},
        )
        return None
    if ingest.tls_cert_file is None or ingest.tls_key_file is None:
        raise ConfigError(
            "ingest needs TLS: set ingest.tls_cert_file and ingest.tls_key_file "
            "(`netaudit certs init` makes them), or run `netaudit serve --insecure` for "
            "plaintext without credentials (loopback tests only)"
        )
    return load_server_tls(ingest.tls_cert_file, ingest.tls_key_file, ingest.tls_client_ca_file)


def ingest_options(ingest: IngestSettings, tls: ServerTls | None) -> ServerOptions:
    return ServerOptions(
        ingest.host,
        ingest.port,
        ingest.max_connection_age_seconds,
        tls=tls,
        health_host=ingest.health_host,
        health_port=ingest.health_port,
        reflection=ingest.reflection,
    )


def _start_watchers(
    settings: Settings, store: Store, broker: EmbeddedRedis | None, stop: asyncio.Event
) -> list[asyncio.Task[None]]:
    """The scan deadline sweep, and the broker's supervisor (embedded) or watch (external)."""
    recovery = ScanRecovery(settings, store)
    watchers = [asyncio.create_task(recovery.sweep_until(stop), name="scan-deadlines")]
    interval = settings.broker.supervise_interval_seconds
    if broker is not None:
        supervisor = BrokerSupervisor(broker, interval, recovery.after_broker_restart)
        watchers.append(asyncio.create_task(supervisor.run(stop), name="broker-supervisor"))
    else:
        watch = ExternalBrokerWatch(settings, interval, recovery.after_broker_restart)
        watchers.append(asyncio.create_task(watch.run(stop), name="broker-watch"))
    return watchers


async def _stop_watchers(watchers: list[asyncio.Task[None]]) -> None:
    # They stop on their own once `stop` is set; a check under way is waited for, so the
    # broker is not restarted behind the shutdown's back.
    for watcher, outcome in zip(
        watchers, await asyncio.gather(*watchers, return_exceptions=True), strict=True
    ):
        if isinstance(outcome, Exception):
            log.error("%s stopped on an error: %r", watcher.get_name(), outcome)


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """Run until `stop` is set; stop everything this call started."""
    tls = ingest_tls(settings.ingest)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    broker: EmbeddedRedis | None = None
    broker_url = settings.broker.url
    if not broker_url:
        broker = EmbeddedRedis(settings.broker_dir)
        broker_url = broker.start()
    store = None
    metrics_server = None
    ingest = None
    fanout = None
    try:
        upgrade(settings.store_url)
        store = Store(settings.store_url, report_retention=settings.store.report_retention)
        registry = CollectorRegistry()
        registry.register(StoreCollector(store))
        registry.register(QueueDepthCollector(broker_url, settings.broker.queue))
        servicer = IngestServicer(
            store,
            IngestLimits(
                settings.ingest.max_report_bytes,
                settings.ingest.reassembly_timeout_seconds,
                settings.ingest.max_assembly_bytes,
            ),
            registry=registry,
            rejected_errors=(InvalidReport,),
            authenticator=Authenticator.insecure() if tls is None else Authenticator(store),
        )
        fanout = RequestFanout(
            broker_url, settings.broker.queue, LocalRequests(servicer, store).handle
        )
        await asyncio.to_thread(fanout.start)  # waits until its queue is bound
        admin = AdminServicer(
            servicer,
            store,
            AdminAuthenticator(None, insecure=True) if tls is None else AdminAuthenticator(store),
            fanout.publish,
        )
        metrics_server, metrics_url = _start_metrics(settings, registry)
        ingest = await start_ingest(servicer, ingest_options(settings.ingest, tls), admin)
        endpoints = Endpoints(
            grpc=f"{settings.ingest.host}:{ingest.port}",
            metrics_url=metrics_url,
            broker_url=mask_url(broker_url),
            pid=os.getpid(),
            health=f"{settings.ingest.health_host}:{ingest.health_port}",
        )
        endpoints.write(settings.endpoints_file)
        log.info("collector serving", extra=endpoints.__dict__)
        watchers = _start_watchers(settings, store, broker, stop)
        try:
            await stop.wait()
        finally:
            await _stop_watchers(watchers)
    finally:
        if ingest is not None:
            await ingest.stop()
        if fanout is not None:
            await asyncio.to_thread(fanout.stop)
        if metrics_server is not None:
            metrics_server.shutdown()
        if store is not None:
            store.close()
        if broker is not None:
            broker.stop()
        settings.endpoints_file.unlink(missing_ok=True)
