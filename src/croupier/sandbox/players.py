"""Simulated players: N concurrent players, each a loop of launch (through the operator API,
then the sandbox's launch URL, as a browser would follow it) and spins at a chosen cadence,
mixed games and stakes. A player whose token expired or whose session closed launches
again; one out of money deposits again. The summary: rounds, errors by code, latency p50
and p99 of a spin as the player sees it."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from croupier.sandbox.operator import OperatorClient, OperatorError
from croupier.sandbox.provider import percentile

GAMES: dict[str, dict[str, str]] = {
    "dice": {"target": "49.50", "direction": "under"},
    "limbo": {"target": "2.00"},
    "fruit-5x3": {},
}
CATEGORIES = {"dice": "table", "limbo": "crash", "fruit-5x3": "slots"}
RELAUNCH = frozenset({"TOKEN_EXPIRED", "SESSION_CLOSED", "SESSION_NOT_FOUND", "TOKEN_INVALID"})


@dataclass(frozen=True)
class Plan:
    players: int = 5
    rounds: int | None = 20
    """Rounds per player; None: until ``seconds`` have passed (or forever)."""
    seconds: float | None = None
    cadence: float = 0.5
    """Seconds between a player's spins."""
    stakes: tuple[str, ...] = ("0.10", "0.50", "1.00", "2.00")
    currency: str = "EUR"
    deposit: str = "100.00"
    tag: str = "sim"
    seed: int | None = None
    rotate_every: int | None = 25
    """A player rotates its seeds every this many rounds (revealing the old server seed, so
    its rounds can be verified), as careful players do; None: never."""


@dataclass
class Summary:
    rounds: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    launches: int = 0
    deposits: int = 0
    rotations: int = 0
    seconds: float = 0.0

    def count(self, status: str, error: str | None, seconds: float) -> None:
        self.rounds += 1
        self.by_status[status] = self.by_status.get(status, 0) + 1
        if error:
            self.errors[error] = self.errors.get(error, 0) + 1
        self.latencies.append(seconds)

    def to_dict(self) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        return {
            "rounds": self.rounds, "by_status": dict(sorted(self.by_status.items())),
            "errors": dict(sorted(self.errors.items())), "launches": self.launches,
            "deposits": self.deposits, "rotations": self.rotations,
            "seconds": round(self.seconds, 2),
            "latency_ms": {"p50": percentile(ordered, 50), "p99": percentile(ordered, 99)},
        }  # fmt: skip


class Simulation:
    def __init__(
        self,
        plan: Plan,
        *,
        operator: OperatorClient,
        provider: str,
        sandbox: httpx.AsyncClient,
        on_round: Callable[[], None] = lambda: None,
    ) -> None:
        self.plan = plan
        self.operator = operator
        self.provider = provider
        self.sandbox = sandbox
        self.on_round = on_round
        self.summary = Summary()
        self.rng = random.Random(plan.seed)  # noqa: S311 - simulated choices, not cryptography
        self.stop = asyncio.Event()
        self.running = asyncio.Event()
        self.running.set()
        self.in_flight = 0

    @property
    def paused(self) -> bool:
        return not self.running.is_set()

    async def pause(self, seconds: float = 30) -> int:
        """Stop starting spins, and wait (up to ``seconds``) for those under way to end:
        then nothing moves (a feed fetched now is the whole day so far). Returns the spins
        still under way (0 unless the wallet is very slow)."""
        self.running.clear()
        deadline = time.monotonic() + seconds
        while self.in_flight and time.monotonic() < deadline:  # noqa: ASYNC110 - a count
            await asyncio.sleep(0.05)
        return self.in_flight

    def resume(self) -> None:
        self.running.set()

    async def _may_spin(self) -> bool:
        """Wait while paused; False once stopping."""
        if self.paused:
            waiters = {asyncio.ensure_future(self.running.wait()),
                       asyncio.ensure_future(self.stop.wait())}  # fmt: skip
            _, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for waiter in pending:
                waiter.cancel()
        return not self.stop.is_set()

    async def run(self) -> Summary:
        began = time.perf_counter()
        await asyncio.gather(*(self._player(i) for i in range(self.plan.players)))
        self.summary.seconds = time.perf_counter() - began
        return self.summary

    async def _launch(self, player_id: str, game: str) -> str:
        launched = await self.operator.launch(player_id, self.provider, game)
        # The query exactly as signed: re-encoding it could break the signature.
        query = str(launched["url"]).partition("?")[2]
        response = await self.sandbox.get(f"/launch?{query}")
        response.raise_for_status()
        self.summary.launches += 1
        return str(response.json()["session_id"])

    async def _spin(self, session_id: str, game: str) -> tuple[str, str | None]:
        response = await self.sandbox.post(
            f"/sessions/{session_id}/spin",
            json={"game": game, "stake": self.rng.choice(self.plan.stakes),
                  "params": GAMES[game]},
        )  # fmt: skip
        body = response.json()
        if response.status_code == 200:
            return str(body["status"]), body.get("error")
        error = body.get("error") if isinstance(body, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        return "error", str(code or f"HTTP_{response.status_code}")

    async def _rotate(self, session_id: str) -> None:
        response = await self.sandbox.post(f"/sessions/{session_id}/seed", json={})
        response.raise_for_status()
        self.summary.rotations += 1

    async def _player(self, index: int) -> None:
        plan = self.plan
        ref = f"{plan.tag}-{index + 1}"
        player_id = await self.operator.player(ref, plan.currency, plan.deposit)
        deadline = None if plan.seconds is None else time.monotonic() + plan.seconds
        sessions: dict[str, str] = {}
        played = 0
        while not self.stop.is_set():
            if plan.rounds is not None and played >= plan.rounds:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            if not await self._may_spin():
                break
            game = self.rng.choice(sorted(GAMES))
            began = time.perf_counter()
            self.in_flight += 1
            try:
                if game not in sessions:
                    sessions[game] = await self._launch(player_id, game)
                status, error = await self._spin(sessions[game], game)
            except (httpx.HTTPError, OperatorError, ValueError, KeyError) as exc:
                # Counted like any refusal; the player waits and tries again, as people do.
                status, error = "error", _code_of(exc)
            finally:
                self.in_flight -= 1
            self.summary.count(status, error, time.perf_counter() - began)
            rotate = plan.rotate_every and (played + 1) % plan.rotate_every == 0
            if rotate and status == "settled":  # a failed rotation is tried at the next one
                with contextlib.suppress(httpx.HTTPError):
                    await self._rotate(sessions[game])
            played += 1
            self.on_round()
            if error in RELAUNCH:
                sessions.pop(game, None)
            elif error == "INSUFFICIENT_FUNDS":
                with contextlib.suppress(httpx.HTTPError, OperatorError):
                    await self.operator.request("POST", f"/players/{player_id}/deposits", {
                        "reference": f"{ref}-topup-{time.time_ns()}",
                        "amount": plan.deposit, "currency": plan.currency,
                    })  # fmt: skip
                    self.summary.deposits += 1
            if plan.cadence:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), plan.cadence)


def _code_of(exc: Exception) -> str:
    if isinstance(exc, OperatorError):
        error = exc.body.get("error") if isinstance(exc.body, dict) else None
        if isinstance(error, dict) and error.get("code"):
            return str(error["code"])
        return f"OPERATOR_HTTP_{exc.status}"
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP_{exc.response.status_code}"
    if isinstance(exc, httpx.TransportError):
        return "UNREACHABLE"
    return "BAD_ANSWER"
