"""`netaudit inventory refresh` in a real worker process, both listings: a forbidden
subscription is one `not read:` line and the others are stored; `--full` reads the
details again (the sandbox's request log counts them)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from netaudit.collector.broker import EmbeddedRedis
from netaudit.collector.config import load_settings
from netaudit.collector.demo import sandbox_azure_config, write_config
from netaudit.collector.processes import ManagedProcess
from netaudit.collector.store import Store, upgrade
from netaudit.sandbox.arm import ArmFaults
from netaudit.sandbox.arm_throttle import ArmThrottle
from netaudit.sandbox.runner import Sandbox, start_sandbox

FORBIDDEN = "cccccccc-0000-0000-0000-000000000003"


@pytest.fixture(scope="module")
def throttle() -> ArmThrottle:
    """The sandbox ARM's throttling model at ARM's documented limits: its request log."""
    return ArmThrottle()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory, throttle: ArmThrottle) -> Iterator[Sandbox]:
    faults = ArmFaults.forbidden(f"^/subscriptions/{FORBIDDEN}/")
    with start_sandbox(
        tmp_path_factory.mktemp("sandbox"), arm_faults=faults, arm_throttle=throttle
    ) as running:
        yield running


@pytest.mark.parametrize("listing", ["per-subscription", "resource-graph"])
def test_refresh_reports_the_forbidden_subscription_and_full_reads_again(
    sandbox: Sandbox, throttle: ArmThrottle, tmp_path: Path, listing: str
) -> None:
    azure = sandbox_azure_config(sandbox, tmp_path)
    azure["subscriptions"] = [*sandbox.subscriptions, FORBIDDEN]
    config = write_config(
        tmp_path,
        {
            "state_dir": str(tmp_path / "state"),
            "azure": azure,
            "inventory": {"listing": listing},
        },
    )
    settings = load_settings(config)
    upgrade(settings.store_url)
    broker = EmbeddedRedis(settings.broker_dir)
    broker.start()
    netaudit = [sys.executable, "-m", "netaudit.collector", "--config", str(config)]
    worker = ManagedProcess(
        "worker", [*netaudit, "worker", "--concurrency", "2"], tmp_path / "worker.log",
        env={**os.environ, "NETAUDIT_LOG_FORMAT": "json"},
    )  # fmt: skip
    server = throttle
    server.reset_log()
    try:
        worker.start()
        first = refresh(netaudit)
        assert "3 cluster(s) read" in first.stdout
        assert f"not read: the credential may not read subscription {FORBIDDEN}" in first.stderr
        graph = [r for r in server.log if "microsoft.resourcegraph" in r.path.lower()]
        assert bool(graph) is (listing == "resource-graph")

        server.reset_log()
        refresh(netaudit, "--full")
        vnet_gets = [r for r in server.log if r.path.lower().endswith("/virtualnetworks/vnet-neu")]
        assert len(vnet_gets) == 1, "--full reads the sample fleet's details again"
        with Store(settings.store_url) as store:
            assert len(store.cluster_keys()) == 3
    finally:
        worker.stop()
        broker.stop()


def refresh(netaudit: list[str], *flags: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*netaudit, "inventory", "refresh", "--timeout", "90", *flags],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done
