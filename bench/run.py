"""Run the benchmarks, print a table, write bench/results/latest.json.

Besides the in-process ones: the agent's snapshot of a generated 5,000-node cluster
(bench/agent_scale.py), a scan at fleet scale (bench/scan_scale.py) and an inventory
refresh of 5 x 200 clusters against the ARM throttling model (bench/inventory_scale.py).

Then the kill soak (bench/soak.py) for ``--soak-seconds`` (default 300; 0 skips it),
also written to bench/results/soak.json.

Each benchmark is reported as a ratio to a floor measured in the same run on
the same data, because this machine is shared and noisy (perf.md §3, §5).
Median of 3 runs each.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import agent_scale, inventory_scale, metrics_scrape, scan_scale, soak
from netaudit.agent.gatherers.nodes import count_pods_by_node, node
from netaudit.agent.report import chunk_report
from netaudit.collector.ingest.reassembly import Reassembler
from netaudit.v1 import report_pb2

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
NODES = 5_000
PODS = 100_000
METRICS_CLUSTERS = 10_000


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


def bench_metrics_scrape() -> Result:
    measured = metrics_scrape.measure(METRICS_CLUSTERS, median_seconds)
    print(
        f"  metrics: publish (merge every cluster's part) {measured.publish_seconds:.2f} s, "
        f"{measured.payload_bytes / 1e6:.1f} MB of snapshots",
        flush=True,
    )
    return Result(
        "exporter: /metrics from stored snapshots",
        f"{measured.clusters:,} clusters, {measured.samples:,} samples",
        measured.scrape_seconds,
        "generate_latest of the same families prebuilt",
        measured.floor_seconds,
        "<= 1.5x",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the benchmarks under bench/.")
    parser.add_argument(
        "--soak-seconds",
        type=float,
        default=300.0,
        help="length of the kill soak (s); 0 skips it",
    )
    args = parser.parse_args(argv)
    results = [bench_agent_node_aggregation(), bench_ingest_reassembly(), bench_metrics_scrape()]
    print("agent snapshot at 5,000 nodes (synthetic cluster, its own process):", flush=True)
    agent = agent_scale.run()
    print("scan at fleet scale (synthetic fleets cloned from the sample):", flush=True)
    scale = scan_scale.run()
    print("inventory refresh of 5 x 200 clusters at ARM's documented limits:", flush=True)
    inventory = inventory_scale.run()
    header = f"{'benchmark':44} {'size':34} {'seconds':>8} {'floor s':>8} {'ratio':>6}  target"
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.name:44} {r.size:34} {r.seconds:8.3f} {r.floor_seconds:8.3f} "
            f"{r.ratio:6.2f}  {r.target}"
        )
    print()
    print(agent_scale.table(agent))
    print()
    print(scan_scale.table(scale))
    print()
    print(inventory_scale.table(inventory))
    soaked = None
    if args.soak_seconds > 0:
        print(f"\nkill soak for {args.soak_seconds:g} s:", flush=True)
        soaked = soak.run(args.soak_seconds)
        print(soak.table(soaked))
        soak.write_results(soaked)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "machine": platform.platform(),
                "python": platform.python_version(),
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "results": [{**asdict(r), "ratio": round(r.ratio, 3)} for r in results],
                "agent_scale": agent.figures(),
                "scan_scale": scan_scale.figures(scale),
                "inventory_scale": inventory_scale.figures(inventory),
                "soak": None if soaked is None else soak.as_json(soaked),
            },
            indent=2,
        )
    )
    print(f"\nwritten to {RESULTS}")


if __name__ == "__main__":
    main()
