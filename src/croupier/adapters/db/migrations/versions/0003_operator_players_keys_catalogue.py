"""operator side: player profiles, operator API keys, the game catalogue

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 09:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("players") as batch:
        batch.add_column(sa.Column("brand", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column(
                "external_ref",
                sa.String(length=128),
                nullable=True,
                comment="the operator's own player id",
            )
        )
        batch.add_column(
            sa.Column("country", sa.String(length=2), nullable=True, comment="ISO 3166-1 alpha-2")
        )
        batch.add_column(
            sa.Column(
                "subdivision", sa.String(length=8), nullable=True, comment="ISO 3166-2, e.g. CA-ON"
            )
        )
        batch.add_column(sa.Column("birth_date", sa.Date(), nullable=True))
        batch.add_column(
            sa.Column("kyc_status", sa.String(length=16), server_default="none", nullable=False)
        )
        batch.add_column(sa.Column("updated_at", TS, nullable=True))
        batch.create_check_constraint(
            "kyc_status_known", "kyc_status IN ('none', 'pending', 'verified', 'rejected')"
        )
    op.create_index(
        "uq_players_brand_external_ref",
        "players",
        ["brand", "external_ref"],
        unique=True,
        sqlite_where=sa.text("external_ref IS NOT NULL"),
        postgresql_where=sa.text("external_ref IS NOT NULL"),
    )
    op.create_table(
        "operator_keys",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column(
            "secret_hash",
            sa.String(length=64),
            nullable=False,
            comment="SHA-256 of the secret, hex",
        ),
        sa.Column("scopes", sa.Text(), nullable=False, comment="space-separated"),
        sa.Column("label", sa.String(length=128), server_default="", nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.CheckConstraint(
            "status IN ('active', 'revoked')", name=op.f("ck_operator_keys_status_known")
        ),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_operator_keys")),
        comment="Operator API keys; the secret itself is never stored.",
    )
    op.create_table(
        "catalogue_providers",
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("launch_url", sa.Text(), nullable=False, comment="the provider's game launcher"),
        sa.Column(
            "jurisdictions", sa.Text(), nullable=False, comment="JSON list of allowed codes; * all"
        ),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_catalogue_providers")),
    )
    op.create_table(
        "games",
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("category", sa.String(length=16), nullable=False),
        sa.Column("rtp_bp", sa.Integer(), nullable=False, comment="return to player, basis points"),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column(
            "jurisdictions", sa.Text(), nullable=False, comment="JSON list of allowed codes; * all"
        ),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(
            "category IN ('slots', 'table', 'live', 'crash', 'other')",
            name=op.f("ck_games_category_known"),
        ),
        sa.CheckConstraint("rtp_bp BETWEEN 0 AND 10000", name=op.f("ck_games_rtp_range")),
        sa.ForeignKeyConstraint(
            ["provider"],
            ["catalogue_providers.code"],
            name=op.f("fk_games_provider_catalogue_providers"),
        ),
        sa.PrimaryKeyConstraint("provider", "code", name=op.f("pk_games")),
    )


def downgrade() -> None:
    op.drop_table("games")
    op.drop_table("catalogue_providers")
    op.drop_table("operator_keys")
    op.drop_index("uq_players_brand_external_ref", table_name="players")
    with op.batch_alter_table("players") as batch:
        batch.drop_constraint("kyc_status_known", type_="check")
        batch.drop_column("updated_at")
        batch.drop_column("kyc_status")
        batch.drop_column("birth_date")
        batch.drop_column("subdivision")
        batch.drop_column("country")
        batch.drop_column("external_ref")
        batch.drop_column("brand")
