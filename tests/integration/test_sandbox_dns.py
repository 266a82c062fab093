"""The sandbox DNS server answering dnspython over UDP and TCP on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import pytest

from netaudit.sandbox.dns import DnsServer
from netaudit.sandbox.sample_fleet import load_sample_fleet

PRIVATE_FQDN = "shop-weu-k8s-7c1e4a2b.hcp.westeurope.azmk8s.io"


@pytest.fixture(scope="module")
def server() -> Iterator[DnsServer]:
    records = {name: list(addresses) for name, addresses in load_sample_fleet().dns_records.items()}
    with DnsServer(records) as running:
        yield running


def resolver(server: DnsServer) -> dns.resolver.Resolver:
    resolver = dns.resolver.Resolver(configure=False)
    host, port = server.address
    resolver.nameservers = [host]
    resolver.port = port
    resolver.lifetime = 2.0
    return resolver


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_private_fqdn_resolves_to_the_private_endpoint(server: DnsServer, tcp: bool) -> None:
    answer = resolver(server).resolve(PRIVATE_FQDN, "A", tcp=tcp)
    assert [r.address for r in answer] == ["10.30.0.7"]


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_unknown_name_is_nxdomain(server: DnsServer, tcp: bool) -> None:
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver(server).resolve("nothing.example.internal", "A", tcp=tcp)


def test_names_match_case_insensitively_and_answers_are_authoritative(server: DnsServer) -> None:
    query = dns.message.make_query("KUBERNETES.Default.svc.cluster.local.", "A")
    host, port = server.address
    response = dns.query.udp(query, host, port=port, timeout=2)
    assert response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.AA
    assert [r.address for r in response.answer[0]] == ["10.0.0.1"]


def test_other_record_types_of_a_known_name_have_no_data(server: DnsServer) -> None:
    query = dns.message.make_query(PRIVATE_FQDN, "AAAA")
    host, port = server.address
    response = dns.query.tcp(query, host, port=port, timeout=2)
    assert response.rcode() == dns.rcode.NOERROR
    assert response.answer == []


def test_tcp_connection_serves_several_queries(server: DnsServer) -> None:
    host, port = server.address
    import socket

    with socket.create_connection((host, port), timeout=2) as sock:
        for name, expected in (
            (PRIVATE_FQDN, "10.30.0.7"),
            ("kubernetes.default.svc.cluster.local", "10.0.0.1"),
        ):
            dns.query.send_tcp(sock, dns.message.make_query(name, dns.rdatatype.A), None)
            response, _ = dns.query.receive_tcp(sock, None)
            assert [r.address for r in response.answer[0]] == [expected]
