"""Logging for the collector: JSON lines in clusters, readable text on a terminal.

Context (cluster, report id, scan id) is carried with ``logging.LoggerAdapter``
or ``extra=``; every key in ``extra`` lands in the JSON line.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal

LogFormat = Literal["auto", "json", "text"]

_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line with the record's extra fields.

    Same keys as the agent's lines (time, level, logger, message, error), so one
    log pipeline parses both.
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    """Readable text with the extra fields appended as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        base = f"{record.levelname.lower():7} {record.name}: {record.getMessage()}"
        extras = [
            f"{key}={value}"
            for key, value in record.__dict__.items()
            if key not in _STANDARD_ATTRS and not key.startswith("_")
        ]
        if extras:
            base += " " + " ".join(extras)
        if record.exc_info:
            base += "\n" + self.formatException(record.exc_info)
        return base


def configure(level: str = "INFO", fmt: LogFormat = "auto") -> None:
    """Install one handler on the root logger (stderr). Called once by the CLI."""
    if fmt == "auto":
        fmt = "text" if sys.stderr.isatty() else "json"
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("azure", "urllib3", "msal", "kombu", "celery", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
