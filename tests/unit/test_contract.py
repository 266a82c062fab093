"""The protobuf contract: committed stubs are fresh, buf lint passes, chunks round-trip."""

from __future__ import annotations

import subprocess
import sys

from netaudit.v1 import ingest_pb2, report_pb2
from tests.conftest import REPO, require


def test_committed_stubs_match_the_protos() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "protos" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr


def test_buf_lint_standard_rules_pass() -> None:
    require("buf")
    result = subprocess.run(
        [str(REPO / "node_modules" / ".bin" / "buf"), "lint"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_report_survives_the_wire_in_a_chunk() -> None:
    report = report_pb2.Report(report_id="r1", agent_epoch=7, sequence=3)
    report.cluster.arm_resource_id = "/subscriptions/s/resourceGroups/g/providers/x/y/c"
    chunk = ingest_pb2.StreamRequest(
        chunk=ingest_pb2.ReportChunk(
            report_id="r1", chunk_index=0, chunk_count=1, data=report.SerializeToString()
        )
    )
    received = ingest_pb2.StreamRequest.FromString(chunk.SerializeToString())
    assert received.WhichOneof("message") == "chunk"
    assert report_pb2.Report.FromString(received.chunk.data) == report
