"""responsible-gaming limits: per-player state, the audit of limit changes, pace on sessions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from croupier.adapters.db.migrations.append_only import protect, unprotect

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("game_sessions") as batch:
        batch.add_column(
            sa.Column(
                "min_round_ms", sa.Integer(), nullable=True, comment="least time between rounds"
            )
        )
        batch.add_column(sa.Column("min_round_rule", sa.String(length=64), nullable=True))
    op.create_table(
        "player_limits",
        sa.Column("player_id", sa.String(length=128), nullable=False),
        sa.Column(
            "state", sa.Text(), nullable=False, comment="limits, pending changes, usage: JSON"
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["player_id"], ["players.id"], name=op.f("fk_player_limits_player_id_players")
        ),
        sa.PrimaryKeyConstraint("player_id", name=op.f("pk_player_limits")),
        comment="Responsible-gaming state; read with the wallet's lock by every money call.",
    )
    op.create_table(
        "protection_events",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("player_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False, comment="JSON"),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_protection_events")),
        comment="Append-only: every limit change requested, with when it takes effect.",
    )
    op.create_index(
        "ix_protection_events_player_id", "protection_events", ["player_id", "id"], unique=False
    )
    protect("protection_events")


def downgrade() -> None:
    unprotect("protection_events")
    op.drop_index("ix_protection_events_player_id", table_name="protection_events")
    op.drop_table("protection_events")
    op.drop_table("player_limits")
    with op.batch_alter_table("game_sessions") as batch:
        batch.drop_column("min_round_rule")
        batch.drop_column("min_round_ms")
