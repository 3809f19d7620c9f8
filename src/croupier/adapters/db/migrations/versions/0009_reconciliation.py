"""reconciliation: feed mappings, runs, differences, cases and their history (append-only)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21 12:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from croupier.adapters.db.migrations.append_only import protect, unprotect

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
CASE_STATUSES = "status IN ('open', 'auto_resolved', 'in_review', 'escalated', 'resolved')"


def upgrade() -> None:
    op.create_table(
        "recon_mappings",
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("mapping", sa.Text(), nullable=False, comment="JSON"),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("provider", name=op.f("pk_recon_mappings")),
        comment="How each provider's feed maps to canonical rows.",
    )
    op.create_table(
        "recon_runs",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("period_start", TS, nullable=False),
        sa.Column("period_end", TS, nullable=False),
        sa.Column("granularity", sa.String(length=16), nullable=False),
        sa.Column("feed_name", sa.String(length=256), nullable=False),
        sa.Column("feed_sha256", sa.String(length=64), nullable=False),
        sa.Column("mapping_sha256", sa.String(length=64), nullable=False),
        sa.Column("report_sha256", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("report", sa.Text(), nullable=False, comment="JSON: totals and differences"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recon_runs")),
        comment="Reconciliation runs, as reported. Append-only.",
    )
    op.create_index("ix_recon_runs_provider_id", "recon_runs", ["provider", "id"])
    op.create_table(
        "recon_differences",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("currency", sa.String(length=10), nullable=False),
        sa.Column("amount_difference", sa.BigInteger(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False, comment="JSON: both sides' rows"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["recon_runs.id"], name=op.f("fk_recon_differences_run_id_recon_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recon_differences")),
        comment="Every difference of a run. Append-only.",
    )
    op.create_index("ix_recon_differences_run_id", "recon_differences", ["run_id"])
    op.create_index("ix_recon_differences_kind_key", "recon_differences", ["kind", "key"])
    op.create_table(
        "recon_cases",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("currency", sa.String(length=10), nullable=False),
        sa.Column("player_id", sa.String(length=128), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("amount_difference", sa.BigInteger(), nullable=False),
        sa.Column("first_run", ID, nullable=False),
        sa.Column("last_run", ID, nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(CASE_STATUSES, name=op.f("ck_recon_cases_status_known")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recon_cases")),
        sa.UniqueConstraint("provider", "kind", "key", name="uq_recon_cases_provider_kind_key"),
        comment="A difference being worked: one per provider, kind and key.",
    )
    op.create_index("ix_recon_cases_status", "recon_cases", ["status"])
    op.create_table(
        "recon_case_events",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("case_id", ID, nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("run_id", ID, nullable=True),
        sa.Column(
            "tx_ref",
            sa.String(length=128),
            nullable=True,
            comment="the correcting wallet transaction",
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["recon_cases.id"], name=op.f("fk_recon_case_events_case_id_recon_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recon_case_events")),
        comment="Who did what to a case, when. Append-only.",
    )
    op.create_index("ix_recon_case_events_case_id", "recon_case_events", ["case_id", "id"])
    for table in ("recon_runs", "recon_differences", "recon_case_events"):
        protect(table)


def downgrade() -> None:
    for table in ("recon_runs", "recon_differences", "recon_case_events"):
        unprotect(table)
    op.drop_index("ix_recon_case_events_case_id", table_name="recon_case_events")
    op.drop_table("recon_case_events")
    op.drop_index("ix_recon_cases_status", table_name="recon_cases")
    op.drop_table("recon_cases")
    op.drop_index("ix_recon_differences_kind_key", table_name="recon_differences")
    op.drop_index("ix_recon_differences_run_id", table_name="recon_differences")
    op.drop_table("recon_differences")
    op.drop_index("ix_recon_runs_provider_id", table_name="recon_runs")
    op.drop_table("recon_runs")
    op.drop_table("recon_mappings")
