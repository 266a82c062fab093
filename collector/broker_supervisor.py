"""`netaudit serve` keeps its embedded Redis running: a server that exited (or stopped
answering PING) is replaced on the same socket within seconds.

Workers and CLIs reach the broker by the socket path, not by pid, so they reconnect to
the new server by themselves (Celery's connection retry). What the old server held, the
queued and unacked messages and the chords' counters, is gone with it: `on_restart`
lets the caller dispatch again what was in flight.

An external broker (broker.url: Redis or RabbitMQ) is someone else's to restart:
`ExternalBrokerWatch` notices it gone (one line), and when it answers again (one line)
calls `on_back` likewise, since a restarted broker may have lost what it held. Workers
and CLIs reconnect by themselves as with the embedded one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from netaudit.collector.broker import BrokerError, EmbeddedRedis
from netaudit.collector.config import HUNG_CHECKS, Settings
from netaudit.collector.redaction import mask_url
from netaudit.collector.tasks import broker_problem

log = logging.getLogger(__name__)

EXITED = "exited"


class BrokerSupervisor:
    """Checks the broker every `interval` seconds; `check()` is one such look."""

    def __init__(
        self,
        broker: EmbeddedRedis,
        interval: float,
        on_restart: Callable[[], None] = lambda: None,
    ) -> None:
        self.broker = broker
        self.interval = interval
        self.on_restart = on_restart
        self.restarts = 0
        self._unanswered = 0

    def check(self) -> bool:
        """Restart the broker if it exited, or missed HUNG_CHECKS PINGs in a row; True
        when it was restarted."""
        fault = self.broker.fault()
        if fault is None:
            self._unanswered = 0
            return False
        if fault != EXITED:
            self._unanswered += 1
            if self._unanswered < HUNG_CHECKS:
                return False
        return self._restart(fault)

    def _restart(self, fault: str) -> bool:
        old_pid = self.broker.pid
        began = time.monotonic()
        try:
            self.broker.restart()
        except BrokerError as exc:
            # the next check tries again; serving agents goes on meanwhile
            log.error("embedded redis could not be restarted: %s", exc, extra={"pid": old_pid})
            return False
        self._unanswered = 0
        self.restarts += 1
        log.warning(
            "embedded redis (pid %s) %s; restarted as pid %s in %.1f s",
            old_pid,
            fault,
            self.broker.pid,
            time.monotonic() - began,
            extra={"socket": str(self.broker.socket_path)},
        )
        self.on_restart()
        return True

    async def run(self, stop: asyncio.Event) -> None:
        """Check until `stop` is set (the checks block, so they run in a thread)."""
        while not stop.is_set():
            await asyncio.to_thread(self.check)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)


class ExternalBrokerWatch:
    """Checks an external broker every `interval` seconds; logs when it goes and when it
    is back, then calls `on_back`."""

    def __init__(
        self, settings: Settings, interval: float, on_back: Callable[[], None] = lambda: None
    ) -> None:
        self.settings = settings
        self.interval = interval
        self.on_back = on_back
        self.outages = 0
        self._gone_since: float | None = None

    def check(self) -> bool:
        """One look; True when the broker answered again after an outage."""
        problem = broker_problem(self.settings, timeout=max(self.interval, 1.0))
        url = mask_url(self.settings.broker.url)
        if problem is not None:
            if self._gone_since is None:
                self._gone_since = time.monotonic()
                self.outages += 1
                log.error("broker %s unreachable: %s", url, problem)
            return False
        if self._gone_since is None:
            return False
        log.warning(
            "broker %s reachable again after %.1f s; running scans are dispatched again",
            url,
            time.monotonic() - self._gone_since,
        )
        self._gone_since = None
        self.on_back()
        return True

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await asyncio.to_thread(self.check)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
