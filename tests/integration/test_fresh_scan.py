"""`netaudit scan --fresh` and report requests across collector replicas, with real
processes on 127.0.0.1: `netaudit serve` (TLS, tokens), a worker, and `netaudit-agent`
processes reading the sandbox's Kubernetes API servers.

The demo's own pieces start the fleet (collector/demo.py), as `make demo` does.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
import yaml

from netaudit.collector.certificates import CA_CERT_FILE, SERVER_CERT_FILE, SERVER_KEY_FILE
from netaudit.collector.config import AdminSettings, load_settings
from netaudit.collector.demo import (
    AgentCredentials,
    _agent,
    agent_credentials,
    demo_tls,
    start_fleet,
    wait_for_endpoints,
    write_secret,
)
from netaudit.collector.ingest.admin_client import FreshReports, request_fresh_reports
from netaudit.collector.processes import ManagedProcess
from netaudit.collector.store import Store, upgrade
from netaudit.sandbox.runner import Sandbox, SandboxCluster, start_sandbox
from netaudit.v1 import ingest_pb2, ingest_pb2_grpc, report_pb2
from tests.integration.store_databases import throwaway_postgresql

NETAUDIT = str(Path(sys.executable).with_name("netaudit"))
AGENT_INTERVAL_SECONDS = 300
"""Long: after its first report, an agent reports again only when asked."""
REPLICA_REDIS_DB = 11


def wait_for_reports(store: Store, keys: list[str], count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while any(store.report_count(key) < count for key in keys):
        assert time.monotonic() < deadline, f"no report {count} from {keys}"
        time.sleep(0.2)


def admin_config(folder: Path, config: Path, store: Store, tls: Path) -> Path:
    token_file = folder / "admin-token"
    write_secret(token_file, store.create_admin_token("ci").token)
    settings = yaml.safe_load(config.read_text())
    settings["admin"] = {"token_file": str(token_file), "tls_root_cert": str(tls / CA_CERT_FILE)}
    path = folder / "fresh.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def latest_answers(store: Store, key: str) -> list[str]:
    latest = store.latest_report(key)
    assert latest is not None
    return list(latest.report.answers_request_ids)


def test_scan_fresh_names_the_clusters_that_answered_and_the_agent_that_is_down(
    tmp_path: Path,
) -> None:
    with ExitStack() as stack:
        fleet = start_fleet(tmp_path, stack, lambda _message: None)
        up, down = fleet.sandbox.clusters[:2]
        grpc_address = fleet.endpoints.grpc
        store = stack.enter_context(Store(fleet.settings.store_url))
        # The cluster whose agent is down: the store holds a report it sent before.
        earlier = raw_report(down, "down-1", 1).chunk.data
        store.commit_report(
            report_pb2.Report.FromString(earlier), agent_id="gone", received_at=datetime.now(UTC)
        )
        stack.enter_context(
            _agent(
                up,
                fleet.sandbox,
                grpc_address,
                tmp_path,
                fleet.credentials[up.name],
                AGENT_INTERVAL_SECONDS,
            )
        )
        wait_for_reports(store, [up.key], 1)
        config = admin_config(tmp_path, fleet.config, store, tmp_path / "tls")
        result = subprocess.run(
            [NETAUDIT, "--config", str(config), "scan", "--fresh", "--fresh-timeout", "20"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert "fresh reports: 1/1 answered" in result.stderr
        summary = result.stderr[result.stderr.index("fresh reports (request") :]
        assert (
            f"  answered: 1\n    {up.key}\n"
            "  timed out (scanned on its last report): 0\n"
            f"  not connected (scanned on its last report): 1\n    {down.key}\n"
        ) in summary, summary
        match = re.search(r"fresh reports \(request ([0-9a-f-]+)\)", summary)
        assert match is not None
        # the agent carried the request id back in the report it gathered when asked
        assert latest_answers(store, up.key) == [match.group(1)]
        assert store.report_count(up.key) == 2
        assert store.report_count(down.key) == 1
        assert re.search(r"scan \d+: 2 cluster\(s\)", result.stderr), result.stderr


def test_scan_fresh_without_an_admin_credential_fails_in_one_line(tmp_path: Path) -> None:
    tls = demo_tls(tmp_path)
    config = tmp_path / "serve.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "state_dir": str(tmp_path / "state"),
                "ingest": {
                    "port": 0,
                    "health_port": 0,
                    "tls_cert_file": str(tls / SERVER_CERT_FILE),
                    "tls_key_file": str(tls / SERVER_KEY_FILE),
                },
                "metrics": {"port": 0},
                "admin": {"tls_root_cert": str(tls / CA_CERT_FILE)},
            }
        )
    )
    with ManagedProcess(
        "serve", [NETAUDIT, "--config", str(config), "serve"], tmp_path / "serve.log"
    ) as serve:
        wait_for_endpoints(load_settings(config), serve)
        result = subprocess.run(
            [NETAUDIT, "--config", str(config), "scan", "--fresh"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("netaudit: error")]
    assert len(errors) == 1 and "UNAUTHENTICATED" in errors[0], result.stderr


# -- replicas -----------------------------------------------------------------------


def replica_config(
    folder: Path, name: str, store_url: str, queue: str, tls: Path
) -> tuple[Path, Path]:
    state = folder / name
    config = folder / f"{name}.yaml"
    broker = f"redis://127.0.0.1:6379/{REPLICA_REDIS_DB}"
    config.write_text(
        yaml.safe_dump(
            {
                "state_dir": str(state),
                "log_format": "json",
                "store": {"url": store_url},
                "broker": {"url": broker, "result_backend": broker, "queue": queue},
                "ingest": {
                    "port": 0,
                    "health_port": 0,
                    "tls_cert_file": str(tls / SERVER_CERT_FILE),
                    "tls_key_file": str(tls / SERVER_KEY_FILE),
                },
                "metrics": {"port": 0},
            }
        )
    )
    return config, state


@pytest.fixture
def replicas_store() -> Iterator[str]:
    with throwaway_postgresql() as url:
        upgrade(url)
        yield url


def start_replica(
    stack: ExitStack, folder: Path, name: str, store_url: str, queue: str, tls: Path
) -> str:
    config, _state = replica_config(folder, name, store_url, queue, tls)
    process = stack.enter_context(
        ManagedProcess(name, [NETAUDIT, "--config", str(config), "serve"], folder / f"{name}.log")
    )
    return wait_for_endpoints(load_settings(config), process).grpc


def ask(address: str, admin: AdminSettings) -> FreshReports:
    return request_fresh_reports(admin, address, [], 20, lambda _event: None)


def raw_report(cluster: SandboxCluster, report_id: str, sequence: int) -> ingest_pb2.StreamRequest:
    report = report_pb2.Report(
        report_id=report_id,
        cluster=report_pb2.ClusterIdentity(
            arm_resource_id=cluster.arm_resource_id, name=cluster.name, region=cluster.region
        ),
        agent_epoch=7,
        sequence=sequence,
    )
    report.gathered_at.GetCurrentTime()
    return ingest_pb2.StreamRequest(
        chunk=ingest_pb2.ReportChunk(
            report_id=report_id,
            agent_epoch=7,
            sequence=sequence,
            chunk_count=1,
            data=report.SerializeToString(),
        )
    )


def send(
    address: str, cluster: SandboxCluster, credentials: AgentCredentials, report: object
) -> list[int]:
    """One raw stream: hello as `cluster`, the report; the acks' statuses."""
    hello = ingest_pb2.StreamRequest(
        hello=ingest_pb2.AgentHello(
            agent_id="replayer",
            agent_epoch=7,
            cluster=report_pb2.ClusterIdentity(arm_resource_id=cluster.arm_resource_id),
            contract_version=_contract_version(),
        )
    )
    root = credentials.root_cert.read_bytes()
    token = credentials.token_file.read_text().strip()
    with grpc.secure_channel(address, grpc.ssl_channel_credentials(root)) as channel:
        stub = ingest_pb2_grpc.IngestServiceStub(channel)

        def messages() -> Iterator[ingest_pb2.StreamRequest]:
            yield hello
            yield report  # type: ignore[misc]
            time.sleep(2)  # half-close only after the ack came back

        acks = stub.Stream(messages(), metadata=(("authorization", f"Bearer {token}"),), timeout=20)
        return [ack.ack.status for ack in acks if ack.HasField("ack")]


