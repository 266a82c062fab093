"""The collector's memory stays bounded: RSS at most the byte budget + 150 MiB.

The collector runs in a process of its own (ingest_process.py) whose peak RSS (VmHWM)
is read from /proc. The test configuration is smaller than the defaults so that 1 GiB
of partial reports is pushed in seconds: reports of at most 16 MiB, a byte budget of
80 MiB (5 x 16 MiB, the least the configuration allows), in the agent's chunks (1 MiB)
from 8 streams at a time. What the headroom covers besides the interpreter (~80 MiB):
the messages in transit on each stream that is sending, outside the budget (measured
here: 8 streams peak at ~190 MiB, 16 at 202-224 MiB and failed the bound once on a clean
run; RSS grows by about 3 MiB per further sending stream).
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from netaudit.agent.report import MAX_CHUNK_BYTES, chunk_report
from netaudit.v1 import ingest_pb2, ingest_pb2_grpc, report_pb2
from tests.conftest import REPO

# RSS and timing bounds: alone on the machine, after the parallel pass of make test.
pytestmark = pytest.mark.serial

MIB = 1 << 20
MAX_REPORT = 16 * MIB
BUDGET = 5 * MAX_REPORT
HEADROOM = 150 * MIB
PARTIALS_PUSHED = 1024 * MIB
WORKERS = 8
CLUSTER = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/fleet"
    "/providers/Microsoft.ContainerService/managedClusters/big"
)


@dataclass
class Collector:
    address: str
    pid: int

    def peak_rss(self) -> int:
        """VmHWM: the most resident memory the process ever had, in bytes."""
        return self._status("VmHWM:")

    def rss(self) -> int:
        """VmRSS: resident memory now, in bytes."""
        return self._status("VmRSS:")

    def _status(self, field: str) -> int:
        status = Path(f"/proc/{self.pid}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith(field))
        return int(line.split()[1]) * 1024


@contextmanager
def collector_process(tmp_path: Path) -> Iterator[Collector]:
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    subprocess.run(
        [
            sys.executable,
            "-c",
            f"from netaudit.collector.store import upgrade; upgrade({store_url!r})",
        ],
        check=True,
        cwd=REPO,
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.ingest_process",
            store_url,
            f"--max-report-bytes={MAX_REPORT}",
            f"--max-assembly-bytes={BUDGET}",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("PORT "), f"ingest process said {line!r}"
        yield Collector(f"127.0.0.1:{line.split()[1]}", process.pid)
    finally:
        process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def hello() -> ingest_pb2.StreamRequest:
    message = ingest_pb2.AgentHello(agent_id="agent-0", agent_epoch=1)
    message.cluster.arm_resource_id = CLUSTER
    return ingest_pb2.StreamRequest(hello=message)


def large_report(report_id: str, size: int) -> report_pb2.Report:
    """A valid report of about ``size`` bytes: nodes with many labels (maps decode largest)."""
    report = report_pb2.Report(report_id=report_id, agent_epoch=1, sequence=1)
    report.cluster.arm_resource_id = CLUSTER
    report.cluster.name = "big"
    node = 0
    while report.ByteSize() < size - 8 * 1024:
        n = report.nodes.add(name=f"node-{node}", pool="pool", os="linux", ready=True)
        n.pod_cidrs.append(f"10.{node // 256 % 256}.{node % 256}.0/24")
        for label in range(60):
            n.network_labels[f"kubernetes.azure.com/label-{label:03d}"] = "v" * 20
        node += 1
    return report


class PartialPusher:
    """Streams that send most of a report, never its last chunk, then hang up."""

    def __init__(self, address: str) -> None:
        self._channel = grpc.insecure_channel(
            address, options=[("grpc.max_send_message_length", 8 * MIB)]
        )
        self._stub = ingest_pb2_grpc.IngestServiceStub(self._channel)
        self._lock = threading.Lock()
        self.pushed = 0
        self.codes: dict[str, int] = {}

    def push_one(self, number: int) -> None:
        hold = threading.Event()
        call = self._stub.Stream(self._requests(number, hold), timeout=30)
        try:
            for _ in call:
                pass
            code = "OK"
        except grpc.RpcError as error:
            code = error.code().name  # type: ignore[attr-defined]
        hold.set()
        with self._lock:
            self.codes[code] = self.codes.get(code, 0) + 1

    def _requests(self, number: int, hold: threading.Event) -> Iterator[ingest_pb2.StreamRequest]:
        yield hello()
        chunk_bytes = MAX_CHUNK_BYTES
        for index in range(MAX_REPORT // chunk_bytes - 1):  # one short of the whole report
            with self._lock:
                self.pushed += chunk_bytes
            yield ingest_pb2.StreamRequest(
                chunk=ingest_pb2.ReportChunk(
                    report_id=f"partial-{number}",
                    agent_epoch=1,
                    sequence=number + 1,
                    chunk_index=index,
                    chunk_count=MAX_REPORT // chunk_bytes,
                    data=bytes([index]) * chunk_bytes,
                )
            )
        hold.wait(0.3)  # keep the partial a while, then end the stream incomplete

    def close(self) -> None:
        self._channel.close()


def send_report(address: str, report: report_pb2.Report) -> ingest_pb2.ReportAck:
    messages = [hello()] + [
        ingest_pb2.StreamRequest(chunk=c) for c in chunk_report(report, MAX_CHUNK_BYTES)
    ]
    with grpc.insecure_channel(
        address, options=[("grpc.max_send_message_length", 8 * MIB)]
    ) as channel:
        responses = list(
            ingest_pb2_grpc.IngestServiceStub(channel).Stream(iter(messages), timeout=60)
        )
    assert len(responses) == 1
    return responses[0].ack


@pytest.mark.timeout(480)  # 1 GiB through gRPC from Python clients: 150-180 s here
def test_1_gib_of_partial_reports_stays_within_the_budget(tmp_path: Path) -> None:
    with collector_process(tmp_path) as collector:
        pusher = PartialPusher(collector.address)
        try:
            with ThreadPoolExecutor(max_workers=WORKERS) as pool:
                number = 0
                while pusher.pushed < PARTIALS_PUSHED:
                    list(pool.map(pusher.push_one, range(number, number + WORKERS)))
                    number += WORKERS
        finally:
            pusher.close()
        peak, after = collector.peak_rss(), collector.rss()
        print(
            f"\npartials: {pusher.pushed / MIB:.0f} MiB pushed, outcomes {pusher.codes}, "
            f"collector peak RSS {peak / MIB:.0f} MiB, {after / MIB:.0f} MiB after "
            f"(budget {BUDGET / MIB:.0f} MiB)"
        )
        assert pusher.codes.get("RESOURCE_EXHAUSTED", 0) > 0
        assert peak <= BUDGET + HEADROOM
        # Nothing of a refused stream stays: a refused call's state and buffers once
        # lived until the cyclic garbage collector ran, and RSS grew with every GiB.
        assert after <= BUDGET + HEADROOM
        # Every partial's bytes were released: a maximum-size report still fits.
        ack = send_report(collector.address, large_report("after-partials", MAX_REPORT))
        assert ack.status == ingest_pb2.ACK_STATUS_COMMITTED, ack.message


def test_a_maximum_size_report_commits_within_the_budget(tmp_path: Path) -> None:
    report = large_report("largest", MAX_REPORT)
    assert MAX_REPORT - 16 * 1024 < report.ByteSize() <= MAX_REPORT
    with collector_process(tmp_path) as collector:
        ack = send_report(collector.address, report)
        peak = collector.peak_rss()
    print(
        f"\nmaximum-size report: {report.ByteSize() / MIB:.1f} MiB, collector peak RSS "
        f"{peak / MIB:.0f} MiB (budget {BUDGET / MIB:.0f} MiB)"
    )
    assert ack.status == ingest_pb2.ACK_STATUS_COMMITTED, ack.message
    assert peak <= BUDGET + HEADROOM


@pytest.fixture(autouse=True)
def _linux_only() -> None:
    if not Path("/proc/self/status").exists():
        pytest.skip("reads VmHWM from /proc")
