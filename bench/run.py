"""Run the benchmarks, print a table, write bench/results/latest.json.

Each benchmark is reported as a ratio to a floor measured in the same run on
the same data, because this machine is shared and noisy (perf.md §3, §5).
Median of 3 runs each.
"""

from __future__ import annotations

import gc
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from bench import scan_scale
from netaudit.agent.gatherers.nodes import count_pods_by_node, node
from netaudit.agent.report import chunk_report
from netaudit.collector.exporter import StoreCollector
from netaudit.collector.ingest.reassembly import Reassembler
from netaudit.collector.store import Store, upgrade
from netaudit.v1 import inventory_pb2, report_pb2

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
NODES = 5_000
PODS = 100_000
CLUSTERS = 1_000


@dataclass
class Result:
    name: str
    size: str
    seconds: float
    floor: str
    floor_seconds: float
    target: str

    @property
    def ratio(self) -> float:
        return self.seconds / self.floor_seconds


def median_seconds(action: Callable[[], object], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        gc.collect()
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _pods_json() -> bytes:
    pods = [
        {
            "metadata": {"name": f"pod-{i}", "namespace": f"ns-{i % 50}"},
            "spec": {"nodeName": f"node-{i % NODES}", "hostNetwork": i % 10 == 0},
            "status": {"phase": "Running", "podIP": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"},
        }
        for i in range(PODS)
    ]
    nodes = [
        {
            "metadata": {
                "name": f"node-{i}",
                "labels": {
                    "kubernetes.azure.com/agentpool": f"pool{i % 5}",
                    "kubernetes.io/os": "linux",
                    "kubernetes.azure.com/azure-cni-overlay": "true",
                },
            },
            "spec": {"podCIDR": f"10.{i >> 8 & 255}.{i & 255}.0/24"},
            "status": {
                "allocatable": {"pods": "250"},
                "conditions": [{"type": "Ready", "status": "True"}],
                "addresses": [{"type": "InternalIP", "address": f"10.224.{i >> 8}.{i & 255}"}],
            },
        }
        for i in range(NODES)
    ]
    return json.dumps({"pods": pods, "nodes": nodes}).encode()


def bench_agent_node_aggregation() -> Result:
    raw = _pods_json()

    def floor() -> object:
        return json.loads(raw)

    def transform() -> object:
        data = json.loads(raw)
        counts = count_pods_by_node(data["pods"])
        report = report_pb2.Report()
        report.nodes.extend(node(n, counts.get(n["metadata"]["name"])) for n in data["nodes"])
        return report

    return Result(
        "agent: pods+nodes JSON -> per-node report",
        f"{PODS:,} pods, {NODES:,} nodes",
        median_seconds(transform),
        "json.loads of the same lists",
        median_seconds(floor),
        "<= 3x",
    )


def _large_report() -> report_pb2.Report:
    report = report_pb2.Report(report_id="bench", agent_epoch=1, sequence=1)
    report.cluster.arm_resource_id = "/subscriptions/s/resourceGroups/g/providers/x/y/bench"
    for i in range(NODES):
        n = report.nodes.add(name=f"aks-pool{i % 5}-12345678-vmss{i:06d}", pool=f"pool{i % 5}")
        n.network_labels["kubernetes.azure.com/azure-cni-overlay"] = "true"
        n.pod_cidrs.append(f"10.{i >> 8 & 255}.{i & 255}.0/24")
        n.pods_on_pod_network = 40
    report.services.cluster_ips.extend(f"10.0.{i >> 8}.{i & 255}" for i in range(20_000))
    return report


def bench_ingest_reassembly() -> Result:
    report = _large_report()
    data = report.SerializeToString()
    chunks = chunk_report(report, 256 * 1024)

    def floor() -> object:
        return report_pb2.Report.FromString(data)

    def reassemble() -> object:
        assembler = Reassembler(1 << 30, 60)
        result = None
        for chunk in chunks:
            result = assembler.add(chunk)
        assert result is not None
        return result

    return Result(
        "collector: chunks -> validated Report",
        f"{len(data) / 1e6:.1f} MB in {len(chunks)} chunks",
        median_seconds(reassemble),
        "Report.FromString of the joined bytes",
        median_seconds(floor),
        "<= 1.5x",
    )


def _inventory(i: int) -> inventory_pb2.ClusterInventory:
    sub = f"{i % 50:08d}-0000-0000-0000-000000000000"
    inv = inventory_pb2.ClusterInventory(
        arm_resource_id=f"/subscriptions/{sub}/resourceGroups/rg{i}/providers/"
        f"Microsoft.ContainerService/managedClusters/aks-{i}",
        name=f"aks-{i}",
        kubernetes_version="1.30.4",
    )
    inv.network_profile.network_plugin = "azure"
    subnet_id = (
        f"/subscriptions/{sub}/resourceGroups/net{i}/providers/Microsoft.Network/"
        f"virtualNetworks/vnet-{i}/subnets/snet-{i}"
    )
    inv.agent_pools.add(name="pool1", count=10, max_pods=30, vnet_subnet_id=subnet_id)
    inv.subnets.add(id=subnet_id, name=f"snet-{i}", address_prefixes=["10.1.0.0/22"])
    vnet = inv.virtual_networks.add(id=subnet_id.rsplit("/subnets/", 1)[0], name=f"vnet-{i}")
    vnet.subnet_usages.add(subnet_id=subnet_id, current_value=310, limit=1019)
    inv.refreshed_at.FromDatetime(datetime.now(UTC))
    return inv


def bench_metrics_scrape() -> Result:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        store = Store(url)
        for i in range(CLUSTERS):
            store.save_inventory(_inventory(i))
        registry = CollectorRegistry()
        registry.register(StoreCollector(store))
        samples = CLUSTERS * 4

        def floor() -> bytes:
            family = GaugeMetricFamily("x", "x", labels=["a", "b", "c", "d"])
            for i in range(samples):
                family.add_metric([str(i), "rg", "vnet", "snet"], i)
            plain = CollectorRegistry()
            plain.register(_Static(family))
            return generate_latest(plain)

        result = Result(
            "exporter: /metrics from the store",
            f"{CLUSTERS:,} clusters, {samples:,} subnet samples",
            median_seconds(lambda: generate_latest(registry)),
            "generate_latest of as many plain samples",
            median_seconds(floor),
            "<= 10x and < 1 s",
        )
        store.close()
        return result


class _Static:
    def __init__(self, family: GaugeMetricFamily) -> None:
        self.family = family

    def collect(self) -> list[GaugeMetricFamily]:
        return [self.family]


def main() -> None:
    results = [bench_agent_node_aggregation(), bench_ingest_reassembly(), bench_metrics_scrape()]
    print("scan at fleet scale (synthetic fleets cloned from the sample):", flush=True)
    scale = scan_scale.run()
    header = f"{'benchmark':44} {'size':34} {'seconds':>8} {'floor s':>8} {'ratio':>6}  target"
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.name:44} {r.size:34} {r.seconds:8.3f} {r.floor_seconds:8.3f} "
            f"{r.ratio:6.2f}  {r.target}"
        )
    print()
    print(scan_scale.table(scale))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": platform.platform(),
                "python": platform.python_version(),
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "results": [{**asdict(r), "ratio": round(r.ratio, 3)} for r in results],
                "scan_scale": scan_scale.figures(scale),
            },
            indent=2,
        )
    )
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
