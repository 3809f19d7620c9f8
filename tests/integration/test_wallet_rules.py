"""The money contract (WALLET_SEMANTICS.md), one rule at a time, on SQLite and PostgreSQL.

Every test drives the wallet service the way a provider adapter would and checks both the
answer and what reached the database: row counts where a call must write nothing, and the
ledger invariants (``verify_ledger``) after every test that moved money.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import sqlalchemy as sa

from croupier.adapters.db.migrate import make_engine
from croupier.domain.errors import (
    AmountOutOfRange,
    BetAlreadySettled,
    BetNotFound,
    CurrencyMismatch,
    IdempotencyMismatch,
    InsufficientFunds,
    InvalidAmount,
    InvalidRequest,
    PlayerBlocked,
    PlayerExists,
    PlayerNotFound,
    RetryClass,
    RollbackNotAllowed,
    RoundClosed,
    RoundMismatch,
    TransactionRolledBack,
    UnknownCurrency,
)
from croupier.domain.wallet import (
    Balances,
    Bet,
    BonusGrant,
    Deposit,
    EndRound,
    Rollback,
    TxKind,
    Win,
    Withdrawal,
)
from croupier.services.wallet import WalletService
from tests.conftest import assert_ledger_ok

COUNTED_TABLES = ("wallet_transactions", "journal_entries", "postings", "rounds", "holds")


class Ledger:
    """The database under the ``wallet`` fixture, read directly: invariants and row counts."""

    def __init__(self, url: str) -> None:
        self.url = url

    def assert_ok(self) -> None:
        assert_ledger_ok(self.url)

    def counts(self) -> dict[str, int]:
        engine = make_engine(self.url)
        try:
            with engine.connect() as conn:
                return {
                    t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()  # noqa: S608
                    for t in COUNTED_TABLES
                }
        finally:
            engine.dispose()


@pytest.fixture
def ledger(database_url: str) -> Ledger:
    return Ledger(database_url)


# -- command builders ------------------------------------------------------------------------


def bet(
    tx_id: str,
    amount: int,
    *,
    player: str = "p1",
    round_id: str = "r1",
    game: str = "g1",
    currency: str = "EUR",
    provider: str = "pv",
) -> Bet:
    return Bet(
        player_id=player,
        amount=amount,
        currency=currency,
        provider=provider,
        tx_id=tx_id,
        round_id=round_id,
        game_code=game,
    )


def win(
    tx_id: str,
    amount: int,
    *,
    player: str = "p1",
    round_id: str = "r1",
    game: str = "g1",
    currency: str = "EUR",
    bet_tx_id: str | None = None,
    close: bool = False,
) -> Win:
    return Win(
        player_id=player,
        amount=amount,
        currency=currency,
        provider="pv",
        tx_id=tx_id,
        round_id=round_id,
        game_code=game,
        bet_tx_id=bet_tx_id,
        close_round=close,
    )


def rollback(
    tx_id: str, bet_tx_id: str, *, player: str = "p1", amount: int = 0, currency: str = "EUR"
) -> Rollback:
    return Rollback(
        player_id=player,
        amount=amount,
        currency=currency,
        provider="pv",
        tx_id=tx_id,
        bet_tx_id=bet_tx_id,
    )


def end_round(tx_id: str, *, player: str = "p1", round_id: str = "r1") -> EndRound:
    return EndRound(
        player_id=player, currency="EUR", provider="pv", tx_id=tx_id, round_id=round_id,
        game_code="g1",
    )  # fmt: skip


def deposit(ref: str, amount: int, *, player: str = "p1", currency: str = "EUR") -> Deposit:
    return Deposit(player_id=player, amount=amount, currency=currency, cashier_ref=ref)


async def funded(
    wallet: WalletService,
    player: str = "p1",
    *,
    cash: int = 1000,
    bonus: int = 0,
    currency: str = "EUR",
) -> Balances:
    """Open a wallet and put cash and bonus in it through the cashier."""
    await wallet.open_wallet(player, currency)
    tag = player[:16]
    if cash:
        await wallet.deposit(deposit(f"fund-{tag}", cash, player=player, currency=currency))
    if bonus:
        await wallet.grant_bonus(
            BonusGrant(player_id=player, amount=bonus, currency=currency,
                       cashier_ref=f"bonus-{tag}")
        )  # fmt: skip
    balances = await wallet.balance(player)
    assert (balances.cash, balances.bonus) == (cash, bonus)
    return balances


# -- rule 1: idempotent replay ----------------------------------------------------------------


async def test_bet_replay_returns_original_result_after_balance_moved(
    wallet: WalletService, ledger: Ledger
) -> None:
    await funded(wallet)
    first = await wallet.place_bet(bet("b1", 300))
    assert not first.replay
    assert first.balances.cash == 700
    await wallet.deposit(deposit("d2", 5000))
    await wallet.place_bet(bet("b2", 100))
    counts = ledger.counts()

    again = await wallet.place_bet(bet("b1", 300))

    assert again.replay
    assert replace(again, replay=False) == first  # same id, same balances as first answered
    assert (await wallet.balance("p1")).cash == 1000 - 300 + 5000 - 100
    assert ledger.counts() == counts
    ledger.assert_ok()


async def test_win_replay_returns_original_result(wallet: WalletService, ledger: Ledger) -> None:
    await funded(wallet)
    await wallet.place_bet(bet("b1", 300))
    first = await wallet.settle_win(win("w1", 500))
    assert first.balances.cash == 1200
    await wallet.place_bet(bet("b2", 200, round_id="r2"))
    counts = ledger.counts()

    again = await wallet.settle_win(win("w1", 500))

    assert again.replay
    assert replace(again, replay=False) == first
    assert (await wallet.balance("p1")).cash == 1000
    assert ledger.counts() == counts
    ledger.assert_ok()


async def test_rollback_replay_returns_original_result(
    wallet: WalletService, ledger: Ledger
) -> None:
    await funded(wallet)
    await wallet.place_bet(bet("b1", 300))
    first = await wallet.rollback(rollback("rb1", "b1"))
    assert (first.outcome, first.balances.cash, first.cash_amount) == ("applied", 1000, 300)
    await wallet.place_bet(bet("b2", 400, round_id="r2"))
    counts = ledger.counts()

    again = await wallet.rollback(rollback("rb1", "b1"))

    assert again.replay
    assert replace(again, replay=False) == first
    assert (await wallet.balance("p1")).cash == 600
    assert ledger.counts() == counts
    ledger.assert_ok()


async def test_deposit_replay_returns_original_result(
    wallet: WalletService, ledger: Ledger
) -> None:
    await wallet.open_wallet("p1", "EUR")
    first = await wallet.deposit(deposit("d1", 1000))
    await wallet.place_bet(bet("b1", 250))
    counts = ledger.counts()

    again = await wallet.deposit(deposit("d1", 1000))

    assert again.replay
    assert replace(again, replay=False) == first
    assert again.balances.cash == 1000
    assert (await wallet.balance("p1")).cash == 750  # not deposited twice
    assert ledger.counts() == counts
    ledger.assert_ok()


async def test_insufficient_funds_refusal_replays_with_original_balances(
    wallet: WalletService, ledger: Ledger
) -> None:
    await funded(wallet, cash=100, bonus=20)
    with pytest.raises(InsufficientFunds) as first:
        await wallet.place_bet(bet("b1", 500))
    assert not first.value.details.get("replay")
    assert first.value.retry_class is RetryClass.FINAL
    await wallet.deposit(deposit("d2", 10_000))  # the bet would be affordable now

    with pytest.raises(InsufficientFunds) as again:
        await wallet.place_bet(bet("b1", 500))

    assert again.value.details["replay"] is True
    assert (again.value.details["cash"], again.value.details["bonus"]) == (100, 20)
    assert again.value.message == first.value.message
    assert (await wallet.balance("p1")).cash == 10_100
    ledger.assert_ok()


# -- rule 2: mismatch --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 301},
        {"round_id": "r-other"},
        {"player_id": "p2"},
        {"game_code": "g-other"},
        {"currency": "USD"},
    ],
    ids=["amount", "round", "player", "game", "currency"],
)
async def test_same_bet_id_with_different_content_is_a_mismatch(
    wallet: WalletService, ledger: Ledger, change: dict[str, Any]
) -> None:
    await funded(wallet)
    await funded(wallet, "p2", currency="EUR")
    original = bet("b1", 300)
    await wallet.place_bet(original)
    counts = ledger.counts()
    balances = {p: await wallet.balance(p) for p in ("p1", "p2")}

    with pytest.raises(IdempotencyMismatch) as refused:
        await wallet.place_bet(replace(original, **change))

    assert refused.value.details["existing_kind"] == "bet"
    assert ledger.counts() == counts
    assert {p: await wallet.balance(p) for p in ("p1", "p2")} == balances
    ledger.assert_ok()


async def test_win_naming_another_bet_under_same_id_is_a_mismatch(
    wallet: WalletService, ledger: Ledger
) -> None:
    await funded(wallet)
    await wallet.place_bet(bet("b1", 100))
    await wallet.place_bet(bet("b2", 100))
    await wallet.settle_win(win("w1", 50, bet_tx_id="b1"))
    counts = ledger.counts()

    with pytest.raises(IdempotencyMismatch):
        await wallet.settle_win(win("w1", 50, bet_tx_id="b2"))
    with pytest.raises(IdempotencyMismatch):
        await wallet.settle_win(win("w1", 50, bet_tx_id="b1", close=True))

    assert ledger.counts() == counts
    assert (await wallet.balance("p1")).cash == 850
    ledger.assert_ok()


async def test_rollback_id_reused_for_another_bet_is_a_mismatch(
    wallet: WalletService, ledger: Ledger
) -> None:
    await funded(wallet)
    await wallet.place_bet(bet("b1", 100))
    await wallet.place_bet(bet("b2", 200, round_id="r2"))
    await wallet.rollback(rollback("rb1", "b1"))
    counts = ledger.counts()

    with pytest.raises(IdempotencyMismatch):
        await wallet.rollback(rollback("rb1", "b2"))

    assert ledger.counts() == counts
    assert (await wallet.balance("p1")).cash == 800  # b2 still taken
    ledger.assert_ok()


async def test_deposit_ref_reused_with_other_amount_is_a_mismatch(
    wallet: WalletService, ledger: Ledger
) -> None:
    await funded(wallet)
    counts = ledger.counts()
    with pytest.raises(IdempotencyMismatch):
        await wallet.deposit(deposit("fund-p1", 2000))
    assert ledger.counts() == counts
    assert (await wallet.balance("p1")).cash == 1000


# -- rule 4: rollback before bet --------------------------------------------------------------


async def test_rollback_before_bet_leaves_tombstone_and_refuses_the_late_bet(
    wallet: WalletService, ledger: Ledger
) -> None:
    await funded(wallet)
    counts = ledger.counts()

    early = await wallet.rollback(rollback("rb1", "b1"))

    assert early.outcome == "tombstone"
    assert (early.cash_amount, early.bonus_amount) == (0, 0)
    assert early.balances.cash == 1000
    after = ledger.counts()
    assert after["wallet_transactions"] == counts["wallet_transactions"] + 2  # rollback + stone
    assert after["postings"] == counts["postings"]

    with pytest.raises(TransactionRolledBack) as late:
        await wallet.place_bet(bet("b1", 300))
    assert late.value.details["rollback_tx_id"] == "rb1"
    with pytest.raises(TransactionRolledBack):
        await wallet.place_bet(bet("b1", 300))  # a retry of the late bet: refused again

    assert (await wallet.balance("p1")).cash == 1000
    assert ledger.counts() == after
    # The round the refused bet named was never opened: a win on it has no bet.
    with pytest.raises(BetNotFound):
        await wallet.settle_win(win("w1", 100))
    ledger.assert_ok()


# -- rule 5: rollback after win; rollback twice --------------------------------------------------


async def test_rollback_after_win_is_refused(wallet: WalletService, ledger: Ledger) -> None:
    await funded(wallet)
    await wallet.place_bet(bet("b1", 300))
    await wallet.settle_win(win("w1", 100))
    counts = ledger.counts()

    with pytest.raises(BetAlreadySettled):
        await wallet.rollback(rollback("rb1", "b1"))

    assert (await wallet.balance("p1")).cash == 800
    assert ledger.counts() == counts
    ledger.assert_ok()


async def test_rollback_of_bet_in_closed_round_is_refused(
    wallet: WalletService, ledger: Ledger
) -> None:
    await funded(wallet)
    await wallet.place_bet(bet("b1", 300))
    await wallet.end_round(end_round("e1"))
    counts = ledger.counts()

    with pytest.raises(BetAlreadySettled):
        await wallet.rollback(rollback("rb1", "b1"))

    assert (await wallet.balance("p1")).cash == 700
    assert ledger.counts() == counts
    ledger.assert_ok()


async def test_second_rollback_of_a_bet_under_another_id_is_a_replay(
    wallet: WalletService, ledger: Ledger
) -> None:
    await funded(wallet)
    await wallet.place_bet(bet("b1", 300))
    first = await wallet.rollback(rollback("rb1", "b1"))
    counts = ledger.counts()

    second = await wallet.rollback(rollback("rb2", "b1"))

    assert second.replay
    assert replace(second, replay=False) == first
    assert (await wallet.balance("p1")).cash == 1000  # refunded once
    assert ledger.counts() == counts
    ledger.assert_ok()


async def test_rollback_naming_another_players_rolled_back_bet_is_refused(
    wallet: WalletService, ledger: Ledger
) -> None:
    """The replay of rule 5 is for the bet's own player: another player's call naming a bet
    that was rolled back gets a refusal, not the first rollback's answer (and balances)."""
    await funded(wallet)
    await funded(wallet, "p2")
    await wallet.place_bet(bet("b1", 300))
    await wallet.rollback(rollback("rb1", "b1"))
    counts = ledger.counts()

    with pytest.raises(RollbackNotAllowed):
        await wallet.rollback(rollback("rb2", "b1", player="p2"))

    assert ledger.counts() == counts
    assert (await wallet.balance("p1")).cash == 1000
    assert (await wallet.balance("p2")).cash == 1000
    ledger.assert_ok()


