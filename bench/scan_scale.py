"""Scan at fleet scale: the full catalogue over synthetic fleets cloned from the sample.

The sample fleet's three clusters are read the way production reads them (the
agent's gatherers against the sandbox's Kubernetes API, the ARM reader against
the sandbox's ARM), then cloned N times with new ids. Clones come in pairs that
share their node and pod subnets, and every clone runs an ExternalDNS instance
with the default owner id writing the same domain: the worst case for the
fleet-wide step (one group holding every cluster).

Measured in one run, as ratios (this machine is shared and noisy):
- the scan through Celery on 2 worker processes against the same rules and
  writes in one process without Celery (goal <= 1.3x);
- 10,000 clusters against 1,000 (linear: about 10x);
- the peak RSS of every worker process (goal <= 300 MiB at 10,000 clusters), and
  the largest task message.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from google.protobuf import json_format

from netaudit.agent.config import load_settings as load_agent_settings
from netaudit.agent.kube import Kube
from netaudit.agent.report import build_report, cluster_identity
from netaudit.collector.broker import EmbeddedRedis
from netaudit.collector.config import AzureSettings, Settings, load_settings
from netaudit.collector.demo import write_config
from netaudit.collector.inventory.arm import ArmReader, make_credential
from netaudit.collector.processes import ManagedProcess
from netaudit.collector.scanning import run_scan
from netaudit.collector.store import Store, upgrade
from netaudit.collector.tasks import evaluate_chunk, reduce_fleet
from netaudit.sandbox.runner import Sandbox, start_sandbox
from netaudit.v1 import inventory_pb2, report_pb2

SUBSCRIPTIONS = 50
SHARED_DOMAIN = "apps.example.com"


@dataclass(frozen=True)
class Sample:
    inventory: inventory_pb2.ClusterInventory
    report: report_pb2.Report


def read_samples(folder: Path) -> list[Sample]:
    """The sample fleet as the agent and the ARM reader see it on the sandbox."""
    with start_sandbox(folder) as sandbox:
        inventories = {i.arm_resource_id.lower(): i for i in _arm(sandbox).read()}
        samples = []
        for cluster in sandbox.clusters:
            settings = load_agent_settings(
                {
                    "cluster": {"id": cluster.arm_resource_id, "region": cluster.region},
                    "dns": {"server": sandbox.dns_server, "timeout_seconds": 0.5},
                }
            )
            with Kube.connect(cluster.kubeconfig) as kube:
                report = build_report(kube, cluster_identity(settings.cluster), settings)
            samples.append(Sample(inventories[cluster.key], report))
    return samples


def _arm(sandbox: Sandbox) -> ArmReader:
    azure = AzureSettings(
        subscriptions=list(sandbox.subscriptions),
        arm_url=sandbox.arm_url,
        authority_url=sandbox.authority_url,
        tenant_id=sandbox.tenant_id,
        client_id=sandbox.client_id,
        client_secret=sandbox.client_secret,
        ca_bundle=sandbox.ca_pem,
    )
    return ArmReader.from_settings(azure, make_credential(azure))


def clones(
    samples: list[Sample], count: int
) -> Iterator[tuple[inventory_pb2.ClusterInventory, report_pb2.Report]]:
    """``count`` clusters; clones 2k and 2k+1 share their subnets (same network group)."""
    for index in range(count):
        sample = samples[index % len(samples)]
        cluster_id = sample.inventory.arm_resource_id
        subscription = cluster_id.split("/")[2]
        replacements = {
            subscription: f"{index % SUBSCRIPTIONS:08x}-0000-0000-0000-{index // 2:012d}",
            cluster_id.rsplit("/", 1)[1]: f"{cluster_id.rsplit('/', 1)[1]}-{index}",
        }
        inventory = _rewritten(sample.inventory, replacements)
        inventory.refreshed_at.FromDatetime(datetime.now(UTC))
        report = _rewritten(sample.report, replacements)
        report.report_id = f"bench-{index}"
        del report.external_dns.instances[:]
        instance = report.external_dns.instances.add(
            provider="azure", domain_filters=[SHARED_DOMAIN]
        )
        instance.workload.namespace, instance.workload.name = "external-dns", "external-dns"
        yield inventory, report


Message = TypeVar("Message", inventory_pb2.ClusterInventory, report_pb2.Report)


def _rewritten(message: Message, replacements: dict[str, str]) -> Message:
    text = json.dumps(json_format.MessageToDict(message))
    for old, new in replacements.items():
        text = text.replace(old, new).replace(old.lower(), new.lower())
    clone = type(message)()
    json_format.ParseDict(json.loads(text), clone)
    return clone


def fill_store(url: str, samples: list[Sample], count: int) -> None:
    upgrade(url)
    with Store(url) as store:
        for inventory, report in clones(samples, count):
            store.save_inventory(inventory)
            store.commit_report(report, agent_id="bench", received_at=datetime.now(UTC))


def scan_in_process(url: str, settings: Settings) -> float:
    """One scan with the same rules and writes as the workers, in this process, no Celery."""
    with Store(url) as store:
        started = time.perf_counter()
        scan_id = store.start_scan()
        keys = store.cluster_keys()
        size = settings.scan.clusters_per_task
        for start in range(0, len(keys), size):
            evaluate_chunk(store, scan_id, keys[start : start + size], settings.rules)
        reduce_fleet(store, scan_id, settings.rules)
        store.finish_scan(scan_id, status="succeeded", clusters=len(keys), findings=0)
        return time.perf_counter() - started


@dataclass(frozen=True)
class CeleryRun:
    seconds: float
    peak_rss_mib: float
    largest_message_bytes: int


def scan_with_celery(folder: Path, state: Path, url: str) -> CeleryRun:
    """A scan through ``netaudit worker --concurrency 2`` on the embedded Redis in ``state``
    (one broker for the whole run: this process's Celery client keeps its connection)."""
    config = write_config(
        folder, {"state_dir": str(state), "store": {"url": url}, "log_level": "WARNING"}
    )
    settings = load_settings(config)
    netaudit = str(Path(sys.executable).with_name("netaudit"))
    worker = ManagedProcess(
        "worker",
        [netaudit, "--config", str(config), "worker", "--concurrency", "2"],
        folder / "worker.log",
    )
    with Store(url) as store:
        worker.start()
        try:
            time.sleep(3)  # the pool forks its children
            started = time.perf_counter()
            run_scan(settings, store, timeout=3600, progress=lambda _: None)
            seconds = time.perf_counter() - started
            peak = max(_peak_rss_mib(pid) for pid in _children(worker.pid))
        finally:
            worker.stop()
    keys = Store(url).cluster_keys()
    chunk = keys[: settings.scan.clusters_per_task]
    return CeleryRun(seconds, peak, len(json.dumps([1, chunk])))


def _children(pid: int) -> list[int]:
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in children:
            found.extend(_children(int(child)))
    return found


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass(frozen=True)
class ScaleResult:
    clusters: int
    first_scan_seconds: float
    """The first scan writes every (cluster, rule) outcome; later ones only what changed."""
    in_process_seconds: float
    celery: CeleryRun

    @property
    def ratio(self) -> float:
        return self.celery.seconds / self.in_process_seconds


def measure(samples: list[Sample], count: int, state: Path) -> ScaleResult:
    with tempfile.TemporaryDirectory(prefix="netaudit-scale-") as tmp:
        folder = Path(tmp)
        url = f"sqlite:///{folder / 'netaudit.db'}"
        print(f"  {count:,} clusters: filling the store", flush=True)
        fill_store(url, samples, count)
        settings = Settings(state_dir=folder / "inproc")
        print(f"  {count:,} clusters: first scan in one process", flush=True)
        first = scan_in_process(url, settings)
        # Both measured scans start from the same steady state (outcomes recorded once).
        print(f"  {count:,} clusters: scan in one process", flush=True)
        in_process = scan_in_process(url, settings)
        print(f"  {count:,} clusters: scan through Celery, 2 worker processes", flush=True)
        celery = scan_with_celery(folder, state, url)
    return ScaleResult(count, first, in_process, celery)


def run(sizes: tuple[int, ...] = (1_000, 10_000)) -> list[ScaleResult]:
    with tempfile.TemporaryDirectory(prefix="netaudit-samples-") as tmp:
        folder = Path(tmp)
        samples = read_samples(folder / "sandbox")
        state = folder / "state"
        with EmbeddedRedis(Settings(state_dir=state).broker_dir):
            return [measure(samples, size, state) for size in sizes]


def table(results: list[ScaleResult]) -> str:
    lines = [
        f"{'clusters':>9} {'first scan s':>12} {'1 process s':>12} {'celery 2w s':>12} "
        f"{'ratio':>6} {'ms/cluster':>10} {'peak RSS MiB':>13} {'max msg B':>10}"
    ]
    for r in results:
        lines.append(
            f"{r.clusters:9,} {r.first_scan_seconds:12.2f} {r.in_process_seconds:12.2f} "
            f"{r.celery.seconds:12.2f} "
            f"{r.ratio:6.2f} {1000 * r.in_process_seconds / r.clusters:10.2f} "
            f"{r.celery.peak_rss_mib:13.1f} {r.celery.largest_message_bytes:10,}"
        )
    lines.append(
        "ratio: Celery (2 worker processes) / one process, both on the same steady state; "
        "goals: ratio <= 1.3, peak RSS <= 300 MiB, cost linear in clusters"
    )
    if len(results) >= 2:
        first, last = results[0], results[-1]
        lines.append(
            f"linearity {first.clusters:,} -> {last.clusters:,} clusters "
            f"({last.clusters / first.clusters:.0f}x): in process "
            f"{last.in_process_seconds / first.in_process_seconds:.1f}x, "
            f"celery {last.celery.seconds / first.celery.seconds:.1f}x"
        )
    return "\n".join(lines)


def figures(results: list[ScaleResult]) -> list[dict[str, float]]:
    return [
        {
            "clusters": r.clusters,
            "first_scan_seconds": round(r.first_scan_seconds, 3),
            "in_process_seconds": round(r.in_process_seconds, 3),
            "celery_seconds": round(r.celery.seconds, 3),
            "ratio": round(r.ratio, 3),
            "worker_peak_rss_mib": round(r.celery.peak_rss_mib, 1),
            "largest_message_bytes": r.celery.largest_message_bytes,
        }
        for r in results
    ]


def main() -> None:
    print(table(run()))


if __name__ == "__main__":
    main()
