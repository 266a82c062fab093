"""The operator's side of the AdminService: `netaudit scan --fresh` asks for fresh reports.

Connects to a collector's ingest port with the admin credential of the `admin:` settings
(a token file, a client certificate, or plaintext for `serve --insecure`), follows the
request's events and returns which clusters answered, timed out, or were not connected.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from netaudit.collector.config import AdminSettings
from netaudit.collector.errors import ConfigError, ServiceUnavailable
from netaudit.v1 import admin_pb2, admin_pb2_grpc

CALL_MARGIN_SECONDS = 30.0
"""The call's deadline exceeds the request's timeout by this: the collector ends it."""


@dataclass
class FreshReports:
    """What became of one report request, cluster keys sorted."""

    request_id: str = ""
    answered: dict[str, str] = field(default_factory=dict)
    """cluster key -> the answering report's id"""
    timed_out: list[str] = field(default_factory=list)
    not_connected: list[str] = field(default_factory=list)


def admin_address(settings: AdminSettings, endpoints_file: Path) -> str:
    """admin.address, else the gRPC address a local `netaudit serve` wrote."""
    if settings.address:
        return settings.address
    try:
        return str(json.loads(endpoints_file.read_text())["grpc"])
    except (OSError, ValueError, KeyError) as exc:
        raise ServiceUnavailable(
            f"no local `netaudit serve` runs (no address in {endpoints_file}): start it, or "
            "set admin.address (NETAUDIT_ADMIN__ADDRESS) to a collector's HOST:PORT"
        ) from exc


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from exc


def _channel(settings: AdminSettings, address: str) -> grpc.Channel:
    if settings.insecure:
        return grpc.insecure_channel(address)
    root = _read(settings.tls_root_cert, "admin.tls_root_cert") if settings.tls_root_cert else None
    client_cert = client_key = None
    if settings.tls_client_cert is not None and settings.tls_client_key is not None:
        client_cert = _read(settings.tls_client_cert, "admin.tls_client_cert")
        client_key = _read(settings.tls_client_key, "admin.tls_client_key")
    credentials = grpc.ssl_channel_credentials(root, client_key, client_cert)
    options = []
    if settings.tls_server_name:
        options.append(("grpc.ssl_target_name_override", settings.tls_server_name))
    return grpc.secure_channel(address, credentials, options=options)


def _metadata(settings: AdminSettings) -> tuple[tuple[str, str | bytes], ...]:
    if settings.token_file is None:
        return ()
    token = _read(settings.token_file, "admin.token_file").decode(errors="replace").strip()
    if not token:
        raise ConfigError(f"admin.token_file {settings.token_file} is empty")
    return (("authorization", f"Bearer {token}"),)


def request_fresh_reports(
    settings: AdminSettings,
    address: str,
    cluster_ids: Sequence[str],
    timeout_seconds: float,
    on_event: Callable[[admin_pb2.RequestReportsResponse], None],
) -> FreshReports:
    """Ask the collector at `address` for fresh reports and follow them to the end."""
    request = admin_pb2.RequestReportsRequest(
        cluster_ids=list(cluster_ids),
        timeout_seconds=timeout_seconds,
        reason="netaudit scan --fresh",
    )
    outcome = FreshReports()
    metadata = _metadata(settings)
    with _channel(settings, address) as channel:
        stub = admin_pb2_grpc.AdminServiceStub(channel)
        try:
            for event in stub.RequestReports(
                request, metadata=metadata, timeout=timeout_seconds + CALL_MARGIN_SECONDS
            ):
                _record(outcome, event)
                on_event(event)
        except grpc.RpcError as error:
            raise _error(error, address) from None
    return outcome


def _record(outcome: FreshReports, event: admin_pb2.RequestReportsResponse) -> None:
    outcome.request_id = event.request_id
    if event.outcome == admin_pb2.REQUEST_OUTCOME_ANSWERED:
        outcome.answered[event.cluster_key] = event.report_id
    elif event.outcome == admin_pb2.REQUEST_OUTCOME_TIMED_OUT:
        outcome.timed_out.append(event.cluster_key)
    elif event.outcome == admin_pb2.REQUEST_OUTCOME_NOT_CONNECTED:
        outcome.not_connected.append(event.cluster_key)


def _error(error: grpc.RpcError, address: str) -> Exception:
    code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = (error.details() if isinstance(error, grpc.Call) else None) or str(error)
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        return ConfigError(
            f"the collector at {address} refused the admin call ({code.name}): {details}; "
            "set admin.token_file or admin.tls_client_cert to an admin credential"
        )
    if code is grpc.StatusCode.INVALID_ARGUMENT:
        return ConfigError(f"the collector at {address} refused the request: {details}")
    return ServiceUnavailable(
        f"the collector's admin service at {address} is unavailable ({code.name}): {details}"
    )