async def test_rollback_of_a_refused_bet_reverses_nothing(
    wallet: WalletService, ledger: Ledger
) -> None:
    await funded(wallet, cash=100)
    with pytest.raises(InsufficientFunds):
        await wallet.place_bet(bet("b1", 500))
    counts = ledger.counts()

    result = await wallet.rollback(rollback("rb1", "b1"))

    assert result.outcome == "nothing_to_reverse"
    assert (result.cash_amount, result.bonus_amount) == (0, 0)
    assert result.balances.cash == 100
    assert (await wallet.balance("p1")).cash == 100
    after = ledger.counts()
    assert after["postings"] == counts["postings"]
    assert after["wallet_transactions"] == counts["wallet_transactions"] + 1
    ledger.assert_ok()


# -- rule 6: win without a bet, or against a rolled-back bet --------------------------------


async def test_win_without_bet_is_refused(wallet: WalletService, ledger: Ledger) -> None:
    await funded(wallet)
    counts = ledger.counts()
    with pytest.raises(BetNotFound) as refused:
        await wallet.settle_win(win("w1", 100))
    assert refused.value.retry_class is RetryClass.FINAL
    assert ledger.counts() == counts
    assert (await wallet.balance("p1")).cash == 1000


async def test_win_naming_an_unknown_bet_is_refused(wallet: WalletService, ledger: Ledger) -> None:
    await funded(wallet)
    await wallet.place_bet(bet("b1", 100))
    with pytest.raises(BetNotFound):
        await wallet.settle_win(win("w1", 100, bet_tx_id="nope"))
    assert (await wallet.balance("p1")).cash == 900
    ledger.assert_ok()


