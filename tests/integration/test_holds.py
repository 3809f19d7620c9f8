"""Two-phase holds on SQLite and PostgreSQL: reserve cash, then post, void or let expire.

After every step the ledger invariants hold, among them: each player's held balance equals
the sum of the player's pending holds.
"""

from __future__ import annotations

import pytest

from croupier.domain.errors import (
    AmountOutOfRange,
    HoldAmountExceeded,
    HoldExpired,
    HoldNotFound,
    HoldNotPending,
    InsufficientFunds,
    InvalidRequest,
)
from croupier.domain.wallet import Balances, Bet, BonusGrant, Deposit, ReserveHold, Withdrawal
from croupier.services.wallet import WalletService
from tests.conftest import FakeClock, assert_ledger_ok

HOUR = 3600


def reserve(ref: str, amount: int, *, expires_in: int = HOUR) -> ReserveHold:
    return ReserveHold(
        player_id="p1", amount=amount, currency="EUR", cashier_ref=ref,
        expires_in_seconds=expires_in,
    )  # fmt: skip


async def funded(wallet: WalletService, *, cash: int = 1000, bonus: int = 0) -> None:
    await wallet.open_wallet("p1", "EUR")
    await wallet.deposit(Deposit(player_id="p1", amount=cash, currency="EUR", cashier_ref="d1"))
    if bonus:
        await wallet.grant_bonus(
            BonusGrant(player_id="p1", amount=bonus, currency="EUR", cashier_ref="g1")
        )


async def test_reserve_moves_cash_to_held(wallet: WalletService, database_url: str) -> None:
    await funded(wallet)

    reserved = await wallet.reserve_hold(reserve("h1", 400))

    assert reserved.balances == Balances("EUR", 600, 0, 400)
    assert await wallet.balance("p1") == Balances("EUR", 600, 0, 400)
    state = await wallet.hold_state("h1")
    assert (state.status, state.amount, state.posted_amount) == ("pending", 400, 0)
    again = await wallet.reserve_hold(reserve("h1", 400))
    assert again.replay
    assert again.balances == reserved.balances
    assert await wallet.balance("p1") == Balances("EUR", 600, 0, 400)
    assert_ledger_ok(database_url)


async def test_post_in_full(wallet: WalletService, database_url: str) -> None:
    await funded(wallet)
    await wallet.reserve_hold(reserve("h1", 400))

    posted = await wallet.post_hold("h1")

    assert (posted.status, posted.amount, posted.posted_amount) == ("posted", 400, 400)
    assert posted.balances == Balances("EUR", 600, 0, 0)
    assert not posted.replay
    assert await wallet.balance("p1") == Balances("EUR", 600, 0, 0)
    assert (await wallet.hold_state("h1")).status == "posted"
    assert_ledger_ok(database_url)


async def test_post_in_part_returns_the_rest_to_cash(
    wallet: WalletService, database_url: str
) -> None:
    await funded(wallet)
    await wallet.reserve_hold(reserve("h1", 400))

    posted = await wallet.post_hold("h1", 150)

    assert (posted.status, posted.posted_amount) == ("posted", 150)
    assert posted.balances == Balances("EUR", 850, 0, 0)
    assert await wallet.balance("p1") == Balances("EUR", 850, 0, 0)
    assert_ledger_ok(database_url)


async def test_void_returns_everything_to_cash(wallet: WalletService, database_url: str) -> None:
    await funded(wallet)
    await wallet.reserve_hold(reserve("h1", 400))

    voided = await wallet.void_hold("h1")

    assert (voided.status, voided.posted_amount) == ("voided", 0)
    assert voided.balances == Balances("EUR", 1000, 0, 0)
    again = await wallet.void_hold("h1")
    assert again.replay
    assert again.balances == voided.balances
    assert await wallet.balance("p1") == Balances("EUR", 1000, 0, 0)
    assert_ledger_ok(database_url)


async def test_posting_twice_with_same_amount_is_a_replay(
    wallet: WalletService, database_url: str
) -> None:
    await funded(wallet)
    await wallet.reserve_hold(reserve("h1", 400))
    first = await wallet.post_hold("h1", 300)
    await wallet.deposit(Deposit(player_id="p1", amount=50, currency="EUR", cashier_ref="d2"))

    again = await wallet.post_hold("h1", 300)

    assert again.replay
    assert (again.status, again.posted_amount, again.balances) == (
        first.status,
        first.posted_amount,
        first.balances,
    )
    assert await wallet.balance("p1") == Balances("EUR", 750, 0, 0)  # posted once
    with pytest.raises(HoldNotPending):
        await wallet.post_hold("h1", 200)  # another amount is not a replay
    with pytest.raises(HoldNotPending):
        await wallet.void_hold("h1")
    assert_ledger_ok(database_url)


async def test_post_after_void_is_refused(wallet: WalletService, database_url: str) -> None:
    await funded(wallet)
    await wallet.reserve_hold(reserve("h1", 400))
    await wallet.void_hold("h1")

    with pytest.raises(HoldNotPending) as refused:
        await wallet.post_hold("h1")

    assert refused.type is HoldNotPending
    assert refused.value.details["status"] == "voided"
    assert await wallet.balance("p1") == Balances("EUR", 1000, 0, 0)
    assert_ledger_ok(database_url)


