"""The AdminService over real gRPC and TLS on 127.0.0.1: who may call it, and report
requests answered through the store.

The collector side is the real grpc.aio server with the ingest and admin servicers over
a real SQLite store; certificates and tokens come from the project's own code. Calls
are raw gRPC stubs, so a cluster's credential can be tried where an honest CLI would not.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest

from netaudit.collector.certificates import (
    CertificateFiles,
    init_authority,
    issue_admin_certificate,
    issue_client_certificate,
    load_server_tls,
)
from netaudit.collector.ingest.admin import AdminServicer
from netaudit.collector.ingest.admin_auth import AdminAuthenticator
from netaudit.collector.ingest.auth import Authenticator
from netaudit.collector.ingest.server import ServerOptions
from netaudit.collector.ingest.servicer import IngestLimits, IngestServicer
from netaudit.collector.store import InvalidReport, Store, upgrade
from netaudit.v1 import admin_pb2, admin_pb2_grpc, ingest_pb2, ingest_pb2_grpc, report_pb2
from tests.integration.ingest_server import serving

CLUSTER_A = (
    "/subscriptions/aaaaaaaa-0000-0000-0000-000000000001/resourceGroups/rg-a/providers/"
    "Microsoft.ContainerService/managedClusters/aks-a"
)
CLUSTER_B = (
    "/subscriptions/bbbbbbbb-0000-0000-0000-000000000002/resourceGroups/rg-b/providers/"
    "Microsoft.ContainerService/managedClusters/aks-b"
)
SERVER_NAME = "collector.netaudit.test"


@dataclass(frozen=True)
class Pki:
    folder: Path
    ca: Path
    server: CertificateFiles
    cluster_a: CertificateFiles
    admin: CertificateFiles


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca, server = init_authority(folder, [SERVER_NAME])
    return Pki(
        folder,
        ca.certificate,
        server,
        issue_client_certificate(folder, CLUSTER_A),
        issue_admin_certificate(folder, "ops"),
    )


@dataclass
class Collector:
    store: Store
    address: str
    ingest: IngestServicer


@contextmanager
def collector(tmp_path: Path, pki: Pki, *, mutual: bool) -> Iterator[Collector]:
    url = f"sqlite:///{tmp_path / 'netaudit.db'}"
    upgrade(url)
    store = Store(url)
    ingest = IngestServicer(
        store,
        IngestLimits(8 << 20, 60),
        rejected_errors=(InvalidReport,),
        authenticator=Authenticator(store),
    )
    admin = AdminServicer(
        ingest, store, AdminAuthenticator(store), settle_seconds=0.5, poll_seconds=0.05
    )
    tls = load_server_tls(pki.server.certificate, pki.server.key, pki.ca if mutual else None)
    try:
        with serving(ingest, ServerOptions("127.0.0.1", 0, 600, tls=tls), admin) as (running, _):
            yield Collector(store, f"127.0.0.1:{running.port}", ingest)
    finally:
        store.close()


def channel(address: str, pki: Pki, client: CertificateFiles | None = None) -> grpc.Channel:
    key = client.key.read_bytes() if client else None
    certificate = client.certificate.read_bytes() if client else None
    credentials = grpc.ssl_channel_credentials(pki.ca.read_bytes(), key, certificate)
    return grpc.secure_channel(
        address, credentials, options=[("grpc.ssl_target_name_override", SERVER_NAME)]
    )


def list_connected(
    address: str, pki: Pki, token: str | None = None, client: CertificateFiles | None = None
) -> admin_pb2.ListConnectedResponse:
    metadata = (("authorization", f"Bearer {token}"),) if token else None
    with channel(address, pki, client) as opened:
        stub = admin_pb2_grpc.AdminServiceStub(opened)
        return stub.ListConnected(admin_pb2.ListConnectedRequest(), metadata=metadata, timeout=10)


def refusal(call: object) -> grpc.StatusCode:
    assert isinstance(call, grpc.RpcError) and isinstance(call, grpc.Call)
    return call.code()


def call_code(*args: object, **kwargs: object) -> grpc.StatusCode:
    try:
        list_connected(*args, **kwargs)  # type: ignore[arg-type]
    except grpc.RpcError as error:
        return refusal(error)
    return grpc.StatusCode.OK


@pytest.mark.parametrize(
    ("credential", "expected"),
    [
        ("none", grpc.StatusCode.UNAUTHENTICATED),
        ("unknown token", grpc.StatusCode.UNAUTHENTICATED),
        ("cluster token", grpc.StatusCode.PERMISSION_DENIED),
        ("revoked admin token", grpc.StatusCode.UNAUTHENTICATED),
        ("admin token", grpc.StatusCode.OK),
    ],
)
def test_admin_calls_over_tls_need_an_admin_token(
    tmp_path: Path, pki: Pki, credential: str, expected: grpc.StatusCode
) -> None:
    with collector(tmp_path, pki, mutual=False) as running:
        token = {
            "none": None,
            "unknown token": "nat_admin_unknown",
            "cluster token": running.store.create_agent_token(CLUSTER_A).token,
            "admin token": running.store.create_admin_token("ops").token,
        }.get(credential)
        if credential == "revoked admin token":
            issued = running.store.create_admin_token("gone")
            running.store.revoke_admin_token(issued.record.id)
            token = issued.token
        assert call_code(running.address, pki, token) is expected


@pytest.mark.parametrize(
    ("certificate", "expected"),
    [
        ("cluster", grpc.StatusCode.PERMISSION_DENIED),
        ("admin", grpc.StatusCode.OK),
    ],
)
def test_admin_calls_over_mutual_tls_need_an_admin_certificate(
    tmp_path: Path, pki: Pki, certificate: str, expected: grpc.StatusCode
) -> None:
    client = pki.admin if certificate == "admin" else pki.cluster_a
    with collector(tmp_path, pki, mutual=True) as running:
        assert call_code(running.address, pki, client=client) is expected


def test_an_admin_token_cannot_write_reports(tmp_path: Path, pki: Pki) -> None:
    with collector(tmp_path, pki, mutual=False) as running:
        token = running.store.create_admin_token("ops").token
        hello = ingest_pb2.StreamRequest(
            hello=ingest_pb2.AgentHello(
                agent_id="a", cluster=report_pb2.ClusterIdentity(arm_resource_id=CLUSTER_A)
            )
        )
        with channel(running.address, pki) as opened:
            stub = ingest_pb2_grpc.IngestServiceStub(opened)
            with pytest.raises(grpc.RpcError) as raised:
                list(
                    stub.Stream(
                        iter([hello]), metadata=(("authorization", f"Bearer {token}"),), timeout=10
                    )
                )
        assert refusal(raised.value) is grpc.StatusCode.UNAUTHENTICATED


class FakeAgentStream:
    """A raw agent stream: hello, then (if `answers`) a report answering each request."""

    def __init__(
        self, address: str, pki: Pki, token: str, cluster_id: str, *, answers: bool = True
    ) -> None:
        self.requests: list[str] = []
        self._answers = answers
        self._cluster_id = cluster_id
        self._outgoing: list[ingest_pb2.StreamRequest] = []
        self._wake = threading.Condition()
        self._closed = False
        self._channel = channel(address, pki)
        stub = ingest_pb2_grpc.IngestServiceStub(self._channel)
        self._call = stub.Stream(self._messages(), metadata=(("authorization", f"Bearer {token}"),))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _messages(self) -> Iterator[ingest_pb2.StreamRequest]:
        yield ingest_pb2.StreamRequest(
            hello=ingest_pb2.AgentHello(
                agent_id="agent-1",
                agent_epoch=1,
                cluster=report_pb2.ClusterIdentity(arm_resource_id=self._cluster_id),
                contract_version=_contract_version(),
            )
        )
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._outgoing or self._closed)
                if self._closed:
                    return
                message = self._outgoing.pop(0)
            yield message

    def _read(self) -> None:
        try:
            for response in self._call:
                if response.HasField("report_request"):
                    request_id = response.report_request.request_id
                    self.requests.append(request_id)
                    if self._answers:
                        self._send_report(request_id, len(self.requests))
        except grpc.RpcError:
            pass

    def _send_report(self, request_id: str, sequence: int) -> None:
        report = report_pb2.Report(
            report_id=f"answer-{sequence}",
            cluster=report_pb2.ClusterIdentity(arm_resource_id=self._cluster_id, name="aks-a"),
            agent_epoch=1,
            sequence=sequence,
            answers_request_ids=[request_id],
        )
        report.gathered_at.FromDatetime(datetime.now(UTC))
        data = report.SerializeToString()
        chunk = ingest_pb2.ReportChunk(
            report_id=report.report_id,
            agent_epoch=1,
            sequence=sequence,
            chunk_index=0,
            chunk_count=1,
            data=data,
        )
        with self._wake:
            self._outgoing.append(ingest_pb2.StreamRequest(chunk=chunk))
            self._wake.notify()

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._call.cancel()
        self._channel.close()


def _contract_version() -> int:
    from netaudit.contract import CONTRACT_VERSION

    return CONTRACT_VERSION


def wait_until_connected(ingest: IngestServicer, key: str) -> None:
    deadline = time.monotonic() + 10
    while key not in ingest.connected_clusters:
        assert time.monotonic() < deadline, "the agent's stream did not open"
        time.sleep(0.05)


def test_request_reports_follows_the_answer_and_names_the_cluster_not_connected(
    tmp_path: Path, pki: Pki
) -> None:
    with collector(tmp_path, pki, mutual=False) as running:
        admin_token = running.store.create_admin_token("ops").token
        agent = FakeAgentStream(
            running.address, pki, running.store.create_agent_token(CLUSTER_A).token, CLUSTER_A
        )
        try:
            wait_until_connected(running.ingest, CLUSTER_A.lower())
            request = admin_pb2.RequestReportsRequest(
                cluster_ids=[CLUSTER_A, CLUSTER_B], timeout_seconds=10
            )
            with channel(running.address, pki) as opened:
                events = list(
                    admin_pb2_grpc.AdminServiceStub(opened).RequestReports(
                        request, metadata=(("authorization", f"Bearer {admin_token}"),), timeout=30
                    )
                )
        finally:
            agent.close()
        outcomes = [(e.outcome, e.cluster_key, e.report_id) for e in events]
        assert outcomes == [
            (admin_pb2.REQUEST_OUTCOME_REQUESTED, CLUSTER_A.lower(), ""),
            (admin_pb2.REQUEST_OUTCOME_ANSWERED, CLUSTER_A.lower(), "answer-1"),
            (admin_pb2.REQUEST_OUTCOME_NOT_CONNECTED, CLUSTER_B.lower(), ""),
            (admin_pb2.REQUEST_OUTCOME_UNSPECIFIED, "", ""),
        ]
        assert events[-1].done and (events[-1].requested, events[-1].answered) == (1, 1)
        assert agent.requests == [events[0].request_id]
        assert running.store.report_request_progress(events[0].request_id) == {
            CLUSTER_A.lower(): "answer-1"
        }


def test_a_request_unanswered_within_its_timeout_is_reported_timed_out(
    tmp_path: Path, pki: Pki
) -> None:
    with collector(tmp_path, pki, mutual=False) as running:
        admin_token = running.store.create_admin_token("ops").token
        token = running.store.create_agent_token(CLUSTER_A).token
        agent = FakeAgentStream(running.address, pki, token, CLUSTER_A, answers=False)
        try:
            wait_until_connected(running.ingest, CLUSTER_A.lower())
            request = admin_pb2.RequestReportsRequest(timeout_seconds=1)
            started = time.monotonic()
            with channel(running.address, pki) as opened:
                events = list(
                    admin_pb2_grpc.AdminServiceStub(opened).RequestReports(
                        request, metadata=(("authorization", f"Bearer {admin_token}"),), timeout=30
                    )
                )
            elapsed = time.monotonic() - started
        finally:
            agent.close()
        assert [(e.outcome, e.cluster_key) for e in events[:-1]] == [
            (admin_pb2.REQUEST_OUTCOME_REQUESTED, CLUSTER_A.lower()),
            (admin_pb2.REQUEST_OUTCOME_TIMED_OUT, CLUSTER_A.lower()),
        ]
        assert 1 <= elapsed < 5
