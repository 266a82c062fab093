"""The sandbox fleet exported the way a user exports a fleet for ``netaudit audit``: each
cluster dumped with kubectl, each agent's snapshot written to a file, and a live scan
of the same fleet (ARM refresh, agent reports, the scan's chunk and fleet steps) to
compare with."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr

from netaudit.agent.config import load_settings
from netaudit.agent.dump import dumped_kinds
from netaudit.agent.kube import Kube
from netaudit.agent.report import build_report, cluster_identity
from netaudit.collector.config import AzureSettings
from netaudit.collector.inventory.arm import ArmReader, make_credential
from netaudit.collector.rules import RuleSettings
from netaudit.collector.store import Store
from netaudit.collector.tasks import evaluate_chunk, reduce_fleet
from netaudit.sandbox.runner import Sandbox, SandboxCluster
from netaudit.v1 import inventory_pb2, report_pb2

FindingKey = tuple[str, str, str, int, str]
"""(rule, cluster, resource, severity, message): what a live scan and an audit must share."""


def kubectl_dump(cluster: SandboxCluster, folder: Path, cache: Path) -> Path:
    """``kubectl get KIND -A -o json > KIND.json`` for every kind the gatherers read (kinds
    the cluster does not serve are skipped, as kubectl refuses them), and ``kubectl version``."""
    folder.mkdir(parents=True, exist_ok=True)
    base = ["kubectl", "--kubeconfig", str(cluster.kubeconfig), "--cache-dir", str(cache)]
    for kind in dumped_kinds():
        done = subprocess.run(
            [*base, "get", kind, "-A", "-o", "json"], capture_output=True, text=True, check=False
        )
        if done.returncode == 0:
            (folder / f"{kind}.json").write_text(done.stdout)
        else:
            assert "doesn't have a resource type" in done.stderr, done.stderr
    version = subprocess.run(
        [*base, "version", "-o", "json"], capture_output=True, text=True, check=True
    )
    (folder / "version.json").write_text(version.stdout)
    return folder


def agent_report(cluster: SandboxCluster, dns_server: str) -> report_pb2.Report:
    """What the agent in ``cluster`` reports (DNS probes against the sandbox DNS server)."""
    settings = load_settings(
        {
            "cluster": {"id": cluster.arm_resource_id, "region": cluster.region},
            "dns": {"server": dns_server, "extra_probe_names": list(cluster.dns_probe_names)},
        }
    )
    with Kube.connect(cluster.kubeconfig) as kube:
        return build_report(kube, cluster_identity(settings.cluster), settings)


def live_inventories(sandbox: Sandbox) -> list[inventory_pb2.ClusterInventory]:
    """What a refresh reads from the sandbox's ARM."""
    azure = AzureSettings(
        subscriptions=list(sandbox.subscriptions),
        arm_url=sandbox.arm_url,
        authority_url=sandbox.authority_url,
        tenant_id=sandbox.tenant_id,
        client_id=sandbox.client_id,
        client_secret=SecretStr(sandbox.client_secret),
        ca_bundle=sandbox.ca_pem,
    )
    return ArmReader.from_settings(azure, make_credential(azure)).read()


def read_inventories(sandbox: Sandbox, store: Store) -> None:
    """An inventory refresh from the sandbox's ARM, stored."""
    for inventory in live_inventories(sandbox):
        store.save_inventory(inventory)


def scan_in_process(store: Store) -> int:
    """A scan through the scan's own chunk and fleet steps, in this process; its id."""
    scan_id = store.start_scan()
    evaluate_chunk(store, scan_id, store.cluster_keys(), RuleSettings())
    reduce_fleet(store, scan_id, RuleSettings())
    return scan_id


def live_scan(sandbox: Sandbox, store: Store, reports: list[report_pb2.Report]) -> set[FindingKey]:
    """Refresh the inventory from the sandbox ARM, commit the reports, scan; the open
    findings."""
    read_inventories(sandbox, store)
    for report in reports:
        store.commit_report(report, agent_id="agent", received_at=datetime.now(UTC))
    scan_in_process(store)
    return {
        (f.rule_id, f.cluster_key, f.resource, f.severity, f.message)
        for f in (stored.finding for stored in store.open_findings())
    }
