"""The real ingest server (grpc.aio) on an event loop in a thread of its own, for tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager

from netaudit.collector.ingest.admin import AdminServicer
from netaudit.collector.ingest.server import RunningIngest, ServerOptions, start_ingest
from netaudit.collector.ingest.servicer import IngestServicer


@contextmanager
def serving(
    servicer: IngestServicer,
    options: ServerOptions | None = None,
    admin: AdminServicer | None = None,
) -> Iterator[tuple[RunningIngest, asyncio.AbstractEventLoop]]:
    """Start ``servicer`` (and ``admin`` on the same port) on 127.0.0.1 (a free port unless
    ``options`` say otherwise); stop it, its loop and its thread on exit."""
    options = options or ServerOptions("127.0.0.1", 0, 600)
    loop = asyncio.new_event_loop()
    started: Future[RunningIngest] = Future()

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def boot() -> None:
            started.set_result(await start_ingest(servicer, options, admin))

        loop.run_until_complete(boot())
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ingest = started.result(timeout=10)
    try:
        yield ingest, loop
    finally:
        asyncio.run_coroutine_threadsafe(ingest.stop(0), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
