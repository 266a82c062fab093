"""DNS probes against DNS servers on 127.0.0.1 (a responder written here with dnspython)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import dns.message
import dns.rcode
import dns.rrset
import pytest

from netaudit.agent.config import DnsSettings
from netaudit.agent.probes.dns import probe, run_probes

PRIVATE_FQDN = "aks1-7c1e4a2b.privatelink.westeurope.azmk8s.io"
RECORDS = {
    "kubernetes.default.svc.cluster.local.": "10.0.0.1",
    f"{PRIVATE_FQDN}.": "10.224.0.4",
}


class Responder:
    """Answers A queries from RECORDS, NXDOMAIN otherwise; ``silent`` never answers."""

    def __init__(self, *, silent: bool = False) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(0.1)
        self.port = int(self.socket.getsockname()[1])
        self.silent = silent
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                data, peer = self.socket.recvfrom(4096)
            except TimeoutError:
                continue
            if self.silent:
                continue
            query = dns.message.from_wire(data)
            response = dns.message.make_response(query)
            name = query.question[0].name.to_text()
            if name in RECORDS:
                response.answer.append(dns.rrset.from_text(name, 30, "IN", "A", RECORDS[name]))
            else:
                response.set_rcode(dns.rcode.NXDOMAIN)
            self.socket.sendto(response.to_wire(), peer)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join()
        self.socket.close()


@pytest.fixture
def responder() -> Iterator[Responder]:
    server = Responder()
    yield server
    server.close()


def test_a_known_name_answers_with_its_address(responder: Responder) -> None:
    result = probe(PRIVATE_FQDN, ("127.0.0.1", responder.port))
    assert (result.rcode, list(result.answers), result.error) == ("NOERROR", ["10.224.0.4"], "")
    assert result.server == f"127.0.0.1:{responder.port}"
    assert result.origin == "agent-pod"
    assert 0 < result.latency_seconds < 2


def test_an_unknown_name_records_nxdomain(responder: Responder) -> None:
    result = probe("nothing.example.internal", ("127.0.0.1", responder.port))
    assert (result.rcode, list(result.answers)) == ("NXDOMAIN", [])


def test_a_silent_server_is_a_bounded_timeout() -> None:
    silent = Responder(silent=True)
    try:
        result = probe(
            "kubernetes.default.svc.cluster.local", ("127.0.0.1", silent.port), timeout_seconds=0.3
        )
    finally:
        silent.close()
    assert result.rcode == ""
    assert result.error == "timeout after 0.3s"
    assert result.latency_seconds < 1.5


def test_run_probes_asks_for_the_defaults_and_the_extra_names(responder: Responder) -> None:
    settings = DnsSettings(server=f"127.0.0.1:{responder.port}", extra_probe_names=[PRIVATE_FQDN])
    results = {r.name: r for r in run_probes(settings)}
    assert set(results) == {"kubernetes.default.svc.cluster.local", PRIVATE_FQDN}
    assert list(results["kubernetes.default.svc.cluster.local"].answers) == ["10.0.0.1"]


def test_no_server_outside_a_cluster_probes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    assert run_probes(DnsSettings()) == []
