"""The composition root: the currency table, the store and the wallet service, from Settings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar, cast

import iso4217
import pycountry

from croupier.adapters.db.gateway import SqlGatewayStore
from croupier.adapters.db.inbox import SqlInboxStore
from croupier.adapters.db.operator import SqlOperatorStore
from croupier.adapters.db.postgres import PostgresStore
from croupier.adapters.db.recon import SqlReconStore
from croupier.adapters.db.runner import SqlRunner
from croupier.adapters.db.sqlite import SqliteStore
from croupier.adapters.db.stuck import SqlStuckStore
from croupier.adapters.db.timeouts import SqlTimeoutStore
from croupier.adapters.providers.native import NativeV1
from croupier.adapters.redis_nonces import RedisNonceStore
from croupier.adapters.rule_packs import load_rule_packs
from croupier.adapters.spill import Spill
from croupier.adapters.webhook_events import WebhookEventParser
from croupier.api.alerts import AlertRecorder
from croupier.api.app import ProviderFastPath, create_app
from croupier.api.metrics import Metrics
from croupier.api.operator import OperatorApi
from croupier.api.recon import ReconApi
from croupier.api.webhooks import webhook_routes
from croupier.config import Settings
from croupier.domain.errors import ConfigurationError
from croupier.domain.money import CurrencyTable, parse_decimal
from croupier.domain.recon import Row, Thresholds, pack_row, unpack_row
from croupier.domain.signals import SignalRules
from croupier.domain.timeouts import TimeoutAction, TimeoutPolicy
from croupier.domain.wallet import BonusPolicy
from croupier.services.catalogue import CatalogueService
from croupier.services.gateway_ports import NonceStore
from croupier.services.inbox import InboxService, InboxWorker, RetryPolicy
from croupier.services.keys import KeyService
from croupier.services.launch import LaunchService
from croupier.services.operator_keys import OperatorKeyService
from croupier.services.players import PlayerService
from croupier.services.ports import WalletStore
from croupier.services.protection import ProtectionService
from croupier.services.recon import ReconService
from croupier.services.sessions import SessionService
from croupier.services.stuck import StuckService
from croupier.services.timeouts import TimeoutService
from croupier.services.wallet import WalletService

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on uvloop where it is installed (Linux, macOS), else asyncio's loop.

    uvloop halves the event loop's share of a bet's CPU (measured in bench/).
    """
    try:
        import uvloop  # noqa: PLC0415 - optional: absent on Windows
    except ImportError:  # pragma: no cover - only where uvloop is not installed
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def iso_currencies() -> dict[str, int]:
    """ISO 4217 currencies with a defined minor unit, from the maintained iso4217 package.

    Funds and precious metals (XAU, XDR...) have no minor unit and are left out.
    """
    return {c.code: c.exponent for c in iso4217.Currency if c.exponent is not None}


