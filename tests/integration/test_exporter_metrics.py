"""/metrics scraped over HTTP: computed from the store, lint-clean for promtool."""

from __future__ import annotations

import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest, start_http_server
from prometheus_client.parser import text_string_to_metric_families

from netaudit.collector.config import AzureSettings
from netaudit.collector.exporter import StoreCollector
from netaudit.collector.inventory.arm import ArmReader, make_credential
from netaudit.collector.rules import RuleSettings
from netaudit.collector.store import Store, upgrade
from netaudit.collector.tasks import evaluate_chunk, reduce_fleet
from netaudit.sandbox.runner import start_sandbox
from netaudit.v1 import audit_pb2, report_pb2
from tests.conftest import require

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A store holding the sample fleet's inventory (read from the ARM sandbox), one report
    and one finding."""
    folder = tmp_path_factory.mktemp("metrics")
    url = f"sqlite:///{folder / 'netaudit.db'}"
    upgrade(url)
    store = Store(url)
    with start_sandbox(folder / "sandbox") as sandbox:
        azure = AzureSettings(
            subscriptions=list(sandbox.subscriptions),
            arm_url=sandbox.arm_url,
            authority_url=sandbox.authority_url,
            tenant_id=sandbox.tenant_id,
            client_id=sandbox.client_id,
            client_secret=sandbox.client_secret,
            ca_bundle=sandbox.ca_pem,
        )
        for inventory in ArmReader.from_settings(azure, make_credential(azure)).read():
            store.save_inventory(inventory)
    cni = next(k for k in store.cluster_keys() if k.endswith("/aks-cni-neu"))
    report = report_pb2.Report(report_id="r1", agent_epoch=1, sequence=1)
    report.cluster.arm_resource_id = cni
    report.cluster.name = "aks-cni-neu"
    store.commit_report(report, agent_id="agent-1", received_at=NOW)
    scan = store.start_scan()
    finding = audit_pb2.Finding(
        rule_id="CNI-002", severity=audit_pb2.SEVERITY_HIGH, cluster_key=cni, resource="s1"
    )
    store.record_findings(scan, cni, [finding], now=NOW)
    store.finish_scan(scan, status="succeeded", clusters=1, findings=1)
    yield store
    store.close()


@pytest.fixture(scope="module")
def scrape(store: Store) -> Iterator[str]:
    registry = CollectorRegistry()
    registry.register(StoreCollector(store))
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            yield response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    ]


def test_promtool_finds_no_lint_problems(scrape: str, tmp_path: Path) -> None:
    require("promtool")
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=scrape, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_near_exhausted_subnet_shows_its_utilisation_with_labels(scrape: str) -> None:
    ratios = {
        labels["subnet"]: (labels, value)
        for labels, value in _samples(scrape, "netaudit_subnet_ip_utilization_ratio")
    }
    labels, value = ratios["snet-cni"]
    assert value == pytest.approx(248 / 251)
    assert labels == {
        "subscription_id": "aaaaaaaa-0000-0000-0000-000000000001",
        "resource_group": "rg-net-neu",
        "virtual_network": "vnet-neu",
        "subnet": "snet-cni",
    }
    assert ratios["snet-kubenet"][1] < 0.1
    capacity = {
        labels["subnet"]: value
        for labels, value in _samples(scrape, "netaudit_subnet_ip_capacity_addresses")
    }
    assert capacity["snet-cni"] == 251


def test_required_addresses_at_max_scale_exceed_capacity_for_the_cni_subnet(scrape: str) -> None:
    required = {
        labels["subnet"]: value
        for labels, value in _samples(scrape, "netaudit_subnet_ip_required_addresses")
    }
    assert required["snet-cni"] == 403


def test_findings_and_agent_report_times_come_from_the_store(scrape: str) -> None:
    assert _samples(scrape, "netaudit_open_findings") == [
        ({"rule_id": "CNI-002", "severity": "high"}, 1.0)
    ]
    assert _samples(scrape, "netaudit_agent_last_report_timestamp_seconds") == [
        (
            {
                "subscription_id": "aaaaaaaa-0000-0000-0000-000000000001",
                "resource_group": "rg-payments-neu",
                "cluster": "aks-cni-neu",
            },
            NOW.timestamp(),
        )
    ]
    assert _samples(scrape, "netaudit_store_up") == [({}, 1.0)]


def test_rule_evaluations_show_coverage_of_the_last_finished_scan(
    store: Store, tmp_path: Path
) -> None:
    """A scan through the scan's own chunk and fleet steps on a copy of the sample store:
    the agent rules on the two clusters without a report are counted as not assessed."""
    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    upgrade(copy)
    with Store(copy) as scanned:
        for inventory in store.all_inventories():
            scanned.save_inventory(inventory)
        scan_id = scanned.start_scan()
        keys = scanned.cluster_keys()
        evaluate_chunk(scanned, scan_id, keys, RuleSettings())
        reduce_fleet(scanned, scan_id, RuleSettings())
        scanned.finish_scan(scan_id, status="succeeded", clusters=len(keys), findings=0)
        registry = CollectorRegistry()
        registry.register(StoreCollector(scanned))
        text = generate_latest(registry).decode()
    evaluations = {
        (labels["rule_id"], labels["outcome"]): value
        for labels, value in _samples(text, "netaudit_rule_evaluations")
    }
    assert evaluations[("GWA-002", "not_assessed")] == 3
    assert evaluations[("CNI-001", "findings")] == 1
    assert evaluations[("CNI-001", "passed")] == 2
    assert sum(evaluations.values()) == 3 * 98
