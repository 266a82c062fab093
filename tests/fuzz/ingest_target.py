"""Fuzz target: chunk reassembly, decoding and content validation, in-process.

The path a stream's chunks take in the collector (reassembly.py Reassembler.add, then
validation.py report_violations on each report completed), fed a sequence of chunks
decoded from the fuzzer's bytes: chunks of a valid report with their index, count,
report id and data damaged by the input, or raw chunks. What must hold for any input:

- ``add`` raises nothing but ChunkRejected, ReportInterleaved and BudgetExhausted;
- ``report_violations`` returns a list (it never raises), and a report it passes
  carries the chunk's report id and a cluster id;
- every byte reserved from the byte budget is released once the stream is closed.

    python -m tests.fuzz.ingest_target --seconds 60   # atheris if installed, else random
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from typing import Any

from netaudit.agent.report import chunk_report
from netaudit.collector.ingest.budget import BudgetExhausted, ByteBudget
from netaudit.collector.ingest.reassembly import ChunkRejected, Reassembler, ReportInterleaved
from netaudit.collector.ingest.validation import report_violations
from netaudit.v1 import ingest_pb2, report_pb2

MAX_REPORT_BYTES = 8 << 10
BUDGET_BYTES = 64 << 10
"""Small enough for the input to reach the budget now and then."""
MAX_CHUNKS = 64


def seed_report() -> report_pb2.Report:
    report = report_pb2.Report(report_id="seed", agent_epoch=1, sequence=1)
    report.cluster.arm_resource_id = (
        "/subscriptions/11111111-2222-3333-4444-555555555555/resourceGroups/rg/"
        "providers/Microsoft.ContainerService/managedClusters/fuzz"
    )
    report.cluster.name = "fuzz"
    for index in range(4):
        node = report.nodes.add(name=f"node-{index}", allocatable_pods=110)
        node.pod_cidrs.append(f"10.244.{index}.0/24")
        node.internal_ips.append(f"10.224.0.{index + 4}")
    report.coredns.corefile = ".:53 {\n    forward . /etc/resolv.conf\n}\n"
    return report


SEED_CHUNKS = chunk_report(seed_report(), 96)


class Input:
    """Reads small numbers and byte strings off the fuzzer's bytes (zeros once spent)."""

    def __init__(self, data: bytes) -> None:
        self._data, self._at = data, 0

    def byte(self) -> int:
        if self._at >= len(self._data):
            return 0
        self._at += 1
        return self._data[self._at - 1]

    def take(self, size: int) -> bytes:
        piece = self._data[self._at : self._at + size]
        self._at += len(piece)
        return piece

    @property
    def spent(self) -> bool:
        return self._at >= len(self._data)


def next_chunk(read: Input, sent: int) -> ingest_pb2.ReportChunk:
    """The seed's next chunk in order (after ``sent`` of them), damaged or not, or a raw
    chunk, as the input says: half the kinds leave it whole, so reports do complete."""
    kind = read.byte() % 8
    chunk = ingest_pb2.ReportChunk()
    chunk.CopyFrom(SEED_CHUNKS[sent % len(SEED_CHUNKS)])
    if kind == 1:  # another index or count
        chunk.chunk_index, chunk.chunk_count = read.byte() % 16, read.byte() % 16
    elif kind == 2:  # data cut, or garbage in place of the data
        cut = read.byte()
        chunk.data = chunk.data[:cut] if cut % 2 else read.take(cut)
    elif kind == 3:  # a raw chunk: another report id, raw data of any size up to 16 KiB
        chunk.report_id = read.take(read.byte() % 8).decode("latin-1")
        chunk.chunk_index, chunk.chunk_count = read.byte() % 4, read.byte() % 4
        chunk.data = read.take(read.byte() * 64)
    return chunk


def one_input(data: bytes) -> None:
    read = Input(data)
    budget = ByteBudget(BUDGET_BYTES)
    reassembler = Reassembler(MAX_REPORT_BYTES, 60, budget)
    try:
        for sent in range(MAX_CHUNKS):
            if read.spent:
                break
            chunk = next_chunk(read, sent)
            try:
                complete = reassembler.add(chunk)
            except (ChunkRejected, ReportInterleaved, BudgetExhausted):
                continue
            if complete is None:
                continue
            try:
                check_complete(complete.report, chunk)
            finally:
                complete.release()
    finally:
        reassembler.close()
    assert budget.reserved == 0, f"{budget.reserved} bytes of the budget never released"


def check_complete(report: report_pb2.Report, last: ingest_pb2.ReportChunk) -> None:
    violations = report_violations(report)
    assert isinstance(violations, list)
    assert report.report_id == last.report_id
    assert report.cluster.arm_resource_id


def run_random(seconds: float, seed: int) -> int:
    """Random inputs for ``seconds``: how many ran."""
    rng = random.Random(seed)
    deadline, runs = time.monotonic() + seconds, 0
    while time.monotonic() < deadline:
        one_input(rng.randbytes(rng.randrange(1, 512)))
        runs += 1
    return runs


def run_atheris(atheris: Any, seconds: float, argv: list[str]) -> None:
    atheris.instrument_all()  # coverage feedback from every module loaded (reassembly...)
    atheris.Setup([sys.argv[0], f"-max_total_time={int(seconds)}", *argv], one_input)
    atheris.Fuzz()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="how long to fuzz (s)")
    parser.add_argument("--seed", type=int, default=0, help="random inputs' seed (no atheris)")
    parser.add_argument("--no-atheris", action="store_true", help="random inputs even so")
    args, rest = parser.parse_known_args(argv)
    try:
        import atheris  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        atheris = None
    if atheris is not None and not args.no_atheris:
        run_atheris(atheris, args.seconds, rest)
        return 0
    runs = run_random(args.seconds, args.seed)
    print(f"ingest fuzz: {runs} random inputs in {args.seconds:g} s, no failure")
    return 0


if __name__ == "__main__":
    sys.exit(main())
