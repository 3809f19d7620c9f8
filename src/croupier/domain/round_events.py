"""Round events from the webhook inbox: one game round as the provider saw it.

The wallet calls an event stands for are the provider's own (``bet.tx_id``, ``win.tx_id``):
applied through the wallet service under the provider's scope, an event whose calls already
arrived through the wallet API is a replay, never a second settlement. A tentative event
(``finalized`` false) is kept and never moves money.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class RoundEvent:
    event_id: str
    player_id: str
    round_id: str
    round_type: str
    game_code: str
    currency: str
    bet_tx_id: str
    bet_amount: int
    """Minor units."""
    win_tx_id: str | None
    win_amount: int
    finalized: bool


def checksum(document: dict[str, Any]) -> str:
    """Hex SHA-256 of the event's JSON without its ``checksum`` field, keys sorted, compact,
    UTF-8 (what a provider computes and sends)."""
    rest = {k: v for k, v in document.items() if k != "checksum"}
    text = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()