async def test_win_on_round_whose_every_bet_was_rolled_back(
    wallet: WalletService, ledger: Ledger
) -> None:
    await funded(wallet)
    await wallet.place_bet(bet("b1", 100))
    await wallet.place_bet(bet("b2", 200))
    await wallet.rollback(rollback("rb1", "b1"))
    await wallet.rollback(rollback("rb2", "b2"))
    counts = ledger.counts()

    with pytest.raises(TransactionRolledBack):
        await wallet.settle_win(win("w1", 500))

    assert (await wallet.balance("p1")).cash == 1000
    assert ledger.counts() == counts
    ledger.assert_ok()


async def test_win_naming_a_rolled_back_bet_is_refused(
    wallet: WalletService, ledger: Ledger
) -> None:
    await funded(wallet)
    await wallet.place_bet(bet("b1", 100))
    await wallet.place_bet(bet("b2", 200))  # keeps the round alive
    await wallet.rollback(rollback("rb1", "b1"))
    await wallet.rollback(rollback("rb3", "b3"))  # b3 never arrives: tombstone
    counts = ledger.counts()

    with pytest.raises(TransactionRolledBack):
        await wallet.settle_win(win("w1", 500, bet_tx_id="b1"))
    with pytest.raises(TransactionRolledBack):
        await wallet.settle_win(win("w2", 500, bet_tx_id="b3"))

    assert (await wallet.balance("p1")).cash == 800
    assert ledger.counts() == counts
    paid = await wallet.settle_win(win("w3", 500, bet_tx_id="b2"))  # the live bet still pays
    assert paid.balances.cash == 1300
    ledger.assert_ok()


