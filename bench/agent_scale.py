"""The agent at the largest AKS cluster: ``netaudit-agent snapshot`` against a synthetic
5,000-node, 150,000-pod cluster, and the floor, measured in one run.

The sandbox serves the cluster from its own process (``netaudit.sandbox.synthetic_cluster``)
and logs every request. The agent runs as its own process too; its wall time and peak RSS
(``wait4``'s ``ru_maxrss``) are measured from outside. The floor then reads what the agent
read and nothing else: every list the agent made (same path, selectors and page size,
followed through its continue tokens) with the kubernetes client's raw response
(``_preload_content=False``: ``param_serialize`` + ``call_api`` + ``read``) and ``json.loads``
per page, plus a plain GET of every metrics endpoint the agent scraped, in a process of its
own started the same way. Goal: agent peak RSS <= 250 MiB and agent / floor <= 1.2. A
stricter floor, the same reads with the cyclic GC paused around each ``json.loads`` as the
agent does (a plain ``json.loads`` of a 2 MB page spends most of its time collecting), is
measured too.

It also checks that no list of pods, events or nodes asked for ``resourceVersion=0``
(the sandbox answers it as the API server does, from its cache and ignoring ``limit``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl

NODES = 5_000
PODS = 150_000
RSS_GOAL_MIB = 250
RATIO_GOAL = 1.2
CLUSTER_ID = (
    "/subscriptions/bbbbbbbb-0000-0000-0000-000000000002/resourceGroups/rg-synthetic"
    "/providers/Microsoft.ContainerService/managedClusters/aks-synthetic-weu"
)
STARTUP_SECONDS = 300
# The resources a list must never read from the cache with resourceVersion=0: too big to
# answer in one piece (the API server ignores limit then).
BIG_LISTS = ("/api/v1/pods", "/api/v1/events", "/api/v1/nodes")
RESULTS = Path(__file__).resolve().parent / "results" / "agent_scale.json"


@dataclass(frozen=True)
class Run:
    """One measured process."""

    seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    exit_code: int


@dataclass(frozen=True)
class Reads:
    """What the agent asked the API server, as the floor replays it."""

    lists: list[tuple[str, list[tuple[str, str]]]]
    metrics: list[str]
    pages: int
    other_requests: int
    cache_lists: list[str]


@dataclass
class AgentScale:
    nodes: int
    pods: int
    agent: list[Run]
    floor: list[Run]
    strict_floor: list[Run]
    reads: Reads
    report_bytes: int

    @property
    def agent_seconds(self) -> float:
        return statistics.median(r.seconds for r in self.agent)

    @property
    def floor_seconds(self) -> float:
        return statistics.median(r.seconds for r in self.floor)

    @property
    def ratio(self) -> float:
        return self.agent_seconds / self.floor_seconds

    @property
    def strict_ratio(self) -> float:
        return self.agent_seconds / statistics.median(r.seconds for r in self.strict_floor)

    @property
    def cpu_ratio(self) -> float:
        agent = statistics.median(r.cpu_seconds for r in self.agent)
        return agent / statistics.median(r.cpu_seconds for r in self.floor)

    @property
    def agent_peak_rss_mib(self) -> float:
        return max(r.peak_rss_mib for r in self.agent)

    def figures(self) -> dict[str, object]:
        return {
            "nodes": self.nodes,
            "pods": self.pods,
            "agent_seconds": round(self.agent_seconds, 3),
            "floor_seconds": round(self.floor_seconds, 3),
            "ratio": round(self.ratio, 3),
            "ratio_goal": RATIO_GOAL,
            "agent_cpu_seconds": round(statistics.median(r.cpu_seconds for r in self.agent), 3),
            "floor_cpu_seconds": round(statistics.median(r.cpu_seconds for r in self.floor), 3),
            "cpu_ratio": round(self.cpu_ratio, 3),
            "strict_floor_seconds": round(
                statistics.median(r.seconds for r in self.strict_floor), 3
            ),
            "strict_ratio": round(self.strict_ratio, 3),
            "strict_floor_cpu_seconds": round(
                statistics.median(r.cpu_seconds for r in self.strict_floor), 3
            ),
            "agent_peak_rss_mib": round(self.agent_peak_rss_mib, 1),
            "rss_goal_mib": RSS_GOAL_MIB,
            "floor_peak_rss_mib": round(max(r.peak_rss_mib for r in self.floor), 1),
            "agent_runs": [asdict(r) for r in self.agent],
            "floor_runs": [asdict(r) for r in self.floor],
            "strict_floor_runs": [asdict(r) for r in self.strict_floor],
            "lists": len(self.reads.lists),
            "pages": self.reads.pages,
            "metrics_endpoints": len(self.reads.metrics),
            "other_agent_requests": self.reads.other_requests,
            "resource_version_0_big_lists": self.reads.cache_lists,
            "report_bytes": self.report_bytes,
        }


def measure(command: list[str], env: dict[str, str] | None = None) -> Run:
    """Wall time and peak RSS of a child process (``wait4`` reports the child's own)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return Run(seconds, cpu, usage.ru_maxrss / 1024, process.returncode)


def read_requests(log: Path, offset: int) -> tuple[list[str], int]:
    with log.open(encoding="utf-8") as stream:
        stream.seek(offset)
        lines = stream.read().splitlines()
        return lines, stream.tell()


def replayable(requests: list[str]) -> Reads:
    """The lists (first pages) and metrics GETs among the agent's requests."""
    lists: list[tuple[str, list[tuple[str, str]]]] = []
    metrics: list[str] = []
    pages = other = 0
    cache_lists = []
    for line in requests:
        _, _, target = line.partition(" ")
        path, _, raw_query = target.partition("?")
        query = parse_qsl(raw_query, keep_blank_values=True)
        keys = {key for key, _ in query}
        if "limit" in keys or "continue" in keys:
            pages += 1
            if ("resourceVersion", "0") in query and path in BIG_LISTS:
                cache_lists.append(target)
            if "continue" not in keys and (path, query) not in lists:
                lists.append((path, query))
        elif "/proxy/" in path:
            metrics.append(path)
        else:
            other += 1
    return Reads(lists, metrics, pages, other, cache_lists)


def floor_main(requests: Path, kubeconfig: Path, gc_paused: bool) -> None:
    """The floor process: the agent's lists through the kubernetes client's raw responses
    with ``json.loads`` per page, and its metrics endpoints as plain GETs."""
    import gc

    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config(str(kubeconfig), client_configuration=configuration)
    api = client.ApiClient(configuration)
    reads = json.loads(requests.read_text(encoding="utf-8"))

    def get(path: str, query: list[tuple[str, str]]) -> bytes:
        method, url, headers, _, _ = api.param_serialize(
            method="GET",
            resource_path=path,
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        return bytes(api.call_api(method, url, header_params=headers).read())

    for path, query in reads["lists"]:
        token = None
        while True:
            data = get(path, query + ([("continue", token)] if token else []))
            if gc_paused:
                gc.disable()
            page = json.loads(data)
            gc.enable()
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                break
    for path in reads["metrics"]:
        get(path, [])


class Sandbox:
    """The synthetic cluster's server process."""

    def __init__(self, workdir: Path, nodes: int, pods: int) -> None:
        self.kubeconfig = workdir / "kubeconfig.yaml"
        self.log = workdir / "requests.log"
        command = [
            sys.executable,
            "-m",
            "netaudit.sandbox.synthetic_cluster",
            "--nodes",
            str(nodes),
            "--pods",
            str(pods),
            "--kubeconfig",
            str(self.kubeconfig),
            "--request-log",
            str(self.log),
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        started = time.perf_counter()
        self.url = self.process.stdout.readline().strip()
        if not self.url.startswith("http"):
            self.stop()
            raise RuntimeError("the synthetic cluster did not start")
        self.startup_seconds = time.perf_counter() - started

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def agent_command(kubeconfig: Path, output: Path) -> list[str]:
    agent = Path(sys.executable).with_name("netaudit-agent")
    return [
        str(agent),
        "snapshot",
        "-o",
        str(output),
        "--kubeconfig",
        str(kubeconfig),
        "--cluster-id",
        CLUSTER_ID,
        "--log-level",
        "WARNING",
    ]


def run(nodes: int = NODES, pods: int = PODS, runs: int = 3) -> AgentScale:
    with tempfile.TemporaryDirectory(prefix="agent-scale-") as tmp:
        workdir = Path(tmp)
        sandbox = Sandbox(workdir, nodes, pods)
        print(
            f"  synthetic cluster of {nodes:,} nodes, {pods:,} pods up in "
            f"{sandbox.startup_seconds:.1f} s",
            flush=True,
        )
        try:
            return _measure(sandbox, workdir, nodes, pods, runs)
        finally:
            sandbox.stop()


def _measure(sandbox: Sandbox, workdir: Path, nodes: int, pods: int, runs: int) -> AgentScale:
    output, requests_file = workdir / "report.pb", workdir / "reads.json"
    agent_runs, floor_runs, strict_runs = [], [], []
    reads: Reads | None = None
    offset = 0
    for attempt in range(runs):
        agent = measure(agent_command(sandbox.kubeconfig, output))
        if agent.exit_code != 0:
            raise RuntimeError(f"netaudit-agent snapshot exited with {agent.exit_code}")
        lines, offset = read_requests(sandbox.log, offset)
        reads = replayable(lines)
        requests_file.write_text(
            json.dumps({"lists": reads.lists, "metrics": reads.metrics}), encoding="utf-8"
        )
        floor_command = [
            sys.executable,
            "-m",
            "bench.agent_scale",
            "--floor",
            str(requests_file),
            "--kubeconfig",
            str(sandbox.kubeconfig),
        ]
        floor = measure(floor_command)
        strict = measure([*floor_command, "--gc-paused"])
        if floor.exit_code != 0 or strict.exit_code != 0:
            raise RuntimeError(f"the floor exited with {floor.exit_code}, {strict.exit_code}")
        _, offset = read_requests(sandbox.log, offset)
        agent_runs.append(agent)
        floor_runs.append(floor)
        strict_runs.append(strict)
        print(
            f"  run {attempt + 1}: agent {agent.seconds:.1f} s ({agent.cpu_seconds:.1f} s CPU), "
            f"{agent.peak_rss_mib:.0f} MiB; floor {floor.seconds:.1f} s "
            f"({floor.cpu_seconds:.1f} s CPU), {floor.peak_rss_mib:.0f} MiB; strict floor "
            f"{strict.seconds:.1f} s ({strict.cpu_seconds:.1f} s CPU)",
            flush=True,
        )
    assert reads is not None
    size = output.stat().st_size
    return AgentScale(nodes, pods, agent_runs, floor_runs, strict_runs, reads, size)


def table(result: AgentScale) -> str:
    rss_ok = result.agent_peak_rss_mib <= RSS_GOAL_MIB
    ratio_ok = result.ratio <= RATIO_GOAL
    lines = [
        f"agent snapshot at {result.nodes:,} nodes / {result.pods:,} pods "
        f"({len(result.reads.lists)} lists, {result.reads.pages} pages, "
        f"{len(result.reads.metrics)} metrics endpoints; median of {len(result.agent)})",
        f"{'agent wall s':>14} {'floor wall s':>13} {'ratio':>6} {'agent peak RSS MiB':>19}"
        f" {'CPU ratio':>10}",
        f"{result.agent_seconds:14.2f} {result.floor_seconds:13.2f} {result.ratio:6.2f} "
        f"{result.agent_peak_rss_mib:19.1f} {result.cpu_ratio:10.2f}",
        f"against the floor with the GC paused in json.loads: ratio {result.strict_ratio:.2f}",
        f"goals: ratio <= {RATIO_GOAL} ({'met' if ratio_ok else 'MISSED'}), "
        f"peak RSS <= {RSS_GOAL_MIB} MiB ({'met' if rss_ok else 'MISSED'})",
    ]
    if result.reads.cache_lists:
        lines.append(f"resourceVersion=0 on big lists: {result.reads.cache_lists}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--floor", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--kubeconfig", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--gc-paused", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--nodes", type=int, default=NODES)
    parser.add_argument("--pods", type=int, default=PODS)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if args.floor is not None:
        floor_main(args.floor, args.kubeconfig, args.gc_paused)
        return
    result = run(args.nodes, args.pods, args.runs)
    print(table(result))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    figures = {"machine": platform.platform(), "python": platform.python_version()}
    figures["when"] = datetime.now(UTC).isoformat(timespec="seconds")
    RESULTS.write_text(json.dumps(figures | result.figures(), indent=2) + "\n", encoding="utf-8")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
