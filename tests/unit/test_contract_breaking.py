"""`buf breaking` against the committed baseline (protos/baseline.binpb, the image of the
previous contract version): the protos pass, and a renumbered field in a copy fails."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.conftest import REPO, require

BUF = REPO / "node_modules" / ".bin" / "buf"
BASELINE = REPO / "protos" / "baseline.binpb"
BUF_BREAKING_FAILED = 100


def _copy_contract(to: Path) -> Path:
    """buf.yaml and the .proto files only, laid out as in the repository."""
    shutil.copy(REPO / "buf.yaml", to / "buf.yaml")
    protos = to / "protos" / "netaudit" / "v1"
    protos.mkdir(parents=True)
    for proto in (REPO / "protos" / "netaudit" / "v1").glob("*.proto"):
        shutil.copy(proto, protos / proto.name)
    return protos


def _breaking(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BUF), "breaking", "--against", str(BASELINE)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_protos_are_wire_compatible_with_the_baseline(tmp_path: Path) -> None:
    require("buf")
    _copy_contract(tmp_path)
    result = _breaking(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_buf_breaking_catches_a_renumbered_field(tmp_path: Path) -> None:
    require("buf")
    ingest = _copy_contract(tmp_path) / "ingest.proto"
    text = ingest.read_text()
    assert text.count("int64 agent_epoch = 3;") == 1
    ingest.write_text(text.replace("int64 agent_epoch = 3;", "int64 agent_epoch = 13;"))
    result = _breaking(tmp_path)
    assert result.returncode == BUF_BREAKING_FAILED, result.stdout + result.stderr
    assert '"agent_epoch"' in result.stdout and "AgentHello" in result.stdout, result.stdout
