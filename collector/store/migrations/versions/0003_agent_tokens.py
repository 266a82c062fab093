"""agent tokens: per-cluster bearer tokens, stored as sha256 hashes

Revision ID: 0003_agent_tokens
Revises: 0002_outcomes_and_claims
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_agent_tokens"
down_revision: str | Sequence[str] | None = "0002_outcomes_and_claims"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agent_tokens",
        sa.Column("id", sa.String(16), nullable=False),
        sa.Column("cluster_key", sa.Text(), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_agent_tokens"),
        sa.UniqueConstraint("token_sha256", name="uq_agent_tokens_token_sha256"),
    )
    op.create_index("ix_agent_tokens_cluster_key", "agent_tokens", ["cluster_key"])


def downgrade() -> None:
    op.drop_index("ix_agent_tokens_cluster_key", table_name="agent_tokens")
    op.drop_table("agent_tokens")
