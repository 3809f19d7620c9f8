"""Business events from the webhook inbox: what a provider reports after the fact.

- ``round``: one game round as the provider saw it (its bet, its win, the round closed).
- ``rollback``: one earlier bet cancelled.
- ``jackpot``: a jackpot paid to the player, usually naming the round that triggered it.
- ``promotion``: a tournament prize, a prize drop, a free-spins payout: no round, no bet.

The wallet calls an event stands for carry the provider's own transaction ids
(``bet.tx_id``, ``win.tx_id``, ``tx_id``): applied through the wallet service under the
provider's scope, an event whose calls already arrived through the wallet API is a replay,
never a second settlement. A tentative event (``finalized`` false) is kept and never moves
money.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from croupier.domain.wallet import CreditReason


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookEvent:
    event_id: str
    player_id: str
    currency: str
    finalized: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundEvent(WebhookEvent):
    round_id: str
    round_type: str
    game_code: str
    bet_tx_id: str
    bet_amount: int
    """Minor units."""
    win_tx_id: str | None
    win_amount: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RollbackEvent(WebhookEvent):
    tx_id: str
    bet_tx_id: str
    amount: int
    """What the provider believes the bet was, minor units; 0 where it does not say."""
    round_id: str | None
    game_code: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class CreditEvent(WebhookEvent):
    """A jackpot or a promotion."""

    reason: CreditReason
    tx_id: str
    amount: int
    source: str
    """The jackpot's or the campaign's id."""
    round_id: str | None
    game_code: str | None
    to_bonus: bool


def checksum(document: dict[str, Any]) -> str:
    """Hex SHA-256 of the event's JSON without its ``checksum`` field, keys sorted, compact,
    UTF-8 (what a provider computes and sends)."""
    rest = {k: v for k, v in document.items() if k != "checksum"}
    text = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()
