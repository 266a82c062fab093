"""Faults a long-running collector meets: its embedded Redis killed, a worker SIGKILLed.

Real processes throughout: `netaudit serve --insecure` (with its embedded Redis), `netaudit
worker`, `netaudit scan`, the sandbox's ARM and a throwaway PostgreSQL store. To catch a
scan mid-way, the test holds an EXCLUSIVE lock on the `rule_outcomes` table: reads go on, so
the scan starts and fans out, and its cluster task waits inside the worker on its first
write until the test lets go. The timeouts are short ones from the config, so each test
stays well under a minute.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import psycopg
import pytest
import redis

from netaudit.collector.broker import find_redis_server
from netaudit.collector.demo import sandbox_azure_config, write_config
from netaudit.collector.processes import ManagedProcess, descendants, terminate_all
from netaudit.collector.store import Store
from netaudit.sandbox.runner import Sandbox, start_sandbox
from tests.integration.store_databases import throwaway_postgresql

# the module, not the venv's entry script, which a reinstall may be rewriting
NETAUDIT = [sys.executable, "-m", "netaudit.collector"]
TASK_TIME_LIMIT = 5
VISIBILITY = 8
# > visibility + sweep + time limit (14 s), as the config requires
DEADLINE = 30


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with start_sandbox(tmp_path_factory.mktemp("sandbox")) as running:
        yield running


@dataclass
class Collector:
    """A running `netaudit serve` and one worker, over a PostgreSQL store."""

    folder: Path
    config: Path
    store_url: str
    serve: ManagedProcess
    workers: list[ManagedProcess]

    @property
    def broker_dir(self) -> Path:
        return self.folder / "state" / "broker"

    def redis_pid(self) -> int:
        return int((self.broker_dir / "redis.pid").read_text())

    def start_worker(self) -> ManagedProcess:
        number = len(self.workers) + 1
        worker = ManagedProcess(
            f"worker-{number}",
            [*NETAUDIT, "--config", str(self.config), "worker", "--concurrency", "1"],
            self.folder / f"worker-{number}.log",
        )
        self.workers.append(worker)
        worker.start()
        return worker

    def cli(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*NETAUDIT, "--config", str(self.config), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def succeeds(self, *args: str) -> None:
        """Run a CLI command in a process of its own (the Celery app's connections are
        per process) and check it exits 0."""
        command = self.cli(*args)
        _out, err = command.communicate(timeout=DEADLINE + 30)
        assert command.returncode == 0, err

    def running_scans(self) -> list[int]:
        with Store(self.store_url) as store:
            return [record.id for record in store.running_scans()]

    def serve_log_lines(self, message_part: str) -> list[dict[str, object]]:
        lines = [json.loads(line) for line in self.serve.log_file.read_text().splitlines()]
        return [line for line in lines if message_part in str(line.get("message", ""))]


@pytest.fixture
def collector(sandbox: Sandbox, tmp_path: Path) -> Iterator[Collector]:
    with running_collector(sandbox, tmp_path, broker_url="") as running:
        yield running


@contextmanager
def running_collector(
    sandbox: Sandbox, tmp_path: Path, broker_url: str, result_backend: str = ""
) -> Iterator[Collector]:
    """`serve` and a worker; the embedded broker unless `broker_url`."""
    with throwaway_postgresql() as store_url:
        config = write_config(
            tmp_path,
            {
                "state_dir": str(tmp_path / "state"),
                "log_format": "json",
                "store": {"url": store_url},
                "ingest": {"port": 0, "health_port": 0},
                "metrics": {"port": 0},
                "broker": {
                    "url": broker_url,
                    "result_backend": result_backend,
                    "task_time_limit_seconds": TASK_TIME_LIMIT,
                    "visibility_timeout_seconds": VISIBILITY,
                    "supervise_interval_seconds": 0.5,
                },
                "scan": {"deadline_seconds": DEADLINE, "clusters_per_task": 10},
                "azure": sandbox_azure_config(sandbox, tmp_path),
            },
        )
        serve = ManagedProcess(
            "serve",
            [*NETAUDIT, "--config", str(config), "serve", "--insecure"],
            tmp_path / "serve.log",
        )
        running = Collector(tmp_path, config, store_url, serve, [])
        serve.start()
        try:
            _wait_until(lambda: (tmp_path / "state" / "endpoints.json").exists(), 30, serve)
            running.start_worker()
            running.succeeds("inventory", "refresh", "--timeout", "60")
            yield running
        finally:
            for worker in running.workers:
                worker.stop()
            serve.stop()


def _wait_until(condition: object, timeout: float, process: ManagedProcess | None = None) -> float:
    """Seconds until `condition()` held; fails after `timeout`."""
    assert callable(condition)
    began = time.monotonic()
    while not condition():
        if process is not None:
            process.ensure_running()
        assert time.monotonic() - began < timeout, f"not within {timeout} s"
        time.sleep(0.1)
    return time.monotonic() - began


def _answered_by_another(socket_path: Path, pid: int) -> bool:
    """A redis-server other than `pid` answers on the socket."""
    try:
        with redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1) as client:
            return bool(client.info("server")["process_id"] != pid)
    except (redis.RedisError, OSError):
        return False


@dataclass
class OutcomesLock:
    """An EXCLUSIVE lock on `rule_outcomes`: a scan's cluster tasks wait on their first write."""

    connection: psycopg.Connection[tuple[object, ...]]

    def waiting_writers(self) -> int:
        with psycopg.connect(self.connection.info.dsn, autocommit=True) as watcher:
            row = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()
        return int(row[0]) if row else 0

    def release(self) -> None:
        self.connection.rollback()


