"""SQLite group commit: calls that are ready together share one COMMIT (one fsync), and each
is answered only after that COMMIT; a failed unit leaves its batch alone, a failed COMMIT
fails the whole batch and writes nothing."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import pytest

from croupier.adapters.db.sqlite import SqliteStore, connect
from croupier.bootstrap import currency_table, sync_currencies
from croupier.config import Settings
from croupier.domain.errors import RetryClass, StorageUnavailable
from croupier.domain.wallet import Bet, BonusPolicy, Deposit
from croupier.services.wallet import WalletService
from tests.conftest import FakeClock, assert_ledger_ok

PLAYERS = 10
FUNDS = 100_000


@pytest.fixture
def url(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "croupier.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
async def store(url: str) -> AsyncIterator[SqliteStore]:
    s = SqliteStore(url)
    yield s
    await s.close()


@pytest.fixture
async def wallet(store: SqliteStore) -> WalletService:
    table = currency_table(Settings())
    await sync_currencies(store, table)
    service = WalletService(store=store, currencies=table, policy=BonusPolicy(), clock=FakeClock())
    for i in range(PLAYERS):
        await service.open_wallet(f"p{i}", "EUR")
        await service.deposit(
            Deposit(player_id=f"p{i}", amount=FUNDS, currency="EUR", cashier_ref=f"d{i}")
        )
    return service


def bet(i: int, tag: str = "b") -> Bet:
    return Bet(
        player_id=f"p{i % PLAYERS}", amount=100, currency="EUR", provider="pv",
        tx_id=f"{tag}{i}", round_id=f"r-{tag}{i}", game_code="g",
    )  # fmt: skip


def outside(url: str, sql: str) -> list[tuple[object, ...]]:
    """What another connection (another process, after a crash) sees: committed rows only."""
    with closing(connect(url.removeprefix("sqlite:///"))) as conn:
        return conn.execute(sql).fetchall()


def bets_committed(url: str) -> int:
    rows = outside(url, "SELECT count(*) FROM wallet_transactions WHERE kind = 'bet'")
    return int(rows[0][0])  # type: ignore[call-overload]


async def test_concurrent_calls_share_commits_and_all_are_durable(
    wallet: WalletService, store: SqliteStore, url: str
) -> None:
    commits, units = store.commits, store.units

    results = await asyncio.gather(*(wallet.place_bet(bet(i)) for i in range(40)))

    assert all(not r.replay for r in results)
    assert store.units - units == 40
    assert store.commits - commits < 40  # grouped: fewer fsyncs than calls
    assert bets_committed(url) == 40  # every answered call is visible from outside
    assert_ledger_ok(url)


async def test_a_call_is_answered_only_after_its_commit(
    wallet: WalletService, store: SqliteStore, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[bool, int]] = []
    calls = [asyncio.ensure_future(wallet.place_bet(bet(i))) for i in range(5)]
    commit = store._execute_commit

    def watched() -> None:
        # At the COMMIT: nobody answered yet, and nothing of the batch visible outside.
        seen.append((any(c.done() for c in calls), bets_committed(url)))
        commit()

    monkeypatch.setattr(store, "_execute_commit", watched)
    await asyncio.gather(*calls)

    assert seen
    assert seen[0] == (False, 0)
    assert bets_committed(url) == 5


async def test_a_failed_commit_fails_every_call_of_its_batch_and_writes_nothing(
    wallet: WalletService, store: SqliteStore, url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = [await wallet.balance(f"p{i}") for i in range(PLAYERS)]
    commit = store._execute_commit
    failures = 0

    def failing() -> None:
        nonlocal failures
        if failures == 0:
            failures += 1
            raise sqlite3.OperationalError("disk I/O error")
        commit()

    monkeypatch.setattr(store, "_execute_commit", failing)
    results = await asyncio.gather(
        *(wallet.place_bet(bet(i)) for i in range(PLAYERS)), return_exceptions=True
    )

    failed = [r for r in results if isinstance(r, BaseException)]
    assert failed
    assert all(isinstance(r, StorageUnavailable) for r in failed)
    assert all(r.retry_class is RetryClass.RETRYABLE for r in failed)  # type: ignore[attr-defined]
    assert bets_committed(url) == PLAYERS - len(failed)
    # The retries of the failed calls are new bets: nothing of the failed batch survived.
    retried = [await wallet.place_bet(bet(i)) for i, r in enumerate(results) if r in failed]
    assert not any(r.replay for r in retried)
    after = [await wallet.balance(f"p{i}") for i in range(PLAYERS)]
    assert [b.cash - a.cash for b, a in zip(before, after, strict=True)] == [100] * PLAYERS
    assert_ledger_ok(url)


async def test_a_failing_unit_is_undone_alone(
    wallet: WalletService, store: SqliteStore, url: str
) -> None:
    class Boom(Exception):
        pass

    async def half_written() -> None:
        async with store.transaction() as tx:
            await tx.create_wallet("ghost", "EUR", now=FakeClock().now)
            raise Boom

    results = await asyncio.gather(
        wallet.place_bet(bet(0)), half_written(), wallet.place_bet(bet(1)),
        return_exceptions=True,
    )  # fmt: skip

    assert isinstance(results[1], Boom)
    assert bets_committed(url) == 2
    assert outside(url, "SELECT count(*) FROM players WHERE id = 'ghost'") == [(0,)]
    assert_ledger_ok(url)


async def test_a_nonce_is_answered_before_its_commit_and_committed_with_the_batch(
    store: SqliteStore, url: str
) -> None:
    sql = "INSERT INTO request_nonces (provider, nonce, expires_at) VALUES ($1, $2, $3)"
    count = "SELECT count(*) FROM request_nonces"

    await store.execute(sql, "acme", "n1", "2030-01-01T00:00:00+00:00", durable=False)
    assert outside(url, count) == [(0,)]  # not committed yet: only the replay window is at risk
    assert await store.fetch(count) == [(1,)]  # a read joins the batch and waits for its commit
    assert outside(url, count) == [(1,)]

    await store.execute(sql, "acme", "n2", "2030-01-01T00:00:00+00:00", durable=False)
    await store.close()  # closing commits what is pending
    assert outside(url, count) == [(2,)]
