"""/metrics scraped over HTTP: samples computed by a scan and stored, lint-clean for promtool.

The store holds the sample fleet's inventory (read from the ARM sandbox) and one agent
report; a scan through the scan's own chunk and closing steps computes and stores the
samples; the scrape only reads them.
"""

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
from netaudit.collector.tasks import conclude_scan, evaluate_chunk
from netaudit.sandbox.runner import start_sandbox
from netaudit.v1 import report_pb2
from tests.conftest import require

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
PLATFORM = "aaaaaaaa-0000-0000-0000-000000000001"
CNI_CLUSTER = {
    "subscription_id": PLATFORM,
    "resource_group": "rg-payments-neu",
    "cluster": "aks-cni-neu",
}


def _report(cluster_key: str) -> report_pb2.Report:
    """A hand-made report: CoreDNS with 2 ready replicas, a probe answered in 12 ms and one
    that timed out, a programmed Gateway and one its controller refused."""
    report = report_pb2.Report(report_id="r1", agent_epoch=1, sequence=1)
    report.gathered_at.FromDatetime(NOW)
    report.cluster.arm_resource_id = cluster_key
    report.cluster.name = "aks-cni-neu"
    report.coredns.deployments.add(
        kind="Deployment",
        namespace="kube-system",
        name="coredns",
        desired_replicas=2,
        ready_replicas=2,
        available_replicas=2,
    )
    report.coredns.probes.add(
        name="kubernetes.default.svc.cluster.local",
        rcode="NOERROR",
        latency_seconds=0.012,
        origin="agent-pod",
    )
    report.coredns.probes.add(name="db.internal.example", error="timeout", origin="agent-pod")
    ready = report.gateway_api.gateways.add(namespace="web", name="ready", generation=1)
    ready.conditions.add(type="Programmed", status="True", observed_generation=1)
    refused = report.gateway_api.gateways.add(namespace="web", name="refused", generation=1)
    refused.conditions.add(type="Programmed", status="False", observed_generation=1)
    return report


def _scan(store: Store) -> None:
    """One scan through the chunk step and the closing step the Celery tasks run."""
    scan_id = store.start_scan()
    keys = store.cluster_keys()
    results = [evaluate_chunk(store, scan_id, keys, RuleSettings())]
    conclude_scan(store, scan_id, results, RuleSettings())


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
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
    store.commit_report(_report(cni), agent_id="agent-1", received_at=NOW)
    _scan(store)
    yield store
    store.close()


def _render(store: Store) -> str:
    registry = CollectorRegistry()
    registry.register(StoreCollector(store))
    return generate_latest(registry).decode()


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


def _by(text: str, name: str, **wanted: str) -> list[tuple[dict[str, str], float]]:
    return [
        (labels, value)
        for labels, value in _samples(text, name)
        if all(labels.get(k) == v for k, v in wanted.items())
    ]


def test_promtool_finds_no_lint_problems(scrape: str, tmp_path: Path) -> None:
    require("promtool")
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=scrape, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_near_exhausted_node_subnet_is_one_series_under_its_own_labels(scrape: str) -> None:
    [(labels, value)] = _by(scrape, "netaudit_range_utilization_ratio", subnet="snet-cni")
    assert value == pytest.approx(248 / 251)
    assert labels == {
        "range_kind": "node_subnet",
        "ipam_mode": labels["ipam_mode"],
        "subscription_id": PLATFORM,
        "resource_group": "rg-net-neu",
        "virtual_network": "vnet-neu",
        "subnet": "snet-cni",
        "cluster": "",
        "range": "",
    }
    assert labels["ipam_mode"]
    assert _by(scrape, "netaudit_range_capacity_addresses", subnet="snet-cni")[0][1] == 251
    assert _by(scrape, "netaudit_range_used_addresses", subnet="snet-cni")[0][1] == 248
    [(_, kubenet)] = _by(scrape, "netaudit_range_utilization_ratio", subnet="snet-kubenet")
    assert kubenet < 0.1