# -- rule 7: closed rounds ---------------------------------------------------------------------


async def test_bet_on_closed_round_is_a_stored_refusal(
    wallet: WalletService, ledger: Ledger
) -> None:
    await funded(wallet)
    await wallet.place_bet(bet("b1", 100))
    await wallet.settle_win(win("w1", 50, close=True))

    with pytest.raises(RoundClosed) as refused:
        await wallet.place_bet(bet("b2", 100))
    assert not refused.value.details.get("replay")
    assert refused.value.details["cash"] == 950
    await wallet.deposit(deposit("d2", 1000))
    counts = ledger.counts()

    with pytest.raises(RoundClosed) as again:
        await wallet.place_bet(bet("b2", 100))

    assert again.value.details["replay"] is True
    assert again.value.details["cash"] == 950  # the balance of the original answer
    assert (await wallet.balance("p1")).cash == 1950
    assert ledger.counts() == counts
    ledger.assert_ok()


async def test_win_after_round_closed_is_refused(wallet: WalletService, ledger: Ledger) -> None:
    await funded(wallet)
    await wallet.place_bet(bet("b1", 100))
    closed = await wallet.end_round(end_round("e1"))
    assert (closed.outcome, closed.round_closed) == ("applied", True)
    counts = ledger.counts()

    with pytest.raises(RoundClosed):
        await wallet.settle_win(win("w1", 500))

    assert (await wallet.balance("p1")).cash == 900
    assert ledger.counts() == counts
    ledger.assert_ok()


