"""Generate the Python stubs (with mypy stubs) for protos/netaudit/v1.

``python protos/generate.py`` writes them next to the .proto files;
``--check`` generates into a temporary folder and exits 1 if the committed
stubs differ (stale).
"""

from __future__ import annotations

import argparse
import filecmp
import subprocess
import sys
import tempfile
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
PROTO_DIR = PROTO_ROOT / "netaudit" / "v1"
SERVICE_PROTOS = {"admin.proto", "ingest.proto"}
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def generate(out: Path) -> None:
    protos = sorted(PROTO_DIR.glob("*.proto"))
    bin_dir = Path(sys.executable).parent
    base = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
    ]
    rel = [str(p.relative_to(PROTO_ROOT)) for p in protos]
    _protoc([*base, f"--python_out={out}", f"--mypy_out={out}", *rel])
    services = [r for r, p in zip(rel, protos, strict=True) if p.name in SERVICE_PROTOS]
    _protoc([*base, f"--grpc_python_out={out}", f"--mypy_grpc_out={out}", *services])


def _protoc(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"protoc failed: {result.stderr.strip()}")


def generated_files(root: Path) -> set[str]:
    folder = root / "netaudit" / "v1"
    return {p.name for p in folder.iterdir() if p.name.endswith(GENERATED_SUFFIXES)}


def stale_files() -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        (out / "netaudit" / "v1").mkdir(parents=True)
        generate(out)
        fresh, committed = generated_files(out), generated_files(PROTO_ROOT)
        stale = sorted(fresh ^ committed)
        for name in sorted(fresh & committed):
            if not filecmp.cmp(out / "netaudit/v1" / name, PROTO_DIR / name, shallow=False):
                stale.append(name)
        return stale


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed stubs are stale")
    args = parser.parse_args()
    if args.check:
        stale = stale_files()
        if stale:
            print(f"stale protobuf stubs: {', '.join(stale)}; run `make proto`", file=sys.stderr)
            return 1
        return 0
    generate(PROTO_ROOT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
