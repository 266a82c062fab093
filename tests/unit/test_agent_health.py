"""The agent's /healthz verdict and /metrics, from what the runner and the stream report."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from wsgiref.util import setup_testing_defaults

import pytest
from prometheus_client import generate_latest

from netaudit.agent.config import load_settings
from netaudit.agent.errors import ConfigError
from netaudit.agent.health import AgentHealth, metrics_registry
from netaudit.agent.health_server import health_app
from netaudit.agent.spool import Spool
from netaudit.v1 import report_pb2

INTERVAL = 60.0
START = 1_000.0
EPOCH = 1_800_000_000.0


class FakeClock:
    """Seconds since the agent started, as both the monotonic and the wall clock see them."""

    def __init__(self) -> None:
        self.elapsed = 0.0

    def monotonic(self) -> float:
        return START + self.elapsed

    def wall(self) -> float:
        return EPOCH + self.elapsed


def tracked(clock: FakeClock) -> AgentHealth:
    return AgentHealth(
        INTERVAL,
        3,
        sources=("identity", "nodes", "coredns"),
        wall=clock.wall,
        monotonic=clock.monotonic,
    )


def report(*gaps: tuple[str, str]) -> report_pb2.Report:
    message = report_pb2.Report(report_id="r1")
    for gatherer, reason in gaps:
        message.gaps.add(gatherer=gatherer, resource="pods/v1", reason=reason)
    return message


Step = Callable[[AgentHealth, FakeClock], None]


def at(seconds: float) -> Step:
    def step(_health: AgentHealth, clock: FakeClock) -> None:
        clock.elapsed = seconds

    return step


def gathered(health: AgentHealth, _clock: FakeClock) -> None:
    health.report_gathered(report(), 100, 1.0)


def acked(health: AgentHealth, _clock: FakeClock) -> None:
    health.report_acked("r1")


@pytest.mark.parametrize(
    ("steps", "healthy", "reason"),
    [
        ([], False, "no report gathered yet"),
        ([at(500)], False, "no report gathered yet"),
        ([at(5), gathered], True, "ok: first report not acknowledged yet"),
        ([at(5), gathered, acked], True, "ok"),
        ([at(5), gathered, acked, at(185)], True, "ok"),
        (
            [at(5), gathered, acked, at(186)],
            False,
            "last report acknowledged by the collector 181s ago (limit 180s)",
        ),
        ([at(5), gathered, acked, at(186), acked], True, "ok"),
        (
            [at(5), gathered, at(181)],
            False,
            "no report acknowledged by the collector in the 181s since start (limit 180s)",
        ),
        # Gathering again does not make up for reports that never reach the collector.
        (
            [at(5), gathered, acked, at(300), gathered],
            False,
            "last report acknowledged by the collector 295s ago (limit 180s)",
        ),
    ],
)
def test_healthz_verdict(steps: list[Step], healthy: bool, reason: str) -> None:
    clock = FakeClock()
    health = tracked(clock)
    for step in steps:
        step(health, clock)
    verdict = health.verdict()
    assert (verdict.healthy, verdict.reason) == (healthy, reason)


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    return Spool(tmp_path / "spool", 64 * 1024 * 1024)


def test_metrics_before_anything_happened_have_no_timestamps(spool: Spool) -> None:
    registry = metrics_registry(tracked(FakeClock()), spool)
    assert registry.get_sample_value("netaudit_agent_last_gather_success_timestamp_seconds") is None
    assert registry.get_sample_value("netaudit_agent_last_send_success_timestamp_seconds") is None
    assert registry.get_sample_value("netaudit_agent_spool_files") == 0
    assert registry.get_sample_value("netaudit_agent_collector_reconnects_total") == 0
    # Every declared source is there from the start, so rate() sees the first error.
    for source in ("identity", "nodes", "coredns", "report", "other"):
        labels = {"source": source}
        assert registry.get_sample_value("netaudit_agent_gather_errors_total", labels) == 0


def test_metrics_follow_gathers_sends_spool_and_reconnects(spool: Spool) -> None:
    clock = FakeClock()
    health = tracked(clock)
    registry = metrics_registry(health, spool)
    first = report(("nodes", "forbidden"), ("nodes", "expired"), ("coredns", "not_found"))
    clock.elapsed = 10
    health.report_gathered(first, 4096, 2.0)
    spool.put(report_pb2.Report(report_id="a", agent_epoch=1, sequence=1))
    spool.put(report_pb2.Report(report_id="b", agent_epoch=1, sequence=2))
    clock.elapsed = 12
    health.report_acked("a")
    health.reconnecting()
    health.reconnecting()
    health.gather_failed()
    health.report_gathered(report(("probe-of-the-month", "error")), 100, 40.0)

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert value("netaudit_agent_last_gather_success_timestamp_seconds") == EPOCH + 12
    assert value("netaudit_agent_last_send_success_timestamp_seconds") == EPOCH + 12
    assert value("netaudit_agent_report_size_bytes") == 100
    assert value("netaudit_agent_gather_duration_seconds_count") == 2
    assert value("netaudit_agent_gather_duration_seconds_sum") == 42.0
    assert value("netaudit_agent_gather_duration_seconds_bucket", le="2.5") == 1
    assert value("netaudit_agent_gather_errors_total", source="nodes") == 2
    assert value("netaudit_agent_gather_errors_total", source="coredns") == 0  # CRD not served
    assert value("netaudit_agent_gather_errors_total", source="report") == 1
    assert value("netaudit_agent_gather_errors_total", source="other") == 1  # labels stay bounded
    assert value("netaudit_agent_gather_errors_total", source="probe-of-the-month") is None
    assert value("netaudit_agent_collector_reconnects_total") == 2
    assert value("netaudit_agent_spool_files") == 2
    assert value("netaudit_agent_spool_size_bytes") == sum(e.size for e in spool.pending())
    assert value("netaudit_agent_spool_dropped_reports_total") == 0
    assert value("process_resident_memory_bytes") is not None


def call(app: Callable[..., Iterable[bytes]], path: str) -> tuple[str, str, str]:
    environ: dict[str, object] = {"PATH_INFO": path}
    setup_testing_defaults(environ)
    answered: dict[str, object] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answered.update(status=status, headers=dict(headers))

    body = b"".join(app(environ, start_response)).decode()
    headers = answered["headers"]
    assert isinstance(headers, dict)
    return str(answered["status"]), headers["Content-Type"], body


def test_the_app_answers_healthz_with_the_reason_and_metrics_as_prometheus_text(
    spool: Spool,
) -> None:
    clock = FakeClock()
    health = tracked(clock)
    registry = metrics_registry(health, spool)
    app = health_app(health, registry)
    assert call(app, "/healthz") == (
        "503 Service Unavailable",
        "text/plain; charset=utf-8",
        "no report gathered yet\n",
    )
    health.report_gathered(report(), 10, 1.0)
    health.report_acked("r1")
    assert call(app, "/healthz")[::2] == ("200 OK", "ok\n")
    status, content_type, body = call(app, "/metrics")
    assert status.startswith("200")
    assert content_type.startswith("text/plain; version=0.0.4")
    assert body == generate_latest(registry).decode()
    assert call(app, "/")[0] == "404 Not Found"


@pytest.mark.parametrize(
    ("health", "problem"),
    [
        ({"port": 70000}, "health.port"),
        ({"unhealthy_after_intervals": 1}, "health.unhealthy_after_intervals"),
        ({"address": ""}, "health.address"),
    ],
)
def test_bad_health_settings_are_one_line(health: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"health": health})
    assert problem in str(caught.value)
    assert "\n" not in str(caught.value)


def test_health_settings_default_to_loopback_9102_and_three_intervals(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = load_settings().health
    assert (defaults.address, defaults.port, defaults.unhealthy_after_intervals) == (
        "127.0.0.1",
        9102,
        3,
    )
    monkeypatch.setenv("NETAUDIT_HEALTH__PORT", "0")
    assert load_settings().health.port == 0
