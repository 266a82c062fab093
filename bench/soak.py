"""Kill soak: agents stream over TLS while the collector and an agent are killed -9.

``python -m bench.soak [--seconds 300] [--agents 4] [--kill-every 10]``

Set-up: the sandbox (a Kubernetes API per sample cluster, DNS) in this process;
`netaudit serve` with TLS and one bearer token per cluster, its store a SQLite file that
keeps every report (store.report_retention), on a fixed port; AGENTS agents
(`netaudit-agent run --interval 1 --ledger FILE`) over the sample clusters in turn, each
with its own agent id (POD_NAME), spool and ledger, reconnecting within 0.2-1 s
(collector.backoff_*) so that they spend the soak streaming.

Every KILL_EVERY seconds: SIGKILL one agent (in turn) at a moment its ledger shows a
report sent and not acked, and restart it on the same spool; then SIGKILL the collector
at a moment any agent's ledger shows one, and restart it on the same port and store. Each
waits at most KILL_WAIT_SECONDS for such a moment, then kills anyway. At the end the kills
stop, the agents get SIGTERM, each then runs `--once` on its spool (sends everything
spooled, then one last report, and exits once that is acked), and the collector stops.

Counted from the ledgers and the store, whatever the timing of the kills was:

- a kill at T is *mid-stream* when a report was in flight at T: a ``sent`` event at t,
  after both the last collector kill and the agent's last start before T (so on a stream
  to the live collector), and no ``acked`` event of it in [t, T]; for a collector kill,
  in [t, T + ACK_GRACE_SECONDS]: an ack read that soon after the kill was written by the
  killed collector (a restarted one takes seconds to start), so that report was no longer
  the collector's. For an agent kill, the report must be the killed agent's;
- produced: report ids with a ``produced`` event (the report is in the spool);
- stored: produced ids with a row in the store;
- duplicates absorbed: acks DUPLICATE (a resent report the store already had);
- superseded: ids the spool's byte cap dropped unsent (``dropped`` events; the spool keeps
  every report under its 256 MiB cap, so 0 unless that is reached);
- lost = produced - stored - superseded, as sets of ids.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from netaudit.agent.ledger import ACKED, DROPPED, PRODUCED, SENT, read_ledger
from netaudit.collector.certificates import SERVER_CERT_FILE, SERVER_KEY_FILE
from netaudit.collector.config import Settings, load_settings
from netaudit.collector.demo import (
    AgentCredentials,
    agent_argv,
    agent_credentials,
    demo_tls,
    write_config,
)
from netaudit.collector.errors import ServiceUnavailable
from netaudit.collector.processes import ManagedProcess
from netaudit.sandbox.runner import Sandbox, SandboxCluster, start_sandbox

RESULTS = Path(__file__).resolve().parent / "results" / "soak.json"
REPORT_INTERVAL_SECONDS = 1.0
KILL_WAIT_SECONDS = 3.0
ACK_GRACE_SECONDS = 0.25
POLL_SECONDS = 0.005
START_TIMEOUT_SECONDS = 60.0
DRAIN_TIMEOUT_SECONDS = 90.0
Event = dict[str, object]


@dataclass(frozen=True)
class Kill:
    kind: str  # "collector" or "agent"
    target: str
    at: float
    waited_for_flight: bool


@dataclass
class Figures:
    seconds: float
    agents: int
    clusters: int
    kill_every_seconds: float
    collector_kills: int = 0
    agent_kills: int = 0
    mid_stream_collector_kills: int = 0
    mid_stream_agent_kills: int = 0
    produced: int = 0
    stored: int = 0
    duplicates_absorbed: int = 0
    rejected: int = 0
    superseded: int = 0
    lost: int = 0
    stored_without_ledger_line: int = 0
    left_in_spools: int = 0
    lost_ids: list[str] = field(default_factory=list)

    @property
    def mid_stream_kills(self) -> int:
        return self.mid_stream_collector_kills + self.mid_stream_agent_kills


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LedgerTail:
    """The reports an agent sent and has no ack for yet, read as its ledger grows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""
        self.open_sends: dict[str, float] = {}

    def poll(self) -> None:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self._offset)
                data = handle.read()
        except FileNotFoundError:
            return
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            event = json.loads(line)
            report_id = str(event["report_id"])
            if event["event"] == SENT:
                self.open_sends[report_id] = float(str(event["time"]))
            elif event["event"] == ACKED:
                self.open_sends.pop(report_id, None)

    def in_flight_since(self, since: float) -> bool:
        return any(sent > since for sent in self.open_sends.values())


