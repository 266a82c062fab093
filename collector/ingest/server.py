"""The gRPC ingest server (grpc.aio) with health checking and reflection."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from netaudit.collector.errors import ServiceUnavailable
from netaudit.collector.ingest.servicer import IngestServicer
from netaudit.v1 import ingest_pb2, ingest_pb2_grpc

log = logging.getLogger(__name__)

SERVICE_NAME = ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name


@dataclass(frozen=True)
class ServerOptions:
    host: str
    port: int
    max_connection_age_seconds: float
    max_message_bytes: int = 8 * 1024 * 1024


def grpc_options(options: ServerOptions) -> list[tuple[str, int]]:
    # Agents ping every 60 s (Azure load balancers drop idle flows after 4 min);
    # the server must permit that or it answers GOAWAY too_many_pings.
    return [
        ("grpc.max_receive_message_length", options.max_message_bytes),
        ("grpc.keepalive_time_ms", 120_000),
        ("grpc.keepalive_timeout_ms", 20_000),
        ("grpc.http2.min_ping_interval_without_data_ms", 30_000),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.max_connection_age_ms", int(options.max_connection_age_seconds * 1000)),
        ("grpc.max_connection_age_grace_ms", 30_000),
    ]


@dataclass
class RunningIngest:
    server: grpc.aio.Server
    port: int
    health: health.HealthServicer

    async def stop(self, grace_seconds: float = 5.0) -> None:
        self.health.enter_graceful_shutdown()
        await self.server.stop(grace_seconds)


async def start_ingest(servicer: IngestServicer, options: ServerOptions) -> RunningIngest:
    server = grpc.aio.server(options=grpc_options(options))
    ingest_pb2_grpc.add_IngestServiceServicer_to_server(servicer, server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    address = f"{options.host}:{options.port}"
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as exc:
        raise ServiceUnavailable(
            f"cannot bind the gRPC ingest server to {address}: {exc}; "
            "set ingest.port to a free port"
        ) from exc
    await server.start()
    for name in ("", SERVICE_NAME):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info("ingest listening", extra={"address": f"{options.host}:{port}"})
    return RunningIngest(server, port, health_servicer)
