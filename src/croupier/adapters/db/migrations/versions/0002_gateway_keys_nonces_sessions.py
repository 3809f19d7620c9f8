"""provider keys, request nonces, game sessions and their events; call context on transactions

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 07:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from croupier.adapters.db.migrations.append_only import protect, unprotect

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("wallet_transactions") as batch:
        batch.add_column(
            sa.Column(
                "session_id",
                sa.String(length=64),
                nullable=True,
                comment="the game session of the call",
            )
        )
        batch.add_column(
            sa.Column(
                "correlation_id",
                sa.String(length=128),
                nullable=True,
                comment="the request's correlation id",
            )
        )
    op.create_index(
        "ix_wallet_transactions_session_id", "wallet_transactions", ["session_id"], unique=False
    )
    op.create_table(
        "provider_keys",
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False, comment="HMAC secret; never logged"),
        sa.Column(
            "status", sa.String(length=16), nullable=False, comment="primary, active or revoked"
        ),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(
            "status IN ('primary', 'active', 'revoked')",
            name=op.f("ck_provider_keys_status_known"),
        ),
        sa.PrimaryKeyConstraint("provider", "key_id", name=op.f("pk_provider_keys")),
    )
    op.create_index(
        "uq_provider_keys_one_primary",
        "provider_keys",
        ["provider"],
        unique=True,
        sqlite_where=sa.text("status = 'primary'"),
        postgresql_where=sa.text("status = 'primary'"),
    )
    op.create_table(
        "request_nonces",
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("nonce", sa.String(length=128), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("provider", "nonce", name=op.f("pk_request_nonces")),
        comment="Seen request nonces inside the replay window. UNLOGGED on PostgreSQL.",
        # No WAL: a nonce insert commits without waiting for a disk flush. After a server
        # crash the table is empty, which only resets the replay window (docs/protocol.md).
        prefixes=["UNLOGGED"] if op.get_bind().dialect.name == "postgresql" else [],
    )
    op.create_index("ix_request_nonces_expires_at", "request_nonces", ["expires_at"], unique=False)
    op.create_table(
        "game_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("player_id", sa.String(length=128), nullable=False),
        sa.Column("currency", sa.String(length=10), nullable=False),
        sa.Column("game_code", sa.String(length=128), nullable=False),
        sa.Column(
            "state",
            sa.String(length=24),
            nullable=False,
            comment="cache of the last event's to_state",
        ),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False, comment="expiry of the newest token"),
        sa.CheckConstraint(
            "state IN ('created', 'launched', 'active', 'pending_settlement', 'settled', "
            "'cancelled', 'failed', 'reversed')",
            name=op.f("ck_game_sessions_state_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_game_sessions")),
    )
    op.create_index("ix_game_sessions_state_expires_at", "game_sessions", ["state", "expires_at"])
    op.create_index("ix_game_sessions_player_id", "game_sessions", ["player_id"])
    op.create_table(
        "session_tokens",
        sa.Column(
            "token_hash", sa.String(length=64), nullable=False, comment="SHA-256 of the token"
        ),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["game_sessions.id"],
            name=op.f("fk_session_tokens_session_id_game_sessions"),
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_session_tokens")),
    )
    op.create_index("ix_session_tokens_session_id", "session_tokens", ["session_id"])
    op.create_table(
        "session_events",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("from_state", sa.String(length=24), nullable=True),
        sa.Column("to_state", sa.String(length=24), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("round_ref", sa.String(length=128), nullable=True),
        sa.Column("tx_ids", sa.Text(), server_default="[]", nullable=False, comment="JSON list"),
        sa.Column("correlation_id", sa.String(length=128), nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["game_sessions.id"],
            name=op.f("fk_session_events_session_id_game_sessions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_session_events")),
        comment="Append-only: triggers refuse UPDATE and DELETE.",
    )
    op.create_index("ix_session_events_session_id", "session_events", ["session_id", "id"])
    protect("session_events")


def downgrade() -> None:
    unprotect("session_events")
    op.drop_index("ix_session_events_session_id", table_name="session_events")
    op.drop_table("session_events")
    op.drop_index("ix_session_tokens_session_id", table_name="session_tokens")
    op.drop_table("session_tokens")
    op.drop_index("ix_game_sessions_player_id", table_name="game_sessions")
    op.drop_index("ix_game_sessions_state_expires_at", table_name="game_sessions")
    op.drop_table("game_sessions")
    op.drop_index("ix_request_nonces_expires_at", table_name="request_nonces")
    op.drop_table("request_nonces")
    op.drop_index("uq_provider_keys_one_primary", table_name="provider_keys")
    op.drop_table("provider_keys")
    op.drop_index("ix_wallet_transactions_session_id", table_name="wallet_transactions")
    with op.batch_alter_table("wallet_transactions") as batch:
        batch.drop_column("correlation_id")
        batch.drop_column("session_id")