async def test_ending_a_round_twice(wallet: WalletService, ledger: Ledger) -> None:
    await funded(wallet)
    await wallet.place_bet(bet("b1", 100))
    first = await wallet.end_round(end_round("e1"))
    second = await wallet.end_round(end_round("e2"))
    replayed = await wallet.end_round(end_round("e1"))

    assert first.outcome == "applied"
    assert (second.outcome, second.replay, second.round_closed) == ("already_closed", False, True)
    assert replayed.replay
    assert replace(replayed, replay=False) == first
    assert (await wallet.balance("p1")).cash == 900
    ledger.assert_ok()


async def test_round_of_another_player_is_refused(wallet: WalletService, ledger: Ledger) -> None:
    await funded(wallet)
    await funded(wallet, "p2")
    await wallet.place_bet(bet("b1", 100))
    counts = ledger.counts()

    with pytest.raises(RoundMismatch) as refused:
        await wallet.place_bet(bet("b2", 100, player="p2"))
    assert refused.value.details["round_id"] == "r1"
    with pytest.raises(RoundMismatch):
        await wallet.settle_win(win("w1", 100, player="p2"))
    with pytest.raises(RoundMismatch):
        await wallet.end_round(end_round("e1", player="p2"))
    with pytest.raises(RoundMismatch):
        await wallet.place_bet(bet("b3", 100, game="g-other"))  # same player, other game

    assert ledger.counts() == counts
    assert (await wallet.balance("p1")).cash == 900
    assert (await wallet.balance("p2")).cash == 1000
    ledger.assert_ok()


# -- rule 8: insufficient funds ---------------------------------------------------------------


async def test_insufficient_funds_reports_cash_and_bonus(
    wallet: WalletService, ledger: Ledger
) -> None:
    await funded(wallet, cash=100, bonus=50)
    counts = ledger.counts()

    with pytest.raises(InsufficientFunds) as refused:
        await wallet.place_bet(bet("b1", 151))

    details = refused.value.details
    assert (details["currency"], details["cash"], details["bonus"]) == ("EUR", 100, 50)
    after = ledger.counts()
    assert after["postings"] == counts["postings"]
    assert after["rounds"] == counts["rounds"]  # a refused bet opens no round
    ok = await wallet.place_bet(bet("b2", 150))  # exactly the playable balance is fine
    assert (ok.balances.cash, ok.balances.bonus) == (0, 0)
    ledger.assert_ok()


# -- rule 10: bonus split ---------------------------------------------------------------------


async def test_bet_takes_cash_first_and_win_returns_in_proportion(
    wallet: WalletService, ledger: Ledger
) -> None:
    await funded(wallet, cash=1000, bonus=500)

    staked = await wallet.place_bet(bet("b1", 1200))
    assert (staked.cash_amount, staked.bonus_amount) == (1000, 200)
    assert (staked.balances.cash, staked.balances.bonus) == (0, 300)

    paid = await wallet.settle_win(win("w1", 600))
    assert (paid.cash_amount, paid.bonus_amount) == (500, 100)
    assert (paid.balances.cash, paid.balances.bonus) == (500, 400)
    balances = await wallet.balance("p1")
    assert (balances.cash, balances.bonus) == (500, 400)
    ledger.assert_ok()


