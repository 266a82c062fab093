"""The collector's /metrics scraped by a real Prometheus that evaluates the alert rules.

`netaudit serve` (TLS ingest, one bearer token per agent, its embedded broker) serves the
sample fleet: the sandbox's ARM read and stored as an inventory refresh stores it, after
twelve earlier refreshes dated a day apart in which every subnet held two addresses fewer
per day (so each growing range has a forecast), one `netaudit-agent run --once` per
cluster, one agent with a wrong token (a rejected stream), then a scan through the scan
tasks' own steps. Debian's `prometheus` scrapes it every second on a free loopback port
with its own storage, loading deploy/prometheus/netaudit-alerts.yaml; the test reads
everything back through Prometheus's HTTP API.
"""

from __future__ import annotations

import json
import re
import socket
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from netaudit.collector.analysis.fleet import cluster_key
from netaudit.collector.certificates import CA_CERT_FILE
from netaudit.collector.config import Settings, load_settings
from netaudit.collector.demo import (
    AgentCredentials,
    agent_argv,
    agent_credentials,
    demo_tls,
    run_agents,
    wait_for_endpoints,
    write_demo_config,
)
from netaudit.collector.inventory.arm import ArmReader, ArmRequestCounts, make_credential
from netaudit.collector.metrics.families import ARM_REQUESTS, ARM_THROTTLED
from netaudit.collector.metrics.publish import publish, refresh_parts
from netaudit.collector.processes import ManagedProcess
from netaudit.collector.rules import RuleSettings
from netaudit.collector.service import Endpoints
from netaudit.collector.store import Store
from netaudit.collector.tasks import conclude_scan, evaluate_chunk
from netaudit.sandbox.runner import Sandbox, start_sandbox
from netaudit.v1 import inventory_pb2
from tests.conftest import REPO, require
from tests.dashboard_queries import all_promql, committed, metric_names

ALERT_RULES = REPO / "deploy" / "prometheus" / "netaudit-alerts.yaml"
HISTORY_DAYS = 12
GROWTH_PER_DAY = 2
FIRST_SCRAPE_SECONDS = 60.0
ALERT_SECONDS = 30.0
NEAR_FULL_SUBNET = "snet-cni"
NEAR_FULL_ALERT = "NetauditSubnetUtilisationCritical"
METRIC = re.compile(r"\bnetaudit_[a-z_]+\b")


# -- the collector serving the sample fleet ---------------------------------------------


def days_before(
    inventory: inventory_pb2.ClusterInventory, days: int
) -> inventory_pb2.ClusterInventory:
    """The inventory as a refresh ``days`` earlier read it: every subnet then held
    GROWTH_PER_DAY addresses fewer per day."""
    earlier = inventory_pb2.ClusterInventory()
    earlier.CopyFrom(inventory)
    earlier.refreshed_at.FromDatetime(
        inventory.refreshed_at.ToDatetime(tzinfo=UTC) - timedelta(days=days)
    )
    for vnet in earlier.virtual_networks:
        for usage in vnet.subnet_usages:
            usage.current_value = max(usage.current_value - GROWTH_PER_DAY * days, 0)
    return earlier


def refresh_with_history(settings: Settings, store: Store) -> None:
    """Store the fleet as the refresh task does (read ARM, count its requests, save each
    inventory, recompute the clusters' metric parts, publish), preceded by the earlier
    refreshes' readings, oldest first."""
    counts = ArmRequestCounts()
    reader = ArmReader.from_settings(settings.azure, make_credential(settings.azure), counts)
    inventories = reader.read()
    store.add_to_counters(
        {ARM_REQUESTS.name: counts.requests, ARM_THROTTLED.name: counts.throttled}
    )
    for days in range(HISTORY_DAYS, 0, -1):
        for inventory in inventories:
            store.save_inventory(days_before(inventory, days))
    for inventory in inventories:
        store.save_inventory(inventory)
    keys = [cluster_key(i.arm_resource_id) for i in inventories]
    refresh_parts(store, keys, now=datetime.now(UTC))
    publish(store)


def reject_a_stream_with_a_wrong_token(
    sandbox: Sandbox, grpc: str, folder: Path, tls: Path
) -> None:
    wrong = folder / "tokens" / "wrong"
    wrong.write_text("not-a-token-the-collector-issued\n")
    cluster = sandbox.clusters[0]
    argv = agent_argv(
        cluster,
        sandbox,
        grpc,
        folder / "agents" / "wrong",
        AgentCredentials(tls / CA_CERT_FILE, wrong),
    )
    with ManagedProcess(
        "agent with a wrong token", argv, folder / "logs" / "agent-wrong.log"
    ) as agent:
        code = agent.wait(60)
    assert code != 0, "an agent with a token the collector never issued was accepted"


def scan(store: Store) -> None:
    """One scan through the chunk step and the closing step the Celery tasks run."""
    scan_id = store.start_scan()
    results = [evaluate_chunk(store, scan_id, store.cluster_keys(), RuleSettings())]
    conclude_scan(store, scan_id, results, RuleSettings())


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoints]:
    require("prometheus")
    folder = tmp_path_factory.mktemp("prometheus-e2e")
    with ExitStack() as stack:
        sandbox = stack.enter_context(start_sandbox(folder / "sandbox"))
        tls = demo_tls(folder)
        config = write_demo_config(folder, sandbox, tls)
        settings = load_settings(config)
        credentials = agent_credentials(settings, sandbox, folder, tls)
        netaudit = str(Path(sys.executable).with_name("netaudit"))
        serving = stack.enter_context(
            ManagedProcess(
                "collector",
                [netaudit, "--config", str(config), "serve"],
                folder / "logs" / "collector.log",
            )
        )
        endpoints = wait_for_endpoints(settings, serving)
        store = stack.enter_context(Store(settings.store_url))
        refresh_with_history(settings, store)
        run_agents(sandbox, endpoints.grpc, folder, credentials)
        reject_a_stream_with_a_wrong_token(sandbox, endpoints.grpc, folder, tls)
        scan(store)
        yield endpoints


