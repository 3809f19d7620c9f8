"""The hold sweeper: releases pending holds past their expiry, on a schedule."""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from croupier.domain.errors import CroupierError, RetryClass
from croupier.services.wallet import WalletService

log = logging.getLogger(__name__)


async def sweep_expired_holds(
    wallet: WalletService, *, interval: float, stop: asyncio.Event, once: bool = False
) -> int:
    """Release expired holds every ``interval`` seconds until ``stop`` is set.

    Returns how many holds it released in all. Each release is its own transaction, so a
    crash mid-sweep loses nothing: the next sweep finds what is still pending.
    """
    released = 0
    while not stop.is_set():
        try:
            count = await wallet.expire_holds()
        except CroupierError as error:
            if error.retry_class is not RetryClass.RETRYABLE:
                raise
            # A database restart must not end the job: try again at the next interval.
            log.warning("hold sweep failed, retrying in %gs: %s", interval, error.code)
            count = 0
        if count:
            log.info("released %d expired holds", count)
        released += count
        if once:
            break
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
    return released