@pytest.fixture
def outcomes_lock(collector: Collector) -> Iterator[OutcomesLock]:
    with _outcomes_lock(collector) as lock:
        yield lock


@contextmanager
def _outcomes_lock(collector: Collector) -> Iterator[OutcomesLock]:
    dsn = collector.store_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as connection:
        connection.execute("LOCK TABLE rule_outcomes IN EXCLUSIVE MODE")
        lock = OutcomesLock(connection)
        try:
            yield lock
        finally:
            lock.release()


def test_a_killed_embedded_redis_is_back_within_seconds_and_a_scan_then_succeeds(
    collector: Collector,
) -> None:
    killed = collector.redis_pid()

    os.kill(killed, signal.SIGKILL)
    back_after = _wait_until(
        lambda: _answered_by_another(collector.broker_dir / "redis.sock", killed),
        10,
        collector.serve,
    )

    assert back_after < 5
    assert collector.redis_pid() != killed
    _wait_until(lambda: collector.serve_log_lines("restarted as pid"), 5)
    restarts = collector.serve_log_lines("restarted as pid")
    assert len(restarts) == 1, restarts
    assert f"(pid {killed}) exited" in str(restarts[0]["message"])
    # the same worker carries on over the new server
    collector.succeeds("scan", "--format", "json")
    assert collector.running_scans() == []
    for worker in collector.workers:
        worker.ensure_running()


def test_redis_killed_mid_scan_ends_the_scan_and_the_next_scan_succeeds(
    collector: Collector, outcomes_lock: OutcomesLock
) -> None:
    scan = collector.cli("scan", "--format", "json")
    _wait_until(lambda: outcomes_lock.waiting_writers() > 0, 30, collector.serve)

    killed = collector.redis_pid()
    os.kill(killed, signal.SIGKILL)
    outcomes_lock.release()
    _wait_until(lambda: _answered_by_another(collector.broker_dir / "redis.sock", killed), 10)
    _out, err = scan.communicate(timeout=DEADLINE + 30)

    # Dispatched again after the restart, so it completes; failing would need a reason.
    assert scan.returncode == 0 or "failed" in err, err
    assert collector.running_scans() == []
    collector.succeeds("scan", "--format", "json")
    assert collector.running_scans() == []


