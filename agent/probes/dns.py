"""Active DNS probes from the agent pod (dnspython), each bounded by a timeout.

A probe records what the server said (rcode, answers, latency) or why it
could not (error); deciding whether that is right is the collector's job.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver

from netaudit.agent.config import DnsSettings, parse_host_port
from netaudit.v1 import report_pb2

log = logging.getLogger(__name__)

ORIGIN = "agent-pod"
DNS_PORT = 53


def system_nameserver() -> tuple[str, int] | None:
    """The first nameserver of /etc/resolv.conf (CoreDNS's ClusterIP inside a Pod)."""
    try:
        resolver = dns.resolver.Resolver(configure=True)
    except (dns.resolver.NoResolverConfiguration, OSError):
        return None
    servers = [str(s) for s in resolver.nameservers]
    return (servers[0], int(resolver.port or DNS_PORT)) if servers else None


def format_server(server: tuple[str, int]) -> str:
    host, port = server
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def probe(
    name: str,
    server: tuple[str, int],
    query_type: str = "A",
    timeout_seconds: float = 2.0,
) -> report_pb2.DnsProbe:
    """Ask ``server`` for ``name`` once (UDP, TCP if truncated) within ``timeout_seconds``."""
    result = report_pb2.DnsProbe(
        name=name, query_type=query_type, server=format_server(server), origin=ORIGIN
    )
    host, port = server
    started = time.perf_counter()
    try:
        query = dns.message.make_query(
            dns.name.from_text(name), dns.rdatatype.from_text(query_type)
        )
        answer = dns.query.udp(query, host, port=port, timeout=timeout_seconds)
        if answer.flags & dns.flags.TC:
            remaining = max(0.1, timeout_seconds - (time.perf_counter() - started))
            answer = dns.query.tcp(query, host, port=port, timeout=remaining)
    except dns.exception.Timeout:
        result.error = f"timeout after {timeout_seconds:g}s"
    except (dns.exception.DNSException, OSError, ValueError) as error:
        result.error = f"{type(error).__name__}: {error}"
    else:
        result.rcode = dns.rcode.to_text(answer.rcode())
        result.answers.extend(rdata.to_text() for rrset in answer.answer for rdata in rrset)
    result.latency_seconds = time.perf_counter() - started
    return result


def in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def run_probes(settings: DnsSettings) -> list[report_pb2.DnsProbe]:
    """Probe every configured name against the configured server, or the system one in a Pod.

    Outside a cluster with no server configured nothing is probed: the
    host's resolver would send cluster names to whatever DNS the host uses.
    """
    names: Sequence[str] = settings.all_names()
    if settings.server:
        server: tuple[str, int] | None = parse_host_port(settings.server)
    elif in_cluster():
        server = system_nameserver()
    else:
        log.info("dns probes skipped: no --dns-server and not running in a cluster")
        return []
    if server is None:
        return [
            report_pb2.DnsProbe(
                name=name,
                query_type=settings.query_type,
                server="system",
                origin=ORIGIN,
                error="no nameserver in /etc/resolv.conf",
            )
            for name in names
        ]
    probes = [probe(name, server, settings.query_type, settings.timeout_seconds) for name in names]
    for result in probes:
        log.debug(
            "dns probe %s @%s: %s %s",
            result.name,
            result.server,
            result.rcode or result.error,
            list(result.answers),
        )
    return probes
