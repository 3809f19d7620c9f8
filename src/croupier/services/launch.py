"""Game launch: the operator asks for a game for a player; Croupier checks, in this order and
before anything is created, that the player is active, has passed KYC where the
jurisdiction needs it, is old enough, may be offered the game where they are (provider,
game and rule pack), is not excluded, and that the game and its provider are enabled. Then it
opens the game session, with the bet rules the jurisdiction sets (the stake cap for this game
and player), and returns a short-lived launch URL signed with the provider's primary key.

Demo mode launches a game with no player and no money: no session, no token.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from croupier.domain.catalogue import CatalogueProvider, Game
from croupier.domain.errors import (
    GameUnavailable,
    InvalidRequest,
    JurisdictionRefused,
    KycRequired,
    PlayerBlocked,
    UnderAge,
)
from croupier.domain.jurisdictions import BetRules, JurisdictionRules, RulePacks
from croupier.domain.players import KycStatus, PlayerProfile
from croupier.domain.wallet import check_ref
from croupier.services.catalogue import CatalogueService
from croupier.services.keys import KeyService
from croupier.services.players import PlayerService
from croupier.services.protection import ProtectionService
from croupier.services.sessions import SessionService

LAUNCH_URL_SECONDS = 120


@dataclass(frozen=True, slots=True)
class Launch:
    url: str
    mode: str
    expires_at: datetime
    session_id: str | None = None
    token: str | None = None
    token_expires_at: datetime | None = None
    rules: BetRules | None = None


def launch_signature(secret: str, query: str) -> str:
    """HMAC-SHA256 of ``LAUNCH\\n`` and the query string as sent (without ``signature``)."""
    return hmac.new(secret.encode(), f"LAUNCH\n{query}".encode(), hashlib.sha256).hexdigest()


class LaunchService:
    def __init__(
        self,
        *,
        players: PlayerService,
        catalogue: CatalogueService,
        sessions: SessionService,
        keys: KeyService,
        protection: ProtectionService,
        packs: RulePacks,
        clock: Callable[[], datetime],
        url_seconds: int = LAUNCH_URL_SECONDS,
    ) -> None:
        self.players = players
        self.catalogue = catalogue
        self.sessions = sessions
        self.keys = keys
        self.protection = protection
        self.packs = packs
        self.clock = clock
        self.url_seconds = url_seconds

    async def launch(
        self,
        *,
        player_id: str | None,
        provider: str,
        game_code: str,
        demo: bool = False,
        language: str = "en",
        actor: str = "operator",
    ) -> Launch:
        if len(language) > 16 or not language.replace("-", "").isalnum():
            raise InvalidRequest("language is a tag like en or en-GB", field="language")
        source = await self.catalogue.provider(provider)
        game = await self.catalogue.game(provider, game_code)
        if demo:
            if player_id is not None:
                raise InvalidRequest("a demo launch has no player", field="player_id")
            self._check_enabled(source, game)
            return self._demo(source, await self.keys.primary_secret(provider), game, language)
        if player_id is None:
            raise InvalidRequest("a real-money launch names a player", field="player_id")
        check_ref("player_id", player_id)
        player = await self.players.get(player_id)
        rules = self._check_player(player, source, game)
        await self._check_deposit_limit(player, rules)
        await self.protection.check(player.id)
        self._check_enabled(source, game)
        bet_rules = self._bet_rules(player, game, rules)
        key = await self.keys.primary_secret(provider)  # before anything is created
        session, token, token_expires = await self.sessions.open(
            provider=provider, player_id=player.id, game_code=game.code, actor=actor,
            rules=bet_rules,
        )  # fmt: skip
        expires = self.clock() + timedelta(seconds=self.url_seconds)
        url = self._url(
            source, key,
            {"mode": "real", "game": game.code, "player": player.id, "currency": player.currency,
             "session": session.id, "token": token, "lang": language,
             "expires": str(int(expires.timestamp()))},
        )  # fmt: skip
        return Launch(url, "real", expires, session.id, token, token_expires, bet_rules)

    # -- the checks, in order --------------------------------------------------------------

    def _check_player(
        self, player: PlayerProfile, source: CatalogueProvider, game: Game
    ) -> JurisdictionRules:
        if not player.is_active:
            raise PlayerBlocked(f"player {player.id!r} is blocked", rule="player.active")
        rules = self.packs.for_player(player.jurisdictions)
        if rules is None:
            where = "/".join(player.jurisdictions) or "unknown (no country on file)"
            raise JurisdictionRefused(
                f"no rule pack for the player's jurisdiction: {where}",
                rule="jurisdiction.pack", jurisdictions=list(player.jurisdictions),
            )  # fmt: skip
        if rules.kyc_before_play and player.kyc_status is not KycStatus.VERIFIED:
            raise KycRequired(
                f"{rules.name} requires verified identity before play "
                f"(KYC status: {player.kyc_status.value})",
                rule=rules.rule("kyc_before_play"), source=rules.kyc_source.text,
            )  # fmt: skip
        age = player.age_on(self.clock().date())
        if age is None or age < rules.min_age:
            raise UnderAge(
                f"{rules.name} requires players aged {rules.min_age} or over"
                + ("; no birth date on file" if age is None else ""),
                rule=rules.rule("min_age"), min_age=rules.min_age,
                source=rules.min_age_source.text,
            )  # fmt: skip
        places = player.jurisdictions
        if not source.allows(places):
            raise JurisdictionRefused(
                f"provider {source.code!r} is not offered in {rules.code}",
                rule="catalogue.provider.jurisdictions",
            )
        if not game.allows(places):
            raise JurisdictionRefused(
                f"game {game.code!r} is not offered in {rules.code}",
                rule="catalogue.game.jurisdictions",
            )
        if rules.allowed_categories is not None and game.category not in rules.allowed_categories:
            raise JurisdictionRefused(
                f"{game.category.value} games are not allowed in {rules.name}",
                rule=rules.rule("allowed_categories"),
                source=rules.allowed_categories_source.text
                if rules.allowed_categories_source
                else "",
            )
        return rules

    async def _check_deposit_limit(self, player: PlayerProfile, rules: JurisdictionRules) -> None:
        """Where the pack makes a deposit limit mandatory, the player must have set one at or
        under its maximum (GlüStV 2021 § 6c: every player, at most €1,000 a month)."""
        rule = rules.mandatory_deposit_limit
        if rule is None:
            return
        kind = f"deposit_{rule.period}"
        limit = (await self.sessions.wallet.limits(player.id)).limits.get(kind)
        if rule.currency != player.currency or limit is None or limit > rule.max_minor:
            raise JurisdictionRefused(
                f"{rules.name} requires a {rule.period}ly deposit limit of at most "
                f"{rule.max_minor} minor units of {rule.currency} before play "
                f"(the player's {kind}: {limit})",
                rule=rules.rule("mandatory_deposit_limit"), limit=kind,
                source=rule.source.text,
            )  # fmt: skip

    @staticmethod
    def _check_enabled(source: CatalogueProvider, game: Game) -> None:
        if not source.enabled:
            raise GameUnavailable(
                f"provider {source.code!r} is disabled", rule="catalogue.provider.enabled"
            )
        if not game.enabled:
            raise GameUnavailable(f"game {game.code!r} is disabled", rule="catalogue.game.enabled")

    def _bet_rules(self, player: PlayerProfile, game: Game, rules: JurisdictionRules) -> BetRules:
        age = player.age_on(self.clock().date())
        assert age is not None  # noqa: S101 - checked above
        cap = rules.stake_cap(game.category, age)
        if cap is not None and cap.currency != player.currency:
            raise JurisdictionRefused(
                f"{rules.name} caps {game.category.value} stakes in {cap.currency}; a "
                f"{player.currency} wallet cannot be held to it",
                rule=rules.rule("stake_caps"), currency=cap.currency,
            )  # fmt: skip
        pace = rules.pace(game.category)
        return BetRules(
            jurisdiction=rules.code,
            stake_cap=cap.max_minor if cap else None,
            stake_cap_rule=rules.rule("stake_caps") if cap else None,
            min_round_ms=pace.min_ms if pace else None,
            min_round_rule=rules.rule("min_round_seconds") if pace else None,
            autoplay=rules.autoplay_for(game.category),
        )

    # -- URLs ------------------------------------------------------------------------------

    def _demo(
        self, source: CatalogueProvider, key: tuple[str, str], game: Game, language: str
    ) -> Launch:
        expires = self.clock() + timedelta(seconds=self.url_seconds)
        url = self._url(
            source, key,
            {"mode": "demo", "game": game.code, "lang": language,
             "expires": str(int(expires.timestamp()))},
        )  # fmt: skip
        return Launch(url, "demo", expires)

    @staticmethod
    def _url(source: CatalogueProvider, key: tuple[str, str], params: dict[str, str]) -> str:
        key_id, secret = key
        base, _, own = source.launch_url.partition("?")
        query = "&".join(q for q in (own, urlencode({**params, "key": key_id})) if q)
        # The whole query as sent, the provider's own parameters included, is signed.
        return f"{base}?{query}&signature={launch_signature(secret, query)}"
