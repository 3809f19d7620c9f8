"""Exactly once under concurrency (rule 3): many calls in flight at once on one pool.

The wallet service runs on a PostgreSQL pool of 20 connections, so calls really overlap in
the database and only its locks and constraints keep money right. The first two tests also
run on SQLite, through one shared store.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from croupier.bootstrap import currency_table, sync_currencies
from croupier.config import Settings
from croupier.domain.errors import (
    BetAlreadySettled,
    InsufficientFunds,
    TransactionRolledBack,
)
from croupier.domain.wallet import (
    Bet,
    BonusGrant,
    BonusPolicy,
    Deposit,
    Rollback,
    WalletResult,
    Win,
)
from croupier.services.wallet import WalletService
from tests.conftest import assert_ledger_ok, open_test_store, truncate_postgres

POOL_SIZE = 20
TIMEOUT = 30.0
"""Upper bound for any one burst of calls: a deadlock fails the test instead of hanging it."""


async def make_wallet(url: str) -> WalletService:
    store = await open_test_store(url, pool_size=POOL_SIZE)
    table = currency_table(Settings())
    await sync_currencies(store, table)
    return WalletService(store=store, currencies=table, policy=BonusPolicy())


@pytest.fixture
async def shared_wallet(database_url: str) -> AsyncIterator[WalletService]:
    """SQLite (one store, one connection) or PostgreSQL (a pool of 20), fresh and empty."""
    service = await make_wallet(database_url)
    yield service
    await service.store.close()


@pytest.fixture
def pg_url(postgres_url: str) -> str:
    truncate_postgres(postgres_url)
    return postgres_url


@pytest.fixture
async def pg_wallet(pg_url: str) -> AsyncIterator[WalletService]:
    service = await make_wallet(pg_url)
    yield service
    await service.store.close()


async def all_at_once(calls: list[Callable[[], Awaitable[WalletResult]]]) -> list[object]:
    """Start every call in the same loop turn; results or raised errors, in call order."""
    return await asyncio.wait_for(
        asyncio.gather(*(call() for call in calls), return_exceptions=True), TIMEOUT
    )


def bet(tx_id: str, amount: int, *, player: str = "p1", round_id: str = "r1") -> Bet:
    return Bet(
        player_id=player, amount=amount, currency="EUR", provider="pv", tx_id=tx_id,
        round_id=round_id, game_code="g1",
    )  # fmt: skip


def rollback(tx_id: str, bet_tx_id: str) -> Rollback:
    return Rollback(
        player_id="p1", amount=0, currency="EUR", provider="pv", tx_id=tx_id, bet_tx_id=bet_tx_id
    )


async def funded(wallet: WalletService, player: str, cash: int) -> None:
    await wallet.open_wallet(player, "EUR")
    await wallet.deposit(
        Deposit(player_id=player, amount=cash, currency="EUR", cashier_ref=f"fund-{player}")
    )


def unexpected(outcomes: list[object], *allowed: type) -> list[object]:
    return [o for o in outcomes if not isinstance(o, allowed)]


# -- (a) one call, many times at once -----------------------------------------------------------


async def test_identical_bets_in_flight_debit_exactly_once(
    shared_wallet: WalletService, database_url: str
) -> None:
    await funded(shared_wallet, "p1", 10_000)
    same = bet("b1", 700)

    outcomes = await all_at_once([lambda: shared_wallet.place_bet(same)] * 50)

    assert unexpected(outcomes, WalletResult) == []
    results = [o for o in outcomes if isinstance(o, WalletResult)]
    assert Counter(r.replay for r in results) == {False: 1, True: 49}
    assert {(r.transaction_id, r.balances.cash) for r in results} == {
        (results[0].transaction_id, 9300)
    }
    assert (await shared_wallet.balance("p1")).cash == 9300
    assert_ledger_ok(database_url)


# -- (b) many different bets against a balance that covers half of them -----------------------


async def test_concurrent_bets_never_overdraw(
    shared_wallet: WalletService, database_url: str
) -> None:
    await funded(shared_wallet, "p1", 10_050)
    calls = [
        (lambda i=i: shared_wallet.place_bet(bet(f"b{i}", 100, round_id=f"r{i % 7}")))
        for i in range(200)
    ]

    outcomes = await all_at_once(calls)

    assert unexpected(outcomes, WalletResult, InsufficientFunds) == []
    accepted = [o for o in outcomes if isinstance(o, WalletResult)]
    refused = [o for o in outcomes if isinstance(o, InsufficientFunds)]
    assert (len(accepted), len(refused)) == (100, 100)
    # Each accepted bet saw every earlier one: balances after each form one unbroken sequence.
    assert sorted(r.balances.cash for r in accepted) == list(range(50, 10_050, 100))
    assert {e.details["cash"] for e in refused} == {50}
    assert (await shared_wallet.balance("p1")).cash == 50
    assert_ledger_ok(database_url)


# -- (c) a bet and its rollback racing ------------------------------------------------------------


@pytest.mark.postgres
async def test_bet_and_its_rollback_racing_end_in_a_consistent_state(
    pg_wallet: WalletService, pg_url: str
) -> None:
    start = 10_000
    await funded(pg_wallet, "p1", start)
    pairs = 30
    calls: list[Callable[[], Awaitable[WalletResult]]] = []
    for i in range(pairs):
        place = lambda i=i: pg_wallet.place_bet(bet(f"b{i}", 100, round_id=f"r{i}"))  # noqa: E731
        undo = lambda i=i: pg_wallet.rollback(rollback(f"rb{i}", f"b{i}"))  # noqa: E731
        # Alternate which of the two is sent first, so that both orders are likely.
        calls += [place, undo] if i % 2 == 0 else [undo, place]

    outcomes = await all_at_once(calls)

    seen = Counter()
    for i in range(pairs):
        first, second = outcomes[2 * i], outcomes[2 * i + 1]
        placed, undone = (first, second) if i % 2 == 0 else (second, first)
        assert isinstance(undone, WalletResult), undone
        if isinstance(placed, WalletResult):  # the bet won the race and was reversed
            assert not placed.replay
            assert (undone.outcome, undone.cash_amount) == ("applied", 100)
        else:  # the rollback won: tombstone, and the late bet took nothing
            assert isinstance(placed, TransactionRolledBack), placed
            assert (undone.outcome, undone.cash_amount) == ("tombstone", 0)
        seen[undone.outcome] += 1
    assert sum(seen.values()) == pairs
    # Sending the pairs in alternating order makes both winners show up in practice; this
    # keeps the test from passing on one branch only.
    assert set(seen) == {"applied", "tombstone"}, seen
    assert (await pg_wallet.balance("p1")).cash == start
    assert_ledger_ok(pg_url)


# -- (d) a win and a rollback of the same round racing ---------------------------------------


@pytest.mark.postgres
async def test_win_and_rollback_racing_first_resolution_stands(
    pg_wallet: WalletService, pg_url: str
) -> None:
    start, stake, prize, rounds = 10_000, 100, 250, 20
    await funded(pg_wallet, "p1", start)
    for i in range(rounds):
        await pg_wallet.place_bet(bet(f"b{i}", stake, round_id=f"r{i}"))
    calls: list[Callable[[], Awaitable[WalletResult]]] = []
    for i in range(rounds):
        pay = lambda i=i: pg_wallet.settle_win(  # noqa: E731
            Win(player_id="p1", amount=prize, currency="EUR", provider="pv", tx_id=f"w{i}",
                round_id=f"r{i}", game_code="g1")
        )  # fmt: skip
        undo = lambda i=i: pg_wallet.rollback(rollback(f"rb{i}", f"b{i}"))  # noqa: E731
        calls += [pay, undo] if i % 2 == 0 else [undo, pay]

    outcomes = await all_at_once(calls)

    wins = rollbacks = 0
    for i in range(rounds):
        first, second = outcomes[2 * i], outcomes[2 * i + 1]
        paid, undone = (first, second) if i % 2 == 0 else (second, first)
        if isinstance(paid, WalletResult):
            assert isinstance(undone, BetAlreadySettled), undone
            wins += 1
        else:
            assert isinstance(paid, TransactionRolledBack), paid
            assert isinstance(undone, WalletResult), undone
            assert (undone.outcome, undone.cash_amount) == ("applied", stake)
            rollbacks += 1
    assert wins + rollbacks == rounds
    assert wins > 0, rollbacks  # both resolutions were exercised
    assert rollbacks > 0, wins
    expected = start - stake * rounds + prize * wins + stake * rollbacks
    assert (await pg_wallet.balance("p1")).cash == expected
    assert_ledger_ok(pg_url)


# -- (e) players do not block each other ---------------------------------------------------------


@pytest.mark.postgres
async def test_a_locked_player_does_not_block_another(
    pg_wallet: WalletService, pg_url: str
) -> None:
    await funded(pg_wallet, "a", 1000)
    await funded(pg_wallet, "b", 1000)
    locked, release = asyncio.Event(), asyncio.Event()

    async def hold_lock_on_a() -> None:
        async with pg_wallet.store.transaction() as tx:
            assert await tx.lock_wallet("a") is not None
            locked.set()
            await release.wait()

    holder = asyncio.create_task(hold_lock_on_a())
    await asyncio.wait_for(locked.wait(), TIMEOUT)
    a_bet = asyncio.create_task(pg_wallet.place_bet(bet("ba", 100, player="a", round_id="ra")))

    b_result = await asyncio.wait_for(
        pg_wallet.place_bet(bet("bb", 100, player="b", round_id="rb")), TIMEOUT
    )

    assert b_result.balances.cash == 900
    assert not a_bet.done()  # a's own call waits for a's lock
    release.set()
    a_result = await asyncio.wait_for(a_bet, TIMEOUT)
    await asyncio.wait_for(holder, TIMEOUT)
    assert a_result.balances.cash == 900
    assert_ledger_ok(pg_url)


@pytest.mark.postgres
async def test_many_players_first_bets_in_parallel_all_complete(
    pg_wallet: WalletService, pg_url: str
) -> None:
    players = [f"p{i}" for i in range(30)]
    for player in players:
        await funded(pg_wallet, player, 1000)

    # No bet was ever placed: every call races to create the provider's clearing account.
    outcomes = await all_at_once(
        [
            (lambda p=p, k=k: pg_wallet.place_bet(bet(f"{p}-b{k}", 10, player=p, round_id=p)))
            for p in players
            for k in range(3)
        ]
    )

    assert unexpected(outcomes, WalletResult) == []
    for player in players:
        assert (await pg_wallet.balance(player)).cash == 970
    assert_ledger_ok(pg_url)


@pytest.mark.postgres
async def test_first_deposits_in_parallel_all_complete(
    pg_wallet: WalletService, pg_url: str
) -> None:
    """The operator cash account is created by the first deposit; racing first deposits must
    not post to an account id another transaction has not committed yet."""
    for attempt in range(5):
        truncate_postgres(pg_url)
        pg_wallet.store._house.clear()  # type: ignore[attr-defined]  # as after a restart
        await sync_currencies(pg_wallet.store, pg_wallet.currencies)
        players = [f"d{attempt}-{i}" for i in range(8)]
        for player in players:
            await pg_wallet.open_wallet(player, "EUR")
        outcomes = await all_at_once(
            [
                (lambda p=p: pg_wallet.deposit(
                    Deposit(player_id=p, amount=500, currency="EUR", cashier_ref=f"dep-{p}")
                ))
                for p in players
            ]
        )  # fmt: skip
        assert unexpected(outcomes, WalletResult) == []
        for player in players:
            assert (await pg_wallet.balance(player)).cash == 500
        assert_ledger_ok(pg_url)


async def test_the_first_bets_of_a_player_race_to_create_its_limits_row(
    shared_wallet: WalletService, database_url: str
) -> None:
    """No limits row yet (a bonus grant writes none): twenty concurrent first bets all see
    "no row", one creates it, the others meet the version guard and run again. Every bet
    counts once in the usage, and the ledger balances."""
    wallet = shared_wallet
    await wallet.open_wallet("fresh", "EUR")
    await wallet.grant_bonus(
        BonusGrant(player_id="fresh", amount=100_000, currency="EUR", cashier_ref="bonus-1")
    )
    assert (await wallet.limits("fresh")).version == 0  # no row
    calls = [
        (lambda i=i: wallet.place_bet(
            Bet(player_id="fresh", amount=100, currency="EUR", provider="pv",
                tx_id=f"first-{i}", round_id=f"first-r{i}", game_code="g1")
        ))
        for i in range(20)
    ]  # fmt: skip
    results = await asyncio.wait_for(all_at_once(calls), TIMEOUT)
    assert all(isinstance(r, WalletResult) for r in results), results
    state = await wallet.limits("fresh")
    assert state.usage["wager_day"] == 20 * 100
    assert state.usage["loss_day"] == 20 * 100
    assert (await wallet.balance("fresh")).bonus == 100_000 - 20 * 100
    assert_ledger_ok(database_url)
