"""Ingest authentication over real gRPC on 127.0.0.1: TLS, tokens, mutual TLS.

The collector side is the real grpc.aio server, servicer and authenticator over a real
SQLite store; certificates come from `netaudit certs`' own code, tokens from the
store. Clients are raw gRPC stubs (to send what an honest agent would not) and the
agent's own CollectorClient. `netaudit serve` runs as a real process where its flags
and ports are what is tested.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from prometheus_client import CollectorRegistry

from netaudit.agent.config import CollectorSettings
from netaudit.agent.errors import CollectorUnreachable
from netaudit.agent.spool import Spool
from netaudit.agent.stream import CollectorClient
from netaudit.collector.certificates import (
    CA_CERT_FILE,
    CertificateFiles,
    ServerTls,
    init_authority,
    issue_client_certificate,
    load_server_tls,
)
from netaudit.collector.ingest.auth import Authenticator
from netaudit.collector.ingest.server import ServerOptions
from netaudit.collector.ingest.servicer import IngestLimits, IngestServicer
from netaudit.collector.store import InvalidReport, Store, upgrade
from netaudit.v1 import ingest_pb2, ingest_pb2_grpc, report_pb2
from tests.integration.ingest_server import serving

NETAUDIT = str(Path(sys.executable).with_name("netaudit"))
CLUSTER_A = (
    "/subscriptions/aaaaaaaa-0000-0000-0000-000000000001/resourceGroups/rg-a/providers/"
    "Microsoft.ContainerService/managedClusters/aks-a"
)
CLUSTER_B = (
    "/subscriptions/bbbbbbbb-0000-0000-0000-000000000002/resourceGroups/rg-b/providers/"
    "Microsoft.ContainerService/managedClusters/aks-b"
)
SERVER_NAME = "collector.netaudit.test"
"""The only name in the server certificate: clients on 127.0.0.1 must override the name."""


@dataclass(frozen=True)
class Pki:
    folder: Path
    ca: Path
    server: CertificateFiles
    client_a: CertificateFiles
    client_b: CertificateFiles
    stranger_a: CertificateFiles
    """Names cluster A, but signed by a CA the collector does not trust."""

    def server_tls(self, *, mutual: bool) -> ServerTls:
        return load_server_tls(
            self.server.certificate, self.server.key, self.ca if mutual else None
        )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca, server = init_authority(folder / "ca", [SERVER_NAME])
    stranger = folder / "stranger"
    init_authority(stranger, [SERVER_NAME])
    return Pki(
        folder=folder,
        ca=ca.certificate,
        server=server,
        client_a=issue_client_certificate(folder / "ca", CLUSTER_A),
        client_b=issue_client_certificate(folder / "ca", CLUSTER_B),
        stranger_a=issue_client_certificate(stranger, CLUSTER_A),
    )


@dataclass
class Collector:
    store: Store
    address: str
    health_address: str
    registry: CollectorRegistry

    def rejections(self, reason: str) -> float | None:
        return self.registry.get_sample_value(
            "netaudit_ingest_rejections_total", {"reason": reason}
        )


@contextmanager
def running_collector(
    tmp_path: Path, tls: ServerTls | None, *, insecure: bool = False
) -> Iterator[Collector]:
    """The real ingest server on a thread's event loop, over a migrated SQLite store."""
    url = f"sqlite:///{tmp_path / 'netaudit.db'}"
    upgrade(url)
    store = Store(url)
    authenticator = Authenticator.insecure() if insecure else Authenticator(store)
    registry = CollectorRegistry()
    servicer = IngestServicer(
        store,
        IngestLimits(8 << 20, 60),
        registry=registry,
        rejected_errors=(InvalidReport,),
        authenticator=authenticator,
    )
    try:
        with serving(servicer, ServerOptions("127.0.0.1", 0, 600, tls=tls)) as (ingest, _loop):
            yield Collector(
                store,
                f"127.0.0.1:{ingest.port}",
                f"127.0.0.1:{ingest.health_port}",
                registry,
            )
    finally:
        store.close()


@pytest.fixture
def token_collector(pki: Pki, tmp_path: Path) -> Iterator[Collector]:
    """TLS without a client CA: agents authenticate with bearer tokens."""
    with running_collector(tmp_path, pki.server_tls(mutual=False)) as collector:
        yield collector


@pytest.fixture
def mtls_collector(pki: Pki, tmp_path: Path) -> Iterator[Collector]:
    """Mutual TLS: every client presents a certificate the CA signed."""
    with running_collector(tmp_path, pki.server_tls(mutual=True)) as collector:
        yield collector


