"""launch: bet rules on game sessions; cool-offs and self-exclusions (append-only)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 09:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from croupier.adapters.db.migrations.append_only import protect, unprotect

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("game_sessions") as batch:
        batch.add_column(sa.Column("jurisdiction", sa.String(length=8), nullable=True))
        batch.add_column(
            sa.Column(
                "stake_cap", sa.BigInteger(), nullable=True, comment="largest stake, minor units"
            )
        )
        batch.add_column(sa.Column("stake_cap_rule", sa.String(length=64), nullable=True))
    op.create_table(
        "player_exclusions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("player_id", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=True, comment="NULL: indefinite"),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint(
            "kind IN ('cool_off', 'self_exclusion')",
            name=op.f("ck_player_exclusions_kind_known"),
        ),
        sa.ForeignKeyConstraint(
            ["player_id"], ["players.id"], name=op.f("fk_player_exclusions_player_id_players")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_player_exclusions")),
        comment="Append-only: an exclusion is never shortened or lifted early.",
    )
    op.create_index(
        "ix_player_exclusions_player_id", "player_exclusions", ["player_id", "id"], unique=False
    )
    protect("player_exclusions")


def downgrade() -> None:
    unprotect("player_exclusions")
    op.drop_index("ix_player_exclusions_player_id", table_name="player_exclusions")
    op.drop_table("player_exclusions")
    with op.batch_alter_table("game_sessions") as batch:
        batch.drop_column("stake_cap_rule")
        batch.drop_column("stake_cap")
        batch.drop_column("jurisdiction")
