"""`netaudit ip` and `netaudit ip plan` on the sample fleet read from the sandbox's ARM, as a
user runs them (the installed command line, a config file, the store)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from netaudit.collector.demo import write_config
from netaudit.collector.store import Store, upgrade
from netaudit.sandbox.runner import start_sandbox
from tests.integration.sandbox_exports import read_inventories


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A store with the sample fleet's inventories and, for aks-cni-neu's subnet, a week of
    refreshes growing by 10 IPs a day (hand-made history: the sandbox answers one reading)."""
    folder = tmp_path_factory.mktemp("ip")
    url = f"sqlite:///{folder / 'netaudit.db'}"
    upgrade(url)
    with Store(url) as store:
        with start_sandbox(folder / "sandbox") as running:
            read_inventories(running, store)
        cni = next(k for k in store.cluster_keys() if k.endswith("/aks-cni-neu"))
        inventory = store.inventory(cni)
        assert inventory is not None
        now = datetime.now(UTC)
        for day in range(7, 0, -1):
            older = type(inventory)()
            older.CopyFrom(inventory)
            older.refreshed_at.FromDatetime(now - timedelta(days=day))
            older.virtual_networks[0].subnet_usages[0].current_value -= 10 * day
            store.save_inventory(older)
    yield write_config(folder, {"state_dir": str(folder / "state"), "store": {"url": url}})


def netaudit(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netaudit.audit", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_nearly_full_azure_cni_subnet_comes_first(config: Path) -> None:
    listed = netaudit(config, "ip", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    ranges = json.loads(listed.stdout)["ranges"]
    first = ranges[0]
    assert (first["cluster"], first["range_kind"]) == ("aks-cni-neu", "node_subnet")
    assert first["range"].endswith("/subnets/snet-cni")
    assert (first["capacity"], first["used"], first["required"]) == (251, 248, 403)
    assert first["days_to_full"] is not None and first["days_to_full"] < 1
    kinds = {r["range_kind"] for r in ranges}
    assert {"node_subnet", "pod_cidr", "service_cidr", "vnet"} <= kinds
    table = netaudit(config, "ip", "--cluster", "aks-kubenet-weu")
    assert table.returncode == 0, table.stderr
    assert "aks-cni-neu" not in table.stdout and "pod_cidr" in table.stdout


def test_plan_gives_the_docs_slash_21_for_50_nodes_at_max_pods_30(config: Path) -> None:
    planned = netaudit(
        config, "ip", "plan", "--cluster", "aks-cni-neu", "--nodes", "50", "--max-pods", "30"
    )
    assert planned.returncode == 1, planned.stderr
    # nodepool1 at 50 nodes + 1 surge at 31 IPs, npwin (1 + 1) * 31 beside it
    assert "does NOT fit: (50+1)*31=1643 IPs against 251 usable" in planned.stdout
    assert "the smallest that fits is a /21" in planned.stdout


def test_plan_names_what_to_fix_for_a_bad_cluster_or_pool(config: Path) -> None:
    unknown = netaudit(config, "ip", "plan", "--cluster", "nope", "--nodes", "5")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines()[-1] == (
        "netaudit: error: no cluster nope in the store: refresh the inventory first"
    )
    pool = netaudit(config, "ip", "plan", "--cluster", "aks-cni-neu", "--nodes", "5", "--pool", "x")
    assert pool.returncode == 2
    assert "has no pool 'x' (its pools: nodepool1, npwin)" in pool.stderr
