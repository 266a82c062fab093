"""A worker killed mid-task loses nothing: the embedded Redis redelivers the task.

The first worker takes the inventory refresh of a subscription whose ARM answer
is slow, and is SIGKILLed while it waits. acks_late + reject_on_worker_lost +
the broker's visibility timeout bring the task back to a second worker, which
completes it; the waiting caller gets its result.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from netaudit.collector.broker import EmbeddedRedis
from netaudit.collector.config import load_settings
from netaudit.collector.demo import sandbox_azure_config, write_config
from netaudit.collector.processes import ManagedProcess
from netaudit.collector.scanning import refresh_inventory
from netaudit.collector.store import Store, upgrade
from netaudit.sandbox.arm import ArmFaults
from netaudit.sandbox.runner import start_sandbox

VISIBILITY_SECONDS = 6


def _worker(config: Path, log: Path) -> ManagedProcess:
    netaudit = str(Path(sys.executable).with_name("netaudit"))
    return ManagedProcess(
        "worker", [netaudit, "--config", str(config), "worker", "--concurrency", "1"], log
    )


def test_task_of_a_killed_worker_is_redelivered_and_completed(tmp_path: Path) -> None:
    slow = ArmFaults.slow(
        r"/subscriptions/aaaaaaaa-0000-0000-0000-000000000001/providers/"
        r"Microsoft.ContainerService/managedClusters$",
        delay_seconds=30,
        times=1,
    )
    with start_sandbox(tmp_path / "sandbox", arm_faults=slow) as sandbox:
        config = write_config(
            tmp_path,
            {
                "state_dir": str(tmp_path / "state"),
                "broker": {
                    "task_time_limit_seconds": VISIBILITY_SECONDS - 1,
                    "visibility_timeout_seconds": VISIBILITY_SECONDS,
                },
                "azure": {
                    **sandbox_azure_config(sandbox, tmp_path),
                    "subscriptions": ["aaaaaaaa-0000-0000-0000-000000000001"],
                },
            },
        )
        settings = load_settings(config)
        upgrade(settings.store_url)
        with EmbeddedRedis(settings.broker_dir):
            first = _worker(config, tmp_path / "worker-1.log")
            first.start()
            second = _worker(config, tmp_path / "worker-2.log")
            try:
                with ThreadPoolExecutor(1) as pool:
                    waiting = pool.submit(refresh_inventory, settings, 60, lambda _: None)
                    deadline = time.monotonic() + 30
                    while not slow.spent() and time.monotonic() < deadline:
                        time.sleep(0.1)
                    assert slow.spent(), "the first worker never asked ARM"
                    os.killpg(first.pid, signal.SIGKILL)
                    first.wait(10)
                    second.start()
                    started = time.monotonic()
                    clusters = waiting.result(timeout=60)
                    redelivered_after = time.monotonic() - started
            finally:
                first.stop()
                second.stop()
    assert clusters == 2
    assert redelivered_after < 45
    with Store(settings.store_url) as store:
        names = sorted(store.cluster_name(key) or "" for key in store.cluster_keys())
    assert names == ["aks-cni-neu", "aks-kubenet-weu"]
