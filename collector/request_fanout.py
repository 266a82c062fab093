"""Report requests reach every collector replica through a kombu fanout exchange.

An agent's stream is held by one replica, and an operator's request may reach any other.
So the replica asked publishes the request on a fanout exchange of the shared broker
(``<broker.queue>.report-requests``); every replica binds one queue of its own to it
(exclusive, auto-deleted: it goes with the replica) and consumes it in a thread, handing
each request to the handler (admin.LocalRequests.handle), which sends it down the streams
that replica holds. Answers come back through the store, which every replica shares.
Requests are not durable: one published while a replica restarts misses that replica's
agents, and the asker reports them "not connected" or "timed out", never answered.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from kombu import Connection, Consumer, Exchange, Message, Queue
from kombu.mixins import ConsumerMixin

log = logging.getLogger(__name__)

Handler = Callable[[str, Sequence[str], str], object]
"""(request id, cluster keys or none for all, reason): this replica's part."""
READY_TIMEOUT_SECONDS = 15.0
PUBLISH_RETRIES = 3


def exchange_name(queue: str) -> str:
    return f"{queue}.report-requests"


def _transport_options(url: str) -> dict[str, Any]:
    # Redis fanout rides on PUB/SUB: prefix channels with the db number so collectors on
    # other databases of one server stay apart (kombu's default, made explicit).
    return {"fanout_prefix": True, "fanout_patterns": True} if url.startswith("redis") else {}


class _Consumer(ConsumerMixin):
    def __init__(self, connection: Connection, queue: Queue, handler: Handler) -> None:
        self.connection = connection
        self._queue = queue
        self._handler = handler
        self.ready = threading.Event()

    def get_consumers(self, consumer_type: Any, channel: Any) -> list[Consumer]:
        return [consumer_type(queues=[self._queue], callbacks=[self._on_message], accept=["json"])]

    def on_consume_ready(
        self, connection: Any, channel: Any, consumers: Any, **kwargs: Any
    ) -> None:
        self.ready.set()

    def _on_message(self, body: Any, message: Message) -> None:
        try:
            request_id = str(body["request_id"])
            clusters = [str(key) for key in body.get("clusters", [])]
            self._handler(request_id, clusters, str(body.get("reason", "")))
        except Exception:  # one bad request must not stop the replica's consumer
            log.exception("report request not handled", extra={"body": repr(body)[:500]})
        finally:
            message.ack()


class RequestFanout:
    """This replica's end of the fanout: publish to all, consume its own queue."""

    def __init__(self, broker_url: str, queue: str, handler: Handler) -> None:
        self._url = broker_url
        self._exchange = Exchange(exchange_name(queue), type="fanout", durable=False)
        replica = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._queue = Queue(
            f"{exchange_name(queue)}.{replica}",
            self._exchange,
            durable=False,
            exclusive=True,
            auto_delete=True,
        )
        self._consumer = _Consumer(self._connection(), self._queue, handler)
        self._thread = threading.Thread(
            target=self._consumer.run, name="report-request-fanout", daemon=True
        )

    def _connection(self) -> Connection:
        return Connection(self._url, transport_options=_transport_options(self._url))

    def start(self) -> None:
        """Consume in a thread; returns once the queue is bound (so no request is missed)."""
        self._thread.start()
        if not self._consumer.ready.wait(READY_TIMEOUT_SECONDS):
            log.warning("report-request fanout not consuming yet; requests may miss this replica")

    def publish(self, request_id: str, cluster_keys: Sequence[str], reason: str) -> None:
        """Send a request to every replica, this one included (any thread)."""
        body = {"request_id": request_id, "clusters": list(cluster_keys), "reason": reason}
        with self._connection() as connection:
            connection.Producer().publish(
                body,
                exchange=self._exchange,
                routing_key="",
                serializer="json",
                declare=[self._exchange],
                retry=True,
                retry_policy={"max_retries": PUBLISH_RETRIES},
            )

    def stop(self) -> None:
        """Stop consuming and unbind this replica's queue (on Redis nothing else would)."""
        self._consumer.should_stop = True
        self._thread.join(10)
        try:
            with self._connection() as connection:
                self._queue.bind(connection.default_channel).delete()
        except Exception as error:  # the broker is gone: nothing left to unbind there
            log.debug("report-request queue not deleted", extra={"error": str(error)})
        finally:
            self._consumer.connection.release()
