"""An authoritative DNS server on loopback (UDP and TCP on one port) answering A queries."""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import struct
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from netaudit.sandbox.lifecycle import Lifecycle

logger = logging.getLogger(__name__)

TTL_SECONDS = 30
_BIND_ATTEMPTS = 20


def _key(name: str) -> str:
    return name.rstrip(".").lower()


class DnsAnswers:
    """Builds the answer to one query from a name -> IPv4 addresses table."""

    def __init__(self, records: Mapping[str, Sequence[str]]) -> None:
        self._records = {_key(name): tuple(addresses) for name, addresses in records.items()}

    def answer(self, wire: bytes) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            logger.debug("ignored a malformed DNS query")
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response.to_wire()
        question = query.question[0]
        addresses = self._records.get(_key(question.name.to_text()))
        if addresses is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif (
            question.rdtype in (dns.rdatatype.A, dns.rdatatype.ANY)
            and question.rdclass == dns.rdataclass.IN
        ):
            response.answer.append(
                dns.rrset.from_text_list(
                    question.name, TTL_SECONDS, dns.rdataclass.IN, dns.rdatatype.A, list(addresses)
                )
            )
        # Any other type of a known name is NOERROR with no answer (NODATA), as real servers do.
        return response.to_wire()


class _UdpHandler(socketserver.BaseRequestHandler):
    server: _UdpServer

    def handle(self) -> None:
        data, sock = self.request
        answer = self.server.answers.answer(data)
        if answer is not None:
            sock.sendto(answer, self.client_address)


class _TcpHandler(socketserver.BaseRequestHandler):
    server: _TcpServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(5)
        with contextlib.suppress(OSError):
            while True:
                header = self._read(sock, 2)
                if header is None:
                    return
                (length,) = struct.unpack("!H", header)
                wire = self._read(sock, length)
                if wire is None:
                    return
                answer = self.server.answers.answer(wire)
                if answer is None:
                    return
                sock.sendall(struct.pack("!H", len(answer)) + answer)

    @staticmethod
    def _read(sock: socket.socket, count: int) -> bytes | None:
        data = b""
        while len(data) < count:
            chunk = sock.recv(count - len(data))
            if not chunk:
                return None
            data += chunk
        return data


class _UdpServer(socketserver.ThreadingUDPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], answers: DnsAnswers) -> None:
        self.answers = answers
        super().__init__(address, _UdpHandler)


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], answers: DnsAnswers) -> None:
        self.answers = answers
        super().__init__(address, _TcpHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("DNS TCP connection from %s failed", client_address, exc_info=True)


class DnsServer(Lifecycle):
    """Answers A queries for ``records`` (name -> IPv4 addresses) on ``.address``; unknown
    names get NXDOMAIN. UDP and TCP listen on the same port."""

    def __init__(
        self, records: Mapping[str, Sequence[str]], host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.answers = DnsAnswers(records)
        self._host = host
        self._requested_port = port
        self._servers: list[socketserver.BaseServer] = []
        self._threads: list[threading.Thread] = []

    @property
    def address(self) -> tuple[str, int]:
        if not self._servers:
            raise RuntimeError("the DNS server is not started")
        udp = self._servers[0]
        assert isinstance(udp, _UdpServer)
        return self._host, int(udp.server_address[1])

    def start(self) -> None:
        if self._servers:
            return
        udp, tcp = self._bind()
        self._servers = [udp, tcp]
        for server in self._servers:
            thread = threading.Thread(
                target=server.serve_forever,
                kwargs={"poll_interval": 0.1},
                name="sandbox-dns",
                daemon=True,
            )
            thread.start()
            self._threads.append(thread)
        logger.info("DNS listening on %s:%d (udp+tcp)", *self.address)

    def _bind(self) -> tuple[_UdpServer, _TcpServer]:
        # Port 0 picks a free UDP port; TCP must then get the same number, which another
        # process may hold, so try a few times.
        for _ in range(_BIND_ATTEMPTS if self._requested_port == 0 else 1):
            udp = _UdpServer((self._host, self._requested_port), self.answers)
            try:
                tcp = _TcpServer((self._host, int(udp.server_address[1])), self.answers)
            except OSError:
                udp.server_close()
                continue
            return udp, tcp
        raise OSError(f"no port on {self._host} is free for both UDP and TCP")

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self._servers, self._threads = [], []
