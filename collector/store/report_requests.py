"""Report requests: which replica asked which agent, and the report that answered.

A replica records a (request, cluster) row before it sends the agent the request, and
the commit of a report carrying that request id marks the row answered in the commit's
own transaction: "answered" means committed, whichever replica the report reached.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from netaudit.collector.store.engine import upsert
from netaudit.collector.store.tables import report_requests


def record_requested(
    connection: Connection, request_id: str, cluster_keys: Iterable[str], *, now: datetime
) -> None:
    for key in cluster_keys:
        connection.execute(
            upsert(connection, report_requests)
            .values(request_id=request_id, cluster_key=key, requested_at=now)
            .on_conflict_do_nothing(
                index_elements=[report_requests.c.request_id, report_requests.c.cluster_key]
            )
        )


def mark_answered(
    connection: Connection,
    request_ids: Sequence[str],
    cluster_key: str,
    report_id: str,
    *,
    now: datetime,
) -> None:
    """The first committed report carrying a request id answers it for its cluster."""
    if not request_ids:
        return
    connection.execute(
        sa.update(report_requests)
        .where(
            report_requests.c.request_id.in_(list(request_ids)),
            report_requests.c.cluster_key == cluster_key,
            report_requests.c.answered_report_id.is_(None),
        )
        .values(answered_report_id=report_id, answered_at=now)
    )


def progress(connection: Connection, request_id: str) -> dict[str, str | None]:
    """Each requested cluster's answering report id (None: not answered yet)."""
    rows = connection.execute(
        sa.select(report_requests.c.cluster_key, report_requests.c.answered_report_id).where(
            report_requests.c.request_id == request_id
        )
    )
    return {row.cluster_key: row.answered_report_id for row in rows}
