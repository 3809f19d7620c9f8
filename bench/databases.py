"""Fresh databases for a run: create, migrate, seed players; check the ledger afterwards."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import make_url

from croupier.adapters.db.migrate import make_engine, upgrade
from croupier.adapters.db.verify import verify_ledger
from croupier.bootstrap import currency_table, sync_currencies
from croupier.config import Settings
from croupier.domain.ledger import AccountType
from croupier.domain.wallet import BonusPolicy, Deposit, provider_scope
from croupier.services.ports import WalletStore
from croupier.services.wallet import WalletService

PLAYER_BASE = 10_000_000
"""Player k (1..N) is called str(PLAYER_BASE + k): digits only, so pgbench can compute it."""
CURRENCY = "EUR"
GAME = "bench-slot"
DEPOSIT = 10**10
"""Minor units deposited per player: 100 million EUR, a million bets at the largest stake."""


def player_id(k: int) -> str:
    return str(PLAYER_BASE + k)


class LedgerBroken(AssertionError):
    """The database disagrees with what the benchmark was told: a lost, doubled or bad write."""


async def make_service(store: WalletStore) -> WalletService:
    """A wallet service as the application builds it (bootstrap.wallet_service), on ``store``."""
    table = currency_table(Settings())
    await sync_currencies(store, table)
    return WalletService(store=store, currencies=table, policy=BonusPolicy())


async def seed(service: WalletService, players: int, *, concurrency: int = 8) -> None:
    """Open N wallets one after the other (so cash account ids are evenly spaced), then fund
    them."""
    for k in range(1, players + 1):
        await service.open_wallet(player_id(k), CURRENCY)
    gate = asyncio.Semaphore(concurrency)

    async def fund(k: int) -> None:
        async with gate:
            await service.deposit(
                Deposit(
                    player_id=player_id(k),
                    amount=DEPOSIT,
                    currency=CURRENCY,
                    cashier_ref=f"bench-seed-{k}",
                )
            )

    await fund(1)  # alone: creates the operator's cash account (see load.drive)
    async with asyncio.TaskGroup() as group:
        for k in range(2, players + 1):
            group.create_task(fund(k))


def with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@contextmanager
def postgres_database(admin_url: str, name: str, *, keep: bool = False) -> Iterator[str]:
    """A new database on the server of ``admin_url``, migrated to head; dropped afterwards."""
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(drop)
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_database(admin_url, name)
    try:
        upgrade(url)
        yield url
    finally:
        if not keep:
            with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
                conn.execute(drop)


@contextmanager
def sqlite_database(directory: str | None = None) -> Iterator[str]:
    """A new SQLite file in a temporary directory, migrated to head; removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="croupier-bench-", dir=directory) as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        yield url


def autovacuum_off(url: str) -> None:
    """No autovacuum on the benchmark's tables: a vacuum set off by one run's inserts would be
    charged to whichever run it lands in. ``settle`` vacuums between runs instead."""
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        tables = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
        for (table,) in tables:
            conn.execute(
                sql.SQL("ALTER TABLE {} SET (autovacuum_enabled = off)").format(
                    sql.Identifier(table)
                )
            )


def settle(url: str) -> None:
    """Start each run from the same state: tables vacuumed and analysed, a fresh checkpoint
    (a timed one inside a run, and the full-page writes after it, would charge that run
    alone). CHECKPOINT is skipped without the privilege for it."""
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute("VACUUM ANALYZE")
        with suppress(psycopg.errors.InsufficientPrivilege):
            conn.execute("CHECKPOINT")


def server_version(url: str) -> str:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


@dataclass(frozen=True, slots=True)
class CashLayout:
    """Player k's cash account id is ``first + stride * (k - 1)``, checked for every player."""

    first: int
    stride: int


def cash_layout(url: str, players: int) -> CashLayout:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT owner, id FROM accounts WHERE type = :t AND currency = :c"),
                {"t": AccountType.PLAYER_CASH.value, "c": CURRENCY},
            ).all()
    finally:
        engine.dispose()
    ids = {str(owner): int(account) for owner, account in rows}
    first = ids[player_id(1)]
    stride = ids[player_id(2)] - first if players > 1 else 0
    wrong = [k for k in range(1, players + 1) if ids.get(player_id(k)) != first + stride * (k - 1)]
    if wrong:
        raise LedgerBroken(f"cash accounts are not evenly spaced (players {wrong[:5]}...)")
    return CashLayout(first, stride)


def check_ledger(
    url: str,
    *,
    provider: str,
    acked: int,
    staked: int | None = None,
    wins: int | None = None,
    won: int = 0,
) -> None:
    """Fail loudly unless the ledger verifies and holds exactly the acknowledged bets.

    For ``provider``: as many accepted bet records and rounds as bets acknowledged (nothing
    lost, nothing doubled) and, when ``staked`` is given, the provider's clearing account
    holds exactly the acknowledged stakes. With ``wins`` (the HTTP benchmark: each round a bet
    then a win that closes it), also as many accepted win records and closed rounds as wins
    acknowledged, and the clearing account holds the stakes less ``won``, the sum of the wins.
    """
    engine = make_engine(url)
    try:
        report = verify_ledger(engine)
        with engine.connect() as conn:
            params = {"scope": provider_scope(provider), "owner": provider}
            bets = conn.execute(
                text(
                    "SELECT count(*) FROM wallet_transactions "
                    "WHERE scope = :scope AND kind = 'bet' AND status = 'ok'"
                ),
                params,
            ).scalar_one()
            win_records = conn.execute(
                text(
                    "SELECT count(*) FROM wallet_transactions "
                    "WHERE scope = :scope AND kind = 'win' AND status = 'ok'"
                ),
                params,
            ).scalar_one()
            others = conn.execute(
                text(
                    "SELECT count(*) FROM wallet_transactions WHERE scope = :scope "
                    "AND NOT (kind IN ('bet', 'win') AND status = 'ok')"
                ),
                params,
            ).scalar_one()
            rounds = conn.execute(
                text("SELECT count(*) FROM rounds WHERE scope = :scope"), params
            ).scalar_one()
            closed = conn.execute(
                text("SELECT count(*) FROM rounds WHERE scope = :scope AND status = 'closed'"),
                params,
            ).scalar_one()
            cleared = conn.execute(
                text(
                    "SELECT coalesce(sum(p.amount), 0) FROM postings p "
                    "JOIN accounts a ON a.id = p.account_id "
                    "WHERE a.type = 'provider_clearing' AND a.owner = :owner"
                ),
                params,
            ).scalar_one()
    finally:
        engine.dispose()
    problems = [
        f"ledger check {c.name} failed: {c.violations} violations, e.g. {c.examples[:3]}"
        for c in report.checks
        if not c.ok
    ]
    if bets != acked:
        problems.append(f"{bets} bet records stored for {acked} bets acknowledged")
    if wins is None and win_records:
        problems.append(f"{win_records} win records where no win was sent")
    if wins is not None and win_records != wins:
        problems.append(f"{win_records} win records stored for {wins} wins acknowledged")
    if wins is not None and closed != wins:
        problems.append(f"{closed} rounds closed for {wins} closing wins acknowledged")
    if others:
        problems.append(f"{others} records that are neither accepted bets nor accepted wins")
    if rounds != acked:
        problems.append(f"{rounds} rounds stored for {acked} bets acknowledged (one each)")
    if staked is not None and cleared != staked - won:
        problems.append(
            f"provider clearing holds {cleared}, acknowledged stakes less wins make {staked - won}"
        )
    if problems:
        raise LedgerBroken(f"{provider}: " + "; ".join(problems))
