"""Anomaly signals: what an operator's risk and safer-gambling teams want to hear about at
once. They never refuse anything; they are raised as events (stored), log lines and
metrics.

- ``bet_rate``: more than a configured number of bets in a minute by one player (default
  500), counted exactly across replicas in the player's state row;
- ``big_win``: a win over a configured amount (per currency) and over a multiple of the
  round's stake (for example €40,000 and 350 times);
- ``refusal_burst``: more than a configured number of refused calls from one provider in a
  minute.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class AlertKind(enum.StrEnum):
    BET_RATE = "bet_rate"
    BIG_WIN = "big_win"
    REFUSAL_BURST = "refusal_burst"
    ROUND_TIMEOUT = "round_timeout"
    RECON_MISMATCH = "recon_mismatch"
    """A reconciliation run past its thresholds (mismatch rate, net difference)."""
    """A round left open beyond its provider's threshold: closed, voided or flagged."""


@dataclass(frozen=True, slots=True)
class Alert:
    kind: AlertKind
    at: datetime
    player_id: str | None = None
    provider: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SignalRules:
    bets_per_minute: int = 500
    big_win_amounts: dict[str, int] = field(default_factory=dict)
    """Currency -> minor units; a currency not listed raises no big-win alert."""
    big_win_multiple: int = 350
    refusals_per_minute: int = 50

    def big_win(
        self, *, amount: int, stake: int, currency: str, player_id: str, provider: str,
        round_id: str, at: datetime,
    ) -> Alert | None:  # fmt: skip
        threshold = self.big_win_amounts.get(currency)
        if threshold is None or amount < threshold or amount < self.big_win_multiple * stake:
            return None
        return Alert(
            AlertKind.BIG_WIN, at, player_id, provider,
            {"amount": amount, "stake": stake, "currency": currency, "round_id": round_id,
             "multiple": amount // stake if stake else None, "threshold": threshold},
        )  # fmt: skip
