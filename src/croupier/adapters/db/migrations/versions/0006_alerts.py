"""anomaly signals: the alerts table (append-only)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 10:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from croupier.adapters.db.migrations.append_only import protect, unprotect

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("player_id", sa.String(length=128), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False, comment="JSON"),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        comment="Anomaly signals (bet rate, big win, refusal burst), as raised. Append-only.",
    )
    op.create_index("ix_alerts_at", "alerts", ["at"], unique=False)
    op.create_index("ix_alerts_player_id", "alerts", ["player_id", "id"], unique=False)
    protect("alerts")


def downgrade() -> None:
    unprotect("alerts")
    op.drop_index("ix_alerts_player_id", table_name="alerts")
    op.drop_index("ix_alerts_at", table_name="alerts")
    op.drop_table("alerts")
