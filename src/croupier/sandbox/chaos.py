"""Chaos switches: the failures a provider's traffic meets on the way to a wallet, per endpoint,
changeable at run time.

An endpoint is a native call (``authenticate``, ``balance``, ``bet``, ``win``, ``rollback``,
``end_round``, ``refresh``) or ``webhook`` (a round event sent to the inbox). Two kinds of
switch:

- **On the wire** (``ChaosTransport``, an httpx transport in front of the real one):
  ``latency_ms``; ``timeout`` (the request never reaches the wallet); ``lost_answer`` (the
  nasty one: the wallet received and committed the call, the answer never came back);
  ``error_rate`` with ``error_status`` (a 500, 429 or 503 from something in between, the
  wallet never saw it); ``burst`` (the next N requests all get ``error_status``).
- **In the provider's behaviour** (read by the sandbox's round flow): ``duplicate`` (the same
  call or webhook delivered twice), ``reorder`` (bets only: the provider gives up on the bet,
  its rollback reaches the wallet first, and the bet arrives after it), ``drop`` (webhooks
  only: not delivered now, resent later).

Probabilities are drawn from one seeded ``random.Random``, so a run with a seed repeats.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import httpx

ENDPOINTS = (
    "authenticate", "balance", "refresh", "bet", "win", "rollback", "end_round", "webhook",
)  # fmt: skip
ERROR_STATUSES = (500, 502, 503, 504, 429)


class ChaosError(ValueError):
    """A switch that does not exist or a value out of range."""


@dataclass(frozen=True)
class Switch:
    """What goes wrong on one endpoint. Rates are probabilities from 0 to 1."""

    latency_ms: int = 0
    timeout: float = 0.0
    lost_answer: float = 0.0
    error_rate: float = 0.0
    error_status: int = 503
    burst: int = 0
    duplicate: float = 0.0
    reorder: float = 0.0
    drop: float = 0.0

    def __post_init__(self) -> None:
        for name in ("timeout", "lost_answer", "error_rate", "duplicate", "reorder", "drop"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (0 <= value <= 1)
            ):
                raise ChaosError(f"{name} is a probability from 0 to 1, not {value!r}")
        for name, top in (("latency_ms", 60_000), ("burst", 100_000)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
                raise ChaosError(f"{name} is a whole number from 0 to {top}, not {value!r}")
        if not isinstance(self.error_status, int) or self.error_status not in ERROR_STATUSES:
            raise ChaosError(
                f"error_status is one of {', '.join(map(str, ERROR_STATUSES))}, "
                f"not {self.error_status!r}"
            )

    @property
    def quiet(self) -> bool:
        return self == Switch(error_status=self.error_status)

    @classmethod
    def from_dict(cls, data: object, base: Switch | None = None) -> Switch:
        """A switch from JSON (unknown keys refused), over ``base`` for the keys not given."""
        if not isinstance(data, dict):
            raise ChaosError("a switch is a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ChaosError(f"unknown switch {unknown[0]!r}; known: {', '.join(sorted(known))}")
        try:
            return replace(base or cls(), **data)
        except TypeError as exc:
            raise ChaosError(str(exc)) from None


def endpoint_of(path: str) -> str:
    """``bet`` for ``/native/v1/acme/bet``, ``webhook`` for ``/webhooks/acme``."""
    if path.startswith("/webhooks/"):
        return "webhook"
    return path.rstrip("/").rsplit("/", 1)[-1]


class Chaos:
    """The switches of every endpoint, their counters, and the seeded dice."""

    def __init__(self, seed: int | None = None) -> None:
        self.switches: dict[str, Switch] = {}
        self.rng = random.Random(seed)  # noqa: S311 - failure injection, not cryptography
        self.counts: dict[str, dict[str, int]] = {}
        self._bursts: dict[str, int] = {}

    def set(self, endpoint: str, switch: Switch) -> None:
        if endpoint not in ENDPOINTS:
            raise ChaosError(f"unknown endpoint {endpoint!r}; known: {', '.join(ENDPOINTS)}")
        if switch.reorder and endpoint != "bet":
            raise ChaosError("reorder is a switch of bets only (a rollback before its bet)")
        if switch.drop and endpoint != "webhook":
            raise ChaosError("drop is a switch of webhooks only (held back, resent later)")
        self.switches[endpoint] = switch
        self._bursts[endpoint] = switch.burst

    def update(self, endpoint: str, data: object) -> Switch:
        """The endpoint's switch with the keys of ``data`` changed; what is left of a burst
        is kept unless ``data`` sets ``burst`` (which arms it again)."""
        switch = Switch.from_dict(data, self.get(endpoint))
        left = self._bursts.get(endpoint, 0)
        self.set(endpoint, switch)
        if isinstance(data, dict) and "burst" not in data:
            self._bursts[endpoint] = left
        return switch

    def clear(self, endpoint: str | None = None) -> None:
        for name in [endpoint] if endpoint else list(self.switches):
            self.switches.pop(name, None)
            self._bursts.pop(name, None)

    def get(self, endpoint: str) -> Switch:
        return self.switches.get(endpoint, Switch())

    def roll(self, endpoint: str, name: str) -> bool:
        """Whether the switch ``name`` fires on this request (counted when it does)."""
        rate: float = getattr(self.get(endpoint), name)
        fired = rate > 0 and self.rng.random() < rate
        if fired:
            self.count(endpoint, name)
        return fired

    def take_burst(self, endpoint: str) -> bool:
        left = self._bursts.get(endpoint, 0)
        if left <= 0:
            return False
        self._bursts[endpoint] = left - 1
        self.count(endpoint, "burst")
        return True

    def count(self, endpoint: str, name: str) -> None:
        per = self.counts.setdefault(endpoint, {})
        per[name] = per.get(name, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        return {
            "switches": {k: asdict(v) for k, v in sorted(self.switches.items())},
            "burst_left": {k: v for k, v in sorted(self._bursts.items()) if v},
            "fired": {k: dict(sorted(v.items())) for k, v in sorted(self.counts.items())},
        }


class ChaosTransport(httpx.AsyncBaseTransport):
    """The wire's switches in front of ``inner``. A timeout raises what httpx raises for one
    (``ConnectTimeout`` before sending, ``ReadTimeout`` after the wallet answered), so the
    client above cannot tell chaos from a real network."""

    def __init__(self, inner: httpx.AsyncBaseTransport, chaos: Chaos) -> None:
        self.inner = inner
        self.chaos = chaos

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        endpoint = endpoint_of(request.url.path)
        switch = self.chaos.get(endpoint)
        if switch.latency_ms:
            await asyncio.sleep(switch.latency_ms / 1000)
        if self.chaos.roll(endpoint, "timeout"):
            raise httpx.ConnectTimeout(
                "chaos: the request never reached the wallet", request=request
            )
        if self.chaos.take_burst(endpoint) or self.chaos.roll(endpoint, "error_rate"):
            status = switch.error_status
            headers = {"retry-after": "0"} if status in (429, 503) else {}
            return httpx.Response(
                status, headers=headers, text=f"chaos: {status} in front of the wallet",
                request=request,
            )  # fmt: skip
        response = await self.inner.handle_async_request(request)
        if self.chaos.roll(endpoint, "lost_answer"):
            await response.aread()
            await response.aclose()
            raise httpx.ReadTimeout(
                "chaos: the wallet answered, the answer was lost", request=request
            )
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()
