"""The game session state machine: one session per player and game launch.

::

    created ──▶ launched ──▶ active ──▶ pending_settlement ──▶ settled
       │           │           │                 │
       ├───────────┴──▶ cancelled (closed before any bet)        ▲
       ├───────────┴──▶ failed    (the launch failed)            │
       │                       └──▶ settled (closed, no round open)
       │                       active / pending_settlement ──▶ reversed (every bet rolled back)

Every transition is an immutable event (who, when, why, round, wallet transactions); the
session row caches the current state for fast checks, and the events are the record.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

from croupier.domain.errors import IllegalTransition


class SessionState(enum.StrEnum):
    CREATED = "created"
    LAUNCHED = "launched"
    ACTIVE = "active"
    PENDING_SETTLEMENT = "pending_settlement"
    SETTLED = "settled"
    CANCELLED = "cancelled"
    FAILED = "failed"
    REVERSED = "reversed"

    @property
    def takes_bets(self) -> bool:
        return self in _PLAYABLE

    @property
    def is_final(self) -> bool:
        return not TRANSITIONS[self]


_PLAYABLE = frozenset({SessionState.CREATED, SessionState.LAUNCHED, SessionState.ACTIVE})

S = SessionState
TRANSITIONS: dict[SessionState, frozenset[SessionState]] = {
    S.CREATED: frozenset({S.LAUNCHED, S.ACTIVE, S.CANCELLED, S.FAILED}),
    S.LAUNCHED: frozenset({S.ACTIVE, S.CANCELLED, S.FAILED}),
    S.ACTIVE: frozenset({S.PENDING_SETTLEMENT, S.SETTLED, S.REVERSED}),
    S.PENDING_SETTLEMENT: frozenset({S.SETTLED, S.REVERSED}),
    S.SETTLED: frozenset(),
    S.CANCELLED: frozenset(),
    S.FAILED: frozenset(),
    S.REVERSED: frozenset(),
}
"""Allowed moves. A provider may skip authenticate, so a first bet moves created to active."""


def check_transition(session_id: str, current: SessionState, target: SessionState) -> None:
    if target not in TRANSITIONS[current]:
        raise IllegalTransition(
            f"session {session_id!r} cannot go from {current} to {target}",
            session_id=session_id,
            state=current.value,
            target=target.value,
        )


def closing_state(*, had_bets: bool, open_rounds: int, live_bets: int) -> SessionState:
    """Where a session goes when it ends (player left, token expired, operator closed it).

    ``live_bets``: bets of the session that were not rolled back.
    """
    if not had_bets:
        return S.CANCELLED
    if open_rounds:
        return S.PENDING_SETTLEMENT
    return S.SETTLED if live_bets else S.REVERSED


@dataclass(frozen=True, slots=True)
class GameSession:
    id: str
    provider: str
    player_id: str
    currency: str
    game_code: str
    state: SessionState
    created_at: datetime
    updated_at: datetime
    version: int
    jurisdiction: str | None = None
    """Whose rules the launch applied (``GB``); None for a session opened without a launch."""
    stake_cap: int | None = None
    """The largest stake a bet of this session may take, in minor units (launch decides)."""
    stake_cap_rule: str | None = None
    """The rule that set it (``GB.stake_caps``), named in a refusal."""
    min_round_ms: int | None = None
    """The least time between two rounds of the player (launch decides)."""
    min_round_rule: str | None = None


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """One transition, as stored (never updated)."""

    session_id: str
    from_state: SessionState | None
    to_state: SessionState
    actor: str
    """Who: ``provider:<code>``, ``operator``, ``cli``, ``job:sessions``."""
    reason: str
    at: datetime
    round_ref: str | None = None
    tx_ids: tuple[int, ...] = field(default=())
    correlation_id: str | None = None
