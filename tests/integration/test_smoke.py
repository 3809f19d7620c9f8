"""A first walk through the wallet on both databases."""

from __future__ import annotations

from croupier.domain.wallet import Bet, Deposit
from croupier.services.wallet import WalletService


async def test_deposit_then_bet_moves_cash(wallet: WalletService) -> None:
    await wallet.open_wallet("p1", "EUR")
    await wallet.deposit(Deposit(player_id="p1", amount=1000, currency="EUR", cashier_ref="d1"))
    result = await wallet.place_bet(
        Bet(player_id="p1", amount=250, currency="EUR", provider="pv", tx_id="t1",
            round_id="r1", game_code="g1")
    )  # fmt: skip
    assert result.balances.cash == 750
    assert (await wallet.balance("p1")).cash == 750
