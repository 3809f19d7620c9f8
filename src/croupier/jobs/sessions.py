"""Session upkeep: close sessions whose tokens expired, settle ended ones, forget old nonces."""

from __future__ import annotations

import asyncio

from croupier.jobs.periodic import every
from croupier.services.gateway_ports import NonceStore
from croupier.services.sessions import SessionService
from croupier.services.wallet import utc_now


async def sweep_sessions(
    sessions: SessionService, *, interval: float, stop: asyncio.Event, once: bool = False
) -> int:
    async def step() -> int:
        return sum((await sessions.sweep()).values())

    return await every("session transitions", step, interval=interval, stop=stop, once=once)


async def prune_nonces(
    nonces: NonceStore, *, interval: float, stop: asyncio.Event, once: bool = False
) -> int:
    async def step() -> int:
        return await nonces.prune(utc_now())

    return await every("pruned request nonces", step, interval=interval, stop=stop, once=once)