def test_a_sigkilled_workers_scan_completes_within_the_clis_default_wait(
    collector: Collector, outcomes_lock: OutcomesLock
) -> None:
    first = collector.workers[0]
    began = time.monotonic()
    scan = collector.cli("scan", "--format", "json")  # no --timeout: scan.deadline_seconds
    _wait_until(lambda: outcomes_lock.waiting_writers() > 0, 30, collector.serve)
    pool = descendants(first.pid)

    os.kill(first.pid, signal.SIGKILL)  # the main process only; its pool dies with it
    first.wait(10)
    terminate_all(pool, 5)
    outcomes_lock.release()
    collector.start_worker()
    _out, err = scan.communicate(timeout=DEADLINE + 30)
    took = time.monotonic() - began

    assert scan.returncode == 0, err
    assert took < DEADLINE
    assert collector.running_scans() == []


# -- an external broker (broker.url): a redis-server this test runs on a port of its own --


class ExternalRedis:
    """A redis-server on a free loopback port, nothing kept on disk; killed and started
    again on the same port by the test (never the machine's own server on 6379)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        options = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        self.process = subprocess.Popen(
            [str(find_redis_server()), *options, "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_until(self.answers, 10)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(10)

    def answers(self) -> bool:
        try:
            with redis.Redis(port=self.port, socket_timeout=1) as client:
                return bool(client.ping())
        except (redis.RedisError, OSError):
            return False


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def external_redis(tmp_path: Path) -> Iterator[ExternalRedis]:
    server = ExternalRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.kill()


@pytest.fixture
def external_collector(
    sandbox: Sandbox, tmp_path: Path, external_redis: ExternalRedis
) -> Iterator[Collector]:
    with running_collector(sandbox, tmp_path, broker_url=external_redis.url) as running:
        yield running


@pytest.fixture
def external_outcomes_lock(external_collector: Collector) -> Iterator[OutcomesLock]:
    with _outcomes_lock(external_collector) as lock:
        yield lock


class _KillableBroker(Protocol):
    def kill(self) -> None: ...

    def start(self) -> None: ...


def _broker_gone_and_back(collector: Collector, broker: _KillableBroker) -> float:
    """Kill the broker, scan while it is gone, start it again; then serve has logged one
    line each way, the scan failed in one line, the next one succeeds and no scan stays
    running. Returns the seconds serve took to notice the broker back."""
    broker.kill()
    noticed_after = _wait_until(lambda: collector.serve_log_lines("unreachable"), 10)
    down = collector.cli("scan", "--format", "json", "--timeout", "3")
    _out, err = down.communicate(timeout=30)
    broker.start()
    back_after = _wait_until(lambda: collector.serve_log_lines("reachable again"), 10)

    assert noticed_after < 3
    assert down.returncode != 0
    assert "unreachable" in err and "Traceback" not in err, err
    # one line when it went, one when it came back
    assert len(collector.serve_log_lines("unreachable")) == 1
    assert len(collector.serve_log_lines("reachable again")) == 1
    collector.succeeds("scan", "--format", "json")
    assert collector.running_scans() == []
    for worker in collector.workers:
        worker.ensure_running()
    return back_after


@pytest.mark.timeout(90)
def test_an_external_redis_gone_is_noticed_and_the_same_worker_scans_once_it_is_back(
    external_collector: Collector, external_redis: ExternalRedis
) -> None:
    back_after = _broker_gone_and_back(external_collector, external_redis)
    assert back_after < 3


@pytest.mark.timeout(120)
def test_an_external_redis_killed_mid_scan_ends_the_scan_and_the_next_scan_succeeds(
    external_collector: Collector,
    external_redis: ExternalRedis,
    external_outcomes_lock: OutcomesLock,
) -> None:
    collector = external_collector
    scan = collector.cli("scan", "--format", "json")
    _wait_until(lambda: external_outcomes_lock.waiting_writers() > 0, 30, collector.serve)

    external_redis.kill()
    external_outcomes_lock.release()
    _wait_until(lambda: collector.serve_log_lines("unreachable"), 10)
    external_redis.start()
    _out, err = scan.communicate(timeout=DEADLINE + 30)

    # Dispatched again once the broker is back, so it completes; failing needs a reason.
    assert scan.returncode == 0 or "failed" in err, err
    assert collector.running_scans() == []
    collector.succeeds("scan", "--format", "json")
    assert collector.running_scans() == []


# -- an external RabbitMQ: a node of the test's own (name, port, folder), never the machine's


RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
RABBITMQ_START_SECONDS = 60  # 10-20 s on this machine under load
# a RabbitMQ broker keeps no results: the machine's Redis holds them (never stopped here)
RESULT_BACKEND = "redis://127.0.0.1:6379/13"


class PrivateRabbitMQ:
    """A RabbitMQ node on a free loopback port with its own name, data and config (no
    plugins), killed -9 and started again on the same data by the test."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "rabbitmq.conf").write_text(f"listeners.tcp.local = 127.0.0.1:{self.port}\n")
        (folder / "enabled_plugins").write_text("[].\n")
        (folder / "rabbitmq-env.conf").write_text("")
        self.env = {
            **os.environ,
            "HOME": str(folder),  # its own Erlang cookie
            "RABBITMQ_CONF_ENV_FILE": str(folder / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
            "RABBITMQ_NODENAME": f"netaudit-test-{self.port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(_free_port()),
            "RABBITMQ_MNESIA_BASE": str(folder / "mnesia"),
            "RABBITMQ_LOG_BASE": str(folder / "log"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def start(self) -> None:
        with (self.folder / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                [str(RABBITMQ_SERVER)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.folder,
                start_new_session=True,
            )
        _wait_until(self.listening, RABBITMQ_START_SECONDS)

    def kill(self) -> None:
        """SIGKILL to its process group: the script, the Erlang VM and its helpers."""
        assert self.process is not None
        members = [self.process.pid, *(r.pid for r in descendants(self.process.pid))]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        for pid in members:
            _wait_until(lambda pid=pid: not Path(f"/proc/{pid}").exists(), 10)

    def listening(self) -> bool:
        assert self.process is not None
        assert self.process.poll() is None, (self.folder / "server.log").read_text()[-2000:]
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        except OSError:
            return False
        return True


@pytest.fixture
def rabbitmq(tmp_path: Path) -> Iterator[PrivateRabbitMQ]:
    if not RABBITMQ_SERVER.exists():
        pytest.skip(f"{RABBITMQ_SERVER} is not installed")
    server = PrivateRabbitMQ(tmp_path / "rabbitmq")
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            server.kill()


@pytest.mark.timeout(240)  # two RabbitMQ starts of 10-20 s each, and the collector's
def test_a_private_rabbitmq_gone_is_noticed_and_the_same_worker_scans_once_it_is_back(
    sandbox: Sandbox, tmp_path: Path, rabbitmq: PrivateRabbitMQ
) -> None:
    with running_collector(sandbox, tmp_path, rabbitmq.url, RESULT_BACKEND) as collector:
        _broker_gone_and_back(collector, rabbitmq)


@pytest.mark.timeout(240)
def test_a_private_rabbitmq_killed_mid_scan_ends_the_scan_and_the_next_scan_succeeds(
    sandbox: Sandbox, tmp_path: Path, rabbitmq: PrivateRabbitMQ
) -> None:
    with (
        running_collector(sandbox, tmp_path, rabbitmq.url, RESULT_BACKEND) as collector,
        _outcomes_lock(collector) as lock,
    ):
        scan = collector.cli("scan", "--format", "json")
        _wait_until(lambda: lock.waiting_writers() > 0, 30, collector.serve)

        rabbitmq.kill()
        lock.release()
        _wait_until(lambda: collector.serve_log_lines("unreachable"), 10)
        rabbitmq.start()
        _out, err = scan.communicate(timeout=DEADLINE + 30)

        # Dispatched again once the broker is back, so it completes; failing needs a reason.
        assert scan.returncode == 0 or "failed" in err, err
        assert collector.running_scans() == []
        collector.succeeds("scan", "--format", "json")
        assert collector.running_scans() == []
