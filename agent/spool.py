"""A bounded on-disk spool of reports the collector has not acknowledged.

One file per report, written atomically (temp file, fsync, rename), named
``<epoch>-<sequence>-<report id>.pb`` so the directory alone says the order
and survives restarts. A report leaves the spool only when acked (or
rejected). Over the byte cap the oldest reports are dropped, newest wins:
reports are snapshots of state, and a newer one supersedes an older one.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from netaudit.agent.errors import SpoolError
from netaudit.v1 import report_pb2

log = logging.getLogger(__name__)

SUFFIX = ".pb"
TEMP_PREFIX = ".tmp-"
_NAME = re.compile(r"^(?P<epoch>\d+)-(?P<sequence>\d+)-(?P<report_id>[A-Za-z0-9_.-]+)\.pb$")
_SAFE_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class SpooledReport:
    """A report waiting on disk for its ack."""

    report_id: str
    agent_epoch: int
    sequence: int
    path: Path
    size: int

    def read(self) -> bytes:
        return self.path.read_bytes()


class Spool:
    """Unsent reports in ``directory``, at most ``max_bytes`` in total."""

    def __init__(
        self,
        directory: Path,
        max_bytes: int,
        on_drop: Callable[[SpooledReport], None] | None = None,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._on_drop = on_drop
        self.dropped_total = 0
        self._lock = threading.Lock()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            for stale in directory.glob(f"{TEMP_PREFIX}*"):
                stale.unlink(missing_ok=True)
        except OSError as error:
            raise SpoolError(f"spool directory {directory} is not usable: {error}") from error
        if not os.access(directory, os.W_OK):
            raise SpoolError(f"spool directory {directory} is not writable")

    def put(self, report: report_pb2.Report) -> SpooledReport:
        """Store a report; then drop the oldest others while over the byte cap."""
        return self.put_bytes(
            report.SerializeToString(), report.report_id, report.agent_epoch, report.sequence
        )

    def put_bytes(
        self, data: bytes, report_id: str, agent_epoch: int, sequence: int
    ) -> SpooledReport:
        if not _SAFE_ID.match(report_id):
            raise ValueError(f"report id {report_id!r} is not a safe file name")
        path = self.directory / f"{agent_epoch:016d}-{sequence:012d}-{report_id}{SUFFIX}"
        with self._lock:
            try:
                self._write_atomically(path, data)
            except OSError as error:
                raise SpoolError(f"cannot write {path}: {error}") from error
            self._enforce_cap(keep=path)
        return SpooledReport(report_id, agent_epoch, sequence, path, len(data))

    def pending(self) -> list[SpooledReport]:
        """Every spooled report, oldest first."""
        with self._lock:
            return self._scan()

    def get(self, report_id: str) -> SpooledReport | None:
        return next((r for r in self.pending() if r.report_id == report_id), None)

    def remove(self, report_id: str) -> bool:
        """Forget an acknowledged report; False when it was not spooled."""
        with self._lock:
            for entry in self._scan():
                if entry.report_id == report_id:
                    entry.path.unlink(missing_ok=True)
                    return True
        return False

    def total_bytes(self) -> int:
        return sum(r.size for r in self.pending())

    def _scan(self) -> list[SpooledReport]:
        found = []
        for path in self.directory.iterdir():
            match = _NAME.match(path.name)
            if not match:
                continue
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            found.append(
                SpooledReport(
                    match.group("report_id"),
                    int(match.group("epoch")),
                    int(match.group("sequence")),
                    path,
                    size,
                )
            )
        return sorted(found, key=lambda r: (r.agent_epoch, r.sequence, r.report_id))

    def _enforce_cap(self, keep: Path) -> None:
        entries = self._scan()
        total = sum(r.size for r in entries)
        dropped, dropped_bytes = 0, 0
        for entry in entries:
            if total <= self.max_bytes:
                break
            if entry.path == keep:
                continue
            entry.path.unlink(missing_ok=True)
            if self._on_drop is not None:
                self._on_drop(entry)
            total -= entry.size
            dropped += 1
            dropped_bytes += entry.size
        if dropped:
            self.dropped_total += dropped
            log.warning(
                "spool over %d bytes: dropped %d oldest unsent reports (%d bytes); %d so far",
                self.max_bytes,
                dropped,
                dropped_bytes,
                self.dropped_total,
            )

    def _write_atomically(self, path: Path, data: bytes) -> None:
        temp = self.directory / f"{TEMP_PREFIX}{uuid.uuid4().hex}"
        try:
            with open(temp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
