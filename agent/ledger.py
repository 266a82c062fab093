"""The delivery ledger: one JSON line per event in a report's life, when asked for
(``spool.ledger``, ``--ledger FILE``), to account for every report across restarts.

Events, each with ``report_id``, ``agent_epoch``, ``sequence`` and ``time`` (Unix
seconds): ``produced`` (the report is in the spool: the agent owes it to the
collector), ``sent`` (its first chunk handed to a stream), ``acked`` (with ``status``:
committed, duplicate or rejected) and ``dropped`` (the spool's byte cap removed it
unsent: newer reports superseded it). `bench/soak.py` counts from it what was produced,
superseded and in flight when a process was killed.

A line is one write() on an O_APPEND descriptor: a kill -9 loses at most the event being
written and never interleaves two lines; it survives the process (not the machine:
no fsync, the ledger is for delivery accounting, not for durability).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

from netaudit.agent.errors import SpoolError

log = logging.getLogger(__name__)

PRODUCED = "produced"
SENT = "sent"
ACKED = "acked"
DROPPED = "dropped"


class Ledger:
    """Appends events to ``path``; with no path, records nothing."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._descriptor: int | None = None
        self._lock = threading.Lock()
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            except OSError as error:
                raise SpoolError(f"ledger {path} is not writable: {error}") from error

    def record(
        self, event: str, report_id: str, agent_epoch: int, sequence: int, status: str = ""
    ) -> None:
        if self._descriptor is None:
            return
        entry: dict[str, object] = {
            "event": event,
            "report_id": report_id,
            "agent_epoch": agent_epoch,
            "sequence": sequence,
            "time": round(time.time(), 6),
        }
        if status:
            entry["status"] = status
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        with self._lock:
            if self._descriptor is None:
                return
            try:
                os.write(self._descriptor, line)
            except OSError as error:
                # Accounting must never stop the reports it accounts for.
                log.warning("ledger %s: event not written: %s", self.path, error)

    def close(self) -> None:
        with self._lock:
            if self._descriptor is not None:
                os.close(self._descriptor)
                self._descriptor = None


def read_ledger(path: Path) -> list[dict[str, object]]:
    """Every complete event in ``path``, in order (a torn last line is skipped)."""
    events = []
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                break
            events.append(json.loads(raw))
    return events
