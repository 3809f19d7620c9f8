"""Play the traffic of docs/reconciliation.md's worked example into the ledger.

    croupier migrate
    python examples/recon/seed_day.py

Provider ``acme``, three EUR players, on 2026-11-20 (UTC): deposits, bets, wins, a refunded
bet, a jackpot, a bet refused for want of funds, and a bet refunded at 23:59:58; then the
first minutes of 2026-11-21. Every call goes through the wallet service, as the provider's
calls would, with the times below: the wallet's clock is set to each call's time, so the
ledger is the same on every machine.

Idempotent: every call has a fixed transaction id, so a second run replays each one (nothing
moves twice). The database is CROUPIER_DATABASE_URL's, like every croupier command.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from croupier.bootstrap import gateway
from croupier.config import Settings
from croupier.domain.errors import CroupierError
from croupier.domain.money import format_decimal, parse_decimal
from croupier.domain.wallet import (
    Bet,
    Command,
    Credit,
    CreditReason,
    Deposit,
    EndRound,
    Rollback,
    Win,
)
from croupier.services.wallet import WalletService

PROVIDER = "acme"
CURRENCY = "EUR"
PLAYERS = ("player-1001", "player-1002", "player-1003")

# (time, call, player, transaction id, amount, round, game). Deposits go through the
# cashier (not reconciled with acme); everything else is acme's traffic. A refund R-n
# cancels bet B-n; "end" closes a round nobody won (it moves no money).
TRAFFIC: tuple[tuple[str, str, str, str, str, str, str], ...] = (
    ("2026-11-20T08:00:00", "deposit", "player-1001", "dep-1001", "200.00", "", ""),
    ("2026-11-20T08:05:00", "deposit", "player-1002", "dep-1002", "100.00", "", ""),
    ("2026-11-20T08:10:00", "deposit", "player-1003", "dep-1003", "50.00", "", ""),
    ("2026-11-20T09:12:05", "bet", "player-1001", "B-5001", "2.00", "RND-5001", "slots"),
    ("2026-11-20T09:12:07", "win", "player-1001", "W-5001", "5.00", "RND-5001", "slots"),
    ("2026-11-20T09:13:10", "bet", "player-1001", "B-5002", "2.00", "RND-5002", "slots"),
    ("2026-11-20T09:13:12", "end", "player-1001", "E-5002", "0", "RND-5002", "slots"),
    ("2026-11-20T10:02:00", "bet", "player-1002", "B-5003", "10.00", "RND-5003", "blackjack"),
    ("2026-11-20T10:02:45", "win", "player-1002", "W-5003", "20.00", "RND-5003", "blackjack"),
    ("2026-11-20T10:05:00", "bet", "player-1002", "B-5004", "10.00", "RND-5004", "blackjack"),
    # acme's own file will say 12.50 for this win: the amount mismatch.
    ("2026-11-20T10:05:40", "win", "player-1002", "W-5004", "12.00", "RND-5004", "blackjack"),
    ("2026-11-20T11:30:00", "bet", "player-1003", "B-5005", "5.00", "RND-5005", "roulette"),
    ("2026-11-20T11:30:20", "rollback", "player-1003", "R-5005", "5.00", "RND-5005", "roulette"),
    ("2026-11-20T11:31:00", "bet", "player-1003", "B-5006", "5.00", "RND-5006", "roulette"),
    ("2026-11-20T11:31:30", "win", "player-1003", "W-5006", "10.00", "RND-5006", "roulette"),
    ("2026-11-20T14:00:00", "bet", "player-1001", "B-5007", "1.00", "RND-5007", "slots"),
    ("2026-11-20T14:00:02", "win", "player-1001", "W-5007", "0.40", "RND-5007", "slots"),
    ("2026-11-20T14:00:30", "jackpot", "player-1001", "J-7001", "150.00", "RND-5007", "slots"),
    ("2026-11-20T16:45:00", "bet", "player-1002", "B-5008", "50.00", "RND-5008", "blackjack"),
    ("2026-11-20T16:45:50", "end", "player-1002", "E-5008", "0", "RND-5008", "blackjack"),
    # More than player-1003's cash: refused (and acme's file says FAILED).
    ("2026-11-20T18:20:00", "bet", "player-1003", "B-5009", "100.00", "RND-5009", "roulette"),
    # acme's file also has a bet B-5010 of player-1002 at 21:14:03 that never reached the
    # wallet: the missing-in-ledger difference. It is deliberately not played here.
    ("2026-11-20T23:59:50", "bet", "player-1001", "B-5011", "3.00", "RND-5011", "roulette"),
    # Refunded two seconds before midnight: acme puts it in its 2026-11-21 file.
    ("2026-11-20T23:59:58", "rollback", "player-1001", "R-5011", "3.00", "RND-5011", "roulette"),
    # The first minutes of the next day, for the 2026-11-21 file.
    ("2026-11-21T00:15:00", "bet", "player-1002", "B-6001", "4.00", "RND-6001", "blackjack"),
    ("2026-11-21T00:15:30", "win", "player-1002", "W-6001", "6.00", "RND-6001", "blackjack"),
    ("2026-11-21T00:20:00", "bet", "player-1003", "B-6002", "2.00", "RND-6002", "roulette"),
    ("2026-11-21T00:20:05", "end", "player-1003", "E-6002", "0", "RND-6002", "roulette"),
)


class FixedClock:
    """The wallet's clock: whatever time it was last set to."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 20, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def command(call: str, player: str, tx_id: str, minor: int, *, round_: str, game: str) -> Command:
    """The wallet command of one line of TRAFFIC."""
    if call == "deposit":
        return Deposit(player_id=player, amount=minor, currency=CURRENCY, cashier_ref=tx_id)
    if call == "bet":
        return Bet(player_id=player, amount=minor, currency=CURRENCY, provider=PROVIDER,
                   tx_id=tx_id, round_id=round_, game_code=game)  # fmt: skip
    if call == "win":
        return Win(player_id=player, amount=minor, currency=CURRENCY, provider=PROVIDER,
                   tx_id=tx_id, round_id=round_, game_code=game, close_round=True)  # fmt: skip
    if call == "end":
        return EndRound(player_id=player, currency=CURRENCY, provider=PROVIDER, tx_id=tx_id,
                        round_id=round_, game_code=game)  # fmt: skip
    if call == "rollback":  # refund R-n cancels bet B-n of its round
        return Rollback(player_id=player, amount=minor, currency=CURRENCY, provider=PROVIDER,
                        tx_id=tx_id, bet_tx_id=f"B-{tx_id[2:]}", round_id=round_,
                        game_code=game)  # fmt: skip
    if call == "jackpot":
        return Credit(player_id=player, amount=minor, currency=CURRENCY, provider=PROVIDER,
                      tx_id=tx_id, reason=CreditReason.JACKPOT, source="acme-mega-jackpot",
                      round_id=round_, game_code=game)  # fmt: skip
    raise ValueError(f"unknown call {call!r}")


