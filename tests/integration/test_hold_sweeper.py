"""The hold sweeper releases expired holds, and only those."""

from __future__ import annotations

import asyncio

from croupier.domain.wallet import Deposit, ReserveHold
from croupier.jobs.holds import sweep_expired_holds
from croupier.services.wallet import WalletService
from tests.conftest import FakeClock


async def test_sweeper_releases_only_expired_holds(wallet: WalletService, clock: FakeClock) -> None:
    await wallet.open_wallet("p", "EUR")
    await wallet.deposit(Deposit(player_id="p", amount=1000, currency="EUR", cashier_ref="d"))
    for ref, seconds in (("short", 60), ("long", 3600)):
        await wallet.reserve_hold(
            ReserveHold(player_id="p", amount=100, currency="EUR", cashier_ref=ref,
                        expires_in_seconds=seconds)
        )  # fmt: skip
    clock.advance(61)
    stop = asyncio.Event()
    assert await sweep_expired_holds(wallet, interval=1, stop=stop, once=True) == 1
    balances = await wallet.balance("p")
    assert (balances.cash, balances.held) == (900, 100)
    assert (await wallet.hold_state("short")).status == "expired"
    assert (await wallet.hold_state("long")).status == "pending"
    assert await sweep_expired_holds(wallet, interval=1, stop=stop, once=True) == 0


async def test_sweeper_stops_when_asked(wallet: WalletService) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(sweep_expired_holds(wallet, interval=3600, stop=stop))
    await asyncio.sleep(0)
    stop.set()
    assert await asyncio.wait_for(task, timeout=5) == 0
