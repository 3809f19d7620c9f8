"""Where anomaly signals go: stored (the alerts table), logged (a JSON line at WARNING) and
counted (``croupier_alerts_total{kind}``). Also counts refusals per provider to raise the
refusal-burst signal: a provider whose calls keep failing is misconfigured or under attack.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime

from croupier.api.metrics import Metrics
from croupier.domain.signals import Alert, AlertKind, SignalRules
from croupier.services.operator_ports import OperatorStore

log = logging.getLogger("croupier.alerts")

WINDOW_SECONDS = 60.0


class AlertRecorder:
    """AlertSink for the wallet, and the refusal counter of the API (one per process: a
    burst is counted per replica)."""

    def __init__(
        self,
        store: OperatorStore,
        metrics: Metrics,
        rules: SignalRules,
        *,
        clock: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.rules = rules
        self.clock = clock
        self.monotonic = monotonic
        self._refusals: dict[str, deque[float]] = {}
        self._last_burst: dict[str, float] = {}

    async def record(self, alerts: Sequence[Alert]) -> None:
        for alert in alerts:
            self.metrics.alerts.labels(alert.kind.value).inc()
            log.warning(
                "alert",
                extra={"kind": alert.kind.value, "player_id": alert.player_id,
                       "provider": alert.provider, "detail": alert.detail},
            )  # fmt: skip
            await self.store.insert_alert(alert)

    async def refused(self, provider: str, code: str) -> None:
        """One refused provider call; past the threshold within a minute, one alert per
        minute and provider."""
        now = self.monotonic()
        seen = self._refusals.setdefault(provider, deque())
        seen.append(now)
        while seen and now - seen[0] > WINDOW_SECONDS:
            seen.popleft()
        if len(seen) <= self.rules.refusals_per_minute:
            return
        if now - self._last_burst.get(provider, -WINDOW_SECONDS - 1) < WINDOW_SECONDS:
            return
        self._last_burst[provider] = now
        await self.record([
            Alert(AlertKind.REFUSAL_BURST, self.clock(), None, provider,
                  {"refusals_in_a_minute": len(seen), "last_code": code,
                   "threshold": self.rules.refusals_per_minute})
        ])  # fmt: skip
