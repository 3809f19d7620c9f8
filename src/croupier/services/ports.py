"""What the wallet service needs from storage: one interface, a SQLite and a PostgreSQL store.

A ``WalletTransaction`` is one database transaction (the unit of work): it commits when its
``async with`` block ends cleanly and rolls back on any exception, so a half-written entry
cannot survive. Stores raise ``WriteConflict`` when a concurrent writer won a race (a unique
key taken, a round changed since it was read); the service then runs the call again.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from croupier.domain.ledger import AccountType, JournalEntry
from croupier.domain.limits import LimitState
from croupier.domain.sessions import GameSession
from croupier.domain.signals import Alert
from croupier.domain.wallet import Balances, TxKind, TxStatus


class WriteConflict(Exception):
    """A concurrent writer got there first; retry the whole unit of work."""


@dataclass(frozen=True, slots=True)
class PlayerWallet:
    player_id: str
    currency: str
    status: str
    cash_account: int
    bonus_account: int
    held_account: int
    balances: Balances
    limits: LimitState | None = None
    """The player's responsible-gaming state, read with the lock (None: no row yet)."""

    @property
    def is_active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True, slots=True)
class StoredTx:
    id: int
    scope: str
    reference: str
    kind: TxKind
    status: TxStatus
    player_id: str
    round_ref: str | None
    ref_tx: str | None
    amount: int
    currency: str
    fingerprint: str | None
    result: dict[str, Any]
    entry_id: int | None
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RoundState:
    scope: str
    round_ref: str
    player_id: str
    currency: str
    game_code: str
    status: str
    cash_staked: int
    bonus_staked: int
    bets_live: int
    bets_rolled_back: int
    win_count: int
    win_total: int
    version: int

    @property
    def is_open(self) -> bool:
        return self.status == "open"


@dataclass(frozen=True, slots=True)
class HoldState:
    id: int
    reference: str
    player_id: str
    currency: str
    amount: int
    posted_amount: int
    status: str
    destination_account: int
    expires_at: datetime
    result: dict[str, Any]


@dataclass(frozen=True, slots=True)
class TxRecord:
    scope: str
    reference: str
    kind: TxKind
    status: TxStatus
    player_id: str
    amount: int
    currency: str
    fingerprint: str | None
    result: dict[str, Any]
    round_ref: str | None = None
    ref_tx: str | None = None
    session_id: str | None = None
    correlation_id: str | None = None


@dataclass(frozen=True, slots=True)
class RoundChange:
    """Deltas applied to a round; ``expected_version`` 0 means the round must be new.

    The store applies them only if the round still has that version, else WriteConflict.
    """

    scope: str
    round_ref: str
    player_id: str
    currency: str
    game_code: str
    expected_version: int
    cash_staked: int = 0
    bonus_staked: int = 0
    bets_live: int = 0
    bets_rolled_back: int = 0
    win_count: int = 0
    win_total: int = 0
    close: bool = False


@dataclass(frozen=True, slots=True)
class NewHold:
    reference: str
    player_id: str
    currency: str
    amount: int
    destination_account: int
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class HoldResolution:
    hold_id: int
    status: str
    posted_amount: int
    result: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Write:
    """Everything one money call writes, in one transaction."""

    tx: TxRecord | None = None
    entry: JournalEntry | None = None
    round: RoundChange | None = None
    tombstone: TxRecord | None = None
    new_hold: NewHold | None = None
    hold_resolution: HoldResolution | None = None
    limits: LimitState | None = None
    """The player's new responsible-gaming state; stored only if its ``version`` is still the
    row's (0: a new row), else WriteConflict."""
    limits_player: str | None = None


SessionFound = tuple[GameSession, datetime]
"""A game session and the expiry of the token it was found by."""


@dataclass(frozen=True, slots=True)
class Loaded:
    """What a money call reads first, in one round trip where the store can."""

    wallet: PlayerWallet | None
    existing: StoredTx | None
    session: SessionFound | None = None


class SessionGuard(Protocol):
    """The game-session check of a money call, run inside its transaction after the replay
    lookup (a repeat answers as it did, whatever became of the session since)."""

    token_hash: str
    session: GameSession | None
    """The call's session once the check passed (its bet rules: pace, start time)."""

    def __call__(self, found: SessionFound | None) -> None:
        """Raise the refusal (TokenInvalid, TokenExpired, SessionClosed) or return."""

    def note(self, found: SessionFound | None) -> None:
        """The call is a repeat, answered without the check: see the session all the same."""


class AlertSink(Protocol):
    async def record(self, alerts: Sequence[Alert]) -> None:
        """Store, log and count anomaly signals."""


class WalletTransaction(Protocol):
    async def lock_wallet(self, player_id: str) -> PlayerWallet | None:
        """The player's accounts and balances, locked until the transaction ends."""

    async def load(
        self,
        player_id: str,
        scope: str,
        reference: str,
        round_ref: str | None,
        token_hash: str | None = None,
        *,
        fresh: bool = False,
    ) -> Loaded:
        """``lock_wallet`` and ``find_tx`` at once, and the game session of ``token_hash``;
        a store may also read the round ahead, so that the next ``find_round`` of it costs
        nothing. Lookups may be as old as the start of the lock wait (PostgreSQL reads them
        in the statement that waits): a stale miss that leads to a write is caught by unique
        keys and round versions; before refusing, the service loads again with
        ``fresh=True`` (the lock is held by then, so nothing committed is missed)."""

    async def find_tx(self, scope: str, reference: str) -> StoredTx | None: ...

    async def find_rollback_of(self, scope: str, bet_ref: str) -> StoredTx | None:
        """The successful rollback that names this bet, if any."""

    async def find_round(self, scope: str, round_ref: str) -> RoundState | None: ...

    async def lock_hold(self, reference: str) -> HoldState | None: ...

    async def expired_holds(self, now: datetime, limit: int) -> Sequence[tuple[str, str]]:
        """(hold reference, player id) of pending holds past their expiry."""

    async def house_account(self, account_type: AccountType, owner: str, currency: str) -> int:
        """The id of a house account, created on first use."""

    async def write(self, write: Write, *, now: datetime) -> tuple[int | None, int | None]:
        """Apply a write; returns (transaction id, entry id). Raises WriteConflict on a race."""

    async def create_wallet(self, player_id: str, currency: str, *, now: datetime) -> None:
        """Create the player and its cash, bonus and held accounts; WriteConflict if taken."""

    async def set_player_status(self, player_id: str, status: str) -> bool: ...

    async def ensure_currencies(self, rows: Sequence[tuple[str, int, str]]) -> dict[str, int]:
        """Record each (code, exponent, kind) not yet known; return every stored exponent."""


class WalletStore(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[WalletTransaction]: ...

    async def read_balances(self, player_id: str) -> PlayerWallet | None:
        """Balances without a lock (a read for display; money paths lock)."""

    async def close(self) -> None: ...
