"""The gRPC ingest server (grpc.aio): TLS on the ingest port, health on a plaintext port.

Kubelet's gRPC probes cannot speak TLS, so health checking gets its own plaintext
port (and /metrics its own HTTP port); the ingest port serves only the ingest
service, plus server reflection when asked for.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from netaudit.collector.certificates import ServerTls
from netaudit.collector.errors import ServiceUnavailable
from netaudit.collector.ingest.admin import AdminServicer
from netaudit.collector.ingest.malloc import keep_large_buffers_returnable
from netaudit.collector.ingest.servicer import IngestServicer
from netaudit.v1 import admin_pb2, admin_pb2_grpc, ingest_pb2, ingest_pb2_grpc

log = logging.getLogger(__name__)

SERVICE_NAME = ingest_pb2.DESCRIPTOR.services_by_name["IngestService"].full_name
ADMIN_SERVICE_NAME = admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name


@dataclass(frozen=True)
class ServerOptions:
    host: str
    port: int
    max_connection_age_seconds: float
    max_message_bytes: int = 4 * 1024 * 1024
    """gRPC's default receive limit: an agent's chunk is at most 3 MiB (agent.max_chunk_bytes).
    Each stream that is sending holds a few messages in transit outside the report byte
    budget (gRPC's buffer, its bytes, the decoded chunk), so this bounds that cost."""
    tls: ServerTls | None = None
    """None: plaintext (only for `--insecure`)."""
    health_host: str = "127.0.0.1"
    health_port: int = 0
    reflection: bool = False


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
        # Flow control: with BDP probing, gRPC grows each stream's receive window to
        # several MiB and buffers that much of every sending agent's data outside the
        # report byte budget (16 streams pushing partials: 310-370 MiB peak RSS against
        # 210-225 without). A fixed 64 KiB lookahead still opens the window to a whole
        # message whenever one is read, so a chunk arrives in one go.
        ("grpc.http2.bdp_probe", 0),
        ("grpc.http2.lookahead_bytes", 64 * 1024),
    ]


def server_credentials(tls: ServerTls) -> grpc.ServerCredentials:
    """TLS; with a client CA, mutual TLS: grpc then requires and verifies a client
    certificate (grpc's Python API has no "verify if presented")."""
    return grpc.ssl_server_credentials(
        [(tls.private_key, tls.certificate_chain)],
        root_certificates=tls.client_ca,
        require_client_auth=tls.client_ca is not None,
    )


def transport(tls: ServerTls | None) -> str:
    if tls is None:
        return "plaintext"
    return "mutual TLS" if tls.client_ca is not None else "TLS"


@dataclass
class RunningIngest:
    server: grpc.aio.Server
    port: int
    health: health.HealthServicer
    health_server: grpc.aio.Server
    health_port: int

    async def stop(self, grace_seconds: float = 5.0) -> None:
        self.health.enter_graceful_shutdown()
        await self.server.stop(grace_seconds)
        await self.health_server.stop(0)


def _bind(server: grpc.aio.Server, address: str, tls: ServerTls | None, setting: str) -> int:
    try:
        if tls is None:
            return server.add_insecure_port(address)
        return server.add_secure_port(address, server_credentials(tls))
    except RuntimeError as exc:
        raise ServiceUnavailable(
            f"cannot bind the gRPC server to {address}: {exc}; set {setting} to a free port"
        ) from exc


async def _start_health(
    options: ServerOptions,
) -> tuple[grpc.aio.Server, int, health.HealthServicer]:
    server = grpc.aio.server()
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    address = f"{options.health_host}:{options.health_port}"
    port = _bind(server, address, None, "ingest.health_port")
    await server.start()
    return server, port, servicer


async def start_ingest(
    servicer: IngestServicer, options: ServerOptions, admin: AdminServicer | None = None
) -> RunningIngest:
    """The ingest service, and with `admin` the AdminService on the same port and TLS."""
    keep_large_buffers_returnable()
    server = grpc.aio.server(options=grpc_options(options))
    ingest_pb2_grpc.add_IngestServiceServicer_to_server(servicer, server)
    services = [SERVICE_NAME]
    if admin is not None:
        admin_pb2_grpc.add_AdminServiceServicer_to_server(admin, server)
        services.append(ADMIN_SERVICE_NAME)
    if options.reflection:
        reflection.enable_server_reflection((*services, reflection.SERVICE_NAME), server)
    port = _bind(server, f"{options.host}:{options.port}", options.tls, "ingest.port")
    await server.start()
    try:
        health_server, health_port, health_servicer = await _start_health(options)
    except BaseException:
        await server.stop(0)
        raise
    for name in ("", *services):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info(
        "ingest listening",
        extra={
            "address": f"{options.host}:{port}",
            "transport": transport(options.tls),
            "health": f"{options.health_host}:{health_port}",
            "reflection": options.reflection,
        },
    )
    return RunningIngest(server, port, health_servicer, health_server, health_port)
