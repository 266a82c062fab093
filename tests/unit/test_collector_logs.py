"""Collector log lines: one JSON object with the agent's keys plus the context fields."""

from __future__ import annotations

import json
import logging

from netaudit.collector.logs import JsonFormatter, TextFormatter


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord("netaudit.x", logging.INFO, __file__, 1, "scan %s", (7,), None)
    record.__dict__.update(extra)
    return record


def test_json_line_carries_context_fields() -> None:
    line = json.loads(JsonFormatter().format(_record(scan_id=7, cluster="c1")))
    assert line["message"] == "scan 7"
    assert line["level"] == "info"
    assert line["logger"] == "netaudit.x"
    assert line["scan_id"] == 7 and line["cluster"] == "c1"
    assert set(line) == {"time", "level", "logger", "message", "scan_id", "cluster"}


def test_text_line_appends_context_as_key_value() -> None:
    assert TextFormatter().format(_record(cluster="c1")) == "info    netaudit.x: scan 7 cluster=c1"
