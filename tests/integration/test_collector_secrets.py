"""`netaudit serve` keeps the broker's password out of its log and its state files."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

NETAUDIT = str(Path(sys.executable).with_name("netaudit"))
PASSWORD = "br0ker-s3cret"


def test_serve_masks_the_broker_password_in_its_log_line_and_endpoints_file(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    config = tmp_path / "netaudit.yaml"
    config.write_text(
        json.dumps(
            {
                "state_dir": str(state),
                "log_format": "json",
                "ingest": {"port": 0, "health_port": 0},
                "metrics": {"port": 0},
                # serve only records the broker (workers and scans use it): nothing listens
                "broker": {"url": f"redis://:{PASSWORD}@127.0.0.1:1/0"},
            }
        )
    )
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [NETAUDIT, "--config", str(config), "serve", "--insecure"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    endpoints_file = state / "endpoints.json"
    try:
        serving = _wait_for_line(log, "collector serving", process)
        endpoints = endpoints_file.read_text()
        mode = stat.S_IMODE(endpoints_file.stat().st_mode)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
    assert serving["broker_url"] == "redis://:****@127.0.0.1:1/0"
    assert json.loads(endpoints)["broker_url"] == "redis://:****@127.0.0.1:1/0"
    assert mode == 0o600
    assert PASSWORD not in log.read_text()


def _wait_for_line(log: Path, message: str, process: subprocess.Popen[bytes]) -> dict[str, str]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if line.startswith("{") and json.loads(line).get("message") == message:
                found: dict[str, str] = json.loads(line)
                return found
        assert process.poll() is None, log.read_text()
        time.sleep(0.1)
    raise AssertionError(f"no {message!r} line in {log.read_text()}")
