"""Run one step of a background job on a schedule, surviving transient failures."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress

from croupier.domain.errors import CroupierError, RetryClass

log = logging.getLogger(__name__)


async def every(
    name: str,
    step: Callable[[], Awaitable[int]],
    *,
    interval: float,
    stop: asyncio.Event,
    once: bool = False,
) -> int:
    """Call ``step`` every ``interval`` seconds until ``stop`` is set; the sum of its counts.

    A retryable failure (the database restarting) is logged and tried again at the next
    interval; any other error ends the job, loudly.
    """
    total = 0
    while not stop.is_set():
        try:
            count = await step()
        except CroupierError as error:
            if error.retry_class is not RetryClass.RETRYABLE:
                raise
            log.warning("%s failed, retrying in %gs: %s", name, interval, error.code)
            count = 0
        if count:
            log.info("%s: %d", name, count)
        total += count
        if once:
            break
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
    return total
