"""`netaudit report --since SCAN` on a real SQLite store holding two scans: what is new,
resolved and still open since each, and a one-line error for a scan that does not exist.

The store is written through the Store API (as the workers write it) and the command
runs as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from netaudit.collector.store import Store, upgrade
from netaudit.v1 import audit_pb2, inventory_pb2

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
CLUSTER_ID = (
    "/subscriptions/aaaaaaaa-0000-0000-0000-000000000001/resourceGroups/rg-pay/providers/"
    "Microsoft.ContainerService/managedClusters/aks-pay"
)


def netaudit(state_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netaudit.audit", "--state-dir", str(state_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def finding(rule_id: str) -> audit_pb2.Finding:
    return audit_pb2.Finding(
        rule_id=rule_id,
        title=f"{rule_id} title",
        severity=audit_pb2.SEVERITY_HIGH,
        resource=CLUSTER_ID.lower(),
        message=f"{rule_id} message",
        remediation="fix it",
    )


def scan(store: Store, start: datetime, rule_ids: list[str]) -> int:
    scan_id = store.start_scan(now=start)
    store.record_findings(
        scan_id, CLUSTER_ID, [finding(r) for r in rule_ids], now=start + timedelta(seconds=1)
    )
    store.finish_scan(
        scan_id,
        status="succeeded",
        clusters=1,
        findings=len(rule_ids),
        now=start + timedelta(seconds=2),
    )
    return scan_id


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Scan 1 finds CNI-001 and CNI-002; scan 2 finds CNI-002 and CNI-003; scan 3 fails."""
    folder = tmp_path_factory.mktemp("since")
    url = f"sqlite:///{folder / 'netaudit.db'}"
    upgrade(url)
    inventory = inventory_pb2.ClusterInventory(
        arm_resource_id=CLUSTER_ID, name="aks-pay", subscription_id="aaaa", location="weu"
    )
    inventory.refreshed_at.FromDatetime(T0)
    with Store.open(url) as store:
        store.save_inventory(inventory)
        scan(store, T0, ["CNI-001", "CNI-002"])
        scan(store, T0 + timedelta(hours=1), ["CNI-002", "CNI-003"])
        failed = store.start_scan(now=T0 + timedelta(hours=2))
        store.finish_scan(failed, status="failed", clusters=0, findings=0, error="boom")
    return folder


def since(state_dir: Path, scan_id: int) -> dict[str, Any]:
    done = netaudit(state_dir, "report", "--since", str(scan_id), "--format", "json")
    assert done.returncode == 0, done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


@pytest.mark.parametrize(
    ("scan_id", "new", "resolved", "still_open"),
    [
        (1, ["CNI-003"], ["CNI-001"], ["CNI-002"]),
        (2, [], [], ["CNI-002", "CNI-003"]),
    ],
)
def test_since_a_scan_findings_are_new_resolved_or_still_open(
    state_dir: Path, scan_id: int, new: list[str], resolved: list[str], still_open: list[str]
) -> None:
    document = since(state_dir, scan_id)
    assert document["since"]["scan"] == scan_id
    assert [f["rule"] for f in document["new"]] == new
    assert [f["rule"] for f in document["resolved"]] == resolved
    assert [f["rule"] for f in document["still_open"]] == still_open
    assert {f["cluster"] for key in ("new", "still_open") for f in document[key]} <= {"aks-pay"}


def test_the_table_names_each_section(state_dir: Path) -> None:
    done = netaudit(state_dir, "report", "--since", "1")
    assert done.returncode == 0, done.stderr
    assert "NEW (1)" in done.stdout and "RESOLVED (1)" in done.stdout
    assert done.stdout.rstrip().endswith("1 new, 1 resolved, 1 still open since scan 1")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "99"], "scan 99 does not exist; give an id `netaudit scan` printed (the "
                            "last finished scan is 3)"),
        (["--since", "3"], "scan 3 failed, so it did not judge every cluster"),
        (["--since", "1", "--format", "sarif"], "--since writes table or json, not sarif"),
    ],
)  # fmt: skip
def test_a_scan_that_cannot_be_compared_is_one_line_exit_2(
    state_dir: Path, args: list[str], message: str
) -> None:
    done = netaudit(state_dir, "report", *args)
    assert done.returncode == 2
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"netaudit: error: {message}")


def test_report_marks_waived_findings_and_fail_on_ignores_them(
    state_dir: Path, tmp_path: Path
) -> None:
    waivers = tmp_path / "waivers.yaml"
    entries = [
        {"rule": rule, "cluster": "aks-pay", "reason": f"accepted {rule}", "owner": "team-pay",
         "expires": "2999-12-31"}
        for rule in ("CNI-002", "CNI-003", "KUB-003")
    ]  # fmt: skip
    waivers.write_text(json.dumps({"waivers": entries}))  # JSON is YAML
    done = netaudit(state_dir, "report", "--waivers", str(waivers), "--fail-on", "high")
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("  aks-pay")]
    assert len(rows) == 2
    assert all("[WAIVED until 2999-12-31 (team-pay): accepted CNI-00" in row for row in rows)
    assert done.stderr.splitlines() == [
        "netaudit: warning: waiver 3 (rule KUB-003, cluster aks-pay, owner team-pay) matched no "
        "finding; remove it or correct its rule and globs"
    ]
    without = netaudit(state_dir, "report", "--fail-on", "high")
    assert without.returncode == 1
