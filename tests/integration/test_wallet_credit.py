"""WalletService.credit (a jackpot or a promotion), on SQLite and PostgreSQL.

A credit pays from the provider's clearing account to the player's cash, or bonus where
asked; it needs no bet; a round it names, when Croupier knows it, must be the player's; it
is idempotent by (provider scope, tx id) like every call; a blocked player still gets it.
Every test checks what reached the database (row counts where nothing may be written) and
the ledger invariants.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from croupier.adapters.db.migrate import make_engine
from croupier.adapters.db.verify import house_balances
from croupier.domain.errors import (
    AmountOutOfRange,
    CurrencyMismatch,
    IdempotencyMismatch,
    InsufficientFunds,
    InvalidAmount,
    InvalidRequest,
    PlayerBlocked,
    PlayerNotFound,
    RoundMismatch,
)
from croupier.domain.signals import Alert, AlertKind, SignalRules
from croupier.domain.wallet import (
    Balances,
    BonusPolicy,
    Credit,
    CreditReason,
    TxKind,
    split_stake,
    split_win,
)
from croupier.services.wallet import WalletService
from tests.integration.test_wallet_rules import Ledger, bet, end_round, funded, win

PROVIDER = "pv"
"""The provider of the command builders in test_wallet_rules."""


def credit(
    tx_id: str,
    amount: int,
    *,
    player: str = "p1",
    reason: CreditReason = CreditReason.JACKPOT,
    source: str = "mega",
    round_id: str | None = None,
    game: str | None = None,
    to_bonus: bool = False,
    currency: str = "EUR",
    provider: str = PROVIDER,
) -> Credit:
    return Credit(
        player_id=player, amount=amount, currency=currency, provider=provider, tx_id=tx_id,
        reason=reason, source=source, round_id=round_id, game_code=game, to_bonus=to_bonus,
    )  # fmt: skip


@pytest.fixture
def ledger(database_url: str) -> Ledger:
    return Ledger(database_url)


def clearing(url: str, provider: str = PROVIDER, currency: str = "EUR") -> int:
    """The balance of the provider's clearing account (derived from its postings)."""
    engine = make_engine(url)
    try:
        rows = house_balances(engine)
    finally:
        engine.dispose()
    return sum(
        int(r["balance"])
        for r in rows
        if (r["type"], r["owner"], r["currency"]) == ("provider_clearing", provider, currency)
    )


