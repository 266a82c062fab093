"""`netaudit-agent run` stops on SIGTERM even when the signal lands mid-write to stderr."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Iterator

import pytest

from netaudit.agent import cli

REENTRANT = "reentrant call inside <_io.BufferedWriter name='<stderr>'>"


class MainThreadMidWrite(logging.Handler):
    """What a log line written from a signal handler meets when the main thread was inside a
    write to stderr: the nested write raises. Other threads write as usual."""

    def handle(self, record: logging.LogRecord) -> bool:
        if threading.current_thread() is threading.main_thread():
            raise RuntimeError(REENTRANT)
        return True


@pytest.fixture
def mid_write() -> Iterator[None]:
    logger = logging.getLogger(cli.__name__)
    handler, level = MainThreadMidWrite(), logger.level
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        for sig, handler_ in previous.items():
            signal.signal(sig, handler_)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_stop_event_is_set_though_the_log_line_cannot_be_written_then(
    mid_write: None, sig: signal.Signals
) -> None:
    stop = cli._stop_on_signals()
    os.kill(os.getpid(), sig)
    assert stop.wait(5)
