"""The inbox worker of `croupier run`: applies due webhook deliveries, pass after pass."""

from __future__ import annotations

import asyncio

from croupier.jobs.periodic import every
from croupier.services.inbox import InboxWorker


async def process_inbox(
    worker: InboxWorker, *, interval: float, stop: asyncio.Event, once: bool = False
) -> int:
    async def step() -> int:
        return sum((await worker.run_once()).values())

    return await every("webhook deliveries processed", step, interval=interval, stop=stop,
                       once=once)  # fmt: skip