def credit_rows(url: str) -> list[tuple[str, str, int, bool]]:
    """Every credit record: (reference, status, amount, has a journal entry)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT reference, status, amount, entry_id FROM wallet_transactions "
                    "WHERE kind = 'credit' ORDER BY id"
                )
            ).all()
    finally:
        engine.dispose()
    return [(r[0], r[1], int(r[2]), r[3] is not None) for r in rows]


# -- what a credit pays ----------------------------------------------------------------------


async def test_a_jackpot_pays_cash_from_the_providers_clearing_account(
    wallet: WalletService, ledger: Ledger, database_url: str
) -> None:
    await funded(wallet, cash=1000, bonus=200)
    counts = ledger.counts()

    paid = await wallet.credit(credit("j1", 5000))

    assert paid.kind is TxKind.CREDIT
    assert paid.reference == "j1"
    assert (paid.cash_amount, paid.bonus_amount) == (5000, 0)
    assert paid.balances == Balances("EUR", 6000, 200, 0)
    assert paid.extra == {"reason": "jackpot", "source": "mega"}
    assert paid.outcome == "applied"
    assert not paid.replay
    assert paid.transaction_id > 0
    assert await wallet.balance("p1") == Balances("EUR", 6000, 200, 0)
    assert clearing(database_url) == -5000
    # One record, one entry (two postings), no round.
    assert ledger.counts() == counts | {
        "wallet_transactions": counts["wallet_transactions"] + 1,
        "journal_entries": counts["journal_entries"] + 1,
        "postings": counts["postings"] + 2,
    }
    assert credit_rows(database_url) == [("j1", "ok", 5000, True)]
    ledger.assert_ok()


async def test_a_promotion_to_bonus_pays_the_bonus_balance(
    wallet: WalletService, ledger: Ledger, database_url: str
) -> None:
    await funded(wallet, cash=1000)

    paid = await wallet.credit(
        credit("pr1", 700, reason=CreditReason.PROMOTION, source="spring", to_bonus=True)
    )

    assert (paid.cash_amount, paid.bonus_amount) == (0, 700)
    assert paid.balances == Balances("EUR", 1000, 700, 0)
    assert paid.extra == {"reason": "promotion", "source": "spring"}
    assert await wallet.balance("p1") == Balances("EUR", 1000, 700, 0)
    assert clearing(database_url) == -700
    # The bonus is playable, not withdrawable.
    staked = await wallet.place_bet(bet("b1", 1500))
    assert (staked.cash_amount, staked.bonus_amount) == (1000, 500)
    ledger.assert_ok()


async def test_a_credit_needs_no_bet_and_no_money(wallet: WalletService, ledger: Ledger) -> None:
    await wallet.open_wallet("p1", "EUR")
    paid = await wallet.credit(credit("j1", 1, round_id="never-played"))
    assert paid.balances == Balances("EUR", 1, 0, 0)
    ledger.assert_ok()


@pytest.mark.parametrize("closed", [False, True])
async def test_a_credit_naming_a_round_of_the_player_is_paid(
    wallet: WalletService, ledger: Ledger, closed: bool
) -> None:
    await funded(wallet)
    await wallet.place_bet(bet("b1", 100, round_id="r1"))
    if closed:
        await wallet.end_round(end_round("e1", round_id="r1"))
    paid = await wallet.credit(credit("j1", 2500, round_id="r1", game="g1"))
    assert paid.balances.cash == 1000 - 100 + 2500
    # The round is left as it was: a win still settles an open round, not a closed one.
    if not closed:
        assert (await wallet.settle_win(win("w1", 50))).balances.cash == 3450
    ledger.assert_ok()


async def test_a_blocked_player_is_still_credited(wallet: WalletService, ledger: Ledger) -> None:
    await funded(wallet)
    await wallet.set_blocked("p1", blocked=True)
    with pytest.raises(PlayerBlocked):
        await wallet.place_bet(bet("b1", 100))
    paid = await wallet.credit(credit("j1", 300))
    bonus = await wallet.credit(credit("pr1", 50, reason=CreditReason.PROMOTION, to_bonus=True))
    assert paid.balances.cash == 1300
    assert bonus.balances == Balances("EUR", 1300, 50, 0)
    assert await wallet.balance("p1") == Balances("EUR", 1300, 50, 0)
    ledger.assert_ok()


# -- idempotency -------------------------------------------------------------------------------


async def test_a_repeated_credit_is_a_replay_of_the_first(
    wallet: WalletService, ledger: Ledger, database_url: str
) -> None:
    await funded(wallet)
    first = await wallet.credit(credit("j1", 5000, round_id="r9"))
    await wallet.place_bet(bet("b1", 250))  # the balance moves on
    counts = ledger.counts()

    again = await wallet.credit(credit("j1", 5000, round_id="r9"))

    assert again.replay
    assert again.transaction_id == first.transaction_id
    assert replace(again, replay=False) == first  # the balances it first answered
    assert (await wallet.balance("p1")).cash == 1000 + 5000 - 250
    assert ledger.counts() == counts
    assert clearing(database_url) == -5000 + 250
    ledger.assert_ok()


@pytest.mark.parametrize(
    "change",
    [
        {"amount": 5001},
        {"to_bonus": True},
        {"source": "other-jackpot"},
        {"reason": CreditReason.PROMOTION},
        {"round_id": "r2"},
        {"game_code": "g1"},
        {"player_id": "p2"},
        {"currency": "USD"},
    ],
    ids=["amount", "bonus", "source", "reason", "round", "game", "player", "currency"],
)
async def test_the_same_credit_id_with_other_content_is_a_mismatch(
    wallet: WalletService, ledger: Ledger, change: dict[str, Any]
) -> None:
    await funded(wallet)
    await funded(wallet, "p2")
    original = credit("j1", 5000, round_id="r1")
    await wallet.credit(original)
    counts = ledger.counts()
    balances = {p: await wallet.balance(p) for p in ("p1", "p2")}

    with pytest.raises(IdempotencyMismatch) as refused:
        await wallet.credit(replace(original, **change))

    assert refused.value.details["existing_kind"] == "credit"
    assert ledger.counts() == counts
    assert {p: await wallet.balance(p) for p in ("p1", "p2")} == balances
    ledger.assert_ok()


async def test_a_credit_reusing_a_bet_id_is_a_mismatch(
    wallet: WalletService, ledger: Ledger
) -> None:
    await funded(wallet)
    await wallet.place_bet(bet("b1", 100))
    counts = ledger.counts()
    with pytest.raises(IdempotencyMismatch) as refused:
        await wallet.credit(credit("b1", 100, round_id="r1"))
    assert refused.value.details["existing_kind"] == "bet"
    assert ledger.counts() == counts
    assert (await wallet.balance("p1")).cash == 900
    ledger.assert_ok()


async def test_the_same_id_from_another_provider_is_another_credit(
    wallet: WalletService, ledger: Ledger, database_url: str
) -> None:
    await funded(wallet)
    one = await wallet.credit(credit("j1", 100))
    two = await wallet.credit(credit("j1", 100, provider="other"))
    assert not two.replay
    assert two.transaction_id != one.transaction_id
    assert (await wallet.balance("p1")).cash == 1200
    assert (clearing(database_url), clearing(database_url, "other")) == (-100, -100)
    ledger.assert_ok()


# -- refusals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "error"),
    [(0, AmountOutOfRange), (-100, AmountOutOfRange), (10**30, AmountOutOfRange),
     (1.5, InvalidAmount), (True, InvalidAmount)],
    ids=["zero", "negative", "too-large", "float", "bool"],
)  # fmt: skip
async def test_a_credit_that_is_not_a_positive_amount_writes_nothing(
    wallet: WalletService, ledger: Ledger, amount: Any, error: type[Exception]
) -> None:
    await funded(wallet)
    counts = ledger.counts()
    with pytest.raises(error):
        await wallet.credit(credit("j1", amount))
    assert ledger.counts() == counts
    # Nothing was stored: the id is free for the corrected call.
    assert (await wallet.credit(credit("j1", 100))).balances.cash == 1100
    ledger.assert_ok()


async def test_a_credit_naming_a_round_of_another_player_is_refused(
    wallet: WalletService, ledger: Ledger
) -> None:
    await funded(wallet)
    await funded(wallet, "p2")
    await wallet.place_bet(bet("b1", 100, player="p2", round_id="r1"))
    counts = ledger.counts()
    with pytest.raises(RoundMismatch) as refused:
        await wallet.credit(credit("j1", 5000, round_id="r1"))
    assert refused.value.details["round_id"] == "r1"
    assert ledger.counts() == counts
    assert (await wallet.balance("p1")).cash == 1000
    # The round of another provider's scope is another round: that credit is paid.
    paid = await wallet.credit(credit("j1", 5000, round_id="r1", provider="other"))
    assert paid.balances.cash == 6000
    ledger.assert_ok()


async def test_a_credit_to_an_unknown_player_or_in_another_currency_is_refused(
    wallet: WalletService, ledger: Ledger
) -> None:
    await funded(wallet)
    counts = ledger.counts()
    with pytest.raises(PlayerNotFound):
        await wallet.credit(credit("j1", 100, player="ghost"))
    with pytest.raises(CurrencyMismatch):
        await wallet.credit(credit("j2", 100, currency="USD"))
    with pytest.raises(InvalidRequest):
        await wallet.credit(credit("j3", 100, source=""))
    assert ledger.counts() == counts
    ledger.assert_ok()


# -- signals -----------------------------------------------------------------------------------


class Sink:
    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    async def record(self, alerts: Sequence[Alert]) -> None:
        self.alerts.extend(alerts)


async def test_a_big_credit_raises_one_big_win_alert(wallet: WalletService) -> None:
    sink = Sink()
    wallet.signals = SignalRules(big_win_amounts={"EUR": 4_000_000}, big_win_multiple=350)
    wallet.alerts = sink
    await wallet.open_wallet("p1", "EUR")
    await wallet.credit(credit("j0", 3_999_999))
    await wallet.credit(credit("j1", 4_000_000, round_id="r1"))
    await wallet.credit(credit("j1", 4_000_000, round_id="r1"))  # a replay raises nothing
    assert [(a.kind, a.player_id, a.provider) for a in sink.alerts] == [
        (AlertKind.BIG_WIN, "p1", PROVIDER)
    ]
    assert sink.alerts[0].detail["stake"] == 0
    assert sink.alerts[0].detail["multiple"] is None
    assert sink.alerts[0].detail["round_id"] == "r1"


# -- property: any sequence keeps the ledger balanced -----------------------------------------

_players = itertools.count()

STEP = st.one_of(
    st.tuples(st.just("credit"), st.integers(1, 5_000), st.booleans()),
    st.tuples(st.just("bet"), st.integers(1, 3_000), st.booleans()),
    st.tuples(st.just("win"), st.integers(0, 5_000), st.booleans()),
    st.tuples(st.just("replay"), st.integers(0, 1_000), st.booleans()),
)


@dataclass
class Play:
    """One player's calls and what their balances must be (default bonus policy)."""

    wallet: WalletService
    player: str
    cash: int = 0
    bonus: int = 0
    sent: list[tuple[Any, bool]] = field(default_factory=list)
    """Each call made, and whether it was refused (a refusal is stored and replays as one)."""
    last: tuple[str, int, int] | None = None
    """The last accepted bet's open round: (round, cash staked, bonus staked)."""

    async def credit(self, tx_id: str, amount: int, to_bonus: bool) -> None:
        reason = CreditReason.PROMOTION if to_bonus else CreditReason.JACKPOT
        cmd = credit(tx_id, amount, player=self.player, to_bonus=to_bonus, reason=reason)
        self.sent.append((cmd, False))
        result = await self.wallet.credit(cmd)
        paid = (0, amount) if to_bonus else (amount, 0)
        assert (result.cash_amount, result.bonus_amount) == paid
        self.cash, self.bonus = self.cash + paid[0], self.bonus + paid[1]

    async def bet(self, tx_id: str, amount: int) -> None:
        cmd = bet(tx_id, amount, player=self.player, round_id=f"{tx_id}-round")
        try:
            split = split_stake(amount, Balances("EUR", self.cash, self.bonus), BonusPolicy())
        except InsufficientFunds:
            self.sent.append((cmd, True))
            with pytest.raises(InsufficientFunds):
                await self.wallet.place_bet(cmd)
            return
        self.sent.append((cmd, False))
        result = await self.wallet.place_bet(cmd)
        assert (result.cash_amount, result.bonus_amount) == split
        self.cash, self.bonus = self.cash - split[0], self.bonus - split[1]
        self.last = (cmd.round_id, *split)

    async def win(self, tx_id: str, amount: int, close: bool) -> None:
        if self.last is None:
            return
        round_id, cash_staked, bonus_staked = self.last
        cmd = win(tx_id, amount, player=self.player, round_id=round_id, close=close)
        self.sent.append((cmd, False))
        paid = split_win(
            amount, cash_staked=cash_staked, bonus_staked=bonus_staked, policy=BonusPolicy()
        )
        result = await self.wallet.settle_win(cmd)
        assert (result.cash_amount, result.bonus_amount) == paid
        self.cash, self.bonus = self.cash + paid[0], self.bonus + paid[1]
        if close:
            self.last = None

    async def replay(self, index: int) -> None:
        if not self.sent:
            return
        cmd, refused = self.sent[index % len(self.sent)]
        if refused:
            with pytest.raises(InsufficientFunds) as again:
                await self.wallet.place_bet(cmd)
            assert again.value.details["replay"] is True
        elif isinstance(cmd, Credit):
            assert (await self.wallet.credit(cmd)).replay
        elif cmd.kind is TxKind.BET:
            assert (await self.wallet.place_bet(cmd)).replay
        else:
            assert (await self.wallet.settle_win(cmd)).replay


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(STEP, max_size=14))
async def test_any_sequence_of_credits_and_bets_keeps_balances_and_ledger_exact(
    wallet: WalletService, database_url: str, steps: list[tuple[str, int, bool]]
) -> None:
    """Credits (cash or bonus), bets (cash first, then bonus; refused past the playable
    balance), wins of the last round and repeats of earlier calls, for a new player per
    example (the database is shared): after every step the balances are the sum of what
    was paid and taken, and the ledger invariants hold."""
    play = Play(wallet, f"h{next(_players)}")
    await wallet.open_wallet(play.player, "EUR")
    for n, (op, amount, flag) in enumerate(steps):
        tx_id = f"{play.player}-t{n}"  # ids are per provider, not per player
        if op == "credit":
            await play.credit(tx_id, amount, flag)
        elif op == "bet":
            await play.bet(tx_id, amount)
        elif op == "win":
            await play.win(tx_id, amount, flag)
        else:
            await play.replay(amount)
        expected = Balances("EUR", play.cash, play.bonus, 0)
        assert await wallet.balance(play.player) == expected, (n, op)
    Ledger(database_url).assert_ok()
