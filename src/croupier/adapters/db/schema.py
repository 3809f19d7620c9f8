"""The database schema as SQLAlchemy Core tables: the source of migrations and of cold-path SQL.

The hot path (bet, win, rollback) runs hand-written SQL on the raw drivers against these
same tables; ``alembic check`` in CI keeps this file and the migrations in agreement.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite makes INTEGER PRIMARY KEY an alias of its rowid; BIGINT would not autoincrement there.
Id = BigInteger().with_variant(Integer(), "sqlite")
Ts = DateTime(timezone=True)

currencies = Table(
    "currencies",
    metadata,
    Column("code", String(10), primary_key=True),
    Column("exponent", Integer, nullable=False),
    Column("kind", String(10), nullable=False),
    CheckConstraint("exponent BETWEEN 0 AND 18", name="exponent_range"),
    comment="The precision each currency was first used with; a later change is refused.",
)

players = Table(
    "players",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("currency", String(10), ForeignKey("currencies.code"), nullable=False),
    Column("status", String(16), nullable=False, server_default="active"),
    Column("created_at", Ts, nullable=False),
    # The operator's view of the player (operator API); a wallet opened by hand has none.
    # Providers see only the opaque id above.
    Column("brand", String(64), nullable=True),
    Column("external_ref", String(128), nullable=True, comment="the operator's own player id"),
    Column("country", String(2), nullable=True, comment="ISO 3166-1 alpha-2"),
    Column("subdivision", String(8), nullable=True, comment="ISO 3166-2, e.g. CA-ON"),
    Column("birth_date", Date, nullable=True),
    Column("kyc_status", String(16), nullable=False, server_default="none"),
    Column("updated_at", Ts, nullable=True),
    CheckConstraint("status IN ('active', 'blocked')", name="status_known"),
    CheckConstraint(
        "kyc_status IN ('none', 'pending', 'verified', 'rejected')", name="kyc_status_known"
    ),
    Index(
        "uq_players_brand_external_ref",
        "brand",
        "external_ref",
        unique=True,
        sqlite_where=text("external_ref IS NOT NULL"),
        postgresql_where=text("external_ref IS NOT NULL"),
    ),
)

accounts = Table(
    "accounts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("type", String(32), nullable=False),
    Column("owner", String(128), nullable=False),
    Column("currency", String(10), ForeignKey("currencies.code"), nullable=False),
    Column("balance", BigInteger, nullable=True, comment="cached for player accounts only"),
    Column("floor", BigInteger, nullable=True, comment="lowest allowed balance; NULL: none"),
    Column("created_at", Ts, nullable=False),
    UniqueConstraint("owner", "type", "currency", name="uq_accounts_owner_type_currency"),
    # A NULL on either side passes: house accounts have neither a cached balance nor a floor.
    CheckConstraint("balance >= floor", name="balance_above_floor"),
)

journal_entries = Table(
    "journal_entries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("created_at", Ts, nullable=False),
    Column("reverses_entry_id", Id, ForeignKey("journal_entries.id"), nullable=True),
    comment="Append-only: triggers refuse UPDATE and DELETE.",
)

postings = Table(
    "postings",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("entry_id", Id, ForeignKey("journal_entries.id"), nullable=False),
    Column("account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("currency", String(10), nullable=False),
    Column("amount", BigInteger, nullable=False),
    CheckConstraint("amount <> 0", name="amount_nonzero"),
    Index("ix_postings_account_id", "account_id"),
    Index("ix_postings_entry_id", "entry_id"),
    comment="Append-only: triggers refuse UPDATE and DELETE.",
)

wallet_transactions = Table(
    "wallet_transactions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("scope", String(80), nullable=False, comment="provider:<code> or cashier"),
    Column("reference", String(128), nullable=False, comment="the caller's transaction id"),
    Column("kind", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("player_id", String(128), nullable=False),
    Column("round_ref", String(128), nullable=True),
    Column("ref_tx", String(128), nullable=True, comment="the bet a win or rollback names"),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(10), nullable=False),
    Column("fingerprint", String(64), nullable=True),
    Column("result", Text, nullable=False, comment="the original answer, as JSON, for replay"),
    Column("entry_id", Id, ForeignKey("journal_entries.id"), nullable=True),
    Column("created_at", Ts, nullable=False),
    Column("session_id", String(64), nullable=True, comment="the game session of the call"),
    Column("correlation_id", String(128), nullable=True, comment="the request's correlation id"),
    UniqueConstraint("scope", "reference", name="uq_wallet_transactions_scope_reference"),
    # A bet is rolled back at most once, whatever the rollback's own id.
    Index(
        "uq_wallet_transactions_one_rollback",
        "scope",
        "ref_tx",
        unique=True,
        sqlite_where=text("kind = 'rollback'"),
        postgresql_where=text("kind = 'rollback'"),
    ),
    Index("ix_wallet_transactions_created_at", "created_at"),
    Index("ix_wallet_transactions_player_id", "player_id", "id"),
    Index("ix_wallet_transactions_session_id", "session_id"),
)

rounds = Table(
    "rounds",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("scope", String(80), nullable=False),
    Column("round_ref", String(128), nullable=False),
    Column("player_id", String(128), nullable=False),
    Column("currency", String(10), nullable=False),
    Column("game_code", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("cash_staked", BigInteger, nullable=False),
    Column("bonus_staked", BigInteger, nullable=False),
    Column("bets_live", Integer, nullable=False),
    Column("bets_rolled_back", Integer, nullable=False),
    Column("win_count", Integer, nullable=False),
    Column("win_total", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
    Column("opened_at", Ts, nullable=False),
    Column("closed_at", Ts, nullable=True),
    UniqueConstraint("scope", "round_ref", name="uq_rounds_scope_round_ref"),
    CheckConstraint("status IN ('open', 'closed')", name="status_known"),
    CheckConstraint("cash_staked >= 0 AND bonus_staked >= 0", name="stakes_non_negative"),
    Index("ix_rounds_status_opened_at", "status", "opened_at"),
)

holds = Table(
    "holds",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("reference", String(128), nullable=False),
    Column("player_id", String(128), nullable=False),
    Column("currency", String(10), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("posted_amount", BigInteger, nullable=False, server_default="0"),
    Column("status", String(16), nullable=False),
    Column("destination_account_id", Id, ForeignKey("accounts.id"), nullable=False),
    Column("result", Text, nullable=False, server_default="{}"),
    Column("created_at", Ts, nullable=False),
    Column("expires_at", Ts, nullable=False),
    Column("resolved_at", Ts, nullable=True),
    UniqueConstraint("reference", name="uq_holds_reference"),
    CheckConstraint("status IN ('pending', 'posted', 'voided', 'expired')", name="status_known"),
    CheckConstraint("amount > 0 AND posted_amount BETWEEN 0 AND amount", name="amounts"),
    Index("ix_holds_status_expires_at", "status", "expires_at"),
)

provider_keys = Table(
    "provider_keys",
    metadata,
    Column("provider", String(64), primary_key=True),
    Column("key_id", String(64), primary_key=True),
    Column("secret", Text, nullable=False, comment="HMAC secret; never logged"),
    Column("status", String(16), nullable=False, comment="primary, active or revoked"),
    Column("created_at", Ts, nullable=False),
    Column("updated_at", Ts, nullable=False),
    CheckConstraint("status IN ('primary', 'active', 'revoked')", name="status_known"),
    # At most one primary key per provider.
    Index(
        "uq_provider_keys_one_primary",
        "provider",
        unique=True,
        sqlite_where=text("status = 'primary'"),
        postgresql_where=text("status = 'primary'"),
    ),
)

request_nonces = Table(
    "request_nonces",
    metadata,
    Column("provider", String(64), primary_key=True),
    Column("nonce", String(128), primary_key=True),
    Column("expires_at", Ts, nullable=False),
    Index("ix_request_nonces_expires_at", "expires_at"),
    comment="Seen request nonces inside the replay window. UNLOGGED on PostgreSQL.",
)

game_sessions = Table(
    "game_sessions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("provider", String(64), nullable=False),
    Column("player_id", String(128), nullable=False),
    Column("currency", String(10), nullable=False),
    Column("game_code", String(128), nullable=False),
    Column("state", String(24), nullable=False, comment="cache of the last event's to_state"),
    Column("version", Integer, nullable=False),
    Column("created_at", Ts, nullable=False),
    Column("updated_at", Ts, nullable=False),
    Column("expires_at", Ts, nullable=False, comment="expiry of the newest token"),
    # Bet rules fixed by the launch (jurisdiction pack): checked on every bet of the session.
    Column("jurisdiction", String(8), nullable=True),
    Column("stake_cap", BigInteger, nullable=True, comment="largest stake, minor units"),
    Column("stake_cap_rule", String(64), nullable=True),
    Column("min_round_ms", Integer, nullable=True, comment="least time between rounds"),
    Column("min_round_rule", String(64), nullable=True),
    CheckConstraint(
        "state IN ('created', 'launched', 'active', 'pending_settlement', 'settled', "
        "'cancelled', 'failed', 'reversed')",
        name="state_known",
    ),
    Index("ix_game_sessions_state_expires_at", "state", "expires_at"),
    Index("ix_game_sessions_player_id", "player_id"),
)

session_tokens = Table(
    "session_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True, comment="SHA-256 of the token"),
    Column("session_id", String(64), ForeignKey("game_sessions.id"), nullable=False),
    Column("issued_at", Ts, nullable=False),
    Column("expires_at", Ts, nullable=False),
    Index("ix_session_tokens_session_id", "session_id"),
)

session_events = Table(
    "session_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("session_id", String(64), ForeignKey("game_sessions.id"), nullable=False),
    Column("from_state", String(24), nullable=True),
    Column("to_state", String(24), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    Column("round_ref", String(128), nullable=True),
    Column("tx_ids", Text, nullable=False, server_default="[]", comment="JSON list"),
    Column("correlation_id", String(128), nullable=True),
    Column("at", Ts, nullable=False),
    Index("ix_session_events_session_id", "session_id", "id"),
    comment="Append-only: triggers refuse UPDATE and DELETE.",
)

operator_keys = Table(
    "operator_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("secret_hash", String(64), nullable=False, comment="SHA-256 of the secret, hex"),
    Column("scopes", Text, nullable=False, comment="space-separated"),
    Column("label", String(128), nullable=False, server_default=""),
    Column("status", String(16), nullable=False),
    Column("created_at", Ts, nullable=False),
    Column("revoked_at", Ts, nullable=True),
    CheckConstraint("status IN ('active', 'revoked')", name="status_known"),
    comment="Operator API keys; the secret itself is never stored.",
)

catalogue_providers = Table(
    "catalogue_providers",
    metadata,
    Column("code", String(64), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("launch_url", Text, nullable=False, comment="the provider's game launcher"),
    Column("jurisdictions", Text, nullable=False, comment="JSON list of allowed codes; * all"),
    Column("updated_at", Ts, nullable=False),
)

games = Table(
    "games",
    metadata,
    Column("provider", String(64), ForeignKey("catalogue_providers.code"), primary_key=True),
    Column("code", String(128), primary_key=True),
    Column("name", String(256), nullable=False),
    Column("category", String(16), nullable=False),
    Column("rtp_bp", Integer, nullable=False, comment="return to player, basis points"),
    Column("enabled", Boolean, nullable=False),
    Column("jurisdictions", Text, nullable=False, comment="JSON list of allowed codes; * all"),
    Column("updated_at", Ts, nullable=False),
    CheckConstraint(
        "category IN ('slots', 'table', 'live', 'crash', 'other')", name="category_known"
    ),
    CheckConstraint("rtp_bp BETWEEN 0 AND 10000", name="rtp_range"),
)

player_exclusions = Table(
    "player_exclusions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("player_id", String(128), ForeignKey("players.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("starts_at", Ts, nullable=False),
    Column("ends_at", Ts, nullable=True, comment="NULL: indefinite"),
    Column("actor", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", Ts, nullable=False),
    CheckConstraint("kind IN ('cool_off', 'self_exclusion')", name="kind_known"),
    Index("ix_player_exclusions_player_id", "player_id", "id"),
    comment="Append-only: an exclusion is never shortened or lifted early.",
)

player_limits = Table(
    "player_limits",
    metadata,
    Column("player_id", String(128), ForeignKey("players.id"), primary_key=True),
    Column("state", Text, nullable=False, comment="limits, pending changes, usage: JSON"),
    Column("version", Integer, nullable=False),
    Column("updated_at", Ts, nullable=False),
    comment="Responsible-gaming state; read with the wallet's lock by every money call.",
)

protection_events = Table(
    "protection_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("player_id", String(128), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("detail", Text, nullable=False, comment="JSON"),
    Column("actor", String(128), nullable=False),
    Column("at", Ts, nullable=False),
    Index("ix_protection_events_player_id", "player_id", "id"),
    comment="Append-only: every limit change requested, with when it takes effect.",
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("player_id", String(128), nullable=True),
    Column("provider", String(64), nullable=True),
    Column("detail", Text, nullable=False, comment="JSON"),
    Column("at", Ts, nullable=False),
    Index("ix_alerts_at", "at"),
    Index("ix_alerts_player_id", "player_id", "id"),
    comment="Anomaly signals (bet rate, big win, refusal burst), as raised. Append-only.",
)

webhook_secrets = Table(
    "webhook_secrets",
    metadata,
    Column("provider", String(64), primary_key=True),
    Column("secret_id", String(64), primary_key=True),
    Column("secret", Text, nullable=False, comment="whsec_ secret; never logged"),
    Column("status", String(16), nullable=False),
    Column("created_at", Ts, nullable=False),
    CheckConstraint("status IN ('active', 'revoked')", name="status_known"),
    comment="Standard Webhooks secrets per provider; several active during a rotation.",
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("provider", String(64), nullable=False),
    Column("delivery_id", String(128), nullable=False, comment="webhook-id"),
    Column("received_at", Ts, nullable=False),
    Column("headers", Text, nullable=False, comment="JSON, as received (signature included)"),
    Column("body", LargeBinary, nullable=False, comment="the raw body, byte for byte"),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", Ts, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("processed_at", Ts, nullable=True),
    UniqueConstraint("provider", "delivery_id", name="uq_webhook_deliveries_provider_delivery_id"),
    CheckConstraint(
        "status IN ('pending', 'processing', 'applied', 'held', 'dead')", name="status_known"
    ),
    Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_received_at", "received_at"),
    comment="Verified deliveries, stored raw before the answer; the queue of the inbox worker.",
)

webhook_rejections = Table(
    "webhook_rejections",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("provider", String(64), nullable=False),
    Column("received_at", Ts, nullable=False),
    Column("code", String(48), nullable=False, comment="the error code answered"),
    Column("delivery_id", String(128), nullable=True),
    Column("body_size", Integer, nullable=False),
    Column("body_sha256", String(64), nullable=False),
    Index("ix_webhook_rejections_received_at", "received_at"),
    comment="Refused deliveries: a record of the refusal, never their content.",
)

ACTIONS = "action IN ('close', 'void', 'flag')"

round_timeout_policies = Table(
    "round_timeout_policies",
    metadata,
    Column("provider", String(64), primary_key=True),
    Column("after_seconds", Integer, nullable=False),
    Column("action", String(8), nullable=False),
    Column("updated_at", Ts, nullable=False),
    CheckConstraint(ACTIONS, name="action_known"),
    CheckConstraint("after_seconds BETWEEN 60 AND 7776000", name="after_range"),
    comment="Per provider: how long a round may stay open, and what is done after.",
)

round_timeouts = Table(
    "round_timeouts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("provider", String(64), nullable=False),
    Column("round_ref", String(128), nullable=False),
    Column("player_id", String(128), nullable=False),
    Column("action", String(8), nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("at", Ts, nullable=False),
    Column("opened_at", Ts, nullable=False),
    Column(
        "tx_refs",
        Text,
        nullable=False,
        server_default="[]",
        comment="JSON list: the wallet transaction ids the action used",
    ),
    CheckConstraint(ACTIONS, name="action_known"),
    Index("ix_round_timeouts_provider_round_ref", "provider", "round_ref"),
    Index(
        "uq_round_timeouts_job_action",
        "provider",
        "round_ref",
        "action",
        unique=True,
        sqlite_where=text("actor = 'job:timeouts'"),
        postgresql_where=text("actor = 'job:timeouts'"),
    ),
    comment="Every action on a round left open too long, by the job or a person.",
)

CASE_STATUSES = "status IN ('open', 'auto_resolved', 'in_review', 'escalated', 'resolved')"

recon_mappings = Table(
    "recon_mappings",
    metadata,
    Column("provider", String(64), primary_key=True),
    Column("mapping", Text, nullable=False, comment="JSON"),
    Column("updated_at", Ts, nullable=False),
    comment="How each provider's feed maps to canonical rows.",
)

recon_runs = Table(
    "recon_runs",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("provider", String(64), nullable=False),
    Column("period_start", Ts, nullable=False),
    Column("period_end", Ts, nullable=False),
    Column("granularity", String(16), nullable=False),
    Column("feed_name", String(256), nullable=False),
    Column("feed_sha256", String(64), nullable=False),
    Column("mapping_sha256", String(64), nullable=False),
    Column("report_sha256", String(64), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("created_at", Ts, nullable=False),
    Column("report", Text, nullable=False, comment="JSON: totals and differences"),
    Index("ix_recon_runs_provider_id", "provider", "id"),
    comment="Reconciliation runs, as reported. Append-only.",
)

recon_differences = Table(
    "recon_differences",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("run_id", Id, ForeignKey("recon_runs.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("key", String(128), nullable=False),
    Column("currency", String(10), nullable=False),
    Column("amount_difference", BigInteger, nullable=False),
    Column("detail", Text, nullable=False, comment="JSON: both sides' rows"),
    Index("ix_recon_differences_run_id", "run_id"),
    Index("ix_recon_differences_kind_key", "kind", "key"),
    comment="Every difference of a run. Append-only.",
)

recon_cases = Table(
    "recon_cases",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("provider", String(64), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("key", String(128), nullable=False),
    Column("currency", String(10), nullable=False),
    Column("player_id", String(128), nullable=True),
    Column("status", String(16), nullable=False),
    Column("amount_difference", BigInteger, nullable=False),
    Column("first_run", Id, nullable=False),
    Column("last_run", Id, nullable=False),
    Column("opened_at", Ts, nullable=False),
    Column("updated_at", Ts, nullable=False),
    CheckConstraint(CASE_STATUSES, name="status_known"),
    UniqueConstraint("provider", "kind", "key", name="uq_recon_cases_provider_kind_key"),
    Index("ix_recon_cases_status", "status"),
    comment="A difference being worked: one per provider, kind and key.",
)

recon_case_events = Table(
    "recon_case_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("case_id", Id, ForeignKey("recon_cases.id"), nullable=False),
    Column("at", Ts, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("from_status", String(16), nullable=True),
    Column("to_status", String(16), nullable=False),
    Column("note", Text, nullable=False),
    Column("run_id", Id, nullable=True),
    Column("tx_ref", String(128), nullable=True, comment="the correcting wallet transaction"),
    Index("ix_recon_case_events_case_id", "case_id", "id"),
    comment="Who did what to a case, when. Append-only.",
)

APPEND_ONLY_TABLES = (
    "journal_entries",
    "postings",
    "session_events",
    "player_exclusions",
    "protection_events",
    "alerts",
    "webhook_rejections",
    "round_timeouts",
    "recon_runs",
    "recon_differences",
    "recon_case_events",
)
