"""The service-layer load: C asyncio tasks calling WalletService.place_bet in a closed loop."""

from __future__ import annotations

import asyncio
import cProfile
import random
from dataclasses import dataclass
from time import perf_counter_ns

from bench.databases import CURRENCY, GAME, player_id
from bench.figures import Figures
from bench.machine import CpuSample
from croupier.domain.wallet import Bet
from croupier.services.wallet import WalletService

MIN_STAKE, MAX_STAKE = 10, 500
"""Stakes in minor units: 0.10 to 5.00 EUR, a slot spin."""
GRACE_SECONDS = 60
"""How long bets still in flight at the end may take before the run is called stuck."""


@dataclass(slots=True)
class _State:
    measuring: bool = False
    stop: bool = False
    acked: int = 0
    staked: int = 0


@dataclass(frozen=True, slots=True)
class LoadOutcome:
    figures: Figures
    acked: int
    """Every bet acknowledged, warm-up and the tail after the window included."""
    staked: int
    """Sum of the acknowledged stakes."""


async def drive(
    service: WalletService,
    *,
    stack: str,
    provider: str,
    players: int,
    tasks: int,
    warmup: float,
    seconds: float,
    seed: int,
    database: str | None = None,
    profiler: cProfile.Profile | None = None,
) -> LoadOutcome:
    """Place bets from ``tasks`` concurrent tasks: ``warmup`` seconds unmeasured, then
    ``seconds`` measured; each bet a new transaction id and a new round of a random player."""
    state = _State()
    latencies: list[int] = []

    # One bet alone first: it creates the provider's clearing account and caches its id. The
    # PostgreSQL store publishes a new house account's id to its cache before the creating
    # transaction commits, so concurrent first bets can post to a row they cannot see yet
    # (ForeignKeyViolationError); see docs/benchmarks.md.
    first = Bet(
        player_id=player_id(1),
        amount=MIN_STAKE,
        currency=CURRENCY,
        provider=provider,
        tx_id=f"{provider}-prime",
        round_id=f"{provider}-prime",
        game_code=GAME,
    )
    await service.place_bet(first)
    state.acked, state.staked = 1, MIN_STAKE

    deadline = perf_counter_ns() + int((warmup + seconds + GRACE_SECONDS) * 1e9)

    async def bettor(index: int) -> None:
        rng = random.Random(seed * 1_000_003 + index)
        n = 0
        while not state.stop:
            if perf_counter_ns() > deadline:
                raise TimeoutError(f"bettor {index} still running past its deadline")
            n += 1
            ref = f"{provider}-{index:03d}-{n:010d}"
            amount = rng.randint(MIN_STAKE, MAX_STAKE)
            bet = Bet(
                player_id=player_id(rng.randint(1, players)),
                amount=amount,
                currency=CURRENCY,
                provider=provider,
                tx_id=ref,
                round_id=ref,
                game_code=GAME,
            )
            start = perf_counter_ns()
            result = await service.place_bet(bet)
            took = perf_counter_ns() - start
            if result.replay or result.cash_amount + result.bonus_amount != amount:
                raise AssertionError(f"bet {ref} answered {result}")
            state.acked += 1
            state.staked += amount
            if state.measuring:
                latencies.append(took // 1000)
            # Yield between bets, as a server does between requests: a store whose calls
            # never suspend (SQLite) would otherwise keep the loop for this task alone.
            await asyncio.sleep(0)

    async with asyncio.timeout(warmup + seconds + GRACE_SECONDS), asyncio.TaskGroup() as group:
        for index in range(tasks):
            group.create_task(bettor(index))
        await asyncio.sleep(warmup)
        before, started = CpuSample.take(database=database), perf_counter_ns()
        state.measuring = True
        if profiler:
            profiler.enable()
        await asyncio.sleep(seconds)
        state.measuring = False
        if profiler:
            profiler.disable()
        after, ended = CpuSample.take(database=database), perf_counter_ns()
        state.stop = True
    cpu = after - before
    figures = Figures.build(
        stack=stack,
        connections=tasks,
        seconds=(ended - started) / 1e9,
        bets=len(latencies),
        latencies_us=latencies,
        cpu=cpu,
    )
    return LoadOutcome(figures, state.acked, state.staked)
