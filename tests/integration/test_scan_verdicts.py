"""Verdicts over real loopback servers: the sandbox's Kubernetes API and ARM, the agent's
own gatherers, the store, and the scan's chunk and fleet steps (in this process; the
Celery path is tested in test_celery_scan).

The user story of the verdicts issue: when the agent may no longer read config maps,
the CoreDNS rules come out not assessed with the reason, and the open critical
DNS-002 stays open instead of being marked resolved."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from netaudit.collector.store import Store, upgrade
from netaudit.sandbox.kube_api import KubeFaults
from netaudit.sandbox.runner import start_sandbox
from netaudit.sandbox.sample_fleet import DEFAULT_FLEET_ROOT, load_sample_fleet
from tests.integration.sandbox_exports import agent_report as gather
from tests.integration.sandbox_exports import read_inventories, scan_in_process

CLUSTER = "aks-overlay-priv-weu"
COREDNS_CONFIG_RULES = ("DNS-001", "DNS-002", "DNS-003", "DNS-005", "DNS-006", "DNS-011")


def scan(store: Store) -> int:
    return scan_in_process(store)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'netaudit.db'}"
    upgrade(url)
    with Store(url) as opened:
        yield opened


def test_forbidden_config_maps_leave_the_coredns_rules_not_assessed_and_dns_002_open(
    tmp_path: Path, store: Store
) -> None:
    with start_sandbox(tmp_path / "open") as running:
        cluster = running.cluster(CLUSTER)
        read_inventories(running, store)
        first = gather(cluster, running.dns_server)
    store.commit_report(first, agent_id="agent-1", received_at=datetime.now(UTC))
    scan(store)
    (dns_002,) = [f for f in store.open_findings(cluster.key) if f.finding.rule_id == "DNS-002"]
    outcomes = {o.rule_id: o for o in store.outcomes(cluster.key)}
    assert outcomes["DNS-002"].outcome == "findings"

    faults = {CLUSTER: KubeFaults(forbidden=("configmaps",))}
    with start_sandbox(tmp_path / "forbidden", kube_faults=faults) as running:
        second = gather(running.cluster(CLUSTER), running.dns_server)
    assert any(g.reason == "forbidden" and "configmaps" in g.resource for g in second.gaps)
    store.commit_report(second, agent_id="agent-1", received_at=datetime.now(UTC))
    later = scan(store)

    still_open = {f.fingerprint: f for f in store.open_findings(cluster.key)}
    assert dns_002.fingerprint in still_open, "unknown must not resolve the critical finding"
    assert still_open[dns_002.fingerprint].last_seen == dns_002.last_seen
    outcomes = {o.rule_id: o for o in store.outcomes(cluster.key)}
    for rule_id in COREDNS_CONFIG_RULES:
        assert outcomes[rule_id].outcome == "not_assessed", rule_id
        assert "could not read configmaps/v1 kube-system/coredns" in outcomes[rule_id].reason
        assert "forbidden" in outcomes[rule_id].reason
    assert outcomes["DNS-007"].outcome in {"passed", "findings"}, "replicas come from deployments"
    totals = store.scan_outcome_totals(later)
    assert totals[("DNS-002", "not_assessed")] == 3, "the other two clusters sent no report"
    assert ("DNS-002", "passed") not in totals


def test_a_cluster_without_an_agent_report_is_not_assessed_on_agent_rules(
    tmp_path: Path, store: Store
) -> None:
    with start_sandbox(tmp_path / "sandbox") as running:
        read_inventories(running, store)
    scan_id = scan(store)
    outcomes = {(o.cluster_key.rsplit("/", 1)[-1], o.rule_id): o for o in store.outcomes()}
    gateway = outcomes[(CLUSTER, "GWA-002")]
    assert (gateway.outcome, gateway.reason) == (
        "not_assessed",
        "no agent report from this cluster",
    )
    assert outcomes[(CLUSTER, "PDN-001")].outcome == "findings"
    totals = store.scan_outcome_totals(scan_id)
    assert sum(totals.values()) == 3 * 98
    assert ("GWA-002", "passed") not in totals


@pytest.mark.parametrize(("minutes_apart", "expected"), [(15, "findings"), (5, "not_assessed")])
def test_azure_cns_requesting_more_than_its_pool_lasts_across_two_received_reports(
    tmp_path: Path, store: Store, minutes_apart: int, expected: str
) -> None:
    # vmss000002's azure-cns asks for 272 IPs and holds 256, in both reports; the collector
    # received them 15 (or 5) minutes apart: CNI-007's azure-cns signal, through the store
    root = tmp_path / "fleet"
    shutil.copytree(DEFAULT_FLEET_ROOT, root)
    exposition = root / "kube" / CLUSTER / "proxy/kube-system/azure-cns-n4d75/10092/metrics.txt"
    text = exposition.read_text()
    exposition.write_text(
        text.replace(
            'subnet_cidr="10.244.0.0/16"} 0\n# HELP cx_ipam_subnet',
            'subnet_cidr="10.244.0.0/16"} 272\n# HELP cx_ipam_subnet',
        )
    )
    assert exposition.read_text() != text
    now = datetime.now(UTC)
    with start_sandbox(tmp_path / "run", fleet=load_sample_fleet(root)) as running:
        cluster = running.cluster(CLUSTER)
        read_inventories(running, store)
        for sequence, received in enumerate((now - timedelta(minutes=minutes_apart), now), 1):
            report = gather(cluster, running.dns_server)
            report.sequence = sequence
            store.commit_report(report, agent_id="agent-1", received_at=received)
    scan(store)
    outcome = {o.rule_id: o for o in store.outcomes(cluster.key)}["CNI-007"]
    assert outcome.outcome == expected, outcome.reason
    if expected == "findings":
        (finding,) = [f.finding for f in store.open_findings(cluster.key)
                      if f.finding.rule_id == "CNI-007"]  # fmt: skip
        assert dict(finding.evidence) | {"first_observed_short": "", "last_observed_short": ""} == {
            "nodes": "1",
            "node_names": "aks-nodepool1-40915282-vmss000002",
            "cx_ipam_requested_ips": "272",
            "cx_ipam_total_ips": "256",
            "cx_ipam_node_names": "aks-nodepool1-40915282-vmss000002",
            "first_observed_short": "",
            "last_observed_short": "",
        }
    else:
        assert "no report at least 10 minutes older" in outcome.reason
