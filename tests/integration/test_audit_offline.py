"""The offline audit of exported files equals a live scan of the same fleet.

The live path runs in this process as test_scan_verdicts does: the sandbox's ARM and
Kubernetes API servers, the agent's gatherers, ArmReader, the store and the scan's
chunk and fleet steps. The offline path reads the sample fleet's ARM files and the
agents' snapshot files (or kubectl dumps) with no server, broker or Azure access."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netaudit.agent.summary import write_report
from netaudit.audit.arm_files import read_arm_files
from netaudit.audit.offline import FleetAudit, audit_files
from netaudit.collector.rules import Outcome
from netaudit.collector.store import Store, upgrade
from netaudit.sandbox.runner import Sandbox, start_sandbox
from netaudit.sandbox.sample_fleet import DEFAULT_FLEET_ROOT, load_sample_fleet
from netaudit.v1 import report_pb2
from tests.conftest import SHARED_FIXTURES, require
from tests.integration.sandbox_exports import (
    FindingKey,
    agent_report,
    kubectl_dump,
    live_inventories,
    live_scan,
)

KUBENET_POOL = "resources/managedclusters/aks-kubenet-weu.json"
SHOP = "/subscriptions/bbbbbbbb-0000-0000-0000-000000000002/resourceGroups"
OVERLAY_ID = (
    f"{SHOP}/rg-shop-weu/providers/Microsoft.ContainerService/managedClusters/aks-overlay-priv-weu"
)
NODE_GROUP = f"{SHOP}/MC_rg-shop-weu_aks-overlay-priv-weu_westeurope/providers/Microsoft.Network"


def findings(audit: FleetAudit) -> set[FindingKey]:
    return {(f.rule_id, f.cluster_key, f.resource, f.severity, f.message) for f in audit.findings}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'netaudit.db'}"
    upgrade(url)
    with Store(url) as opened:
        yield opened


def snapshots(sandbox: Sandbox, folder: Path) -> tuple[list[report_pb2.Report], list[Path]]:
    """Each agent's report, and the snapshot files `netaudit-agent snapshot` would write
    (JSON for one cluster, binary protobuf for the others)."""
    folder.mkdir(parents=True, exist_ok=True)
    reports, files = [], []
    for index, cluster in enumerate(sandbox.clusters):
        report = agent_report(cluster, sandbox.dns_server)
        path = folder / f"{cluster.name}.{'json' if index == 0 else 'pb'}"
        write_report(report, path)
        reports.append(report)
        files.append(path)
    return reports, files


def scan_and_audit(
    fleet_root: Path, workdir: Path, store: Store
) -> tuple[set[FindingKey], FleetAudit, Store]:
    fleet = load_sample_fleet(fleet_root)
    with start_sandbox(workdir / "sandbox", fleet) as running:
        reports, files = snapshots(running, workdir / "snapshots")
        live = live_scan(running, store, reports)
    return live, audit_files(arm=fleet_root / "arm", report_files=files), store


def test_the_audit_of_the_sample_fleets_files_equals_the_live_scan(
    tmp_path: Path, store: Store
) -> None:
    live, audit, _ = scan_and_audit(DEFAULT_FLEET_ROOT, tmp_path, store)
    assert audit.warnings == () and audit.fleet_errors == ()
    assert live, "the sample fleet has findings"
    assert findings(audit) == live
    # Not only the findings: every (cluster, rule) ends the same way, for the same reason.
    outcomes = {
        (c.cluster_key, o.rule_id): (o.outcome, o.reason)
        for c in audit.clusters
        for o in c.outcomes
    }
    assert outcomes == {
        (o.cluster_key, o.rule_id): (Outcome(o.outcome), o.reason) for o in store.outcomes()
    }
    assert {c.name for c in audit.clusters} == {
        "aks-kubenet-weu",
        "aks-cni-neu",
        "aks-overlay-priv-weu",
    }
    for cluster in audit.clusters:
        assert cluster.findings and cluster.passed and cluster.not_assessed, cluster.name


def test_altering_one_fixture_changes_both_alike(tmp_path: Path, store: Store) -> None:
    """The kubenet cluster's pool moved onto the Azure CNI cluster's subnet: the cluster and
    fleet-wide verdicts move, in the live scan and the audit alike."""
    root = Path(shutil.copytree(DEFAULT_FLEET_ROOT, tmp_path / "fleet"))
    cluster_file = root / "arm" / KUBENET_POOL
    body = json.loads(cluster_file.read_text())
    (pool,) = body["properties"]["agentPoolProfiles"]
    pool["vnetSubnetID"] = pool["vnetSubnetID"].replace(
        "rg-net-weu/providers/Microsoft.Network/virtualNetworks/vnet-weu/subnets/snet-kubenet",
        "rg-net-neu/providers/Microsoft.Network/virtualNetworks/vnet-neu/subnets/snet-cni",
    )
    cluster_file.write_text(json.dumps(body))
    live, audit, _ = scan_and_audit(root, tmp_path, store)
    assert findings(audit) == live
    original = findings(audit_files(arm=DEFAULT_FLEET_ROOT / "arm"))
    altered = findings(audit_files(arm=root / "arm"))
    assert original != altered
    shared = [f for f in live if "snet-cni" in f[2] and "aks-kubenet-weu" in f[1]]
    assert shared, "the kubenet cluster now draws on snet-cni"


@pytest.fixture
def dumps(tmp_path: Path) -> Iterator[tuple[Sandbox, Path]]:
    require("kubectl")
    with start_sandbox(tmp_path / "sandbox") as running:
        root = tmp_path / "k8s"
        for cluster in running.clusters:
            kubectl_dump(cluster, root / cluster.name, tmp_path / ".kube-cache")
        yield running, root


def test_with_kubectl_dumps_only_the_rules_needing_probes_logs_or_metrics_differ(
    dumps: tuple[Sandbox, Path], store: Store
) -> None:
    running, root = dumps
    live = live_scan(
        running, store, [agent_report(c, running.dns_server) for c in running.clusters]
    )
    audit = audit_files(arm=DEFAULT_FLEET_ROOT / "arm", k8s=root)
    assert audit.warnings == ()
    from_dumps = findings(audit)
    assert from_dumps <= live
    missing = live - from_dumps
    assert missing, "the overlay cluster's CoreDNS reload errors are only in its pod logs"
    for rule_id, cluster_key, *_ in missing:
        outcome = next(o for o in audit.cluster(cluster_key).outcomes if o.rule_id == rule_id)
        assert outcome.outcome is Outcome.NOT_ASSESSED, (rule_id, outcome)
        assert "not in a dump" in outcome.reason or "DNS probe" in outcome.reason, outcome.reason


def shared_body(relative: str) -> dict[str, Any]:
    document = json.loads((SHARED_FIXTURES / "arm" / relative).read_text())
    body: dict[str, Any] = document["responses"]["200"]["body"]
    return body


def add_security_group_and_endpoint(root: Path) -> None:
    """snet-overlay gets another NSG (NetworkSecurityGroupGet) and the overlay cluster
    another private endpoint in its node resource group (PrivateEndpointGet, its addresses
    only on its network interface, NetworkInterfaceGet): shared fixtures, ids rewritten."""
    network = root / "arm/resources/network"
    nsg = shared_body("network/NetworkSecurityGroupGet.json")
    nsg["id"] = f"{SHOP}/rg-net-shop/providers/Microsoft.Network/networkSecurityGroups/nsg-test"
    (network / "nsg-test.json").write_text(json.dumps(nsg))
    vnet = json.loads((network / "vnet-shop.json").read_text())
    overlay = next(s for s in vnet["properties"]["subnets"] if s["name"] == "snet-overlay")
    overlay["properties"]["networkSecurityGroup"] = {"id": nsg["id"]}
    (network / "vnet-shop.json").write_text(json.dumps(vnet))
    nic = shared_body("network/NetworkInterfaceGet.json")
    nic["id"] = f"{NODE_GROUP}/networkInterfaces/pe-test.nic"
    (network / "pe-test-nic.json").write_text(json.dumps(nic))
    endpoint = shared_body("network/PrivateEndpointGet.json")
    endpoint["id"] = f"{NODE_GROUP}/privateEndpoints/pe-test"
    properties = endpoint["properties"]
    properties["privateLinkServiceConnections"][0]["properties"]["privateLinkServiceId"] = (
        OVERLAY_ID
    )
    properties["networkInterfaces"] = [{"id": nic["id"]}]
    del properties["ipConfigurations"], properties["customDnsConfigs"]
    (network / "pe-test.json").write_text(json.dumps(endpoint))


def test_the_files_assemble_what_a_live_refresh_reads(tmp_path: Path) -> None:
    """Network security groups, and a private endpoint read through its network interface."""
    root = Path(shutil.copytree(DEFAULT_FLEET_ROOT, tmp_path / "fleet"))
    add_security_group_and_endpoint(root)
    with start_sandbox(tmp_path / "sandbox", load_sample_fleet(root)) as running:
        live = {i.arm_resource_id.lower(): i for i in live_inventories(running)}
    files = read_arm_files(root / "arm")
    assert files.warnings == []
    for inventory in files.inventories:
        expected = live[inventory.arm_resource_id.lower()]
        for read in (expected, inventory):
            read.ClearField("refreshed_at")
            read.ClearField("details_read_at")
        assert inventory == expected, inventory.name
    overlay = next(i for i in files.inventories if i.name == "aks-overlay-priv-weu")
    (nsg,) = overlay.network_security_groups
    assert nsg.name == "testnsg"
    endpoint = next(e for e in overlay.private_endpoints if e.name == "testPe")
    assert endpoint.address_source == "networkInterface"
    assert list(endpoint.private_ip_addresses) == ["172.20.2.4"]