def report(report_id: str, cluster_id: str, sequence: int = 1) -> report_pb2.Report:
    message = report_pb2.Report(report_id=report_id, agent_epoch=1, sequence=sequence)
    message.cluster.arm_resource_id = cluster_id
    message.cluster.name = cluster_id.rsplit("/", 1)[-1]
    return message


def chunk(message: report_pb2.Report) -> ingest_pb2.StreamRequest:
    return ingest_pb2.StreamRequest(
        chunk=ingest_pb2.ReportChunk(
            report_id=message.report_id,
            agent_epoch=message.agent_epoch,
            sequence=message.sequence,
            chunk_index=0,
            chunk_count=1,
            data=message.SerializeToString(),
        )
    )


def hello(cluster_id: str) -> ingest_pb2.StreamRequest:
    message = ingest_pb2.AgentHello(agent_id="test-agent", agent_epoch=1)
    message.cluster.arm_resource_id = cluster_id
    return ingest_pb2.StreamRequest(hello=message)


def credentials(pki: Pki, client: CertificateFiles | None = None) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=pki.ca.read_bytes(),
        private_key=client.key.read_bytes() if client else None,
        certificate_chain=client.certificate.read_bytes() if client else None,
    )


def stream(
    address: str,
    messages: list[ingest_pb2.StreamRequest],
    channel_credentials: grpc.ChannelCredentials | None,
    token: str | None = None,
) -> list[ingest_pb2.ReportAck]:
    metadata = (("authorization", f"Bearer {token}"),) if token else None
    options = [("grpc.ssl_target_name_override", SERVER_NAME)]
    if channel_credentials is None:
        channel = grpc.insecure_channel(address)
    else:
        channel = grpc.secure_channel(address, channel_credentials, options=options)
    with channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)
        responses = stub.Stream(iter(messages), timeout=20, metadata=metadata)
        return [r.ack for r in responses if r.WhichOneof("message") == "ack"]


def refused(call: object) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as raised:
        call()  # type: ignore[operator]
    return raised.value


def nothing_stored(store: Store) -> bool:
    return store.cluster_keys() == []


# -- bearer tokens ------------------------------------------------------------------


def test_token_of_cluster_a_commits_cluster_a_reports_whatever_the_id_casing(
    pki: Pki, token_collector: Collector
) -> None:
    token = token_collector.store.create_agent_token(CLUSTER_A).token
    acks = stream(
        token_collector.address,
        [hello(CLUSTER_A.upper()), chunk(report("r-a", CLUSTER_A.replace("rg-a", "RG-A")))],
        credentials(pki),
        token,
    )
    assert [a.status for a in acks] == [ingest_pb2.ACK_STATUS_COMMITTED]
    assert token_collector.store.cluster_keys() == [CLUSTER_A.lower()]


