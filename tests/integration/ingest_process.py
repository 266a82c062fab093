"""A collector's ingest in a process of its own, for tests that kill it or limit it.

``python -m tests.integration.ingest_process STORE_URL [--file-size-limit BYTES]``
serves plaintext gRPC ingest on 127.0.0.1 (a free port, printed as ``PORT <n>``) into
the store until killed. ``--max-report-bytes`` and ``--max-assembly-bytes`` set the ingest limits.
``--file-size-limit`` caps the size of every file the process
writes (RLIMIT_FSIZE) a little above the store's current size: the database cannot grow,
as on a full disk.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import signal
from pathlib import Path

from netaudit.collector.ingest.server import ServerOptions, start_ingest
from netaudit.collector.ingest.servicer import IngestLimits, IngestServicer
from netaudit.collector.store import InvalidReport, Store


def limit_file_size(database: Path, headroom: int) -> None:
    # Over the limit, write() fails with EFBIG instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    sizes = [p.stat().st_size for p in database.parent.glob(f"{database.name}*")]
    limit = max(sizes, default=0) + headroom
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))


async def serve(store: Store, limits: IngestLimits) -> None:
    servicer = IngestServicer(store, limits, rejected_errors=(InvalidReport,))
    running = await start_ingest(servicer, ServerOptions("127.0.0.1", 0, 600))
    print(f"PORT {running.port}", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("store_url")
    parser.add_argument("--file-size-limit", type=int, default=0, help="headroom in bytes")
    parser.add_argument("--max-report-bytes", type=int, default=64 << 20)
    parser.add_argument("--max-assembly-bytes", type=int, default=320 << 20)
    args = parser.parse_args()
    store = Store(args.store_url, busy_timeout=1.0)
    if args.file_size_limit:
        limit_file_size(Path(args.store_url.removeprefix("sqlite:///")), args.file_size_limit)
    asyncio.run(serve(store, IngestLimits(args.max_report_bytes, 60, args.max_assembly_bytes)))


if __name__ == "__main__":
    main()
