"""usage history: IPs in use per subnet at each inventory refresh (the forecast's input)

Revision ID: 0004_usage_history
Revises: 0003_agent_tokens
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_usage_history"
down_revision: str | Sequence[str] | None = "0003_agent_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usage_history",
        sa.Column("range_key", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("range_key", "at", name="pk_usage_history"),
    )


def downgrade() -> None:
    op.drop_table("usage_history")
