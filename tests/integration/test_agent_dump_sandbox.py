"""A kubectl dump of each sandbox cluster, read through the agent's gatherers, reports what
the live agent reports against the same cluster, except what a dump cannot hold (DNS
probes, pod logs, pod metrics)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from netaudit.agent.dump import NOT_IN_DUMP, load_dump, report_from_dump
from netaudit.agent.summary import read_report
from netaudit.sandbox.runner import Sandbox, start_sandbox
from netaudit.v1 import report_pb2
from tests.conftest import require
from tests.integration.sandbox_exports import agent_report, kubectl_dump

AGENT = Path(sys.executable).parent / "netaudit-agent"
NOT_DUMPED_READS = ("pods/log ", "pods/proxy ")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with start_sandbox(tmp_path_factory.mktemp("sandbox")) as running:
        yield running


@pytest.fixture(scope="module")
def dumps(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require("kubectl")
    root = tmp_path_factory.mktemp("dumps")
    return {c.name: kubectl_dump(c, root / c.name, root / ".kube-cache") for c in sandbox.clusters}


def without_dump_limits(report: report_pb2.Report) -> report_pb2.Report:
    """The report minus what differs per report or cannot come from a dump."""
    copied = report_pb2.Report()
    copied.CopyFrom(report)
    for per_report in ("report_id", "gathered_at", "agent_epoch", "sequence"):
        copied.ClearField(per_report)
    for not_dumped in ("probes", "reload_errors", "metrics"):
        copied.coredns.ClearField(not_dumped)
    copied.cni.ClearField("cns_metrics")  # azure-cns's /metrics, a pod endpoint too
    kept = [g for g in copied.gaps if not g.resource.startswith(NOT_DUMPED_READS)]
    del copied.gaps[:]
    copied.gaps.extend(kept)
    copied.cluster.ClearField("agent_version")
    for node in copied.nodes:  # when each agent read the NodeNetworkConfigs
        node.node_network_config.ClearField("observed_at")
    return copied


@pytest.mark.parametrize("name", ["aks-kubenet-weu", "aks-cni-neu", "aks-overlay-priv-weu"])
def test_a_dump_reports_what_the_live_agent_reports(
    name: str, sandbox: Sandbox, dumps: dict[str, Path]
) -> None:
    cluster = sandbox.cluster(name)
    live = agent_report(cluster, sandbox.dns_server)
    dump = load_dump(dumps[name])
    assert dump.warnings == []
    from_dump = report_from_dump(dump, live.cluster)
    assert without_dump_limits(from_dump) == without_dump_limits(live)
    assert live.coredns.probes and not from_dump.coredns.probes
    dump_only = {(g.resource.split(" ")[0], g.reason) for g in from_dump.gaps} - {
        (g.resource.split(" ")[0], g.reason) for g in live.gaps
    }
    assert dump_only == {("pods/log", NOT_IN_DUMP), ("pods/proxy", NOT_IN_DUMP)}


def test_overlay_reload_errors_need_the_logs_a_dump_lacks(
    sandbox: Sandbox, dumps: dict[str, Path]
) -> None:
    cluster = sandbox.cluster("aks-overlay-priv-weu")
    live = agent_report(cluster, sandbox.dns_server)
    from_dump = report_from_dump(load_dump(dumps[cluster.name]), live.cluster)
    assert live.coredns.reload_errors and not from_dump.coredns.reload_errors


def test_snapshot_from_dump_writes_the_report(
    sandbox: Sandbox, dumps: dict[str, Path], tmp_path: Path
) -> None:
    cluster = sandbox.cluster("aks-cni-neu")
    (dumps[cluster.name] / "cluster-id").write_text(cluster.arm_resource_id + "\n")
    output = tmp_path / "aks-cni-neu.json"
    done = subprocess.run(
        [
            str(AGENT),
            "snapshot",
            "--from-dump",
            str(dumps[cluster.name]),
            "--region",
            cluster.region,
            "-o",
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"to {output}" in done.stdout
    written = read_report(output)
    assert written.cluster.arm_resource_id == cluster.arm_resource_id
    assert written.cluster.name == "aks-cni-neu"
    live = agent_report(cluster, sandbox.dns_server)
    assert without_dump_limits(written) == without_dump_limits(live)


def test_snapshot_from_dump_refuses_live_cluster_flags(
    dumps: dict[str, Path], tmp_path: Path
) -> None:
    done = subprocess.run(
        [
            str(AGENT),
            "snapshot",
            "--from-dump",
            str(dumps["aks-kubenet-weu"]),
            "--dns-server",
            "127.0.0.1:53",
            "-o",
            str(tmp_path / "r.pb"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "netaudit-agent: error: --from-dump reads no live cluster: drop --dns-server"
    )
    assert not (tmp_path / "r.pb").exists()
