"""The broker's task queue depth, read at scrape time from the broker itself.

Work waiting in the queue is live state no scan can store: the collector asks the broker
(a passive queue declare, which kombu answers for Redis and AMQP alike) on each scrape,
with a short timeout. An unreachable broker shows as ``netaudit_broker_up 0`` and no
depth, never as an empty queue.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from amqp.exceptions import ChannelError
from kombu import Connection
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

BROKER_TIMEOUT_SECONDS = 2.0
NOT_FOUND = 404


class QueueDepthCollector(Collector):
    def __init__(self, broker_url: str, queue: str) -> None:
        self._broker_url = broker_url
        self._queue = queue

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "netaudit_broker_up", "1 when the broker answered this scrape's queue query, else 0."
        )
        depth = GaugeMetricFamily(
            "netaudit_queue_messages",
            "Tasks waiting in the broker's queue (scans, refreshes, their chunks).",
            labels=["queue"],
        )
        try:
            waiting = self._waiting()
        except Exception as error:  # any broker failure: say it is down, never 0 tasks
            log.warning("metrics: broker queue not read", extra={"error": str(error)})
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        depth.add_metric([self._queue], waiting)
        yield up
        yield depth

    def _waiting(self) -> int:
        with Connection(
            self._broker_url,
            connect_timeout=BROKER_TIMEOUT_SECONDS,
            transport_options={"socket_timeout": BROKER_TIMEOUT_SECONDS},
        ) as connection:
            connection.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
            try:
                declared = connection.default_channel.queue_declare(queue=self._queue, passive=True)
            except ChannelError as error:
                # py-amqp sets code 404; kombu's Redis transport puts "NOT_FOUND" in the text
                if getattr(error, "code", None) == NOT_FOUND or "NOT_FOUND" in str(error):
                    return 0  # Redis keeps no empty list; AMQP: no worker declared it yet
                raise
            return int(declared.message_count)