def test_token_of_cluster_a_cannot_say_hello_as_cluster_b(
    pki: Pki, token_collector: Collector
) -> None:
    token = token_collector.store.create_agent_token(CLUSTER_A).token
    error = refused(
        lambda: stream(
            token_collector.address,
            [hello(CLUSTER_B), chunk(report("r-b", CLUSTER_B))],
            credentials(pki),
            token,
        )
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "aks-b" in (error.details() or "")
    assert nothing_stored(token_collector.store)


def test_token_of_cluster_a_cannot_send_a_report_of_cluster_b(
    pki: Pki, token_collector: Collector
) -> None:
    token = token_collector.store.create_agent_token(CLUSTER_A).token
    error = refused(
        lambda: stream(
            token_collector.address,
            [hello(CLUSTER_A), chunk(report("r-b", CLUSTER_B)), chunk(report("r-a", CLUSTER_A))],
            credentials(pki),
            token,
        )
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert nothing_stored(token_collector.store)


def test_a_stream_without_credential_is_unauthenticated_and_stores_nothing(
    pki: Pki, token_collector: Collector
) -> None:
    error = refused(
        lambda: stream(
            token_collector.address,
            [hello(CLUSTER_A), chunk(report("r-a", CLUSTER_A))],
            credentials(pki),
        )
    )
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert nothing_stored(token_collector.store)
    assert token_collector.rejections("unauthenticated") == 1
    assert token_collector.rejections("permission_denied") == 0


@pytest.mark.parametrize(
    "authorization", ["Bearer nat_made-up", "Basic dXNlcjpwYXNz", "Bearer"], ids=str
)
def test_an_unknown_or_malformed_token_is_unauthenticated(
    pki: Pki, token_collector: Collector, authorization: str
) -> None:
    token_collector.store.create_agent_token(CLUSTER_A)

    def call() -> None:
        options = [("grpc.ssl_target_name_override", SERVER_NAME)]
        with grpc.secure_channel(token_collector.address, credentials(pki), options) as channel:
            responses = ingest_pb2_grpc.IngestServiceStub(channel).Stream(
                iter([hello(CLUSTER_A), chunk(report("r-a", CLUSTER_A))]),
                timeout=20,
                metadata=(("authorization", authorization),),
            )
            list(responses)

    assert refused(call).code() == grpc.StatusCode.UNAUTHENTICATED
    assert nothing_stored(token_collector.store)


def test_a_revoked_token_is_unauthenticated(pki: Pki, token_collector: Collector) -> None:
    issued = token_collector.store.create_agent_token(CLUSTER_A)
    first = stream(
        token_collector.address,
        [hello(CLUSTER_A), chunk(report("r-1", CLUSTER_A))],
        credentials(pki),
        issued.token,
    )
    assert [a.status for a in first] == [ingest_pb2.ACK_STATUS_COMMITTED]
    token_collector.store.revoke_agent_token(issued.record.id)
    error = refused(
        lambda: stream(
            token_collector.address,
            [hello(CLUSTER_A), chunk(report("r-2", CLUSTER_A, sequence=2))],
            credentials(pki),
            issued.token,
        )
    )
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "revoked" in (error.details() or "")
    assert token_collector.store.report_count(CLUSTER_A) == 1


def test_a_token_revoked_while_its_stream_is_open_writes_nothing_more(
    pki: Pki, token_collector: Collector
) -> None:
    issued = token_collector.store.create_agent_token(CLUSTER_A)
    first_acked = threading.Event()

    def messages() -> Iterator[ingest_pb2.StreamRequest]:
        yield hello(CLUSTER_A)
        yield chunk(report("r-1", CLUSTER_A))
        assert first_acked.wait(10)
        token_collector.store.revoke_agent_token(issued.record.id)
        yield chunk(report("r-2", CLUSTER_A, sequence=2))

    channel = grpc.secure_channel(
        token_collector.address,
        credentials(pki),
        options=[("grpc.ssl_target_name_override", SERVER_NAME)],
    )
    acks = []
    with channel, pytest.raises(grpc.RpcError) as raised:
        call = ingest_pb2_grpc.IngestServiceStub(channel).Stream(
            messages(), timeout=20, metadata=(("authorization", f"Bearer {issued.token}"),)
        )
        for response in call:
            acks.append(response.ack.status)
            first_acked.set()
    assert acks == [ingest_pb2.ACK_STATUS_COMMITTED]
    assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED  # type: ignore[attr-defined]
    assert "revoked while its stream was open" in (raised.value.details() or "")  # type: ignore[attr-defined]
    assert token_collector.store.report_count(CLUSTER_A) == 1
    assert token_collector.rejections("unauthenticated") == 1


def test_plaintext_is_not_spoken_on_the_tls_port(token_collector: Collector) -> None:
    token = token_collector.store.create_agent_token(CLUSTER_A).token
    error = refused(
        lambda: stream(
            token_collector.address,
            [hello(CLUSTER_A), chunk(report("r-a", CLUSTER_A))],
            None,
            token,
        )
    )
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert nothing_stored(token_collector.store)


# -- mutual TLS ---------------------------------------------------------------------


def test_certificate_of_cluster_a_commits_cluster_a_reports(
    pki: Pki, mtls_collector: Collector
) -> None:
    acks = stream(
        mtls_collector.address,
        [hello(CLUSTER_A), chunk(report("r-a", CLUSTER_A))],
        credentials(pki, pki.client_a),
    )
    assert [a.status for a in acks] == [ingest_pb2.ACK_STATUS_COMMITTED]
    assert mtls_collector.store.cluster_keys() == [CLUSTER_A.lower()]


def test_certificate_of_cluster_a_cannot_say_hello_as_cluster_b(
    pki: Pki, mtls_collector: Collector
) -> None:
    error = refused(
        lambda: stream(
            mtls_collector.address,
            [hello(CLUSTER_B), chunk(report("r-b", CLUSTER_B))],
            credentials(pki, pki.client_a),
        )
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "client certificate" in (error.details() or "")
    assert nothing_stored(mtls_collector.store)


def test_certificate_of_cluster_a_cannot_send_a_report_of_cluster_b(
    pki: Pki, mtls_collector: Collector
) -> None:
    error = refused(
        lambda: stream(
            mtls_collector.address,
            [hello(CLUSTER_A), chunk(report("r-b", CLUSTER_B))],
            credentials(pki, pki.client_a),
        )
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert nothing_stored(mtls_collector.store)


def test_certificate_and_token_of_different_clusters_are_refused(
    pki: Pki, mtls_collector: Collector
) -> None:
    token_b = mtls_collector.store.create_agent_token(CLUSTER_B).token
    error = refused(
        lambda: stream(
            mtls_collector.address,
            [hello(CLUSTER_B), chunk(report("r-b", CLUSTER_B))],
            credentials(pki, pki.client_a),
            token_b,
        )
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert nothing_stored(mtls_collector.store)


@pytest.mark.parametrize("client", ["none", "stranger"])
def test_without_a_certificate_the_ca_signed_no_stream_opens(
    pki: Pki, mtls_collector: Collector, client: str
) -> None:
    token = mtls_collector.store.create_agent_token(CLUSTER_A).token
    files = pki.stranger_a if client == "stranger" else None
    error = refused(
        lambda: stream(
            mtls_collector.address,
            [hello(CLUSTER_A), chunk(report("r-a", CLUSTER_A))],
            credentials(pki, files),
            token,
        )
    )
    assert error.code() == grpc.StatusCode.UNAVAILABLE  # the TLS handshake fails
    assert nothing_stored(mtls_collector.store)


# -- the agent's options against the real collector ---------------------------------


def agent_settings(collector: Collector, **overrides: object) -> CollectorSettings:
    values: dict[str, object] = {
        "address": collector.address,
        "connect_timeout_seconds": 3,
        "ack_timeout_seconds": 10,
        "backoff_initial_seconds": 0.05,
        "backoff_max_seconds": 0.2,
    }
    values.update(overrides)
    return CollectorSettings(**values)  # type: ignore[arg-type]


def agent_hello(cluster_id: str) -> ingest_pb2.AgentHello:
    return hello(cluster_id).hello


def test_agent_sends_with_root_cert_server_name_and_a_token_file_re_read_at_each_connect(
    pki: Pki, token_collector: Collector, tmp_path: Path
) -> None:
    store = token_collector.store
    first = store.create_agent_token(CLUSTER_A)
    token_file = tmp_path / "token"
    token_file.write_text(first.token + "\n")
    spool = Spool(tmp_path / "spool", 16 << 20)
    settings = agent_settings(
        token_collector, tls_root_cert=pki.ca, tls_server_name=SERVER_NAME, token_file=token_file
    )
    client = CollectorClient(settings, spool, agent_hello(CLUSTER_A))
    sent = report("r-1", CLUSTER_A)
    spool.put(sent)
    assert client.send_until_acked("r-1").status == ingest_pb2.ACK_STATUS_COMMITTED

    store.revoke_agent_token(first.record.id)
    spool.put(report("r-2", CLUSTER_A, sequence=2))
    with pytest.raises(CollectorUnreachable, match="UNAUTHENTICATED"):
        client.send_until_acked("r-2")
    assert [r.report_id for r in spool.pending()] == ["r-2"]

    token_file.write_text(store.create_agent_token(CLUSTER_A).token)  # rotated
    assert client.send_until_acked("r-2").status == ingest_pb2.ACK_STATUS_COMMITTED
    assert store.report_count(CLUSTER_A) == 2


def test_agent_without_the_server_name_override_does_not_connect(
    pki: Pki, token_collector: Collector, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(token_collector.store.create_agent_token(CLUSTER_A).token)
    spool = Spool(tmp_path / "spool", 16 << 20)
    settings = agent_settings(token_collector, tls_root_cert=pki.ca, token_file=token_file)
    spool.put(report("r-1", CLUSTER_A))
    client = CollectorClient(settings, spool, agent_hello(CLUSTER_A))
    with pytest.raises(CollectorUnreachable):
        client.send_until_acked("r-1")
    assert nothing_stored(token_collector.store)


def test_agent_with_a_client_certificate_sends_over_mutual_tls(
    pki: Pki, mtls_collector: Collector, tmp_path: Path
) -> None:
    spool = Spool(tmp_path / "spool", 16 << 20)
    settings = agent_settings(
        mtls_collector,
        tls_root_cert=pki.ca,
        tls_server_name=SERVER_NAME,
        tls_client_cert=pki.client_a.certificate,
        tls_client_key=pki.client_a.key,
    )
    spool.put(report("r-1", CLUSTER_A))
    client = CollectorClient(settings, spool, agent_hello(CLUSTER_A))
    assert client.send_until_acked("r-1").status == ingest_pb2.ACK_STATUS_COMMITTED
    assert mtls_collector.store.cluster_keys() == [CLUSTER_A.lower()]


# -- `netaudit serve`: --insecure, the health port, reflection ----------------------


@dataclass
class Served:
    endpoints: dict[str, object]
    log: Path


@contextmanager
def netaudit_serve(folder: Path, ingest: Mapping[str, object], *flags: str) -> Iterator[Served]:
    state = folder / "state"
    config = folder / "netaudit.yaml"
    config.write_text(
        json.dumps(
            {
                "state_dir": str(state),
                "log_format": "json",
                "ingest": {"port": 0, "health_port": 0, **ingest},
                "metrics": {"port": 0},
            }
        )
    )
    log = folder / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [NETAUDIT, "--config", str(config), "serve", *flags],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    endpoints_file = state / "endpoints.json"
    try:
        deadline = time.monotonic() + 30
        while not endpoints_file.exists():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "netaudit serve did not start"
            time.sleep(0.1)
        yield Served(json.loads(endpoints_file.read_text()), log)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def health_status(channel: grpc.Channel) -> int:
    stub = health_pb2_grpc.HealthStub(channel)
    return int(stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status)


def reflected_services(channel: grpc.Channel) -> list[str]:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    request = reflection_pb2.ServerReflectionRequest(list_services="")
    response = next(iter(stub.ServerReflectionInfo(iter([request]), timeout=5)))
    return [service.name for service in response.list_services_response.service]


def test_serve_insecure_accepts_plaintext_and_warns_once(tmp_path: Path) -> None:
    with netaudit_serve(tmp_path, {}, "--insecure", "--reflection") as served:
        address = str(served.endpoints["grpc"])
        acks = stream(address, [hello(CLUSTER_B), chunk(report("r-b", CLUSTER_B))], None)
        assert [a.status for a in acks] == [ingest_pb2.ACK_STATUS_COMMITTED]
        with grpc.insecure_channel(address) as channel:
            assert "netaudit.v1.IngestService" in reflected_services(channel)
    warnings = [
        json.loads(line)
        for line in served.log.read_text().splitlines()
        if line.startswith("{") and '"warning"' in line
    ]
    assert [w["message"] for w in warnings if "insecure" in w["message"]] == [
        "ingest runs insecure: plaintext and no credentials, so anyone who reaches its port "
        "can write reports for any cluster; for loopback tests only"
    ]


def test_health_answers_on_the_plaintext_port_while_ingest_speaks_tls(
    pki: Pki, tmp_path: Path
) -> None:
    tls = {"tls_cert_file": str(pki.server.certificate), "tls_key_file": str(pki.server.key)}
    with netaudit_serve(tmp_path, tls) as served:
        with grpc.insecure_channel(str(served.endpoints["health"])) as channel:
            assert health_status(channel) == health_pb2.HealthCheckResponse.SERVING
        options = [("grpc.ssl_target_name_override", SERVER_NAME)]
        with grpc.secure_channel(
            str(served.endpoints["grpc"]), credentials(pki), options
        ) as tls_channel:
            for call in (
                lambda: health_status(tls_channel),
                lambda: reflected_services(tls_channel),
            ):
                assert refused(call).code() == grpc.StatusCode.UNIMPLEMENTED
        with grpc.insecure_channel(str(served.endpoints["grpc"])) as plain:
            assert refused(lambda: health_status(plain)).code() == grpc.StatusCode.UNAVAILABLE
    assert "insecure" not in served.log.read_text()


def test_serve_checks_its_ca_file_is_a_certificate(pki: Pki, tmp_path: Path) -> None:
    not_a_ca = tmp_path / CA_CERT_FILE
    not_a_ca.write_text("not a certificate\n")
    config = tmp_path / "netaudit.yaml"
    config.write_text(
        json.dumps(
            {
                "state_dir": str(tmp_path / "state"),
                "ingest": {
                    "tls_cert_file": str(pki.server.certificate),
                    "tls_key_file": str(pki.client_a.key),
                    "tls_client_ca_file": str(not_a_ca),
                },
            }
        )
    )
    result = subprocess.run(
        [NETAUDIT, "--config", str(config), "serve"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "is not the key of ingest.tls_cert_file" in lines[0]
    assert f"ingest.tls_client_ca_file {not_a_ca} holds no PEM certificate" in lines[0]
    assert not (tmp_path / "state" / "broker").exists(), "nothing starts on a bad TLS setting"
