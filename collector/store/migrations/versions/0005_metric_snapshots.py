"""metric snapshots: the samples /metrics serves, computed when scans and refreshes run;
fleet-wide counters (ARM requests)

Revision ID: 0005_metric_snapshots
Revises: 0004_usage_history
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_metric_snapshots"
down_revision: str | Sequence[str] | None = "0004_usage_history"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "metric_parts",
        sa.Column("cluster_key", sa.Text(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("cluster_key", name="pk_metric_parts"),
    )
    op.create_table(
        "metric_snapshots",
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("kind", name="pk_metric_snapshots"),
    )
    op.create_table(
        "counters",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_counters"),
    )


def downgrade() -> None:
    op.drop_table("counters")
    op.drop_table("metric_snapshots")
    op.drop_table("metric_parts")