async def send(wallet: WalletService, cmd: Command) -> str:
    """Send one command; what happened, in a word or two."""
    calls = {
        Deposit: wallet.deposit, Bet: wallet.place_bet, Win: wallet.settle_win,
        EndRound: wallet.end_round, Rollback: wallet.rollback, Credit: wallet.credit,
    }  # fmt: skip
    try:
        result = await calls[type(cmd)](cmd)  # type: ignore[operator]
    except CroupierError as refusal:
        return f"refused: {refusal.code}"
    return "replay (already in the ledger)" if result.replay else "applied"


async def main() -> None:
    async with gateway(Settings()) as gw:
        clock = FixedClock()
        gw.wallet.clock = clock  # every transaction time comes from the wallet's clock
        eur = gw.wallet.currencies.get_currency(CURRENCY)
        for player in PLAYERS:
            await gw.wallet.open_wallet(player, CURRENCY)
        for at, call, player, tx_id, amount, round_, game in TRAFFIC:
            clock.now = datetime.fromisoformat(at).replace(tzinfo=UTC)
            minor = parse_decimal(amount, eur)
            cmd = command(call, player, tx_id, minor, round_=round_, game=game)
            outcome = await send(gw.wallet, cmd)
            print(f"{at}Z  {call:<8} {player}  {tx_id:<8} {amount:>7}  {outcome}")
        for player in PLAYERS:
            balances = await gw.wallet.balance(player)
            print(f"{player}: {CURRENCY} {format_decimal(balances.cash, eur)} cash")


if __name__ == "__main__":
    asyncio.run(main())
