"""What the operator side needs from storage: its API keys, player profiles, the catalogue
and the history a support desk reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from croupier.domain.catalogue import CatalogueProvider, Game
from croupier.domain.players import KycStatus, PlayerProfile
from croupier.domain.signals import Alert


@dataclass(frozen=True, slots=True)
class OperatorKey:
    key_id: str
    scopes: frozenset[str]
    label: str
    status: str
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NewPlayer:
    id: str
    currency: str
    brand: str
    external_ref: str
    country: str | None
    subdivision: str | None
    birth_date: date | None
    kyc_status: KycStatus


@dataclass(frozen=True, slots=True)
class ProfileChange:
    """Fields to set; ``None`` leaves a field as it is (``clear_subdivision`` empties it)."""

    brand: str | None = None
    country: str | None = None
    subdivision: str | None = None
    clear_subdivision: bool = False
    birth_date: date | None = None
    kyc_status: KycStatus | None = None


@dataclass(frozen=True, slots=True)
class TxView:
    """One wallet transaction as support reads it."""

    id: int
    scope: str
    reference: str
    kind: str
    status: str
    player_id: str
    round_ref: str | None
    amount: int
    currency: str
    session_id: str | None
    correlation_id: str | None
    created_at: datetime
    result: dict[str, object]


@dataclass(frozen=True, slots=True)
class RoundView:
    id: int
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
    opened_at: datetime
    closed_at: datetime | None


@dataclass(frozen=True, slots=True)
class Exclusion:
    player_id: str
    kind: str
    """``cool_off`` or ``self_exclusion``."""
    starts_at: datetime
    ends_at: datetime | None
    """None: indefinite."""
    actor: str
    reason: str
    created_at: datetime

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now and (self.ends_at is None or now < self.ends_at)


class OperatorStore(Protocol):
    # -- operator API keys
    async def insert_operator_key(self, key: OperatorKey, secret_hash: str) -> bool: ...

    async def operator_key(self, key_id: str) -> tuple[OperatorKey, str] | None:
        """The key and the SHA-256 of its secret."""

    async def operator_keys(self) -> Sequence[OperatorKey]: ...

    async def revoke_operator_key(self, key_id: str, now: datetime) -> bool:
        """False when no active key has this id."""

    # -- players
    async def create_player(self, player: NewPlayer, now: datetime) -> bool:
        """Players row and the three wallet accounts, in one transaction; False when the
        (brand, external_ref) or the id exists already (nothing written)."""

    async def player(self, player_id: str) -> PlayerProfile | None: ...

    async def player_by_ref(self, brand: str, external_ref: str) -> PlayerProfile | None: ...

    async def update_player(
        self, player_id: str, change: ProfileChange, now: datetime, currency: str | None = None
    ) -> PlayerProfile | str | None:
        """In one transaction: the new currency if given (refused, as ``"locked"``, once the
        wallet has been used: postings, holds or transactions; ``"missing"``: no player),
        then the profile. None when there is no such player; WriteConflict when the new
        brand makes a (brand, external_ref) that exists already. Nothing changes unless
        everything does."""

    # -- player protection
    async def insert_exclusion(self, exclusion: Exclusion) -> None: ...

    async def exclusions(self, player_id: str) -> Sequence[Exclusion]:
        """Every exclusion of the player, oldest first."""

    async def insert_protection_event(
        self, player_id: str, kind: str, detail: dict[str, object], actor: str, at: datetime
    ) -> None: ...

    async def protection_events(self, player_id: str) -> Sequence[dict[str, object]]:
        """Every recorded request about the player's protection, oldest first."""

    # -- signals
    async def insert_alert(self, alert: Alert) -> None: ...

    async def alerts(
        self, *, kind: str | None, player_id: str | None, before: int | None, limit: int
    ) -> Sequence[tuple[int, Alert]]:
        """Newest first, ids below ``before``."""

    # -- catalogue
    async def upsert_catalogue(
        self, providers: Sequence[CatalogueProvider], games: Sequence[Game], now: datetime
    ) -> None:
        """All in one transaction; a game's provider must exist (here or already)."""

    async def catalogue_providers(self) -> Sequence[CatalogueProvider]: ...

    async def catalogue_provider(self, code: str) -> CatalogueProvider | None: ...

    async def games(self, provider: str | None) -> Sequence[Game]: ...

    async def game(self, provider: str, code: str) -> Game | None: ...

    async def set_game_enabled(
        self, provider: str, code: str, enabled: bool, now: datetime
    ) -> bool: ...

    async def set_provider_enabled(self, code: str, enabled: bool, now: datetime) -> bool: ...

    # -- history
    async def transactions(
        self, *, player_id: str | None, session_id: str | None, before: int | None, limit: int
    ) -> Sequence[TxView]:
        """Newest first, ids below ``before``."""

    async def rounds(self, player_id: str, before: int | None, limit: int) -> Sequence[RoundView]:
        """Newest first, ids below ``before``."""
