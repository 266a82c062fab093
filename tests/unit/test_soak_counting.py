"""bench/soak.py's definition of a kill that lands mid-stream, over ledger events."""

from __future__ import annotations

import pytest

from bench.soak import in_flight


def event(kind: str, report_id: str, time: float) -> dict[str, object]:
    return {"event": kind, "report_id": report_id, "time": time}


@pytest.mark.parametrize(
    ("events", "at", "after", "grace", "expected"),
    [
        # sent, no ack yet at the kill
        ([event("sent", "a", 5.0)], 6.0, 0.0, 0.0, True),
        # acked before the kill
        ([event("sent", "a", 5.0), event("acked", "a", 5.5)], 6.0, 0.0, 0.0, False),
        # acked just after a collector kill: the killed collector had answered
        ([event("sent", "a", 5.0), event("acked", "a", 6.1)], 6.0, 0.0, 0.25, False),
        # acked seconds later, by a restarted collector
        ([event("sent", "a", 5.0), event("acked", "a", 9.0)], 6.0, 0.0, 0.25, True),
        # sent before the last collector kill: that stream is gone
        ([event("sent", "a", 5.0)], 6.0, 5.5, 0.0, False),
        # sent after the kill
        ([event("sent", "a", 7.0)], 6.0, 0.0, 0.0, False),
        # resent on a new stream after the ack of an earlier send came
        (
            [event("sent", "a", 1.0), event("acked", "a", 1.2), event("sent", "b", 5.0)],
            6.0,
            0.0,
            0.0,
            True,
        ),
        ([], 6.0, 0.0, 0.0, False),
    ],
)
def test_a_report_is_in_flight_when_sent_on_a_live_stream_and_not_yet_acked(
    events: list[dict[str, object]], at: float, after: float, grace: float, expected: bool
) -> None:
    assert in_flight(events, at, after, grace) is expected
