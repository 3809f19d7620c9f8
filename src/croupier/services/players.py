"""Players as the operator manages them: create, read, change, block; and their history.

A player gets an opaque id (``pl_`` and 22 random characters) at creation: that id, and
nothing else about the player, is what providers see. The operator finds its players again
by its own reference within a brand.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from croupier.domain.errors import (
    InvalidRequest,
    PlayerCurrencyLocked,
    PlayerExists,
    PlayerNotFound,
)
from croupier.domain.players import (
    KycStatus,
    PlayerProfile,
    check_birth_date,
    check_brand,
    check_country,
    check_subdivision,
)
from croupier.domain.wallet import Balances, check_ref
from croupier.services.operator_ports import (
    NewPlayer,
    OperatorStore,
    ProfileChange,
    RoundView,
    TxView,
)
from croupier.services.ports import WriteConflict
from croupier.services.wallet import WalletService

MAX_PAGE = 200


@dataclass(frozen=True, slots=True)
class PlayerInput:
    brand: str
    external_ref: str
    currency: str
    country: str | None = None
    subdivision: str | None = None
    birth_date: date | None = None
    kyc_status: KycStatus = KycStatus.NONE


@dataclass(frozen=True, slots=True)
class PlayerUpdate:
    brand: str | None = None
    country: str | None = None
    subdivision: str | None = None
    """``""`` removes it."""
    birth_date: date | None = None
    kyc_status: KycStatus | None = None
    currency: str | None = None


def new_player_id() -> str:
    return "pl_" + secrets.token_urlsafe(16)


class PlayerService:
    def __init__(
        self,
        store: OperatorStore,
        wallet: WalletService,
        *,
        countries: Collection[str],
        subdivisions: Collection[str],
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store = store
        self.wallet = wallet
        self.countries = countries
        self.subdivisions = subdivisions
        self.clock = clock or wallet.clock

    async def create(self, data: PlayerInput) -> tuple[PlayerProfile, bool]:
        """The player, and whether it was created now. The same brand and reference again
        is the same player (a retry), provided the currency agrees."""
        brand = check_brand(data.brand)
        check_ref("external_ref", data.external_ref)
        self.wallet.currencies.get_currency(data.currency)
        country = check_country(data.country, self.countries) if data.country else None
        subdivision = (
            check_subdivision(data.subdivision, country, self.subdivisions)
            if data.subdivision
            else None
        )
        now = self.clock()
        birth = check_birth_date(data.birth_date, now.date()) if data.birth_date else None
        new = NewPlayer(
            id=new_player_id(), currency=data.currency, brand=brand,
            external_ref=data.external_ref, country=country, subdivision=subdivision,
            birth_date=birth, kyc_status=data.kyc_status,
        )  # fmt: skip
        created = await self.store.create_player(new, now)
        player = await self.store.player_by_ref(brand, data.external_ref)
        if player is None:  # pragma: no cover - an id collision, 2^-132
            raise InvalidRequest("player id collision; send the call again")
        if not created and player.currency != data.currency:
            raise PlayerExists(
                f"player {data.external_ref!r} of brand {brand!r} exists with a "
                f"{player.currency} wallet",
                player_id=player.id,
                currency=player.currency,
            )
        return player, created

    async def get(self, player_id: str) -> PlayerProfile:
        check_ref("player_id", player_id)
        player = await self.store.player(player_id)
        if player is None:
            raise PlayerNotFound(f"no player {player_id!r}")
        return player

    async def find(self, brand: str, external_ref: str) -> PlayerProfile:
        check_brand(brand)
        check_ref("external_ref", external_ref)
        player = await self.store.player_by_ref(brand, external_ref)
        if player is None:
            raise PlayerNotFound(f"no player {external_ref!r} in brand {brand!r}")
        return player

    async def balances(self, player_id: str) -> Balances:
        return await self.wallet.balance(player_id)

    async def update(self, player_id: str, data: PlayerUpdate) -> PlayerProfile:
        """Change a profile, all or nothing."""
        current = await self.get(player_id)
        if data.brand is not None:
            check_brand(data.brand)
        if data.country == "":
            raise InvalidRequest("a player's country cannot be removed", field="country")
        country = check_country(data.country, self.countries) if data.country else current.country
        subdivision = data.subdivision
        if subdivision:
            check_subdivision(subdivision, country, self.subdivisions)
        elif subdivision is None and current.subdivision and country != current.country:
            raise InvalidRequest(
                f"subdivision {current.subdivision!r} is not in {country!r}: send a new "
                'subdivision, or "" to remove it',
                field="subdivision",
            )
        now = self.clock()
        change = ProfileChange(
            brand=data.brand,
            country=data.country,
            subdivision=subdivision or None,
            clear_subdivision=subdivision == "",
            birth_date=check_birth_date(data.birth_date, now.date()) if data.birth_date else None,
            kyc_status=data.kyc_status,
        )
        currency = None
        if data.currency is not None and data.currency != current.currency:
            self.wallet.currencies.get_currency(data.currency)
            currency = data.currency
        try:
            updated = await self.store.update_player(player_id, change, now, currency)
        except WriteConflict as exc:
            raise PlayerExists(
                f"brand {change.brand!r} has a player {current.external_ref!r} already",
                field="brand",
            ) from exc
        if updated == "locked":
            raise PlayerCurrencyLocked(
                f"player {player_id!r} has used its {current.currency} wallet; its currency "
                "can no longer change",
                currency=current.currency,
            )
        if updated is None or isinstance(updated, str):
            raise PlayerNotFound(f"no player {player_id!r}")
        return updated

    async def set_blocked(self, player_id: str, *, blocked: bool) -> PlayerProfile:
        await self.get(player_id)
        await self.wallet.set_blocked(player_id, blocked=blocked)
        return await self.get(player_id)

    async def transactions(
        self, player_id: str, *, before: int | None = None, limit: int = 50
    ) -> Sequence[TxView]:
        await self.get(player_id)
        return await self.store.transactions(
            player_id=player_id, session_id=None, before=before, limit=_page(limit)
        )

    async def session_transactions(
        self, session_id: str, *, before: int | None = None, limit: int = 50
    ) -> Sequence[TxView]:
        check_ref("session_id", session_id)
        return await self.store.transactions(
            player_id=None, session_id=session_id, before=before, limit=_page(limit)
        )

    async def rounds(
        self, player_id: str, *, before: int | None = None, limit: int = 50
    ) -> Sequence[RoundView]:
        await self.get(player_id)
        return await self.store.rounds(player_id, before, _page(limit))


def _page(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be 1 to {MAX_PAGE}", field="limit")
    return limit
