"""Child processes the demo starts and must stop: output to a log file, stopped by pid."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType

from netaudit.collector.errors import ServiceUnavailable


class ManagedProcess:
    """A child process in its own session, stopped (SIGTERM, then SIGKILL) on exit."""

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
        # SIGTERM to the leader only: it stops its own children (the collector its
        # Redis, the Celery worker its pool); the group is killed only as a last resort.
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if process.poll() is None:
            self._signal_group(signal.SIGKILL)
            process.wait(5)

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self._process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, sig)