async def test_rollback_returns_stake_to_the_balances_it_came_from(
    wallet: WalletService, ledger: Ledger
) -> None:
    await funded(wallet, cash=100, bonus=500)
    await wallet.place_bet(bet("b1", 300))
    undone = await wallet.rollback(rollback("rb1", "b1"))
    assert (undone.cash_amount, undone.bonus_amount) == (100, 200)
    assert (undone.balances.cash, undone.balances.bonus) == (100, 500)
    ledger.assert_ok()


# -- blocked and unknown players ---------------------------------------------------------------


async def test_blocked_player_cannot_bet_or_deposit_but_open_rounds_settle(
    wallet: WalletService, ledger: Ledger
) -> None:
    await funded(wallet)
    await wallet.place_bet(bet("b1", 100, round_id="r1"))
    await wallet.place_bet(bet("b2", 200, round_id="r2"))
    await wallet.set_blocked("p1", blocked=True)
    counts = ledger.counts()

    with pytest.raises(PlayerBlocked) as refused:
        await wallet.place_bet(bet("b3", 100, round_id="r1"))
    assert refused.value.retry_class is RetryClass.FATAL
    with pytest.raises(PlayerBlocked):
        await wallet.deposit(deposit("d2", 100))
    with pytest.raises(PlayerBlocked):
        await wallet.withdraw(Withdrawal(player_id="p1", amount=10, currency="EUR",
                                         cashier_ref="wd1"))  # fmt: skip
    # The refusals are stored (three idempotency records) and move no money.
    assert ledger.counts() == counts | {"wallet_transactions": counts["wallet_transactions"] + 3}

    paid = await wallet.settle_win(win("w1", 500, round_id="r1"))
    undone = await wallet.rollback(rollback("rb2", "b2"))

    assert paid.balances.cash == 1200
    assert (undone.outcome, undone.balances.cash) == ("applied", 1400)
    assert (await wallet.balance("p1")).cash == 1400
    await wallet.set_blocked("p1", blocked=False)
    # The provider was told the bet was refused: re-sent after the unblock, it still is.
    with pytest.raises(PlayerBlocked) as again:
        await wallet.place_bet(bet("b3", 100, round_id="r1"))
    assert again.value.details["replay"] is True
    assert (await wallet.place_bet(bet("b4", 100, round_id="r3"))).balances.cash == 1300
    ledger.assert_ok()


async def test_unknown_player_is_refused(wallet: WalletService, ledger: Ledger) -> None:
    counts = ledger.counts()
    with pytest.raises(PlayerNotFound):
        await wallet.place_bet(bet("b1", 100, player="ghost"))
    with pytest.raises(PlayerNotFound):
        await wallet.deposit(deposit("d1", 100, player="ghost"))
    with pytest.raises(PlayerNotFound):
        await wallet.settle_win(win("w1", 100, player="ghost"))
    with pytest.raises(PlayerNotFound):
        await wallet.balance("ghost")
    with pytest.raises(PlayerNotFound):
        await wallet.set_blocked("ghost", blocked=True)
    assert ledger.counts() == counts


# -- rule 11: precision, currency, malformed input --------------------------------------------


async def test_currency_not_the_wallets_is_refused_and_nothing_written(
    wallet: WalletService, ledger: Ledger
) -> None:
    await funded(wallet)
    counts = ledger.counts()

    with pytest.raises(CurrencyMismatch) as refused:
        await wallet.place_bet(bet("b1", 100, currency="USD"))
    assert (refused.value.details["currency"], refused.value.details["wallet_currency"]) == (
        "USD",
        "EUR",
    )
    with pytest.raises(CurrencyMismatch):
        await wallet.deposit(deposit("d2", 100, currency="USD"))
    with pytest.raises(UnknownCurrency):
        await wallet.place_bet(bet("b2", 100, currency="XXXX"))

    assert ledger.counts() == counts
    assert (await wallet.balance("p1")).cash == 1000
    # Nothing was stored under b1: the same id in the right currency is a fresh bet.
    accepted = await wallet.place_bet(bet("b1", 100))
    assert (accepted.replay, accepted.balances.cash) == (False, 900)


EUR_MAX = 10**9 * 100  # Settings().max_major_amount in cents