def _contract_version() -> int:
    from netaudit.contract import CONTRACT_VERSION

    return CONTRACT_VERSION


def test_a_request_through_either_replica_reaches_every_agent(
    tmp_path: Path, replicas_store: str
) -> None:
    queue = f"fresh-{uuid.uuid4().hex[:8]}"
    tls = demo_tls(tmp_path)
    with ExitStack() as stack:
        sandbox: Sandbox = stack.enter_context(start_sandbox(tmp_path / "sandbox"))
        first, second = sandbox.clusters[:2]
        replica_settings = load_settings(
            replica_config(tmp_path, "a", replicas_store, queue, tls)[0]
        )
        credentials = agent_credentials(replica_settings, sandbox, tmp_path, tls)
        replica_a = start_replica(stack, tmp_path, "a", replicas_store, queue, tls)
        replica_b = start_replica(stack, tmp_path, "b", replicas_store, queue, tls)
        for cluster, address in ((first, replica_a), (second, replica_b)):
            stack.enter_context(
                _agent(
                    cluster,
                    sandbox,
                    address,
                    tmp_path,
                    credentials[cluster.name],
                    AGENT_INTERVAL_SECONDS,
                )
            )
        store = stack.enter_context(Store(replicas_store))
        wait_for_reports(store, [first.key, second.key], 1)
        token_file = tmp_path / "admin-token"
        write_secret(token_file, store.create_admin_token("ci").token)
        admin = AdminSettings(token_file=token_file, tls_root_cert=tls / CA_CERT_FILE)

        through_a = ask(replica_a, admin)
        through_b = ask(replica_b, admin)

        for outcome in (through_a, through_b):
            assert sorted(outcome.answered) == sorted([first.key, second.key])
            assert outcome.timed_out == [] and outcome.not_connected == []
        for cluster in (first, second):
            assert store.report_count(cluster.key) == 3
            assert latest_answers(store, cluster.key) == [through_b.request_id]
        # One report reaching both replicas (an agent that resent it after reconnecting
        # elsewhere) is stored once; the later one, committed after it, is the latest.
        third = sandbox.clusters[2]
        assert send(replica_a, third, credentials[third.name], raw_report(third, "r-1", 1)) == [
            ingest_pb2.ACK_STATUS_COMMITTED
        ]
        assert send(replica_b, third, credentials[third.name], raw_report(third, "r-1", 1)) == [
            ingest_pb2.ACK_STATUS_DUPLICATE
        ]
        assert send(replica_b, third, credentials[third.name], raw_report(third, "r-2", 2)) == [
            ingest_pb2.ACK_STATUS_COMMITTED
        ]
        assert store.report_count(third.key) == 2
        latest = store.latest_report(third.key)
        assert latest is not None and latest.report.report_id == "r-2"
