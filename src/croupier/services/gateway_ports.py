"""What the provider gateway needs from storage: signing keys, seen nonces, game sessions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from croupier.domain.sessions import GameSession, SessionEvent, SessionState


@dataclass(frozen=True, slots=True)
class ProviderKey:
    provider: str
    key_id: str
    status: str
    """``primary`` (signs what Croupier originates), ``active`` (accepted) or ``revoked``."""
    created_at: datetime
    updated_at: datetime
    secret: str = field(repr=False)
    """Never in a repr, a log line or a listing."""


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """What a session's money looks like, to decide where it goes when it ends."""

    bets: int
    live_bets: int
    """Bets not rolled back."""
    open_rounds: int


class KeyStore(Protocol):
    async def keys(self, provider: str | None) -> Sequence[ProviderKey]: ...

    async def insert_key(self, key: ProviderKey) -> bool:
        """False if the provider already has a key with this id."""

    async def set_key_status(self, provider: str, key_id: str, status: str, now: datetime) -> None:
        """Set a key's status; making one primary demotes the previous primary to active."""


class NonceStore(Protocol):
    async def remember(self, provider: str, nonce: str, expires_at: datetime) -> bool:
        """Record a nonce; False if it was already recorded (a replay)."""

    async def prune(self, now: datetime) -> int:
        """Forget nonces whose window has passed; how many."""


class SessionStore(Protocol):
    async def create_session(
        self, session: GameSession, token_hash: str, expires_at: datetime, event: SessionEvent
    ) -> None: ...

    async def get_session(self, session_id: str) -> GameSession | None: ...

    async def session_by_token(self, token_hash: str) -> tuple[GameSession, datetime] | None:
        """The session a token belongs to and the token's own expiry."""

    async def add_token(
        self, session_id: str, token_hash: str, issued_at: datetime, expires_at: datetime
    ) -> None: ...

    async def transition(self, session: GameSession, event: SessionEvent) -> bool:
        """Move the session to ``event.to_state`` and store the event, if the session still
        has ``session.version``; False (nothing written) if another writer moved it first."""

    async def events(self, session_id: str) -> Sequence[SessionEvent]: ...

    async def due_sessions(
        self, states: Sequence[SessionState], expired_before: datetime, limit: int
    ) -> Sequence[GameSession]:
        """Sessions in one of ``states`` whose newest token expired before the given time."""

    async def live_sessions(self, player_id: str) -> Sequence[GameSession]:
        """The player's sessions that still take bets (created, launched, active)."""

    async def settleable_sessions(self, limit: int) -> Sequence[GameSession]:
        """Sessions in ``pending_settlement`` none of whose rounds is still open."""

    async def close_session(
        self,
        session_id: str,
        plan: Callable[[GameSession, SessionSummary, Sequence[int]], Sequence[SessionEvent]],
    ) -> GameSession | None:
        """In one transaction, with the session locked (so that bets in flight have committed
        and later ones see the outcome): ``plan`` is given the session, its money and its
        wallet transaction ids, and the events it returns are stored in order. None if there
        is no such session."""
