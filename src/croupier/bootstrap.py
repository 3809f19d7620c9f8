"""The composition root: the currency table, the store and the wallet service, from Settings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import iso4217

from croupier.adapters.db.postgres import PostgresStore
from croupier.adapters.db.sqlite import SqliteStore
from croupier.config import Settings
from croupier.domain.errors import ConfigurationError
from croupier.domain.money import CurrencyTable
from croupier.domain.wallet import BonusPolicy
from croupier.services.ports import WalletStore
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
