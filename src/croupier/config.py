"""One typed Settings object, read from CROUPIER_* variables when built, never at import."""

from __future__ import annotations

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

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))
