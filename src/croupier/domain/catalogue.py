"""The game catalogue: providers and their games, with where each may be offered.

A jurisdiction list holds ISO codes (``GB``, ``DE``, ``CA-ON``) or ``*`` for everywhere. A
player may play a game when the game and its provider are both enabled and both allow one of
the player's jurisdictions (``CA-ON`` or ``CA`` for a player in Ontario).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from croupier.domain.errors import InvalidRequest

EVERYWHERE = "*"
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}")
_JURISDICTION = re.compile(r"[A-Z]{2}(-[A-Z0-9]{1,3})?")
_RTP = re.compile(r"(\d{1,3})(?:\.(\d{1,2}))?")


class GameCategory(enum.StrEnum):
    SLOTS = "slots"
    TABLE = "table"
    LIVE = "live"
    CRASH = "crash"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class CatalogueProvider:
    code: str
    name: str
    enabled: bool
    launch_url: str
    jurisdictions: tuple[str, ...]

    def allows(self, jurisdictions: Sequence[str]) -> bool:
        return allows(self.jurisdictions, jurisdictions)


@dataclass(frozen=True, slots=True)
class Game:
    provider: str
    code: str
    name: str
    category: GameCategory
    rtp_bp: int
    """Return to player in basis points: 9650 is 96.50%."""
    enabled: bool
    jurisdictions: tuple[str, ...]

    def allows(self, jurisdictions: Sequence[str]) -> bool:
        return allows(self.jurisdictions, jurisdictions)


def allows(allowed: Sequence[str], jurisdictions: Sequence[str]) -> bool:
    return EVERYWHERE in allowed or any(j in allowed for j in jurisdictions)


PROVIDER_CODE_MAX = 64
"""A provider's code is at most 64 characters (the width of every provider column)."""


def check_code(field: str, value: str, longest: int = 128) -> str:
    """A code: letters, digits, '_', '.', ':' and '-', at most ``longest`` (a game's 128)."""
    if not _CODE.fullmatch(value) or len(value) > longest:
        raise InvalidRequest(
            f"{field} is 1 to {longest} of letters, digits, '_', '.', ':' and '-'", field=field
        )
    return value


def check_provider(value: str) -> str:
    """A provider's code, as every provider column holds it: at most 64 characters."""
    return check_code("provider", value, PROVIDER_CODE_MAX)


def check_jurisdictions(values: Iterable[str]) -> tuple[str, ...]:
    out = tuple(dict.fromkeys(values))
    for value in out:
        if value != EVERYWHERE and not _JURISDICTION.fullmatch(value):
            raise InvalidRequest(
                f"jurisdiction {value!r} is not an ISO 3166 code (GB, CA-ON) or '*'",
                field="jurisdictions",
            )
    return out


def parse_rtp(text: str) -> int:
    """``"96.50"`` -> 9650 basis points; at most two decimals, at most 100%. A string: a
    float would round."""
    match = _RTP.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidRequest(
            f'rtp must be a decimal string with at most two decimals, e.g. "96.50": {text!r}',
            field="rtp",
        )
    whole, frac = match.group(1), (match.group(2) or "").ljust(2, "0")
    bp = int(whole) * 100 + int(frac)
    if bp > 10_000:
        raise InvalidRequest(f"rtp {text!r} is above 100", field="rtp")
    return bp


def format_rtp(bp: int) -> str:
    return f"{bp // 100}.{bp % 100:02d}"


def _problems(checks: Iterable[tuple[str, Callable[[], object]]]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for field, check in checks:
        try:
            check()
        except InvalidRequest as err:
            found.append((field, err.message))
    return found


def _check_name(value: str, longest: int) -> None:
    if not 1 <= len(value) <= longest:
        raise InvalidRequest(f"name is 1 to {longest} characters", field="name")


def _check_url(value: str) -> None:
    if not value.startswith(("https://", "http://")) or len(value) > 2048:
        raise InvalidRequest("launch_url must be an http(s) URL", field="launch_url")


def _check_category(value: str) -> GameCategory:
    try:
        return GameCategory(value)
    except ValueError:
        raise InvalidRequest(
            f"category must be one of {', '.join(c.value for c in GameCategory)}",
            field="category",
        ) from None


def provider_problems(
    *, code: str, name: str, launch_url: str, jurisdictions: Iterable[str]
) -> list[tuple[str, str]]:
    """Every (field, problem) of a provider, not only the first."""
    return _problems([
        ("code", lambda: check_code("code", code, PROVIDER_CODE_MAX)),
        ("name", lambda: _check_name(name, 128)),
        ("launch_url", lambda: _check_url(launch_url)),
        ("jurisdictions", lambda: check_jurisdictions(jurisdictions)),
    ])  # fmt: skip


def game_problems(
    *, provider: str, code: str, name: str, category: str, rtp: str,
    jurisdictions: Iterable[str],
) -> list[tuple[str, str]]:  # fmt: skip
    """Every (field, problem) of a game, not only the first."""
    return _problems([
        ("provider", lambda: check_provider(provider)),
        ("code", lambda: check_code("code", code)),
        ("name", lambda: _check_name(name, 256)),
        ("category", lambda: _check_category(category)),
        ("rtp", lambda: parse_rtp(rtp)),
        ("jurisdictions", lambda: check_jurisdictions(jurisdictions)),
    ])  # fmt: skip


def build_provider(
    *, code: str, name: str, launch_url: str, jurisdictions: Iterable[str], enabled: bool
) -> CatalogueProvider:
    _check_url(launch_url)
    _check_name(name, 128)
    return CatalogueProvider(
        code=check_code("code", code, PROVIDER_CODE_MAX),
        name=name,
        enabled=enabled,
        launch_url=launch_url,
        jurisdictions=check_jurisdictions(jurisdictions),
    )


def build_game(
    *,
    provider: str,
    code: str,
    name: str,
    category: str,
    rtp: str,
    jurisdictions: Iterable[str],
    enabled: bool,
) -> Game:
    kind = _check_category(category)
    _check_name(name, 256)
    return Game(
        provider=check_provider(provider),
        code=check_code("code", code),
        name=name,
        category=kind,
        rtp_bp=parse_rtp(rtp),
        enabled=enabled,
        jurisdictions=check_jurisdictions(jurisdictions),
    )
