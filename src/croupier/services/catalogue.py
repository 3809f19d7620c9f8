"""The game catalogue: loaded from a file (all or nothing) and edited through the operator
API. Launch reads it to decide whether a game may be offered to a player."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from croupier.domain.catalogue import CatalogueProvider, Game, check_code, check_provider
from croupier.domain.errors import GameNotFound, ProviderNotFound
from croupier.services.operator_ports import OperatorStore
from croupier.services.wallet import utc_now


class CatalogueService:
    def __init__(self, store: OperatorStore, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.store = store
        self.clock = clock

    async def load(
        self, providers: Sequence[CatalogueProvider], games: Sequence[Game]
    ) -> tuple[int, int]:
        """Upsert every provider and game in one transaction: (providers, games). A game's
        provider must be among them or in the catalogue already."""
        known = {p.code for p in providers} | {
            p.code for p in await self.store.catalogue_providers()
        }
        missing = sorted({g.provider for g in games} - known)
        if missing:
            raise ProviderNotFound(
                f"games name providers not in the catalogue: {', '.join(missing)}",
                providers=missing,
            )
        await self.store.upsert_catalogue(providers, games, self.clock())
        return len(providers), len(games)

    async def put_provider(self, provider: CatalogueProvider) -> CatalogueProvider:
        await self.store.upsert_catalogue([provider], [], self.clock())
        return await self.provider(provider.code)

    async def put_game(self, game: Game) -> Game:
        await self.provider(game.provider)
        await self.store.upsert_catalogue([], [game], self.clock())
        return await self.game(game.provider, game.code)

    async def providers(self) -> Sequence[CatalogueProvider]:
        return await self.store.catalogue_providers()

    async def provider(self, code: str) -> CatalogueProvider:
        found = await self.store.catalogue_provider(check_provider(code))
        if found is None:
            raise ProviderNotFound(f"no provider {code!r} in the catalogue", provider=code)
        return found

    async def games(self, provider: str | None = None) -> Sequence[Game]:
        if provider is not None:
            await self.provider(provider)
        return await self.store.games(provider)

    async def game(self, provider: str, code: str) -> Game:
        found = await self.store.game(check_provider(provider), check_code("code", code))
        if found is None:
            raise GameNotFound(f"no game {code!r} of provider {provider!r}", game=code)
        return found

    async def set_game_enabled(self, provider: str, code: str, *, enabled: bool) -> Game:
        await self.game(provider, code)
        await self.store.set_game_enabled(provider, code, enabled, self.clock())
        return await self.game(provider, code)

    async def set_provider_enabled(self, code: str, *, enabled: bool) -> CatalogueProvider:
        await self.provider(code)
        await self.store.set_provider_enabled(code, enabled, self.clock())
        return await self.provider(code)