def test_required_addresses_at_max_scale_exceed_capacity_for_the_cni_subnet(scrape: str) -> None:
    [(_, required)] = _by(scrape, "netaudit_range_required_addresses", subnet="snet-cni")
    assert required == 403


def test_range_cluster_info_joins_the_subnet_to_the_cluster_using_it(scrape: str) -> None:
    joined = _by(scrape, "netaudit_range_cluster_info", subnet="snet-cni")
    assert [
        (labels["cluster_subscription_id"], labels["cluster_resource_group"], labels["cluster"])
        for labels, _ in joined
    ] == [(PLATFORM, "rg-payments-neu", "aks-cni-neu")]


def test_pod_and_service_cidrs_carry_their_cluster_and_the_cidr(scrape: str) -> None:
    pod_cidrs = _by(scrape, "netaudit_range_capacity_addresses", range_kind="pod_cidr")
    assert {labels["cluster"] for labels, _ in pod_cidrs} == {
        "aks-kubenet-weu",
        "aks-overlay-priv-weu",
    }
    for labels, capacity in pod_cidrs:
        assert labels["range"] and labels["virtual_network"] == labels["subnet"] == ""
        assert capacity % 256 == 0, "pod CIDRs count a /24 (256 addresses) per node"
    services = _by(scrape, "netaudit_range_capacity_addresses", range_kind="service_cidr")
    assert {labels["cluster"] for labels, _ in services} >= {"aks-cni-neu"}
    vnets = _by(scrape, "netaudit_range_capacity_addresses", range_kind="vnet")
    assert vnets and all(value == 65_536 and labels["subnet"] == "" for labels, value in vnets)
    assert len({labels["virtual_network"] for labels, _ in vnets}) == len(vnets)


def test_cluster_info_names_each_clusters_network_model(scrape: str) -> None:
    info = {labels["cluster"]: labels for labels, _ in _samples(scrape, "netaudit_cluster_info")}
    assert set(info) == {"aks-kubenet-weu", "aks-cni-neu", "aks-overlay-priv-weu"}
    assert info["aks-kubenet-weu"]["network_plugin"] == "kubenet"
    assert info["aks-overlay-priv-weu"]["network_plugin_mode"] == "overlay"
    assert info["aks-overlay-priv-weu"]["private_cluster"] == "true"
    assert info["aks-overlay-priv-weu"]["dns_zone_mode"] in {"system", "custom", "none"}
    assert info["aks-cni-neu"]["private_cluster"] == "false"
    assert info["aks-cni-neu"]["dns_zone_mode"] == ""
    assert all(labels["kubernetes_version"] for labels in info.values())


def test_dns_and_gateway_series_come_from_the_latest_report(scrape: str) -> None:
    assert _samples(scrape, "netaudit_coredns_ready_replicas") == [(CNI_CLUSTER, 2.0)]
    assert _samples(scrape, "netaudit_dns_probe_failures") == [(CNI_CLUSTER, 1.0)]
    assert _samples(scrape, "netaudit_dns_probe_duration_seconds") == [
        ({**CNI_CLUSTER, "probe": "kubernetes.default.svc.cluster.local"}, 0.012)
    ]
    gateways = {
        labels["programmed"]: value for labels, value in _samples(scrape, "netaudit_gateways")
    }
    assert gateways == {"true": 1.0, "false": 1.0, "unknown": 0.0}


def test_open_findings_by_cluster_add_up_to_the_fleet_totals(store: Store, scrape: str) -> None:
    fleet = sum(value for _, value in _samples(scrape, "netaudit_open_findings"))
    per_cluster = _samples(scrape, "netaudit_cluster_open_findings")
    assert fleet == sum(value for _, value in per_cluster) == len(store.open_findings()) > 0
    assert any(
        labels["cluster"] == "aks-cni-neu" and labels["severity"] == "high"
        for labels, _ in per_cluster
    )


