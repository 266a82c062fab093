"""Serving ``/healthz`` and ``/metrics`` over HTTP on a thread of their own.

``/metrics`` is prometheus_client's WSGI app over the agent's registry;
``/healthz`` answers 200 or 503 with the verdict's one-line reason.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from types import TracebackType
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from netaudit.agent.config import HealthSettings
from netaudit.agent.errors import ConfigError
from netaudit.agent.health import AgentHealth

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
Environ = dict[str, Any]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    # A slow scraper must not hold up the kubelet's probe.
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


def health_app(
    health: AgentHealth, registry: CollectorRegistry
) -> Callable[[Environ, StartResponse], Iterable[bytes]]:
    """The WSGI app: ``/healthz``, ``/metrics``, 404 for anything else."""
    metrics = make_wsgi_app(registry)

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            verdict = health.verdict()
            status = "200 OK" if verdict.healthy else "503 Service Unavailable"
            return _text(start_response, status, verdict.reason)
        if path == "/metrics":
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        return _text(start_response, "404 Not Found", "not found: try /healthz or /metrics")

    return app


def _text(start_response: StartResponse, status: str, text: str) -> list[bytes]:
    body = (text + "\n").encode()
    start_response(
        status,
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
    )
    return [body]


def _server_class(host: str) -> type[_ThreadingServer]:
    """The server class for ``host``'s address family (``::1`` needs IPv6)."""
    try:
        family = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror as error:
        raise ConfigError(f"health.address {host!r} does not resolve: {error.strerror}") from error
    return type("HealthHttpServer", (_ThreadingServer,), {"address_family": family})


class HealthServer:
    """``/healthz`` and ``/metrics`` on ``settings.address:settings.port`` until closed."""

    def __init__(
        self, settings: HealthSettings, health: AgentHealth, registry: CollectorRegistry
    ) -> None:
        try:
            self._server = make_server(
                settings.address,
                settings.port,
                health_app(health, registry),
                server_class=_server_class(settings.address),
                handler_class=_QuietHandler,
            )
        except OSError as error:
            raise ConfigError(
                f"cannot serve /healthz and /metrics on {settings.address}:{settings.port}: "
                f"{error.strerror or error}; choose another --health-port (0 turns them off)"
            ) from error
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.5},
            name="netaudit-health",
            daemon=True,
        )
        self._thread.start()
        log.info("serving /healthz and /metrics on %s:%d", settings.address, self.port)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> HealthServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