@dataclass
class Agent:
    name: str
    cluster: SandboxCluster
    folder: Path
    argv: list[str]
    once_argv: list[str]
    env: dict[str, str]
    process: ManagedProcess
    starts: list[float] = field(default_factory=list)

    @property
    def ledger(self) -> Path:
        return self.folder / "ledger.jsonl"

    @property
    def spool(self) -> Path:
        return self.folder / "spool"

    def start(self) -> None:
        self.process.start()
        self.starts.append(time.time())


class Soak:
    def __init__(self, folder: Path, sandbox: Sandbox, agents: int) -> None:
        self.folder = folder
        self.sandbox = sandbox
        self.port = free_port()
        tls = demo_tls(folder)
        self.config = write_config(
            folder,
            {
                "state_dir": str(folder / "collector"),
                "log_format": "json",
                # no embedded Redis: a kill -9 of `serve` would leave it behind; nothing
                # here is queued (no scans), so the broker is never used
                "broker": {"url": "redis://127.0.0.1:6379/15", "queue": "netaudit-soak"},
                "store": {"report_retention": 1_000_000},
                "ingest": {
                    "host": "127.0.0.1",
                    "port": self.port,
                    "health_port": 0,
                    "tls_cert_file": str(tls / SERVER_CERT_FILE),
                    "tls_key_file": str(tls / SERVER_KEY_FILE),
                },
                "metrics": {"host": "127.0.0.1", "port": 0},
            },
        )
        self.settings: Settings = load_settings(self.config)
        credentials = agent_credentials(self.settings, sandbox, folder, tls)
        self.collector = ManagedProcess(
            "collector",
            [_bin("netaudit"), "--config", str(self.config), "serve"],
            folder / "logs" / "collector.log",
        )
        self.collector_kills: list[float] = []
        self.kills: list[Kill] = []
        self.agents = [
            self._agent(i, sandbox.clusters[i % len(sandbox.clusters)], credentials)
            for i in range(agents)
        ]
        self.tails = {agent.name: LedgerTail(agent.ledger) for agent in self.agents}

    def _agent(
        self, index: int, cluster: SandboxCluster, credentials: dict[str, AgentCredentials]
    ) -> Agent:
        name = f"soak-agent-{index}"
        folder = self.folder / "agents" / name
        address, spool = f"127.0.0.1:{self.port}", folder / "spool"
        ledger = ["--ledger", str(folder / "ledger.jsonl")]
        argv = agent_argv(
            cluster,
            self.sandbox,
            address,
            spool,
            credentials[cluster.name],
            REPORT_INTERVAL_SECONDS,
        )
        once = agent_argv(cluster, self.sandbox, address, spool, credentials[cluster.name])
        env = {
            **os.environ,
            "POD_NAME": name,
            "NETAUDIT_COLLECTOR__BACKOFF_INITIAL_SECONDS": "0.2",
            "NETAUDIT_COLLECTOR__BACKOFF_MAX_SECONDS": "1",
        }
        process = ManagedProcess(name, argv + ledger, self.folder / "logs" / f"{name}.log", env=env)
        return Agent(name, cluster, folder, argv + ledger, once + ledger, env, process)

    # -- processes ---------------------------------------------------------------

    def start_collector(self) -> None:
        self.settings.endpoints_file.unlink(missing_ok=True)
        self.collector.start()

    def wait_for_collector(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.settings.endpoints_file.exists():
            self.collector.ensure_running()
            if time.monotonic() > deadline:
                raise ServiceUnavailable(f"collector not serving: {self.collector.log_tail()}")
            time.sleep(0.05)

    def _wait_for_flight(self, agents: list[Agent]) -> bool:
        """Until one of ``agents`` has a report in flight (True), or KILL_WAIT_SECONDS."""
        since = self.collector_kills[-1] if self.collector_kills else 0.0
        deadline = time.monotonic() + KILL_WAIT_SECONDS
        while time.monotonic() < deadline:
            for agent in agents:
                tail = self.tails[agent.name]
                tail.poll()
                if tail.in_flight_since(max(since, agent.starts[-1])):
                    return True
            time.sleep(POLL_SECONDS)
        return False

    def kill_agent(self, agent: Agent) -> None:
        agent.process.ensure_running()
        waited = self._wait_for_flight([agent])
        self.kills.append(Kill("agent", agent.name, _kill9(agent.process), waited))
        agent.start()

    def kill_collector(self) -> None:
        self.wait_for_collector()  # the last restart is serving
        waited = self._wait_for_flight(self.agents)
        at = _kill9(self.collector)
        self.kills.append(Kill("collector", "collector", at, waited))
        self.collector_kills.append(at)
        self.start_collector()

    def run(self, seconds: float, kill_every: float) -> None:
        self.start_collector()
        self.wait_for_collector()
        for agent in self.agents:
            agent.start()
        started = time.monotonic()
        cycle = 0
        while time.monotonic() - started + kill_every <= seconds:
            time.sleep(max(0.0, started + (cycle + 1) * kill_every - time.monotonic()))
            self.kill_agent(self.agents[cycle % len(self.agents)])
            self.kill_collector()
            cycle += 1
            print(f"  {time.monotonic() - started:5.0f} s: {len(self.kills)} kills", flush=True)
        time.sleep(max(0.0, started + seconds - time.monotonic()))

    def drain(self) -> None:
        """Stop the agents, then send what each spooled (and one more report) with --once."""
        for agent in self.agents:
            agent.process.stop()
        self.wait_for_collector()
        once = []
        for agent in self.agents:
            process = ManagedProcess(
                f"{agent.name} --once",
                agent.once_argv,
                self.folder / "logs" / f"{agent.name}-once.log",
                env=agent.env,
            )
            process.start()
            once.append(process)
        for process in once:
            code = process.wait(DRAIN_TIMEOUT_SECONDS)
            if code != 0:
                raise ServiceUnavailable(f"{process.name} exited {code}: {process.log_tail()}")
        self.collector.stop()

    # -- counting ----------------------------------------------------------------

    def figures(self, seconds: float, kill_every: float) -> Figures:
        figures = Figures(
            seconds=seconds,
            agents=len(self.agents),
            clusters=len({agent.cluster.name for agent in self.agents}),
            kill_every_seconds=kill_every,
        )
        ledgers = {agent.name: read_ledger(agent.ledger) for agent in self.agents}
        for kill in self.kills:
            mid = self._mid_stream(kill, ledgers)
            if kill.kind == "collector":
                figures.collector_kills += 1
                figures.mid_stream_collector_kills += mid
            else:
                figures.agent_kills += 1
                figures.mid_stream_agent_kills += mid
        events = [event for ledger in ledgers.values() for event in ledger]
        produced = _ids(events, PRODUCED)
        superseded = _ids(events, DROPPED)
        stored = self._stored_ids()
        acks = [event.get("status") for event in events if event["event"] == ACKED]
        figures.produced = len(produced)
        figures.stored = len(produced & stored)
        figures.stored_without_ledger_line = len(stored - produced)
        figures.superseded = len(superseded)
        figures.duplicates_absorbed = acks.count("duplicate")
        figures.rejected = acks.count("rejected")
        lost = produced - stored - superseded
        figures.lost = len(lost)
        figures.lost_ids = sorted(lost)
        figures.left_in_spools = sum(len(list(agent.spool.glob("*.pb"))) for agent in self.agents)
        return figures

    def _mid_stream(self, kill: Kill, ledgers: dict[str, list[Event]]) -> bool:
        grace = ACK_GRACE_SECONDS if kill.kind == "collector" else 0.0
        since = max((t for t in self.collector_kills if t < kill.at), default=0.0)
        for agent in self.agents:
            if kill.kind == "agent" and agent.name != kill.target:
                continue
            started = max((t for t in agent.starts if t < kill.at), default=0.0)
            if in_flight(ledgers[agent.name], kill.at, max(since, started), grace):
                return True
        return False

    def _stored_ids(self) -> set[str]:
        database = self.settings.store_url.removeprefix("sqlite:///")
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            return {row[0] for row in connection.execute("SELECT report_id FROM reports")}


def in_flight(events: list[Event], at: float, after: float, grace: float) -> bool:
    """Whether a report was sent in (after, at) with no ack of it by ``at + grace``."""
    sent: dict[str, float] = {}
    for event in events:
        when = float(str(event["time"]))
        report_id = str(event["report_id"])
        if event["event"] == SENT and after < when < at:
            sent[report_id] = when
        elif event["event"] == ACKED and report_id in sent and when <= at + grace:
            del sent[report_id]
    return bool(sent)


def _ids(events: list[Event], kind: str) -> set[str]:
    return {str(event["report_id"]) for event in events if event["event"] == kind}


def _kill9(process: ManagedProcess) -> float:
    at = time.time()
    os.kill(process.pid, signal.SIGKILL)
    process.wait(10)
    return at


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


@contextmanager
def _soak_folder() -> Iterator[Path]:
    # short: the sandbox's sockets and the agents' paths stay well within limits
    with tempfile.TemporaryDirectory(prefix="na-soak-") as folder:
        yield Path(folder)


def run(seconds: float, agents: int = 4, kill_every: float = 10.0) -> Figures:
    with _soak_folder() as folder, ExitStack() as stack:
        sandbox = stack.enter_context(start_sandbox(folder / "sandbox"))
        soak = Soak(folder, sandbox, agents)
        stack.callback(soak.collector.stop)
        for agent in soak.agents:
            stack.callback(agent.process.stop)
        try:
            soak.run(seconds, kill_every)
            soak.drain()
        except Exception:
            print(f"soak failed; collector log: {soak.collector.log_tail(10)}", flush=True)
            raise
        return soak.figures(seconds, kill_every)


def table(figures: Figures) -> str:
    rows = [
        (
            "kills (collector + agent)",
            f"{figures.collector_kills + figures.agent_kills} "
            f"({figures.collector_kills} + {figures.agent_kills})",
        ),
        (
            "  mid-stream (a report in flight)",
            f"{figures.mid_stream_kills} "
            f"({figures.mid_stream_collector_kills} + {figures.mid_stream_agent_kills})",
        ),
        ("reports produced (ledgers)", str(figures.produced)),
        ("stored (the store)", str(figures.stored)),
        ("duplicates absorbed (acks DUPLICATE)", str(figures.duplicates_absorbed)),
        ("superseded (dropped by the spool cap)", str(figures.superseded)),
        ("lost = produced - stored - superseded", str(figures.lost)),
        ("rejected acks", str(figures.rejected)),
        ("stored without a ledger line", str(figures.stored_without_ledger_line)),
        ("left in spools after the drain", str(figures.left_in_spools)),
    ]
    width = max(len(name) for name, _ in rows)
    header = (
        f"soak: {figures.seconds:g} s, {figures.agents} agents on {figures.clusters} clusters "
        f"over TLS with tokens; kill -9 of the collector and one agent every "
        f"{figures.kill_every_seconds:g} s"
    )
    lines = [header, "-" * len(header)]
    lines += [f"{name:{width}}  {value:>10}" for name, value in rows]
    if figures.lost_ids:
        lines.append(f"lost report ids: {', '.join(figures.lost_ids[:20])}")
    return "\n".join(lines)


def as_json(figures: Figures) -> dict[str, object]:
    return {**asdict(figures), "mid_stream_kills": figures.mid_stream_kills}


def write_results(figures: Figures, path: Path = RESULTS) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "machine": platform.platform(),
        "python": platform.python_version(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        **as_json(figures),
    }
    path.write_text(json.dumps(data, indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="soak length (s)")
    parser.add_argument("--agents", type=int, default=4, help="agents streaming")
    parser.add_argument("--kill-every", type=float, default=10.0, help="seconds between kills")
    args = parser.parse_args(argv)
    print(f"soak: {args.seconds:g} s, {args.agents} agents, kill -9 every {args.kill_every:g} s")
    figures = run(args.seconds, args.agents, args.kill_every)
    print(table(figures))
    write_results(figures)
    print(f"\nwritten to {RESULTS}")
    return 1 if figures.lost else 0


if __name__ == "__main__":
    raise SystemExit(main())
