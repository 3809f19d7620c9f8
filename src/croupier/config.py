"""One typed Settings object, read from CROUPIER_* variables when built, never at import."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from croupier.domain.wallet import StakeOrder, WinSplit

DEFAULT_CRYPTO = {"BTC": 8, "ETH": 9, "USDT": 6}


class Settings(BaseSettings):
    """Croupier's configuration. Every field can be set as CROUPIER_<FIELD>."""

    model_config = SettingsConfigDict(env_prefix="CROUPIER_", extra="forbid")

    database_url: str = Field(
        default="sqlite:///var/croupier.db",
        description="sqlite:///path/to.db (embedded) or postgresql://user@host:port/db",
    )
    crypto_precisions: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_CRYPTO),
        description='crypto assets and their decimal places, as JSON: {"BTC": 8}',
    )
    max_major_amount: int = Field(
        default=10**9,
        description="largest amount of one call, in major units; must fit int64 at every precision",
    )
    stake_order: StakeOrder = Field(default=StakeOrder.CASH_FIRST)
    win_split: WinSplit = Field(default=WinSplit.PROPORTIONAL)
    pool_max_size: int = Field(default=10, ge=1, le=200, description="PostgreSQL pool size")
    hold_sweep_seconds: float = Field(
        default=5.0, gt=0, description="how often `croupier run` releases expired holds"
    )

    host: str = Field(default="127.0.0.1", description="address the API listens on")
    port: int = Field(default=8000, ge=1, le=65535, description="port the API listens on")
    sandbox_port: int = Field(
        default=8100, ge=1, le=65535,
        description="port of the sandbox provider that `croupier run --demo` starts",
    )  # fmt: skip
    demo_players: int = Field(
        default=5, ge=0, le=200,
        description="simulated players `croupier run --demo` runs on the sandbox (0: none)",
    )  # fmt: skip
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="server processes sharing the port (PostgreSQL only: SQLite has one writer)",
    )
    signature_window_seconds: int = Field(
        default=30, ge=1, le=3600, description="accepted clock skew of a signed request, seconds"
    )
    max_body_bytes: int = Field(
        default=65536, ge=1024, description="largest request body; larger ones get 413"
    )
    session_token_seconds: int = Field(
        default=900, ge=30, description="lifetime of a session token (refreshable)"
    )
    key_cache_seconds: float = Field(
        default=5.0, ge=0, description="how long a replica caches provider keys (revocation lag)"
    )
    redis_url: str | None = Field(
        default=None,
        description="redis://host:port/db to keep request nonces in Redis instead of the database",
    )
    session_sweep_seconds: float = Field(
        default=30.0, gt=0, description="how often `croupier run` closes and settles sessions"
    )
    rules_dir: str | None = Field(
        default=None,
        description="a directory of jurisdiction rule packs (*.toml) added to the shipped ones",
    )
    limit_increase_hours: float = Field(
        default=24,
        ge=0,
        le=24 * 30,
        description="cooling period before a limit increase or removal takes effect",
    )
    alert_bets_per_minute: int = Field(
        default=500, ge=1, description="bets in a minute by one player that raise a bet_rate alert"
    )
    alert_big_win_amounts: dict[str, str] = Field(
        default_factory=lambda: {"EUR": "40000.00"},
        description="per currency, the win (decimal string) that may raise a big_win alert",
    )
    alert_big_win_multiple: int = Field(
        default=350, ge=1, description="and the multiple of the round's stake it must pass"
    )
    alert_refusals_per_minute: int = Field(
        default=50, ge=1, description="refused calls of one provider in a minute: an alert"
    )
    launch_url_seconds: int = Field(
        default=120, ge=10, le=3600, description="lifetime of a signed launch URL"
    )
    inbox_poll_seconds: float = Field(
        default=1.0, gt=0, description="how often `croupier run` applies due webhook deliveries"
    )
    inbox_lease_seconds: float = Field(
        default=60,
        gt=0,
        le=3600,
        description="how long a worker holds a delivery; a dead worker's is taken again after",
    )
    inbox_retry_budget: int = Field(
        default=8, ge=1, le=50, description="attempts of a webhook delivery before dead letters"
    )
    round_timeout_seconds: int = Field(
        default=3600,
        ge=60,
        le=7_776_000,
        description="how long a round may stay open before the timeout job acts, for "
        "providers without a policy of their own (`croupier rounds policy-set`)",
    )
    round_timeout_action: Literal["close", "void", "flag"] = Field(
        default="flag",
        description="what the timeout job does with such a round: close, void or flag "
        "(flag moves no money: an alert for a person)",
    )
    timeout_poll_seconds: float = Field(
        default=60, gt=0, description="how often `croupier run` looks for rounds left open"
    )
    recon_margin_hours: int = Field(
        default=24, ge=0, le=24 * 31,
        description="ledger rows this far outside a reconciliation period are read with it "
        "(late arrivals match in the merge); feed rows still unmatched are looked up by id",
    )  # fmt: skip
    recon_alert_rate: float = Field(
        default=0.001, ge=0, le=1,
        description="a reconciliation alert when mismatches over the keys seen pass this (0.1%)",
    )  # fmt: skip
    recon_alert_net_share: float = Field(
        default=0.001, ge=0, le=1,
        description="a reconciliation alert when the net (GGR) difference passes this share "
        "of the ledger's bets (0.1%)",
    )  # fmt: skip
    recon_max_feed_bytes: int = Field(
        default=64 * 1024 * 1024, ge=1024,
        description="largest feed accepted by POST /operator/v1/recon/runs (the CLI has none)",
    )  # fmt: skip
    reports_dir: str = Field(
        default="var/reports", description="where `croupier reconcile` writes its reports"
    )
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR")
    access_log: bool = Field(default=True, description="one JSON log line per API request")

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))
