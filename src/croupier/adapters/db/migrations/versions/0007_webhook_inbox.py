"""webhook inbox: secrets, deliveries (the queue), rejections (append-only)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 10:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from croupier.adapters.db.migrations.append_only import protect, unprotect

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "webhook_secrets",
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("secret_id", sa.String(length=64), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False, comment="whsec_ secret; never logged"),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint(
            "status IN ('active', 'revoked')", name=op.f("ck_webhook_secrets_status_known")
        ),
        sa.PrimaryKeyConstraint("provider", "secret_id", name=op.f("pk_webhook_secrets")),
        comment="Standard Webhooks secrets per provider; several active during a rotation.",
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("delivery_id", sa.String(length=128), nullable=False, comment="webhook-id"),
        sa.Column("received_at", TS, nullable=False),
        sa.Column(
            "headers",
            sa.Text(),
            nullable=False,
            comment="JSON, as received (signature included)",
        ),
        sa.Column("body", sa.LargeBinary(), nullable=False, comment="the raw body, byte for byte"),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("processed_at", TS, nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'processing', 'applied', 'held', 'dead')",
            name=op.f("ck_webhook_deliveries_status_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint(
            "provider", "delivery_id", name="uq_webhook_deliveries_provider_delivery_id"
        ),
        comment="Verified deliveries, stored raw before the answer; the queue of the inbox worker.",
    )
    op.create_index(
        "ix_webhook_deliveries_status_next_attempt_at",
        "webhook_deliveries",
        ["status", "next_attempt_at"],
    )
    op.create_index("ix_webhook_deliveries_received_at", "webhook_deliveries", ["received_at"])
    op.create_table(
        "webhook_rejections",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("code", sa.String(length=48), nullable=False, comment="the error code answered"),
        sa.Column("delivery_id", sa.String(length=128), nullable=True),
        sa.Column("body_size", sa.Integer(), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_rejections")),
        comment="Refused deliveries: a record of the refusal, never their content.",
    )
    op.create_index("ix_webhook_rejections_received_at", "webhook_rejections", ["received_at"])
    protect("webhook_rejections")


def downgrade() -> None:
    unprotect("webhook_rejections")
    op.drop_index("ix_webhook_rejections_received_at", table_name="webhook_rejections")
    op.drop_table("webhook_rejections")
    op.drop_index("ix_webhook_deliveries_received_at", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_status_next_attempt_at", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_secrets")