def iso_countries() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes, from the maintained pycountry package."""
    return frozenset(c.alpha_2 for c in pycountry.countries)


def iso_subdivisions() -> frozenset[str]:
    """ISO 3166-2 subdivision codes (CA-ON, GB-ENG, DE-BY...), from pycountry."""
    return frozenset(s.code for s in pycountry.subdivisions)


def currency_table(settings: Settings) -> CurrencyTable:
    return CurrencyTable.build(
        fiat=iso_currencies(),
        crypto=settings.crypto_precisions,
        max_major_amount=settings.max_major_amount,
    )


async def open_store(settings: Settings) -> WalletStore:
    if settings.is_postgres:
        return await PostgresStore.connect(settings.database_url, max_size=settings.pool_max_size)
    return SqliteStore(settings.database_url)


async def sync_currencies(store: WalletStore, table: CurrencyTable) -> None:
    """Record each currency's precision; refuse to start if one changed since first use.

    Amounts already stored are integers at the old precision: reading them at a new one would
    multiply or divide every balance by a power of ten.
    """
    rows = [(c.code, c.exponent, c.kind.value) for c in table.values()]
    async with store.transaction() as tx:
        stored = await tx.ensure_currencies(rows)
    changed = {
        code: (stored[code], table[code].exponent)
        for code in table
        if code in stored and stored[code] != table[code].exponent
    }
    if changed:
        raise ConfigurationError(
            "currency precision differs from the one the ledger was written with "
            f"(stored, configured): {changed}"
        )


@asynccontextmanager
async def wallet_service(settings: Settings) -> AsyncIterator[WalletService]:
    """A ready wallet service on the configured database (migrated beforehand)."""
    table = currency_table(settings)
    store = await open_store(settings)
    try:
        await sync_currencies(store, table)
        yield WalletService(
            store=store,
            currencies=table,
            policy=BonusPolicy(stake_order=settings.stake_order, win_split=settings.win_split),
        )
    finally:
        await store.close()


@dataclass(frozen=True, slots=True)
class Gateway:
    """Everything the API and the jobs need, wired to one database."""

    settings: Settings
    wallet: WalletService
    keys: KeyService
    sessions: SessionService
    nonces: NonceStore
    native: NativeV1
    metrics: Metrics
    operator_keys: OperatorKeyService
    players: PlayerService
    catalogue: CatalogueService
    protection: ProtectionService
    launcher: LaunchService
    alerts: AlertRecorder
    inbox: InboxService
    inbox_worker: InboxWorker
    timeouts: TimeoutService
    recon: ReconService
    stuck: StuckService

    def app(self) -> ProviderFastPath:
        operator = OperatorApi(
            keys=self.operator_keys,
            players=self.players,
            catalogue=self.catalogue,
            wallet=self.wallet,
            launcher=self.launcher,
            protection=self.protection,
            metrics=self.metrics,
            max_body_bytes=self.settings.max_body_bytes,
            stuck=self.stuck,
            recon=ReconApi(self.recon, max_feed_bytes=self.settings.recon_max_feed_bytes),
            delivery_body=self.inbox.store.delivery_body,
        )
        return create_app(
            [self.native],
            metrics=self.metrics,
            max_body_bytes=self.settings.max_body_bytes,
            access_log=self.settings.access_log,
            known_provider=self.keys.known,
            routes=[
                *operator.routes(),
                *webhook_routes(self.inbox, self.metrics, self.settings.max_body_bytes),
            ],
            on_refusal=self.alerts.refused,
        )


def row_spill() -> Spill[Row]:
    """Reconciliation's sorter: rows by key and line, 100,000 at a time in memory, spilled
    as plain tuples (ten times cheaper to pickle than the dataclass)."""
    return Spill(key=lambda r: (r.key, r.line), pack=pack_row, unpack=unpack_row)


@asynccontextmanager
async def gateway(settings: Settings) -> AsyncIterator[Gateway]:
    """The wallet service plus keys, nonces, sessions and the native protocol adapter."""
    async with wallet_service(settings) as wallet:
        store = SqlGatewayStore(cast(SqlRunner, wallet.store))
        redis = RedisNonceStore(settings.redis_url) if settings.redis_url else None
        sessions = SessionService(store, wallet, token_seconds=settings.session_token_seconds)
        keys = KeyService(store, cache_seconds=settings.key_cache_seconds)
        nonces: NonceStore = redis or store
        native = NativeV1(
            wallet=wallet,
            sessions=sessions,
            keys=keys,
            nonces=nonces,
            currencies=wallet.currencies,
            window_seconds=settings.signature_window_seconds,
        )
        operator_store = SqlOperatorStore(cast(SqlRunner, wallet.store))
        players = PlayerService(
            operator_store, wallet, countries=iso_countries(), subdivisions=iso_subdivisions()
        )
        metrics = Metrics()
        rules = SignalRules(
            bets_per_minute=settings.alert_bets_per_minute,
            big_win_amounts={
                code: parse_decimal(amount, wallet.currencies.get_currency(code))
                for code, amount in settings.alert_big_win_amounts.items()
            },
            big_win_multiple=settings.alert_big_win_multiple,
            refusals_per_minute=settings.alert_refusals_per_minute,
        )
        recorder = AlertRecorder(operator_store, metrics, rules, clock=wallet.clock)
        wallet.signals, wallet.alerts = rules, recorder
        catalogue = CatalogueService(operator_store, clock=wallet.clock)
        inbox_store = SqlInboxStore(cast(SqlRunner, wallet.store))
        protection = ProtectionService(
            operator_store, sessions, clock=wallet.clock,
            cooling=timedelta(hours=settings.limit_increase_hours),
        )  # fmt: skip
        launcher = LaunchService(
            players=players, catalogue=catalogue, sessions=sessions, keys=keys,
            protection=protection, packs=load_rule_packs(wallet.currencies, settings.rules_dir),
            clock=wallet.clock, url_seconds=settings.launch_url_seconds,
        )  # fmt: skip
        timeouts = TimeoutService(
            SqlTimeoutStore(cast(SqlRunner, wallet.store)), wallet,
            default=TimeoutPolicy(settings.round_timeout_seconds,
                                  TimeoutAction(settings.round_timeout_action)),
            clock=wallet.clock, alerts=recorder,
            observe=lambda r: metrics.observe_timeouts(r.actions, r.stuck_sessions),
        )  # fmt: skip
        stuck = StuckService(
            SqlStuckStore(cast(SqlRunner, wallet.store)), timeouts,
            WebhookEventParser(wallet.currencies), wallet.clock,
        )  # fmt: skip
        try:
            yield Gateway(
                settings, wallet, keys, sessions, nonces, native, metrics,
                OperatorKeyService(operator_store, clock=wallet.clock), players, catalogue,
                protection, launcher, recorder,
                InboxService(
                    inbox_store, clock=wallet.clock, native_secret=keys.verifying_secret,
                    native_window_seconds=settings.signature_window_seconds,
                ),
                InboxWorker(
                    inbox_store, wallet, WebhookEventParser(wallet.currencies), clock=wallet.clock,
                    policy=RetryPolicy(budget=settings.inbox_retry_budget,
                                       lease_seconds=settings.inbox_lease_seconds),
                ),
                timeouts,
                ReconService(
                    SqlReconStore(cast(SqlRunner, wallet.store)), wallet, spill=row_spill,
                    clock=wallet.clock, alerts=recorder,
                    thresholds=Thresholds(settings.recon_alert_rate,
                                          settings.recon_alert_net_share),
                    margin=timedelta(hours=settings.recon_margin_hours),
                ),
                stuck,
            )  # fmt: skip
        finally:
            if redis is not None:
                await redis.close()
