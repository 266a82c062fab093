"""The agent's delivery ledger: JSON lines that survive a kill, torn tails skipped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netaudit.agent.errors import SpoolError
from netaudit.agent.ledger import ACKED, PRODUCED, Ledger, read_ledger


def test_events_append_across_reopenings_with_their_ids_and_status(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    first = Ledger(path)
    first.record(PRODUCED, "r1", 7, 1)
    first.close()
    second = Ledger(path)  # a restarted agent appends to the same file
    second.record(ACKED, "r1", 7, 1, "duplicate")
    second.close()

    events = read_ledger(path)

    assert [
        (e["event"], e["report_id"], e["agent_epoch"], e["sequence"], e.get("status"))
        for e in events
    ] == [("produced", "r1", 7, 1, None), ("acked", "r1", 7, 1, "duplicate")]
    assert all(isinstance(e["time"], float) for e in events)
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    whole = json.dumps({"event": "produced", "report_id": "r1"})
    path.write_text(whole + "\n" + whole[:10])

    assert [e["report_id"] for e in read_ledger(path)] == ["r1"]


def test_without_a_path_nothing_is_written(tmp_path: Path) -> None:
    ledger = Ledger(None)
    ledger.record(PRODUCED, "r1", 1, 1)
    ledger.close()
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_ledger_is_a_spool_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SpoolError, match="ledger"):
        Ledger(blocker / "ledger.jsonl")
