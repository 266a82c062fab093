"""The demo path end to end: `netaudit demo` on the sandbox fleet.

Every part is real: sandbox Kubernetes/ARM/DNS servers, `netaudit serve` with
its embedded Redis (ingest over TLS, one bearer token per agent), a prefork Celery
worker, one `netaudit-agent` per cluster.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from netaudit.collector.rules import RULES
from tests.conftest import require

DEMO_BUDGET_SECONDS = 120
REPORT_INTERVAL_SECONDS = 2


@dataclass
class DemoRun:
    rows: dict[tuple[str, str], str]
    metrics_url: str
    metrics: str
    seconds: float
    exit_code: int
    stderr: str
    workdir: Path
    stdout: str
    # the command line the demo prints while it serves, run then
    other_command: subprocess.CompletedProcess[str] | None
    # /metrics once every agent has reported again (empty if one did not in time)
    later_metrics: str


def _finding_rows(stdout: str) -> dict[tuple[str, str], str]:
    """(rule, cluster) -> "SEVERITY evidence…" from the table: a heading per rule (id,
    severity, title), then an indented line per finding (cluster, resource, evidence)."""
    rows = {}
    rule = severity = ""
    for line in stdout.splitlines():
        heading = re.match(r"^([A-Z]{3}-\d{3})  (\w+)\s+(.*)$", line)
        finding = re.match(r"^  (\S+)\s+(\S+)\s*(.*)$", line)
        if heading:
            rule, severity, _title = heading.groups()
        elif finding and rule:
            cluster, _resource, evidence = finding.groups()
            rows[(rule, cluster)] = f"{severity} {evidence}"
        else:
            rule = ""
    return rows


def _rule_titles(stdout: str) -> dict[str, str]:
    return {
        match.group(1): match.group(2)
        for match in re.finditer(r"^([A-Z]{3}-\d{3})  \w+\s+(.*)$", stdout, re.MULTILINE)
    }


def _scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        body: bytes = response.read()
    return body.decode()


def _last_reports(metrics: str) -> dict[str, float]:
    return {
        sample.labels["cluster"]: sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "netaudit_agent_last_report_timestamp_seconds"
    }


def _after_every_agent_reported_again(url: str, first: str, timeout: float) -> str:
    before = _last_reports(first)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        metrics = _scrape(url)
        now = _last_reports(metrics)
        if before and all(now.get(cluster, 0) > at for cluster, at in before.items()):
            return metrics
        time.sleep(0.5)
    return ""


def _run_printed_command(lines: list[str]) -> subprocess.CompletedProcess[str] | None:
    printed = [line.removeprefix("try:").strip() for line in lines if line.startswith("try:")]
    if not printed:
        return None
    return subprocess.run(shlex.split(printed[0]), capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRun]:
    workdir = tmp_path_factory.mktemp("demo")
    netaudit = str(Path(sys.executable).with_name("netaudit"))
    started = time.monotonic()
    argv = [netaudit, "demo", "--serve", "--workdir", str(workdir)]
    process = subprocess.Popen(
        [*argv, "--report-interval", str(REPORT_INTERVAL_SECONDS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    lines = []
    metrics_url = ""
    for line in process.stdout:
        lines.append(line)
        if line.startswith("metrics:"):
            metrics_url = line.split()[1]
        if line.startswith("logs:"):
            break
        if time.monotonic() - started > DEMO_BUDGET_SECONDS:
            break
    seconds = time.monotonic() - started
    metrics = later_metrics = ""
    if metrics_url:
        metrics = _scrape(metrics_url)
        later_metrics = _after_every_agent_reported_again(
            metrics_url, metrics, 5 * REPORT_INTERVAL_SECONDS + 10
        )
    other_command = _run_printed_command(lines)
    process.send_signal(signal.SIGINT)
    try:
        rest, stderr = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        rest, stderr = process.communicate()
    stdout = "".join(lines) + rest
    yield DemoRun(
        _finding_rows(stdout),
        metrics_url,
        metrics,
        seconds,
        process.returncode,
        stderr,
        workdir,
        stdout,
        other_command,
        later_metrics,
    )


KUBENET, CNI, OVERLAY = "aks-kubenet-weu", "aks-cni-neu", "aks-overlay-priv-weu"
EXPECTED = {
    ("CNI-001", CNI): ("HIGH", ["required=403", "usable=251", "prefix=10.20.0.0/24"]),
    ("CNI-002", CNI): ("HIGH", ["used=248", "limit=251", "ratio=0.988"]),
    ("KUB-001", KUBENET): ("MEDIUM", ["network_plugin=kubenet", "retirement_date=2028-03-31"]),
    ("GWA-002", OVERLAY): (
        "HIGH",
        ["programmed.status=False", "programmed.reason=AddressNotAssigned"],
    ),
    ("DNS-002", OVERLAY): ("CRITICAL", ["key=upstream.override", "plugins=forward"]),
    ("PDN-001", OVERLAY): (
        "CRITICAL",
        ["private_dns_zone=none", "enable_private_cluster_public_fqdn=false"],
    ),
    # 248 of 251 IPs used leaves 3 free for a surge of (1 + 1) nodes * 31 IPs
    ("CNI-003", CNI): ("HIGH", ["free=3", "surge_ips=62"]),
    ("CNI-004", CNI): ("LOW", ["network_model=azure-node-subnet"]),
    # the sample CoreDNS pods log the reload failure DNS-002's forward causes
    ("DNS-004", OVERLAY): ("HIGH", ["lines=4"]),
    # an nginx IngressClass after AKS's ingress-nginx support ended (2026-11-30)
    ("ING-002", CNI): ("HIGH", ["support_end=2026-11-30"]),
    ("PDN-010", CNI): ("HIGH", ["authorized_ip_ranges=none", "enable_private_cluster=false"]),
    ("PDN-010", KUBENET): ("HIGH", ["authorized_ip_ranges=none"]),
    ("NPL-001", CNI): ("MEDIUM", ["network_policy=(unset)"]),
    ("NPL-001", KUBENET): ("MEDIUM", ["network_policy=(unset)"]),
    ("NPL-001", OVERLAY): ("MEDIUM", ["network_policy=none"]),
    ("WIN-003", CNI): ("LOW", ["os_sku=Windows2022", "pool=npwin"]),
    # vmss000002's azure-cns pool is empty, sees its subnet exhausted, and checkout's third
    # pod waits Pending there
    ("CNI-006", OVERLAY): (
        "CRITICAL",
        ["cx_ipam_exhausted_nodes=aks-nodepool1-40915282-vmss000002", "nodes=1"],
    ),
    ("IPX-004", OVERLAY): (
        "HIGH",
        ["node=aks-nodepool1-40915282-vmss000002", "available_ips=0", "pending_pods=1"],
    ),
    # its system-assigned identity holds only Reader on the VNet's resource group
    ("CNI-012", CNI): ("HIGH", ["principal_ids=cccccccc-0000-0000-0000-00000000000c"]),
}


def test_demo_finishes_within_its_budget_and_exits_cleanly_on_ctrl_c(demo: DemoRun) -> None:
    assert demo.seconds < DEMO_BUDGET_SECONDS, demo.stderr
    assert demo.exit_code == 0, demo.stderr
    assert "Traceback" not in demo.stderr


@pytest.mark.parametrize(("rule", "cluster"), list(EXPECTED))
def test_expected_finding_is_printed_with_its_evidence(
    demo: DemoRun, rule: str, cluster: str
) -> None:
    severity, evidence = EXPECTED[(rule, cluster)]
    row = demo.rows.get((rule, cluster))
    assert row is not None, f"{rule} on {cluster} missing; got {sorted(demo.rows)}"
    assert row.split()[0] == severity
    for item in evidence:
        assert item in row.split(), f"{item} not in {row}"


def test_no_other_finding_is_printed(demo: DemoRun) -> None:
    # no CNI-001 on the kubenet or overlay cluster, no PDN-001 on the public ones, ...
    assert set(demo.rows) == set(EXPECTED)


def test_only_the_rules_waiting_for_evidence_are_not_assessed(demo: DemoRun) -> None:
    # OVL-004, PDN-006, AGW-001 and VND-003 read their evidence now (NSG, API server
    # endpoint, AGIC gateway, virtual node subnet) and pass on all three sample clusters:
    # the overlay cluster's NSG allows pod traffic before its denies, its zone is "none",
    # and no cluster runs AGIC or virtual nodes; so do IPX-002, NPL-006, NPL-007, DNS-009,
    # and CNI-007 (no NodeNetworkConfig or azure-cns requests more IPs than it holds);
    # IPX-004 passes where no azure-cns runs (kubenet, node subnet).
    # EDN-002/003/004 pass where no ExternalDNS runs; EDN-002/003 also pass on aks-cni-neu,
    # whose --provider=azure instance writes the public zone example.com: the refresh reads
    # it, and it holds the A records and TXT registry records of the Ingress's two names.
    # CNI-012, PDN-004, PDN-012, AGC-002 and EDN-006 read role assignments, provider
    # registrations and AGC association subnets now: CNI-012 finds aks-cni-neu (Reader
    # only), passes the overlay cluster (Network Contributor on its VNet) and cannot judge
    # the kubenet cluster's service principal; no cluster has a custom zone; snet-agc is
    # valid; EDN-006 cannot judge aks-cni-neu's instance (its identity is in azure.json) and
    # passes the rest.
    assert "not assessed until their evidence is gathered" not in demo.stdout
    assert (
        "not assessed CNI-012 on aks-kubenet-weu: the cluster uses a service principal"
        in demo.stdout
    )
    # one inventory refresh is one usage point: too few for the exhaustion forecast
    assert (
        "not assessed IPX-001 on aks-cni-neu: snet-cni has 1 usage point(s) in the last 14 days"
        in demo.stdout
    )
    assert "rule evaluations: 19 findings, 270 passed, 5 not assessed, 0 error" in demo.stdout


def test_metrics_show_the_near_exhausted_subnet_and_pass_promtool(demo: DemoRun) -> None:
    require("promtool")
    assert demo.metrics, "the demo printed no metrics URL"
    check = subprocess.run(
        ["promtool", "check", "metrics"], input=demo.metrics, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    ratios = {
        sample.labels["subnet"]: (sample.labels, sample.value)
        for family in text_string_to_metric_families(demo.metrics)
        for sample in family.samples
        if sample.name == "netaudit_range_utilization_ratio"
        and sample.labels["range_kind"] == "node_subnet"
    }
    labels, value = ratios["snet-cni"]
    assert value >= 0.9
    assert labels["virtual_network"] == "vnet-neu"
    findings = {
        (s.labels["rule_id"], s.labels["severity"]): s.value
        for family in text_string_to_metric_families(demo.metrics)
        for s in family.samples
        if s.name == "netaudit_open_findings"
    }
    assert findings[("CNI-001", "high")] == 1
    assert sum(findings.values()) == len(EXPECTED)


def test_demo_leaves_no_broker_running(demo: DemoRun) -> None:
    socket = demo.workdir / "collector" / "broker" / "redis.sock"
    pidfile = demo.workdir / "collector" / "broker" / "redis.pid"
    assert not socket.exists()
    assert not pidfile.exists()


def test_agents_reach_the_collector_over_tls_each_with_its_own_token(demo: DemoRun) -> None:
    log = (demo.workdir / "logs" / "collector.log").read_text()
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    listening = [line for line in lines if line["message"] == "ingest listening"]
    assert [line["transport"] for line in listening] == ["TLS"]
    connected = [line for line in lines if line["message"] == "agent connected"]
    credentials = {line["cluster"]: line["credential"] for line in connected}
    assert len(credentials) == 3
    assert all(credential.startswith("token ") for credential in credentials.values())
    assert len(set(credentials.values())) == 3, "one token per cluster"
    assert "insecure" not in log
    tokens = sorted((demo.workdir / "tokens").iterdir())
    assert len(tokens) == 3
    assert all(token.stat().st_mode & 0o777 == 0o600 for token in tokens)


def test_each_rule_is_headed_by_its_title(demo: DemoRun) -> None:
    titles = _rule_titles(demo.stdout)
    assert set(titles) == {rule for rule, _cluster in EXPECTED}
    assert titles == {rule.id: rule.title for rule in RULES if rule.id in titles}


def test_durations_in_the_evidence_read_in_days_and_hours(demo: DemoRun) -> None:
    row = demo.rows[("GWA-002", OVERLAY)]
    assert "programmed.seconds" not in row
    assert re.search(r"programmed=\d+d \d+h ", row), row


def test_while_serving_it_prints_the_command_line_that_reaches_it(demo: DemoRun) -> None:
    assert demo.other_command is not None, "no `try:` line printed"
    assert demo.other_command.returncode == 0, demo.other_command.stderr
    assert _finding_rows(demo.other_command.stdout) == demo.rows


def test_agents_keep_reporting_while_it_serves(demo: DemoRun) -> None:
    assert demo.later_metrics, "an agent did not report again while the demo served"
    assert set(_last_reports(demo.later_metrics)) == {KUBENET, CNI, OVERLAY}


def test_a_given_working_folder_is_kept_and_said_so(demo: DemoRun) -> None:
    assert f"working folder: {demo.workdir}" in demo.stdout
    assert (demo.workdir / "netaudit.yaml").exists()
