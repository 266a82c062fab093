"""The process-wide budget of report bytes being assembled and decoded.

Every stream's reassembler reserves the bytes of each chunk before keeping it, and
the decoded message's estimated size before parsing; the reservation is released
when the report is committed, refused, timed out or its stream ends. A reservation
over the budget fails: the stream ends RESOURCE_EXHAUSTED and the agent retries later.
"""

from __future__ import annotations

import threading


class BudgetExhausted(Exception):
    """The bytes asked for do not fit in what is left of the budget."""


class ByteBudget:
    """A counter of reserved bytes, shared by every stream (any thread)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._reserved = 0
        self._lock = threading.Lock()

    @property
    def reserved(self) -> int:
        return self._reserved

    def reserve(self, size: int, what: str) -> None:
        """Reserve ``size`` bytes for ``what``; BudgetExhausted when they do not fit."""
        with self._lock:
            if self._reserved + size > self.limit:
                raise BudgetExhausted(
                    f"{what} needs {size} bytes and the collector's budget for reports in "
                    f"transit ({self.limit} bytes, ingest.max_assembly_bytes) has "
                    f"{self.limit - self._reserved} left: resend it later"
                )
            self._reserved += size

    def release(self, size: int) -> None:
        with self._lock:
            self._reserved -= size