async def test_post_of_more_than_reserved_is_refused_and_hold_stays_pending(
    wallet: WalletService, database_url: str
) -> None:
    await funded(wallet)
    await wallet.reserve_hold(reserve("h1", 400))

    with pytest.raises(HoldAmountExceeded) as refused:
        await wallet.post_hold("h1", 401)

    assert refused.value.details["amount"] == 400
    assert (await wallet.hold_state("h1")).status == "pending"
    assert await wallet.balance("p1") == Balances("EUR", 600, 0, 400)
    assert_ledger_ok(database_url)
    assert (await wallet.post_hold("h1", 400)).posted_amount == 400  # still postable in full


async def test_expired_hold_is_released_by_the_sweep(
    wallet: WalletService, clock: FakeClock, database_url: str
) -> None:
    await funded(wallet)
    await wallet.reserve_hold(reserve("h1", 400, expires_in=60))
    await wallet.reserve_hold(reserve("h2", 100, expires_in=HOUR))
    assert await wallet.expire_holds() == 0  # nothing due yet

    clock.advance(61)
    released = await wallet.expire_holds()

    assert released == 1
    assert await wallet.balance("p1") == Balances("EUR", 900, 0, 100)  # h2 still held
    assert (await wallet.hold_state("h1")).status == "expired"
    assert (await wallet.hold_state("h2")).status == "pending"
    assert_ledger_ok(database_url)
    assert await wallet.expire_holds() == 0  # released once

    with pytest.raises(HoldExpired):
        await wallet.post_hold("h1")
    with pytest.raises(HoldExpired):
        await wallet.void_hold("h1")
    assert await wallet.balance("p1") == Balances("EUR", 900, 0, 100)
    assert_ledger_ok(database_url)


async def test_post_after_expiry_before_the_sweep_releases_and_refuses(
    wallet: WalletService, clock: FakeClock, database_url: str
) -> None:
    await funded(wallet)
    await wallet.reserve_hold(reserve("h1", 400, expires_in=60))
    clock.advance(60)  # expires_at <= now: expired

    with pytest.raises(HoldExpired):
        await wallet.post_hold("h1")

    assert (await wallet.hold_state("h1")).status == "expired"
    assert await wallet.balance("p1") == Balances("EUR", 1000, 0, 0)
    assert await wallet.expire_holds() == 0
    assert_ledger_ok(database_url)


async def test_reserve_more_than_cash_is_refused_even_with_bonus(
    wallet: WalletService, database_url: str
) -> None:
    await funded(wallet, cash=100, bonus=1000)

    with pytest.raises(InsufficientFunds) as refused:
        await wallet.reserve_hold(reserve("h1", 101))

    assert (refused.value.details["cash"], refused.value.details["bonus"]) == (100, 1000)
    with pytest.raises(HoldNotFound):
        await wallet.hold_state("h1")
    with pytest.raises(InsufficientFunds) as again:
        await wallet.reserve_hold(reserve("h1", 101))
    assert again.value.details["replay"] is True
    assert await wallet.balance("p1") == Balances("EUR", 100, 1000, 0)
    assert_ledger_ok(database_url)


async def test_malformed_holds_are_refused(wallet: WalletService, database_url: str) -> None:
    await funded(wallet)
    with pytest.raises(AmountOutOfRange):
        await wallet.reserve_hold(reserve("h0", 0))
    with pytest.raises(InvalidRequest):
        await wallet.reserve_hold(reserve("h1", 100, expires_in=0))
    with pytest.raises(HoldNotFound):
        await wallet.post_hold("nope")
    assert await wallet.balance("p1") == Balances("EUR", 1000, 0, 0)
    assert_ledger_ok(database_url)


async def test_held_money_cannot_be_bet_or_withdrawn(
    wallet: WalletService, database_url: str
) -> None:
    await funded(wallet, cash=1000)
    await wallet.reserve_hold(reserve("h1", 800))

    with pytest.raises(InsufficientFunds) as bet_refused:
        await wallet.place_bet(
            Bet(player_id="p1", amount=300, currency="EUR", provider="pv", tx_id="b1",
                round_id="r1", game_code="g1")
        )  # fmt: skip
    assert (bet_refused.value.details["cash"], bet_refused.value.details["bonus"]) == (200, 0)
    with pytest.raises(InsufficientFunds):
        await wallet.withdraw(
            Withdrawal(player_id="p1", amount=300, currency="EUR", cashier_ref="w1")
        )
    with pytest.raises(InsufficientFunds):
        await wallet.reserve_hold(reserve("h2", 300))

    assert await wallet.balance("p1") == Balances("EUR", 200, 0, 800)
    await wallet.void_hold("h1")
    paid = await wallet.withdraw(
        Withdrawal(player_id="p1", amount=300, currency="EUR", cashier_ref="w2")
    )
    assert paid.balances == Balances("EUR", 700, 0, 0)
    assert_ledger_ok(database_url)
