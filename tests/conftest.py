"""Shared test plumbing.

Tests that need an external tool or server (promtool, Redis, RabbitMQ,
PostgreSQL, kubectl, buf) call ``require(...)``: locally a missing tool skips
the test; under ``CI=true`` it fails, so CI can never go green by skipping.
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_FIXTURES = REPO.parent / "shared" / "fixtures"
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


SERVICES = {
    "redis": ("127.0.0.1", 6379),
    "rabbitmq": ("127.0.0.1", 5672),
    "postgresql": ("127.0.0.1", 5432),
}


def require(*names: str) -> None:
    """Skip (locally) or fail (CI) unless every named tool/service is available."""
    missing = []
    for name in names:
        if name in SERVICES:
            if not _port_open(*SERVICES[name]):
                missing.append(name)
        elif name == "buf":
            if not (REPO / "node_modules" / ".bin" / "buf").exists():
                missing.append(name)
        elif shutil.which(name) is None:
            missing.append(name)
    if missing:
        message = f"needs {', '.join(missing)}"
        if IN_CI:
            pytest.fail(f"{message} (CI=true: missing tools fail instead of skipping)")
        pytest.skip(message)


@pytest.fixture
def shared_fixtures() -> Path:
    if not SHARED_FIXTURES.is_dir():
        require("shared-fixtures")
    return SHARED_FIXTURES
