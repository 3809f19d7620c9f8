"""The timeout job of `croupier run`: rounds left open beyond their provider's threshold are
closed, voided or flagged by its policy; stuck sessions are counted (metrics)."""

from __future__ import annotations

import asyncio

from croupier.jobs.periodic import every
from croupier.services.timeouts import TimeoutService


async def resolve_timeouts(
    timeouts: TimeoutService, *, interval: float, stop: asyncio.Event, once: bool = False
) -> int:
    async def step() -> int:
        return (await timeouts.sweep()).total

    return await every("rounds timed out", step, interval=interval, stop=stop, once=once)
