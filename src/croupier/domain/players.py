"""The operator's view of a player: brand, own reference, country, birth date, KYC status.

Providers never see any of it: they get the player's opaque id. Pure: country and
subdivision codes are checked against tables the composition root hands in (ISO 3166, from
a maintained package), so the domain imports nothing but the standard library.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime

from croupier.domain.errors import InvalidRequest

_BRAND = re.compile(r"[a-z0-9][a-z0-9_\-]{0,63}")


class KycStatus(enum.StrEnum):
    NONE = "none"
    PENDING = "pending"
    VERIFIED = "verified"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class PlayerProfile:
    id: str
    """Opaque; the only player id a provider sees."""
    currency: str
    status: str
    brand: str | None
    external_ref: str | None
    country: str | None
    subdivision: str | None
    birth_date: date | None
    kyc_status: KycStatus
    created_at: datetime
    updated_at: datetime | None

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    @property
    def jurisdictions(self) -> tuple[str, ...]:
        """Where the player plays, most specific first: ``("CA-ON", "CA")``, ``("GB",)``;
        empty when the country is unknown."""
        if self.country is None:
            return ()
        return (self.subdivision, self.country) if self.subdivision else (self.country,)

    def age_on(self, day: date) -> int | None:
        return age_on(self.birth_date, day) if self.birth_date else None


def age_on(birth: date, day: date) -> int:
    """Whole years from ``birth`` to ``day``; born on 29 February, one comes of age on
    1 March in a common year (as UK and Maltese law count it)."""
    years = day.year - birth.year
    if (day.month, day.day) < (birth.month, birth.day):
        years -= 1
    return years


def check_brand(value: str) -> str:
    if not _BRAND.fullmatch(value):
        raise InvalidRequest(
            "brand is 1 to 64 of a-z, 0-9, '_' and '-', starting with a letter or digit",
            field="brand",
        )
    return value


def check_country(value: str, countries: Collection[str]) -> str:
    if value not in countries:
        raise InvalidRequest(
            f"country {value!r} is not an ISO 3166-1 alpha-2 code", field="country"
        )
    return value


def check_subdivision(value: str, country: str | None, subdivisions: Collection[str]) -> str:
    if value not in subdivisions:
        raise InvalidRequest(
            f"subdivision {value!r} is not an ISO 3166-2 code", field="subdivision"
        )
    if country is None or not value.startswith(f"{country}-"):
        raise InvalidRequest(
            f"subdivision {value!r} is not in country {country!r}", field="subdivision"
        )
    return value


def check_birth_date(value: date, today: date) -> date:
    if value > today or value.year < 1900:
        raise InvalidRequest("birth date must be between 1900 and today", field="birth_date")
    return value
