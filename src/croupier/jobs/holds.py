"""The hold sweeper: releases pending holds past their expiry, on a schedule."""

from __future__ import annotations

import asyncio

from croupier.jobs.periodic import every
from croupier.services.wallet import WalletService


async def sweep_expired_holds(
    wallet: WalletService, *, interval: float, stop: asyncio.Event, once: bool = False
) -> int:
    """Release expired holds every ``interval`` seconds until ``stop`` is set.

    Returns how many holds it released in all. Each release is its own transaction, so a
    crash mid-sweep loses nothing: the next sweep finds what is still pending.
    """
    return await every(
        "released expired holds", wallet.expire_holds, interval=interval, stop=stop, once=once
    )
