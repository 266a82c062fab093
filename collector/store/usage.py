"""Usage history: IPs in use per subnet at each inventory refresh, pruned past retention.

Usages are read at every refresh (they change without the cluster changing); each
becomes one narrow row, so a year of hourly points for 10,000 subnets stays small.
A subnet several clusters use gets its point once per refresh time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from netaudit.collector.analysis.forecast import usage_points
from netaudit.collector.store.engine import upsert
from netaudit.collector.store.tables import usage_history
from netaudit.v1 import audit_pb2, inventory_pb2

DEFAULT_RETENTION = timedelta(days=35)
"""Points kept per range: the forecast's 14-day window twice over, plus a week."""
_IN_CHUNK = 500


def record_usage(
    connection: Connection,
    inventory: inventory_pb2.ClusterInventory,
    *,
    at: datetime,
    retention: timedelta,
) -> None:
    series_list = usage_points(inventory, now=at)
    rows: list[dict[str, object]] = [
        {
            "range_key": series.range_key,
            "at": at,
            "used": point.used,
            "capacity": point.capacity,
        }
        for series in series_list
        for point in series.points
    ]
    if not rows:
        return
    insert = upsert(connection, usage_history)
    connection.execute(
        insert.on_conflict_do_nothing(
            index_elements=[usage_history.c.range_key, usage_history.c.at]
        ),
        rows,
    )
    for chunk in _chunks(sorted({series.range_key for series in series_list})):
        connection.execute(
            sa.delete(usage_history).where(
                usage_history.c.range_key.in_(chunk), usage_history.c.at < at - retention
            )
        )


def usage_series(
    connection: Connection, range_keys: Iterable[str], *, since: datetime
) -> list[audit_pb2.RangeUsage]:
    """Each range's points since ``since``, oldest first."""
    series: dict[str, audit_pb2.RangeUsage] = {}
    for chunk in _chunks(sorted({key.lower() for key in range_keys})):
        rows = connection.execute(
            sa.select(usage_history)
            .where(usage_history.c.range_key.in_(chunk), usage_history.c.at >= since)
            .order_by(usage_history.c.range_key, usage_history.c.at)
        )
        for row in rows:
            usage = series.setdefault(row.range_key, audit_pb2.RangeUsage(range_key=row.range_key))
            point = usage.points.add(used=row.used, capacity=row.capacity)
            point.at.FromDatetime(row.at)
    return list(series.values())


def _chunks(keys: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(keys), _IN_CHUNK):
        yield list(keys[start : start + _IN_CHUNK])