def test_agent_report_times_and_scan_figures_come_from_the_store(scrape: str) -> None:
    assert _samples(scrape, "netaudit_agent_last_report_timestamp_seconds") == [
        (CNI_CLUSTER, NOW.timestamp())
    ]
    assert _samples(scrape, "netaudit_store_up") == [({}, 1.0)]
    assert _samples(scrape, "netaudit_scans_total") == [({"status": "succeeded"}, 1.0)]
    [(_, duration)] = _samples(scrape, "netaudit_scan_duration_seconds")
    assert duration >= 0
    [(_, size)] = _samples(scrape, "netaudit_store_size_bytes")
    assert size > 0
    assert _samples(scrape, "netaudit_arm_requests_total") == [({}, 0.0)]
    assert _samples(scrape, "netaudit_arm_throttled_requests_total") == [({}, 0.0)]


def test_rule_evaluations_show_coverage_of_the_last_finished_scan(scrape: str) -> None:
    """The agent rules on the two clusters without a report are counted as not assessed
    (the hand-made report is too thin to assess GWA-002 on the third either)."""
    evaluations = {
        (labels["rule_id"], labels["outcome"]): value
        for labels, value in _samples(scrape, "netaudit_rule_evaluations")
    }
    assert evaluations[("GWA-002", "not_assessed")] == 3
    assert evaluations[("CNI-001", "findings")] == 1
    assert evaluations[("CNI-001", "passed")] == 2
    assert sum(evaluations.values()) == 3 * 98


def test_a_scrape_reads_what_the_last_scan_stored_and_computes_nothing(
    store: Store, tmp_path: Path
) -> None:
    """A changed inventory shows in /metrics only once a scan (or refresh) has run."""
    copy = f"sqlite:///{tmp_path / 'copy.db'}"
    upgrade(copy)
    with Store(copy) as scanned:
        for inventory in store.all_inventories():
            scanned.save_inventory(inventory)
        _scan(scanned)
        before = _by(_render(scanned), "netaudit_range_used_addresses", subnet="snet-cni")
        cni = next(i for i in scanned.all_inventories() if i.name == "aks-cni-neu")
        for vnet in cni.virtual_networks:
            for usage in vnet.subnet_usages:
                if usage.subnet_id.lower().endswith("/snet-cni"):
                    usage.current_value = 250
        cni.refreshed_at.FromDatetime(datetime.now(UTC))
        scanned.save_inventory(cni)
        unchanged = _by(_render(scanned), "netaudit_range_used_addresses", subnet="snet-cni")
        _scan(scanned)
        after = _by(_render(scanned), "netaudit_range_used_addresses", subnet="snet-cni")
    assert [v for _, v in before] == [v for _, v in unchanged] == [248]
    assert [v for _, v in after] == [250]


def test_a_running_scan_is_not_counted_until_it_finishes(tmp_path: Path) -> None:
    """netaudit_scans_total is a counter: it must never fall, so only finished scans count."""
    url = f"sqlite:///{tmp_path / 'scans.db'}"
    upgrade(url)
    with Store(url) as store:
        scan_id = store.start_scan()
        running = _samples(_render(store), "netaudit_scans_total")
        store.finish_scan(scan_id, status="failed", clusters=0, findings=0, error="broker gone")
        finished = _samples(_render(store), "netaudit_scans_total")
    assert running == []
    assert finished == [({"status": "failed"}, 1.0)]


def test_a_late_retry_of_an_older_scans_close_keeps_the_newer_scans_evaluations(
    store: Store, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'retry.db'}"
    upgrade(url)
    with Store(url) as scanned:
        for inventory in store.all_inventories():
            scanned.save_inventory(inventory)
        older = scanned.start_scan()
        keys = scanned.cluster_keys()
        older_results = [evaluate_chunk(scanned, older, keys[:1], RuleSettings())]
        _scan(scanned)  # a newer scan over every cluster finishes first
        newest = _samples(_render(scanned), "netaudit_rule_evaluations")
        conclude_scan(scanned, older, older_results, RuleSettings())  # the late retry
        after_retry = _samples(_render(scanned), "netaudit_rule_evaluations")
    assert newest and after_retry == newest