# -- Prometheus ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PrometheusApi:
    url: str

    def get(self, path: str, **params: str) -> Any:
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, promql: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get("/api/v1/query", query=promql)["result"]
        return result

    def alerts(self) -> list[dict[str, Any]]:
        alerts: list[dict[str, Any]] = self.get("/api/v1/alerts")["alerts"]
        return alerts


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def prometheus_config(metrics_url: str) -> dict[str, Any]:
    target = urllib.parse.urlsplit(metrics_url)
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(ALERT_RULES)],
        "scrape_configs": [
            {
                "job_name": "netaudit",
                "metrics_path": target.path,
                "static_configs": [{"targets": [target.netloc]}],
            }
        ],
    }


def wait_until(
    what: str, seconds: float, check: Callable[[], list[dict[str, Any]]], process: ManagedProcess
) -> list[dict[str, Any]]:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after
    ``seconds`` or as soon as Prometheus exits."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        process.ensure_running()
        try:
            if found := check():
                return found
        except OSError:  # not listening yet
            pass
        time.sleep(0.2)
    pytest.fail(f"{what} within {seconds:.0f} s; Prometheus said: {process.log_tail(5)}")


@pytest.fixture(scope="module")
def prometheus(
    collector: Endpoints, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusApi]:
    folder = tmp_path_factory.mktemp("prometheus")
    config = folder / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(collector.metrics_url)))
    port = free_port()
    argv = [
        "prometheus",
        f"--config.file={config}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    with ManagedProcess("prometheus", argv, folder / "prometheus.log") as process:
        api = PrometheusApi(f"http://127.0.0.1:{port}")
        wait_until(
            "no scrape of the collector landed",
            FIRST_SCRAPE_SECONDS,
            lambda: api.query('netaudit_store_up{job="netaudit"}'),
            process,
        )
        yield api


# -- what Prometheus sees -----------------------------------------------------------------


def only_value(result: list[dict[str, Any]]) -> float:
    assert len(result) == 1, result
    return float(result[0]["value"][1])


def test_the_near_full_subnets_utilisation_is_queried_through_prometheus(
    prometheus: PrometheusApi,
) -> None:
    result = prometheus.query(f'netaudit_range_utilization_ratio{{subnet="{NEAR_FULL_SUBNET}"}}')
    assert only_value(result) == pytest.approx(248 / 251)
    assert result[0]["metric"]["range_kind"] == "node_subnet"


def test_the_near_full_subnets_alert_is_pending_or_firing(prometheus: PrometheusApi) -> None:
    rules = yaml.safe_load(ALERT_RULES.read_text())
    assert NEAR_FULL_ALERT in {r["alert"] for g in rules["groups"] for r in g["rules"]}

    def near_full_alerts() -> list[dict[str, Any]]:
        return [
            alert
            for alert in prometheus.alerts()
            if alert["labels"]["alertname"] == NEAR_FULL_ALERT
            and alert["labels"].get("subnet") == NEAR_FULL_SUBNET
        ]

    deadline = time.monotonic() + ALERT_SECONDS
    while not (alerts := near_full_alerts()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert alerts, f"no {NEAR_FULL_ALERT} on {NEAR_FULL_SUBNET}: {prometheus.alerts()}"
    assert [a["state"] for a in alerts] in (["pending"], ["firing"])
    assert alerts[0]["labels"]["severity"] == "critical"


def read_series() -> set[str]:
    """Every metric name a dashboard query or variable, or an alert expression, reads."""
    names = {
        name
        for board in committed().values()
        for q in all_promql(board)
        for name in metric_names(q)
    }
    rules = yaml.safe_load(ALERT_RULES.read_text())
    return names | {
        name for g in rules["groups"] for r in g["rules"] for name in METRIC.findall(r["expr"])
    }


def test_every_series_the_dashboards_and_alerts_read_has_data(prometheus: PrometheusApi) -> None:
    names = read_series()
    assert len(names) > 10
    empty = sorted(name for name in names if not prometheus.query(f"count({name}) > 0"))
    assert empty == []


def test_the_forecast_of_the_near_full_subnet_reaches_prometheus(prometheus: PrometheusApi) -> None:
    """Two addresses a day with 3 of 251 left: full in about a day and a half."""
    result = prometheus.query(f'netaudit_range_exhaustion_seconds{{subnet="{NEAR_FULL_SUBNET}"}}')
    assert only_value(result) == pytest.approx(1.5 * 86_400, rel=0.1)


def test_the_stream_with_a_wrong_token_is_counted_as_rejected(prometheus: PrometheusApi) -> None:
    result = prometheus.query('netaudit_ingest_rejections_total{reason="unauthenticated"}')
    assert only_value(result) == 1
    committed_reports = prometheus.query('netaudit_ingest_reports_total{outcome="committed"}')
    assert only_value(committed_reports) == 3


def test_the_history_lets_ipx_001_forecast_on_every_cluster(prometheus: PrometheusApi) -> None:
    outcomes = {
        r["metric"]["outcome"]: float(r["value"][1])
        for r in prometheus.query('netaudit_rule_evaluations{rule_id="IPX-001"}')
    }
    assert outcomes.get("not_assessed", 0) == 0, outcomes
    assert outcomes.get("findings", 0) >= 1, outcomes
