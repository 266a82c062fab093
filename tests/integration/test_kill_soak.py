"""The kill soak, short: agents stream over TLS with tokens while the collector and an
agent are killed -9 every 10 s; every report an agent produced is stored (bench/soak.py
has the definitions; `make bench` runs it for 5 minutes).

Real processes throughout: `netaudit serve`, `netaudit-agent run --ledger`, the sandbox's
Kubernetes APIs; the store is a SQLite file that keeps every report."""

from __future__ import annotations

import pytest

from bench import soak

SECONDS = 35  # kills at 10, 20 and 30 s: three of the collector, three of an agent


@pytest.mark.timeout(150)  # ~35 s of soak, the start-up and the drain; slower under load
def test_no_report_is_lost_across_kills_of_the_collector_and_the_agents() -> None:
    figures = soak.run(SECONDS, agents=3, kill_every=10)

    print(soak.table(figures))
    assert (figures.collector_kills, figures.agent_kills) == (3, 3)
    # the kills wait (up to 3 s) for a report in flight: most land mid-stream
    assert figures.mid_stream_kills >= 3
    assert figures.produced >= 3 * 20  # a report a second per agent, less the restarts
    assert figures.lost_ids == []
    assert figures.stored == figures.produced
    assert figures.superseded == 0
    assert figures.rejected == 0
    assert figures.left_in_spools == 0
