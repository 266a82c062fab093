"""Servers that start on entering a `with` block and stop on leaving it."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class Lifecycle:
    """Base for the sandbox servers: `with Server(...) as s:` starts and stops it."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
