"""Jurisdiction rule packs from TOML files: the ones shipped in ``croupier/rules/jurisdictions``
and, when configured, an operator's own directory (a pack there replaces the shipped one of
the same code). Every value must carry its source; a pack that does not parse stops the
start, since a rule silently missing would let play through."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec

from croupier.domain.catalogue import GameCategory, check_jurisdictions
from croupier.domain.errors import ConfigurationError, CroupierError
from croupier.domain.jurisdictions import (
    DepositLimitRule,
    JurisdictionRules,
    RoundPace,
    RulePacks,
    Source,
    StakeCap,
)
from croupier.domain.money import CurrencyTable, parse_decimal


class _Sourced(msgspec.Struct, forbid_unknown_fields=True):
    source: str
    url: str = ""
    checked: str = ""

    def cite(self) -> Source:
        if not self.source.strip():
            raise ConfigurationError("every value needs its source (an empty one was given)")
        return Source(self.source, self.url, self.checked)


class _Int(_Sourced, forbid_unknown_fields=True):
    value: int = 0


class _Bool(_Sourced, forbid_unknown_fields=True):
    value: bool = False


class _Autoplay(_Sourced, forbid_unknown_fields=True):
    value: bool = True
    categories: list[str] = []


class _Categories(_Sourced, forbid_unknown_fields=True):
    value: list[str] = []


class _Pace(_Sourced, forbid_unknown_fields=True):
    category: str = ""
    value: str = ""


class _Cap(_Sourced, forbid_unknown_fields=True):
    category: str = ""
    max: str = ""
    currency: str = ""
    min_age: int = 0
    max_age: int | None = None


class _Deposit(_Sourced, forbid_unknown_fields=True):
    max: str = ""
    currency: str = ""
    period: str = ""


class _Pack(msgspec.Struct, forbid_unknown_fields=True):
    code: str
    name: str
    regulator: str
    version: str
    min_age: _Int
    kyc_before_play: _Bool
    autoplay: _Autoplay
    allowed_categories: _Categories | None = None
    min_round_seconds: list[_Pace] = []
    stake_caps: list[_Cap] = []
    mandatory_deposit_limit: _Deposit | None = None


def _category(value: str) -> GameCategory:
    try:
        return GameCategory(value)
    except ValueError:
        raise ConfigurationError(f"unknown game category {value!r}") from None


def _milliseconds(seconds: str) -> int:
    whole, _, frac = seconds.partition(".")
    if not whole.isdigit() or (frac and (not frac.isdigit() or len(frac) > 3)):
        raise ConfigurationError(f'seconds must be a decimal string like "2.5": {seconds!r}')
    return int(whole) * 1000 + int(frac.ljust(3, "0") or "0")


def parse_pack(data: Any, currencies: CurrencyTable) -> JurisdictionRules:
    try:
        pack = msgspec.convert(data, _Pack, strict=True)
        (code,) = check_jurisdictions([pack.code])
        deposit = pack.mandatory_deposit_limit
        return JurisdictionRules(
            code=code,
            name=pack.name,
            regulator=pack.regulator,
            version=pack.version,
            min_age=pack.min_age.value,
            min_age_source=pack.min_age.cite(),
            kyc_before_play=pack.kyc_before_play.value,
            kyc_source=pack.kyc_before_play.cite(),
            autoplay_allowed=pack.autoplay.value,
            autoplay_categories=tuple(_category(c) for c in pack.autoplay.categories),
            autoplay_source=pack.autoplay.cite(),
            allowed_categories=(
                tuple(_category(c) for c in pack.allowed_categories.value)
                if pack.allowed_categories
                else None
            ),
            allowed_categories_source=(
                pack.allowed_categories.cite() if pack.allowed_categories else None
            ),
            round_pace=tuple(
                RoundPace(_category(p.category), _milliseconds(p.value), p.cite())
                for p in pack.min_round_seconds
            ),
            stake_caps=tuple(
                StakeCap(
                    category=_category(c.category),
                    max_minor=parse_decimal(c.max, currencies.get_currency(c.currency)),
                    currency=c.currency,
                    min_age=c.min_age,
                    max_age=c.max_age,
                    source=c.cite(),
                )
                for c in pack.stake_caps
            ),
            mandatory_deposit_limit=(
                DepositLimitRule(
                    max_minor=parse_decimal(deposit.max, currencies.get_currency(deposit.currency)),
                    currency=deposit.currency,
                    period=deposit.period,
                    source=deposit.cite(),
                )
                if deposit
                else None
            ),
        )
    except msgspec.ValidationError as exc:
        raise ConfigurationError(f"rule pack: {exc}") from None
    except CroupierError as exc:
        raise ConfigurationError(f"rule pack: {exc.message}") from None


def _files(directory: str | None) -> Iterator[tuple[str, bytes]]:
    shipped = resources.files("croupier") / "rules" / "jurisdictions"
    for entry in sorted(shipped.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            yield f"croupier/rules/jurisdictions/{entry.name}", entry.read_bytes()
    if directory:
        for path in sorted(Path(directory).glob("*.toml")):
            yield str(path), path.read_bytes()


def load_rule_packs(currencies: CurrencyTable, directory: str | None = None) -> RulePacks:
    """Every pack, by jurisdiction code; a later file of the same code replaces an earlier."""
    packs: dict[str, JurisdictionRules] = {}
    for name, raw in _files(directory):
        try:
            data = tomllib.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationError(f"{name}: {exc}") from None
        try:
            rules = parse_pack(data, currencies)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{name}: {exc.message}") from None
        packs[rules.code] = rules
    return RulePacks(packs)
