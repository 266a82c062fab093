"""Child processes the demo starts and must stop: output to a log file, stopped by pid.

A process that starts others stops them all, whatever ends it: its own error, Ctrl-C,
or SIGTERM/SIGHUP (`stop_on_signals` turns those into the same unwinding as Ctrl-C).
What its children leave behind is found in /proc and stopped too.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType

from netaudit.collector.errors import ServiceUnavailable

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_PROC = Path("/proc")
_POLL_SECONDS = 0.05
_KILL_WAIT_SECONDS = 5.0
# prctl(2) option: orphans of our descendants are reparented to us, not to init
_PR_SET_CHILD_SUBREAPER = 36


class StopRequested(KeyboardInterrupt):
    """A stop signal arrived; a KeyboardInterrupt so that every handler of Ctrl-C runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """While the block runs, SIGINT, SIGTERM and SIGHUP raise StopRequested in the main
    thread, so `with` blocks and `finally` clauses stop what they started.

    Only the first signal raises: a second one (an impatient Ctrl-C, `timeout` following
    up) must not interrupt the stop it asked for. Every stop below is bounded by its own
    timeout and ends in SIGKILL, so the stop cannot hang."""
    stopping = False

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            # The main thread may be inside a write to stderr: the nested write raises, and
            # must not escape into the stop the first signal started.
            with contextlib.suppress(RuntimeError):
                log.warning("already stopping", extra={"signal": signal.Signals(signum).name})
            return
        stopping = True
        raise StopRequested(signum)

    previous = {sig: signal.signal(sig, request_stop) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            # None: the handler was not set from Python; the default is the closest
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)


@dataclass(frozen=True)
class ProcessRecord:
    """One process as /proc/PID/stat shows it."""

    pid: int
    ppid: int
    session: int
    # clock ticks after boot: tells the process from a later one that reuses its pid
    started: int
    state: str

    @property
    def exited(self) -> bool:
        return self.state in {"Z", "X"}


def read_process(pid: int) -> ProcessRecord | None:
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ")"
    fields = stat.rsplit(")", 1)[1].split()
    return ProcessRecord(
        pid=pid,
        ppid=int(fields[1]),
        session=int(fields[3]),
        started=int(fields[19]),
        state=fields[0],
    )


def running_processes() -> list[ProcessRecord]:
    if not _PROC.is_dir():
        return []
    records = (read_process(int(entry.name)) for entry in _PROC.iterdir() if entry.name.isdigit())
    return [record for record in records if record is not None and not record.exited]


def descendants(pid: int) -> list[ProcessRecord]:
    """Every running process below `pid` (children first), whatever session it is in."""
    children: dict[int, list[ProcessRecord]] = {}
    for record in running_processes():
        children.setdefault(record.ppid, []).append(record)
    found: list[ProcessRecord] = []
    parents = [pid]
    while parents:
        below = [child for parent in parents for child in children.get(parent, [])]
        found.extend(below)
        parents = [child.pid for child in below]
    return found


def still_running(record: ProcessRecord) -> bool:
    """The same process (not a reused pid) has not exited; our own zombie is reaped here."""
    current = read_process(record.pid)
    if current is None or current.started != record.started:
        return False
    if current.exited:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(record.pid, os.WNOHANG)
        return False
    return True


def _signal_each(records: list[ProcessRecord], sig: signal.Signals) -> None:
    for record in records:
        if still_running(record):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(record.pid, sig)


def _wait_all_gone(records: list[ProcessRecord], timeout: float) -> list[ProcessRecord]:
    deadline = time.monotonic() + timeout
    left = [record for record in records if still_running(record)]
    while left and time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
        left = [record for record in left if still_running(record)]
    return left


def terminate_all(records: list[ProcessRecord], timeout: float) -> None:
    """SIGTERM each process still running, SIGKILL those left after `timeout` seconds."""
    _signal_each(records, signal.SIGTERM)
    left = _wait_all_gone(records, timeout)
    if left:
        log.warning(
            "processes ignored SIGTERM; killing them", extra={"pids": [r.pid for r in left]}
        )
        _signal_each(left, signal.SIGKILL)
        _wait_all_gone(left, _KILL_WAIT_SECONDS)


def adopt_orphans() -> None:
    """Become the subreaper of everything started from here: a process whose parent dies
    (a Redis whose collector crashed) is reparented to us, not to init, so
    `stop_descendants` still finds it. Linux only; elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def stop_descendants(timeout: float) -> None:
    """Stop every process still below this one: the last step of an orderly stop, after
    each child was asked to stop its own."""
    left = descendants(os.getpid())
    if left:
        log.warning(
            "stopping processes left behind", extra={"pids": [record.pid for record in left]}
        )
        terminate_all(left, timeout)


class ManagedProcess:
    """A child process in its own session, stopped (SIGTERM, then SIGKILL) on exit, with
    whatever it started that outlives it."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_file: Path,
        env: dict[str, str] | None = None,
        stop_timeout: float = 15.0,
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_file = log_file
        self.env = env
        self.stop_timeout = stop_timeout
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ManagedProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as out:
            self._process = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                # Its own session: Ctrl-C in a terminal reaches the whole foreground
                # group at once; we stop the children ourselves, in order.
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self._process.pid if self._process else 0

    def poll(self) -> int | None:
        return self._process.poll() if self._process else None

    def wait(self, timeout: float) -> int:
        assert self._process is not None
        try:
            return self._process.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            raise ServiceUnavailable(
                f"{self.name} did not finish within {timeout:.0f} s; see {self.log_file}"
            ) from exc

    def ensure_running(self) -> None:
        code = self.poll()
        if code is not None:
            raise ServiceUnavailable(
                f"{self.name} exited with code {code}: {self.log_tail()} (log {self.log_file})"
            )

    def log_tail(self, lines: int = 3) -> str:
        try:
            text = self.log_file.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(text[-lines:])

    def stop(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        # Noted before the stop: once the leader is gone, /proc no longer links them to it.
        started = descendants(process.pid)
        # SIGTERM to the leader only: it stops its own children (the collector its
        # Redis, the Celery worker its pool); the group is killed only as a last resort.
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(_POLL_SECONDS)
        if process.poll() is None:
            self._signal_group(signal.SIGKILL)
            process.wait(_KILL_WAIT_SECONDS)
        left = [record for record in started if still_running(record)]
        if left:
            log.warning(
                "stopping what %s left behind", self.name, extra={"pids": [r.pid for r in left]}
            )
            terminate_all(left, self.stop_timeout)

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self._process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, sig)
