"""Rounds left open too long, and what a provider's policy does with them.

A round a provider never finished (its win or its end never came) keeps its session in
``pending_settlement`` and the player's stake in limbo. Past a threshold per provider, the
timeout job applies the provider's policy:

- ``close``: end the round as it stands (its bets are losses, its wins paid);
- ``void``: roll back every bet of the round (stakes refunded; a bet rolled back already is
  a replay), then close it. A round that paid a win cannot be voided without taking the win
  back: it is flagged instead;
- ``flag``: move no money; raise an alert and leave the round for a person to resolve
  (``croupier rounds resolve``).

Every action is recorded (``round_timeouts``, append-only) with who, when, why and the
wallet transaction ids it used.
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime

from croupier.domain.errors import InvalidRequest

JOB_ACTOR = "job:timeouts"


class TimeoutAction(enum.StrEnum):
    CLOSE = "close"
    VOID = "void"
    FLAG = "flag"


@dataclass(frozen=True, slots=True)
class TimeoutPolicy:
    after_seconds: int
    action: TimeoutAction


@dataclass(frozen=True, slots=True)
class OpenRound:
    provider: str
    round_ref: str
    player_id: str
    currency: str
    game_code: str
    opened_at: datetime
    bets_live: int
    win_count: int


@dataclass(frozen=True, slots=True)
class TimeoutRecord:
    provider: str
    round_ref: str
    player_id: str
    action: TimeoutAction
    reason: str
    actor: str
    at: datetime
    opened_at: datetime
    tx_refs: tuple[str, ...] = ()
    id: int = 0


def decide(action: TimeoutAction, round_: OpenRound) -> tuple[TimeoutAction, str]:
    """What the policy's action becomes for this round, and why."""
    if action is TimeoutAction.VOID and round_.win_count:
        return TimeoutAction.FLAG, "void asked, but the round paid a win: flagged for review"
    return action, f"{action.value} by policy"


def tx_ref(kind: str, name: str) -> str:
    """The wallet transaction id of a timeout action (``timeout:close:<round>``), hashed
    where the name would make it longer than an id may be (128 bytes of UTF-8)."""
    ref = f"timeout:{kind}:{name}"
    if len(ref.encode()) <= 128:
        return ref
    return f"timeout:{kind}:sha256:{hashlib.sha256(name.encode()).hexdigest()}"


_DURATION = re.compile(r"(\d{1,9})([smhd]?)")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """``90``, ``90s``, ``30m``, ``6h`` or ``2d``: seconds, at least 60 and at most 90 days."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise InvalidRequest(f"not a duration: {text!r} (use 90s, 30m, 6h or 2d)", field="after")
    seconds = int(match.group(1)) * _UNIT[match.group(2)]
    if not 60 <= seconds <= 90 * 86400:
        raise InvalidRequest("a round timeout is between 1 minute and 90 days", field="after")
    return seconds
