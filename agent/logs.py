"""Logging for the agent: JSON lines in a cluster, readable text on a terminal.

Context (cluster, report id) is carried with ``log_context`` and added to
every record logged inside it, rather than repeated in each message.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any

_CONTEXT: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "netaudit_agent_log_context", default=None
)
# Chatty libraries whose INFO lines are not the agent's story.
_QUIET = ("urllib3", "kubernetes", "grpc")


@contextmanager
def log_context(**fields: str) -> Iterator[None]:
    """Add ``fields`` to every record logged inside the block (this thread/task)."""
    token = _CONTEXT.set({**(_CONTEXT.get() or {}), **{k: str(v) for k, v in fields.items() if v}})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def current_context() -> dict[str, str]:
    return dict(_CONTEXT.get() or {})


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.context = _CONTEXT.get() or {}
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, context, error."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "context", {}))
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``HH:MM:SS level message [key=value …]`` for people."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(message)s", datefmt="%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = getattr(record, "context", {})
        if context:
            text += "  [" + " ".join(f"{k}={v}" for k, v in context.items()) + "]"
        return text


def configure(level: str = "INFO", fmt: str = "auto", stream: IO[str] | None = None) -> None:
    """Install one stderr handler on the root logger (idempotent)."""
    target = stream if stream is not None else sys.stderr
    use_json = fmt == "json" or (fmt == "auto" and not target.isatty())
    handler = logging.StreamHandler(target)
    handler.setFormatter(JsonFormatter() if use_json else TextFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_netaudit_agent", False):
            root.removeHandler(existing)
    handler._netaudit_agent = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
