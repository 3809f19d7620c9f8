"""Jurisdiction rules as data: what a regulator requires of a launch and of each bet.

A pack (``src/croupier/rules/jurisdictions/<code>.toml``) states, each value with its source:
the minimum age, whether KYC comes before play, whether autoplay is allowed, the minimum
time between rounds and the stake caps per game category (optionally by age band), the
categories a licence covers, and a mandatory deposit limit. The pack of a player is the most
specific one of its jurisdictions (``CA-ON`` before ``CA``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from croupier.domain.catalogue import GameCategory


@dataclass(frozen=True, slots=True)
class Source:
    text: str
    url: str = ""
    checked: str = ""
    """How the value was checked against the regulator's text (``statute``, ``secondary
    source``...): what is left to confirm shows here."""


@dataclass(frozen=True, slots=True)
class StakeCap:
    category: GameCategory
    max_minor: int
    currency: str
    min_age: int
    max_age: int | None
    source: Source

    def applies(self, category: GameCategory, age: int) -> bool:
        return (
            self.category is category
            and age >= self.min_age
            and (self.max_age is None or age <= self.max_age)
        )


@dataclass(frozen=True, slots=True)
class RoundPace:
    category: GameCategory
    min_ms: int
    source: Source


@dataclass(frozen=True, slots=True)
class DepositLimitRule:
    max_minor: int
    currency: str
    period: str
    source: Source


@dataclass(frozen=True, slots=True)
class JurisdictionRules:
    code: str
    name: str
    regulator: str
    version: str
    min_age: int
    min_age_source: Source
    kyc_before_play: bool
    kyc_source: Source
    autoplay_allowed: bool
    autoplay_categories: tuple[GameCategory, ...]
    """Where autoplay is forbidden: these categories (all when empty)."""
    autoplay_source: Source
    allowed_categories: tuple[GameCategory, ...] | None = None
    allowed_categories_source: Source | None = None
    round_pace: tuple[RoundPace, ...] = ()
    stake_caps: tuple[StakeCap, ...] = ()
    mandatory_deposit_limit: DepositLimitRule | None = None

    def rule(self, name: str) -> str:
        """The name a refusal carries: ``GB.min_age``."""
        return f"{self.code}.{name}"

    def stake_cap(self, category: GameCategory, age: int) -> StakeCap | None:
        caps = [c for c in self.stake_caps if c.applies(category, age)]
        return min(caps, key=lambda c: c.max_minor) if caps else None

    def pace(self, category: GameCategory) -> RoundPace | None:
        return next((p for p in self.round_pace if p.category is category), None)

    def autoplay_for(self, category: GameCategory) -> bool:
        if self.autoplay_allowed:
            return True
        return bool(self.autoplay_categories) and category not in self.autoplay_categories


@dataclass(frozen=True, slots=True)
class RulePacks:
    packs: Mapping[str, JurisdictionRules] = field(default_factory=dict)

    def for_player(self, jurisdictions: Sequence[str]) -> JurisdictionRules | None:
        """The most specific pack among the player's jurisdictions."""
        return next((self.packs[j] for j in jurisdictions if j in self.packs), None)


@dataclass(frozen=True, slots=True)
class BetRules:
    """What a launch fixes for the bets of its session: read with the session on every bet.

    ``stake_cap`` is in the wallet's minor units; ``min_round_ms`` the least time between
    two rounds of the player; both ``None`` when no rule applies."""

    jurisdiction: str | None = None
    stake_cap: int | None = None
    stake_cap_rule: str | None = None
    min_round_ms: int | None = None
    min_round_rule: str | None = None
    autoplay: bool = True
