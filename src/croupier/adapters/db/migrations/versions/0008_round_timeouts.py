"""round timeouts: providers' policies and the append-only record of every action

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from croupier.adapters.db.migrations.append_only import protect, unprotect

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
ACTIONS = "action IN ('close', 'void', 'flag')"


def upgrade() -> None:
    op.create_table(
        "round_timeout_policies",
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("after_seconds", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(ACTIONS, name=op.f("ck_round_timeout_policies_action_known")),
        sa.CheckConstraint(
            "after_seconds BETWEEN 60 AND 7776000",
            name=op.f("ck_round_timeout_policies_after_range"),
        ),
        sa.PrimaryKeyConstraint("provider", name=op.f("pk_round_timeout_policies")),
        comment="Per provider: how long a round may stay open, and what is done after.",
    )
    op.create_table(
        "round_timeouts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("round_ref", sa.String(length=128), nullable=False),
        sa.Column("player_id", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column(
            "tx_refs",
            sa.Text(),
            server_default="[]",
            nullable=False,
            comment="JSON list: the wallet transaction ids the action used",
        ),
        sa.CheckConstraint(ACTIONS, name=op.f("ck_round_timeouts_action_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_round_timeouts")),
        comment="Every action on a round left open too long, by the job or a person.",
    )
    op.create_index(
        "ix_round_timeouts_provider_round_ref", "round_timeouts", ["provider", "round_ref"]
    )
    op.create_index(
        "uq_round_timeouts_job_action",
        "round_timeouts",
        ["provider", "round_ref", "action"],
        unique=True,
        sqlite_where=sa.text("actor = 'job:timeouts'"),
        postgresql_where=sa.text("actor = 'job:timeouts'"),
    )
    protect("round_timeouts")


def downgrade() -> None:
    unprotect("round_timeouts")
    op.drop_index("uq_round_timeouts_job_action", table_name="round_timeouts")
    op.drop_index("ix_round_timeouts_provider_round_ref", table_name="round_timeouts")
    op.drop_table("round_timeouts")
    op.drop_table("round_timeout_policies")
