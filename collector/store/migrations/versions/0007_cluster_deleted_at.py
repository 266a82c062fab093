"""clusters.deleted_at: when a refresh found the cluster gone from ARM (its series stop,
no stale-agent alert for it)

Revision ID: 0007_cluster_deleted_at
Revises: 0006_report_requests
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_cluster_deleted_at"
down_revision: str | Sequence[str] | None = "0006_report_requests"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clusters") as batch:
        batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clusters") as batch:
        batch.drop_column("deleted_at")
