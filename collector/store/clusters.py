"""The clusters table: one row per cluster seen in a report or an inventory."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from netaudit.collector.store.engine import upsert
from netaudit.collector.store.errors import UnknownCluster
from netaudit.collector.store.records import AgentLastReport
from netaudit.collector.store.tables import clusters

_SUBSCRIPTION = re.compile(r"^/subscriptions/([^/]+)", re.IGNORECASE)


def cluster_key(arm_resource_id: str) -> str:
    """The cluster's key everywhere: its ARM resource id, lower-cased."""
    return arm_resource_id.strip().lower()


def subscription_of(arm_resource_id: str) -> str:
    match = _SUBSCRIPTION.match(arm_resource_id.strip())
    return match.group(1).lower() if match else ""


@dataclass(frozen=True)
class Sighting:
    """What a report or an inventory says about its cluster (empty strings: unknown)."""

    key: str
    name: str
    region: str
    subscription_id: str
    seen_at: datetime


def record_sighting(connection: Connection, sighting: Sighting) -> None:
    """Insert the cluster, or fill in what was unknown and widen first/last seen."""
    insert = upsert(connection, clusters).values(
        key=sighting.key,
        name=sighting.name,
        subscription_id=sighting.subscription_id,
        region=sighting.region,
        first_seen=sighting.seen_at,
        last_seen=sighting.seen_at,
        last_report_at=None,
        last_agent_id="",
    )
    new = insert.excluded
    statement = insert.on_conflict_do_update(
        index_elements=[clusters.c.key],
        set_={
            "name": _known(new.name, clusters.c.name),
            "subscription_id": _known(new.subscription_id, clusters.c.subscription_id),
            "region": _known(new.region, clusters.c.region),
            "first_seen": sa.case(
                (new.first_seen < clusters.c.first_seen, new.first_seen),
                else_=clusters.c.first_seen,
            ),
            "last_seen": sa.case(
                (new.last_seen > clusters.c.last_seen, new.last_seen),
                else_=clusters.c.last_seen,
            ),
        },
    )
    connection.execute(statement)


def _known(new: sa.ColumnElement[str], old: sa.ColumnElement[str]) -> sa.Case[str]:
    return sa.case((new != "", new), else_=old)


def record_report_arrival(
    connection: Connection, key: str, agent_id: str, received_at: datetime
) -> None:
    connection.execute(
        sa.update(clusters)
        .where(
            clusters.c.key == key,
            sa.or_(clusters.c.last_report_at.is_(None), clusters.c.last_report_at <= received_at),
        )
        .values(last_report_at=received_at, last_agent_id=agent_id)
    )


def lock_cluster(connection: Connection, key: str) -> None:
    """Serialize writers of one cluster's rows (PostgreSQL); fail on an unknown cluster."""
    found = connection.execute(
        sa.select(clusters.c.key).where(clusters.c.key == key).with_for_update()
    ).first()
    if found is None:
        raise UnknownCluster(
            f"cluster {key!r} is unknown to the store: findings can only be recorded "
            "for a cluster that a report or an inventory brought in"
        )


def cluster_keys(connection: Connection) -> list[str]:
    return list(connection.scalars(sa.select(clusters.c.key).order_by(clusters.c.key)))


def cluster_name(connection: Connection, key: str) -> str | None:
    return connection.scalar(sa.select(clusters.c.name).where(clusters.c.key == key))


def agents_last_report(connection: Connection) -> list[AgentLastReport]:
    rows = connection.execute(
        sa.select(
            clusters.c.key, clusters.c.name, clusters.c.last_agent_id, clusters.c.last_report_at
        )
        # a cluster ARM deleted sends no more reports: no stale-agent alert for it
        .where(clusters.c.last_report_at.is_not(None), clusters.c.deleted_at.is_(None))
        .order_by(clusters.c.key)
    )
    return [
        AgentLastReport(
            cluster_key=row.key,
            cluster_name=row.name,
            agent_id=row.last_agent_id,
            received_at=row.last_report_at,
        )
        for row in rows
    ]