@pytest.mark.parametrize(
    ("amount", "error"),
    [
        (-1, AmountOutOfRange),
        (True, InvalidAmount),
        (1.0, InvalidAmount),
        (100.5, InvalidAmount),
        ("100", InvalidAmount),
        (EUR_MAX + 1, AmountOutOfRange),
    ],
    ids=["negative", "bool", "float", "fraction", "string", "above-max"],
)
async def test_bad_amount_is_refused_before_anything_is_written(
    wallet: WalletService, ledger: Ledger, amount: Any, error: type[Exception]
) -> None:
    await funded(wallet)
    await wallet.place_bet(bet("b0", 100))
    counts = ledger.counts()
    calls = {
        "bet": lambda: wallet.place_bet(bet("b1", amount)),
        "win": lambda: wallet.settle_win(win("w1", amount)),
        "deposit": lambda: wallet.deposit(deposit("d1", amount)),
        "withdraw": lambda: wallet.withdraw(
            Withdrawal(player_id="p1", amount=amount, currency="EUR", cashier_ref="wd1")
        ),
        "rollback": lambda: wallet.rollback(rollback("rb1", "b0", amount=amount)),
    }

    for name, call in calls.items():
        with pytest.raises(InvalidAmount) as refused:
            await call()
        assert refused.type is error, name

    assert ledger.counts() == counts
    assert (await wallet.balance("p1")).cash == 900


async def test_largest_amount_of_one_call_is_accepted(
    wallet: WalletService, ledger: Ledger
) -> None:
    await wallet.open_wallet("p1", "EUR")
    assert wallet.currencies["EUR"].max_amount == EUR_MAX
    result = await wallet.deposit(deposit("d1", EUR_MAX))
    assert result.balances.cash == EUR_MAX
    ledger.assert_ok()


BAD_IDS = {
    "empty": "",
    "nul": "a\x00b",
    "newline": "a\nb",
    "del": "a\x7fb",
    "129-ascii": "x" * 129,
    "129-bytes-utf8": "\u20ac" * 43,  # 43 characters, 129 bytes
}
BET_ID_FIELDS = ["player_id", "tx_id", "round_id", "game_code", "provider"]


@pytest.mark.parametrize("bad", list(BAD_IDS.values()), ids=list(BAD_IDS))
async def test_malformed_id_is_refused_before_anything_is_written(
    wallet: WalletService, ledger: Ledger, bad: str
) -> None:
    await funded(wallet)
    counts = ledger.counts()

    for field in BET_ID_FIELDS:
        with pytest.raises(InvalidRequest) as refused:
            await wallet.place_bet(replace(bet("b1", 100), **{field: bad}))
        assert refused.type is InvalidRequest
        # The service names a provider's transaction id by its role: the idempotency key.
        assert refused.value.details["field"] == ("reference" if field == "tx_id" else field)
    for field in ("tx_id", "bet_tx_id"):
        with pytest.raises(InvalidRequest):
            await wallet.rollback(replace(rollback("rb1", "b1"), **{field: bad}))
    with pytest.raises(InvalidRequest):
        await wallet.settle_win(win("w1", 100, bet_tx_id=bad))
    with pytest.raises(InvalidRequest):
        await wallet.deposit(deposit(bad, 100))
    with pytest.raises(InvalidRequest):
        await wallet.open_wallet(bad, "EUR")

    assert ledger.counts() == counts


@pytest.mark.parametrize("longest", ["x" * 128, "\u20ac" * 42 + "xy"], ids=["ascii", "utf8"])
async def test_ids_of_exactly_128_bytes_are_accepted(
    wallet: WalletService, ledger: Ledger, longest: str
) -> None:
    assert len(longest.encode()) == 128
    await funded(wallet, longest)
    ids = {"tx_id": longest, "round_id": longest, "game_code": longest}
    placed = await wallet.place_bet(replace(bet("b1", 100, player=longest), **ids))
    assert placed.balances.cash == 900
    again = await wallet.place_bet(replace(bet("b1", 100, player=longest), **ids))
    assert again.replay
    ledger.assert_ok()


async def test_provider_code_must_fit_the_idempotency_scope(
    wallet: WalletService, ledger: Ledger
) -> None:
    """``provider:<code>`` is stored in an 80-byte column: a longer code is refused up front,
    the same way on both databases, instead of failing inside PostgreSQL."""
    await funded(wallet)
    longest = "x" * (80 - len("provider:"))
    placed = await wallet.place_bet(bet("b1", 100, provider=longest))
    assert placed.balances.cash == 900
    counts = ledger.counts()

    with pytest.raises(InvalidRequest) as refused:
        await wallet.place_bet(bet("b2", 100, provider=longest + "x"))

    assert refused.value.details["field"] == "provider"
    assert ledger.counts() == counts
    ledger.assert_ok()


