"""outcomes and fleet claims: rule_outcomes, scan_outcome_counts, fleet_claims;
clusters.last_scan_id, scans.reduced_at, findings.scope

Revision ID: 0002_outcomes_and_claims
Revises: 0001_initial
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_outcomes_and_claims"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clusters") as batch:
        batch.add_column(sa.Column("last_scan_id", sa.Integer(), nullable=True))
    with op.batch_alter_table("scans") as batch:
        batch.add_column(sa.Column("reduced_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("findings") as batch:
        batch.add_column(
            sa.Column("scope", sa.Text(), nullable=False, server_default="cluster")
        )
    op.create_table(
        "rule_outcomes",
        sa.Column("cluster_key", sa.Text(), nullable=False),
        sa.Column("rule_id", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("findings", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_key"], ["clusters.key"], name="fk_rule_outcomes_cluster_key_clusters"
        ),
        sa.PrimaryKeyConstraint("cluster_key", "rule_id", name="pk_rule_outcomes"),
    )
    op.create_index(
        "ix_rule_outcomes_rule_id_outcome", "rule_outcomes", ["rule_id", "outcome"]
    )
    op.create_table(
        "scan_outcome_counts",
        sa.Column("scan_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("clusters", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["scan_id"], ["scans.id"], name="fk_scan_outcome_counts_scan_id_scans"
        ),
        sa.PrimaryKeyConstraint("scan_id", "rule_id", "outcome", name="pk_scan_outcome_counts"),
    )
    op.create_table(
        "fleet_claims",
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("resource_key", sa.Text(), nullable=False),
        sa.Column("cluster_key", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("item", sa.Integer(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cluster_key"], ["clusters.key"], name="fk_fleet_claims_cluster_key_clusters"
        ),
        sa.PrimaryKeyConstraint(
            "kind", "resource_key", "cluster_key", "source", "item", name="pk_fleet_claims"
        ),
    )
    op.create_index(
        "ix_fleet_claims_cluster_key_source", "fleet_claims", ["cluster_key", "source"]
    )


def downgrade() -> None:
    op.drop_index("ix_fleet_claims_cluster_key_source", table_name="fleet_claims")
    op.drop_table("fleet_claims")
    op.drop_table("scan_outcome_counts")
    op.drop_index("ix_rule_outcomes_rule_id_outcome", table_name="rule_outcomes")
    op.drop_table("rule_outcomes")
    with op.batch_alter_table("findings") as batch:
        batch.drop_column("scope")
    with op.batch_alter_table("scans") as batch:
        batch.drop_column("reduced_at")
    with op.batch_alter_table("clusters") as batch:
        batch.drop_column("last_scan_id")
