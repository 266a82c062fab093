"""`netaudit serve`: the embedded broker (when no URL is set), gRPC ingest and /metrics."""

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
from netaudit.collector.config import Settings
from netaudit.collector.errors import ServiceUnavailable
from netaudit.collector.exporter import StoreCollector
from netaudit.collector.ingest.server import ServerOptions, start_ingest
from netaudit.collector.ingest.servicer import IngestLimits, IngestServicer
from netaudit.collector.store import InvalidReport, Store, upgrade

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoints:
    """Where a running collector listens; written to state_dir/endpoints.json."""

    grpc: str
    metrics_url: str
    broker_url: str
    pid: int

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.__dict__, indent=2))
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


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    """Run until `stop` is set; stop everything this call started."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    broker: EmbeddedRedis | None = None
    broker_url = settings.broker.url
    if not broker_url:
        broker = EmbeddedRedis(settings.broker_dir)
        broker_url = broker.start()
    store = None
    metrics_server = None
    ingest = None
    try:
        upgrade(settings.store_url)
        store = Store(settings.store_url)
        registry = CollectorRegistry()
        registry.register(StoreCollector(store))
        servicer = IngestServicer(
            store,
            IngestLimits(
                settings.ingest.max_report_bytes, settings.ingest.reassembly_timeout_seconds
            ),
            registry=registry,
            rejected_errors=(InvalidReport,),
        )
        metrics_server, metrics_url = _start_metrics(settings, registry)
        ingest = await start_ingest(
            servicer,
            ServerOptions(
                settings.ingest.host,
                settings.ingest.port,
                settings.ingest.max_connection_age_seconds,
            ),
        )
        endpoints = Endpoints(
            grpc=f"{settings.ingest.host}:{ingest.port}",
            metrics_url=metrics_url,
            broker_url=broker_url,
            pid=os.getpid(),
        )
        endpoints.write(settings.endpoints_file)
        log.info("collector serving", extra=endpoints.__dict__)
        await stop.wait()
    finally:
        if ingest is not None:
            await ingest.stop()
        if metrics_server is not None:
            metrics_server.shutdown()
        if store is not None:
            store.close()
        if broker is not None:
            broker.stop()
        settings.endpoints_file.unlink(missing_ok=True)
