"""Money as integers in minor units: currencies, exact parsing from the wire, vendor scales.

No float ever touches an amount. Parsing refuses anything that is not exact: floats, NaN,
exponents, signs, and digits finer than the currency's precision are errors, never rounded.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from croupier.domain.errors import (
    AmountOutOfRange,
    AmountPrecisionError,
    ConfigurationError,
    InvalidAmount,
    UnknownCurrency,
)

INT64_MAX = 2**63 - 1
"""Every amount and every balance fits a signed 64-bit integer (PostgreSQL BIGINT)."""

# A plain decimal: digits, optionally a point and more digits. No sign, no exponent, no
# spaces, no leading zeros (they hide octal-looking typos), no bare "." or "5.".
_DECIMAL = re.compile(r"(0|[1-9][0-9]*)(?:\.([0-9]+))?")
_MAX_DECIMAL_CHARS = 40
_CODE = re.compile(r"[A-Z][A-Z0-9]{2,9}")


class CurrencyKind(enum.StrEnum):
    FIAT = "fiat"
    CRYPTO = "crypto"


@dataclass(frozen=True, slots=True)
class Currency:
    """A currency and its precision: an amount of 1 minor unit is 10**-exponent major units."""

    code: str
    exponent: int
    kind: CurrencyKind
    max_amount: int
    """The largest amount of one call, in minor units."""

    def __post_init__(self) -> None:
        if not _CODE.fullmatch(self.code):
            raise ConfigurationError(f"currency code {self.code!r} is not 3-10 capitals/digits")
        if not 0 <= self.exponent <= 18:
            raise ConfigurationError(
                f"currency {self.code}: exponent {self.exponent} outside 0..18; "
                "one major unit would not fit a signed 64-bit integer"
            )
        if not 0 < self.max_amount <= INT64_MAX:
            raise ConfigurationError(
                f"currency {self.code}: the largest amount of one call "
                f"({self.max_amount} minor units) does not fit a signed 64-bit integer"
            )


class CurrencyTable(Mapping[str, Currency]):
    """The currencies Croupier accepts, by code. Built once at start from configuration."""

    def __init__(self, currencies: Iterable[Currency]) -> None:
        self._by_code: dict[str, Currency] = {}
        for currency in currencies:
            if currency.code in self._by_code:
                raise ConfigurationError(f"currency {currency.code} is defined twice")
            self._by_code[currency.code] = currency

    @classmethod
    def build(
        cls,
        *,
        fiat: Mapping[str, int],
        crypto: Mapping[str, int],
        max_major_amount: int,
    ) -> CurrencyTable:
        """Make the table, refusing any currency whose largest call would overflow int64."""
        if max_major_amount <= 0:
            raise ConfigurationError("the largest amount of one call must be positive")
        clash = sorted(set(fiat) & set(crypto))
        if clash:
            raise ConfigurationError(f"crypto assets shadow ISO 4217 currencies: {clash}")
        out: list[Currency] = []
        for kind, source in ((CurrencyKind.FIAT, fiat), (CurrencyKind.CRYPTO, crypto)):
            for code, exponent in sorted(source.items()):
                if not 0 <= exponent <= 18:
                    raise ConfigurationError(
                        f"currency {code}: exponent {exponent} outside 0..18; "
                        "one major unit would not fit a signed 64-bit integer"
                    )
                max_minor = max_major_amount * 10**exponent
                if max_minor > INT64_MAX:
                    raise ConfigurationError(
                        f"currency {code}: {max_major_amount} major units at exponent "
                        f"{exponent} is {max_minor} minor units, past the signed 64-bit "
                        f"range; lower CROUPIER_MAX_MAJOR_AMOUNT or the precision"
                    )
                out.append(Currency(code, exponent, kind, max_minor))
        return cls(out)

    def __getitem__(self, code: str) -> Currency:
        return self._by_code[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_code)

    def __len__(self) -> int:
        return len(self._by_code)

    def get_currency(self, code: object) -> Currency:
        """The currency for a code from the wire, or a typed error."""
        if not isinstance(code, str) or code not in self._by_code:
            raise UnknownCurrency(f"unknown currency {code!r}", currency=str(code)[:16])
        return self._by_code[code]


def _pow10(n: int) -> int:
    """10**n for n >= 0, typed as int (mypy types int ** int as Any)."""
    return int(10**n)


def check_minor(value: object, currency: Currency) -> int:
    """Accept an integer in minor units, refusing bools, floats, negatives and oversizes."""
    # bool is an int in Python; True is not an amount.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAmount(
            f"amount must be an integer number of minor units, got {type(value).__name__}",
            currency=currency.code,
        )
    if value < 0:
        raise AmountOutOfRange("amount must not be negative", currency=currency.code)
    if value > currency.max_amount:
        raise AmountOutOfRange(
            f"amount {value} exceeds the largest {currency.code} amount of one call "
            f"({currency.max_amount} minor units)",
            currency=currency.code,
        )
    return value


def parse_decimal(value: object, currency: Currency) -> int:
    """A decimal string in major units ("12.34") to minor units, exactly or not at all.

    Trailing zeros past the precision are accepted ("1.500" USD is 150): the value is exact.
    A non-zero digit past the precision is refused: Croupier never rounds.
    """
    if not isinstance(value, str):
        raise InvalidAmount(
            f"amount must be a decimal string, got {type(value).__name__}",
            currency=currency.code,
        )
    if len(value) > _MAX_DECIMAL_CHARS:
        raise InvalidAmount("amount string is too long", currency=currency.code)
    if value.startswith("-") and _DECIMAL.fullmatch(value[1:]):
        raise AmountOutOfRange("amount must not be negative", currency=currency.code)
    match = _DECIMAL.fullmatch(value)
    if match is None:
        raise InvalidAmount(
            f"amount {value!r} is not a plain decimal such as '12.34'", currency=currency.code
        )
    whole, fraction = match.group(1), match.group(2) or ""
    significant = fraction.rstrip("0")
    if len(significant) > currency.exponent:
        raise AmountPrecisionError(
            f"amount {value} has more decimal places than {currency.code} allows "
            f"({currency.exponent})",
            currency=currency.code,
            exponent=currency.exponent,
        )
    minor = int(whole) * 10**currency.exponent + int(
        significant.ljust(currency.exponent, "0") or "0"
    )
    return check_minor(minor, currency)


def format_decimal(minor: int, currency: Currency) -> str:
    """Minor units to the decimal string of the wire ("12.34"), exact."""
    sign = "-" if minor < 0 else ""
    whole, fraction = divmod(abs(minor), 10**currency.exponent)
    if currency.exponent == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{fraction:0{currency.exponent}d}"


def from_vendor_scale(value: object, *, scale_exponent: int, currency: Currency) -> int:
    """An integer in a vendor's scale to minor units; refuses values that do not fit exactly.

    Hub88 sends amounts times 100000 (scale_exponent=5): $3.56 arrives as 356000.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAmount(
            f"amount must be an integer in the provider's scale, got {type(value).__name__}",
            currency=currency.code,
        )
    if value < 0:
        raise AmountOutOfRange("amount must not be negative", currency=currency.code)
    shift = scale_exponent - currency.exponent
    if shift <= 0:
        return check_minor(value * _pow10(-shift), currency)
    minor, rest = divmod(value, 10**shift)
    if rest:
        raise AmountPrecisionError(
            f"amount {value} (scale 10^{scale_exponent}) is finer than {currency.code} allows",
            currency=currency.code,
            exponent=currency.exponent,
        )
    return check_minor(minor, currency)


def to_vendor_scale(minor: int, *, scale_exponent: int, currency: Currency) -> int:
    """Minor units to a vendor's integer scale; refuses a scale coarser than the amount."""
    shift = scale_exponent - currency.exponent
    if shift >= 0:
        return minor * _pow10(shift)
    scaled, rest = divmod(minor, _pow10(-shift))
    if rest:
        raise AmountPrecisionError(
            f"{minor} minor units of {currency.code} do not fit the provider's scale "
            f"10^{scale_exponent}",
            currency=currency.code,
        )
    return scaled


MONEY_DETAILS = ("cash", "bonus", "limit_amount", "used", "stake_cap")
"""Keys of an error's details that hold amounts in minor units (with ``currency`` beside)."""


def money_details(details: dict[str, Any], currencies: CurrencyTable) -> dict[str, Any]:
    """An error's details with their amounts as decimal strings, as everywhere on the wire;
    unchanged when they name no known currency."""
    code = details.get("currency")
    if not isinstance(code, str) or code not in currencies:
        return details
    currency = currencies[code]
    return {
        k: format_decimal(v, currency)
        if k in MONEY_DETAILS and isinstance(v, int) and not isinstance(v, bool)
        else v
        for k, v in details.items()
    }