# -- cashier ---------------------------------------------------------------------------------


async def test_withdrawal_takes_cash_only_never_bonus(
    wallet: WalletService, ledger: Ledger
) -> None:
    await funded(wallet, cash=100, bonus=500)
    counts = ledger.counts()

    with pytest.raises(InsufficientFunds) as refused:
        await wallet.withdraw(
            Withdrawal(player_id="p1", amount=200, currency="EUR", cashier_ref="wd1")
        )
    assert (refused.value.details["cash"], refused.value.details["bonus"]) == (100, 500)
    assert ledger.counts()["postings"] == counts["postings"]

    paid = await wallet.withdraw(
        Withdrawal(player_id="p1", amount=100, currency="EUR", cashier_ref="wd2")
    )
    assert (paid.kind, paid.cash_amount, paid.bonus_amount) == (TxKind.WITHDRAWAL, 100, 0)
    assert (paid.balances.cash, paid.balances.bonus) == (0, 500)
    balances = await wallet.balance("p1")
    assert (balances.cash, balances.bonus) == (0, 500)
    ledger.assert_ok()


async def test_zero_amount_bet_is_accepted_and_writes_no_entry(
    wallet: WalletService, ledger: Ledger
) -> None:
    await funded(wallet)
    counts = ledger.counts()

    result = await wallet.place_bet(bet("b1", 0))

    assert (result.outcome, result.cash_amount, result.bonus_amount) == ("applied", 0, 0)
    assert result.balances.cash == 1000
    after = ledger.counts()
    assert after["journal_entries"] == counts["journal_entries"]
    assert after["postings"] == counts["postings"]
    assert after["wallet_transactions"] == counts["wallet_transactions"] + 1
    assert after["rounds"] == counts["rounds"] + 1
    assert (await wallet.place_bet(bet("b1", 0))).replay
    paid = await wallet.settle_win(win("w1", 250))  # the round has its (free) bet
    assert paid.balances.cash == 1250
    ledger.assert_ok()


async def test_open_wallet_is_idempotent_for_one_currency(
    wallet: WalletService, ledger: Ledger
) -> None:
    opened = await wallet.open_wallet("p1", "EUR")
    assert opened == Balances("EUR", 0, 0, 0)
    await wallet.deposit(deposit("d1", 700))
    again = await wallet.open_wallet("p1", "EUR")
    assert again == Balances("EUR", 700, 0, 0)

    with pytest.raises(PlayerExists) as refused:
        await wallet.open_wallet("p1", "USD")
    assert refused.value.details["currency"] == "EUR"
    with pytest.raises(UnknownCurrency):
        await wallet.open_wallet("p2", "NOPE")
    assert (await wallet.balance("p1")) == Balances("EUR", 700, 0, 0)
    ledger.assert_ok()


PRECISION_CASES = {
    # currency: (exponent, cash, stake, prize), all in minor units
    "JPY": (0, 5000, 1200, 3000),  # 5000 yen: no minor unit
    "BTC": (8, 150_000_000, 1, 12_345_678),  # 1.5 BTC, a one-satoshi stake
}


@pytest.mark.parametrize("currency", list(PRECISION_CASES))
async def test_wallet_in_currency_of_other_precision(
    wallet: WalletService, ledger: Ledger, currency: str
) -> None:
    exponent, cash, stake, prize = PRECISION_CASES[currency]
    assert wallet.currencies[currency].exponent == exponent
    await funded(wallet, cash=cash, currency=currency)

    placed = await wallet.place_bet(bet("b1", stake, currency=currency))
    paid = await wallet.settle_win(win("w1", prize, currency=currency, close=True))

    assert placed.balances == Balances(currency, cash - stake, 0, 0)
    assert paid.balances == Balances(currency, cash - stake + prize, 0, 0)
    assert await wallet.balance("p1") == paid.balances
    too_big = wallet.currencies[currency].max_amount + 1
    with pytest.raises(AmountOutOfRange):
        await wallet.deposit(deposit("d-big", too_big, currency=currency))
    with pytest.raises(CurrencyMismatch):
        await wallet.place_bet(bet("b2", stake, currency="EUR", round_id="r2"))
    ledger.assert_ok()
