"""Jurisdiction rule packs: the shipped GB, DE and CA-ON packs and what they state, the
parser's refusals (a pack that does not parse stops the start), an operator's directory
replacing a shipped pack, the choice of the most specific pack, and the age count a launch
uses (29 February birthdays)."""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from croupier.adapters.rule_packs import load_rule_packs, parse_pack
from croupier.bootstrap import currency_table
from croupier.config import Settings
from croupier.domain.catalogue import GameCategory
from croupier.domain.errors import ConfigurationError
from croupier.domain.jurisdictions import JurisdictionRules, RulePacks, Source
from croupier.domain.money import CurrencyTable
from croupier.domain.players import KycStatus, PlayerProfile, age_on

C = GameCategory
CURRENCIES = currency_table(Settings())
SHIPPED = resources.files("croupier") / "rules" / "jurisdictions"


def shipped_text(code: str) -> str:
    return (SHIPPED / f"{code}.toml").read_text(encoding="utf-8")


def shipped_data(code: str) -> dict[str, Any]:
    return tomllib.loads(shipped_text(code))


@pytest.fixture(scope="module")
def packs() -> RulePacks:
    return load_rule_packs(CURRENCIES)


def sources(rules: JurisdictionRules) -> Iterator[tuple[str, Source]]:
    """Every value's source, named."""
    yield "min_age", rules.min_age_source
    yield "kyc_before_play", rules.kyc_source
    yield "autoplay", rules.autoplay_source
    if rules.allowed_categories_source is not None:
        yield "allowed_categories", rules.allowed_categories_source
    for pace in rules.round_pace:
        yield f"min_round_seconds.{pace.category}", pace.source
    for cap in rules.stake_caps:
        yield f"stake_caps.{cap.category}.{cap.min_age}", cap.source
    if rules.mandatory_deposit_limit is not None:
        yield "mandatory_deposit_limit", rules.mandatory_deposit_limit.source


# -- the shipped packs -----------------------------------------------------------------------


def test_the_shipped_packs_load(packs: RulePacks) -> None:
    assert sorted(packs.packs) == ["CA-ON", "DE", "GB"]
    for code, rules in packs.packs.items():
        assert rules.code == code
        assert rules.name
        assert rules.regulator
        assert date.fromisoformat(rules.version)


@pytest.mark.parametrize("code", ["GB", "DE", "CA-ON"])
def test_every_shipped_value_carries_a_source(packs: RulePacks, code: str) -> None:
    found = dict(sources(packs.packs[code]))
    assert {"min_age", "kyc_before_play", "autoplay"} <= found.keys()
    for name, source in found.items():
        assert source.text.strip(), (code, name)
        assert source.checked.strip(), (code, name)


def test_the_number_of_sourced_values_per_pack(packs: RulePacks) -> None:
    counts = {code: len(list(sources(rules))) for code, rules in packs.packs.items()}
    assert counts == {"GB": 6, "DE": 7, "CA-ON": 3}


def test_great_britain(packs: RulePacks) -> None:
    gb = packs.packs["GB"]
    assert (gb.min_age, gb.kyc_before_play, gb.allowed_categories) == (18, True, None)
    caps = {
        (category, age): (cap.max_minor, cap.currency) if cap else None
        for category, age in [(C.SLOTS, 17), (C.SLOTS, 18), (C.SLOTS, 24), (C.SLOTS, 25),
                              (C.SLOTS, 99), (C.TABLE, 30), (C.LIVE, 20)]
        for cap in [gb.stake_cap(category, age)]
    }  # fmt: skip
    assert caps == {
        (C.SLOTS, 17): None, (C.SLOTS, 18): (200, "GBP"), (C.SLOTS, 24): (200, "GBP"),
        (C.SLOTS, 25): (500, "GBP"), (C.SLOTS, 99): (500, "GBP"), (C.TABLE, 30): None,
        (C.LIVE, 20): None,
    }  # fmt: skip
    pace = gb.pace(C.SLOTS)
    assert pace is not None
    assert pace.min_ms == 2500
    assert gb.pace(C.TABLE) is None
    assert (gb.autoplay_for(C.SLOTS), gb.autoplay_for(C.TABLE)) == (False, True)
    assert gb.mandatory_deposit_limit is None
    assert gb.rule("min_age") == "GB.min_age"


def test_germany(packs: RulePacks) -> None:
    de = packs.packs["DE"]
    assert (de.min_age, de.kyc_before_play) == (18, True)
    assert de.allowed_categories == (C.SLOTS,)
    deposit = de.mandatory_deposit_limit
    assert deposit is not None
    assert (deposit.max_minor, deposit.currency, deposit.period) == (100_000, "EUR", "month")
    pace = de.pace(C.SLOTS)
    assert pace is not None
    assert pace.min_ms == 5000
    cap = de.stake_cap(C.SLOTS, 18)
    assert cap is not None
    assert (cap.max_minor, cap.currency) == (100, "EUR")
    assert de.stake_cap(C.SLOTS, 80) == cap
    assert (de.autoplay_for(C.SLOTS), de.autoplay_for(C.TABLE)) == (False, True)


def test_ontario(packs: RulePacks) -> None:
    on = packs.packs["CA-ON"]
    assert (on.min_age, on.kyc_before_play, on.allowed_categories) == (19, True, None)
    assert on.stake_cap(C.SLOTS, 30) is None
    assert on.pace(C.SLOTS) is None
    assert on.autoplay_for(C.SLOTS) is True


def test_the_most_specific_pack_is_the_players(packs: RulePacks) -> None:
    picked = {
        places: rules.code if rules else None
        for places in [("CA-ON", "CA"), ("CA",), ("CA-QC", "CA"), ("GB",), ("DE",), ("FR",), ()]
        for rules in [packs.for_player(places)]
    }
    assert picked == {
        ("CA-ON", "CA"): "CA-ON", ("CA",): None, ("CA-QC", "CA"): None, ("GB",): "GB",
        ("DE",): "DE", ("FR",): None, (): None,
    }  # fmt: skip


def test_a_player_profiles_jurisdictions_pick_its_pack(packs: RulePacks) -> None:
    def player(country: str | None, subdivision: str | None) -> PlayerProfile:
        return PlayerProfile(
            id="pl_1", currency="CAD", status="active", brand="b", external_ref="u1",
            country=country, subdivision=subdivision, birth_date=None,
            kyc_status=KycStatus.VERIFIED, created_at=datetime(2026, 1, 1, tzinfo=UTC),
            updated_at=None,
        )  # fmt: skip

    ontario = player("CA", "CA-ON")
    assert ontario.jurisdictions == ("CA-ON", "CA")
    rules = packs.for_player(ontario.jurisdictions)
    assert rules is not None
    assert rules.code == "CA-ON"
    assert packs.for_player(player(None, None).jurisdictions) is None
    assert ontario.age_on(date(2026, 1, 1)) is None  # no birth date on file


# -- the parser's refusals -------------------------------------------------------------------


Change = Callable[[dict[str, Any]], None]


def _drop(*path: str | int) -> Change:
    def change(data: dict[str, Any]) -> None:
        node: Any = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return change


def _set(value: Any, *path: str | int) -> Change:
    def change(data: dict[str, Any]) -> None:
        node: Any = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


BAD: dict[str, tuple[str, Change]] = {
    "min-age-without-source": ("GB", _drop("min_age", "source")),
    "kyc-without-source": ("GB", _drop("kyc_before_play", "source")),
    "stake-cap-without-source": ("GB", _drop("stake_caps", 0, "source")),
    "pace-without-source": ("GB", _drop("min_round_seconds", 0, "source")),
    "deposit-without-source": ("DE", _drop("mandatory_deposit_limit", "source")),
    "categories-without-source": ("DE", _drop("allowed_categories", "source")),
    "no-min-age": ("GB", _drop("min_age")),
    "unknown-top-level-key": ("GB", _set({"value": 1, "source": "x"}, "max_daily_loss")),
    "unknown-key-in-a-value": ("GB", _set("x", "min_age", "note")),
    "unknown-key-in-a-cap": ("GB", _set("x", "stake_caps", 0, "per")),
    "unknown-cap-category": ("GB", _set("pokies", "stake_caps", 0, "category")),
    "unknown-pace-category": ("GB", _set("bingo", "min_round_seconds", 0, "category")),
    "unknown-allowed-category": ("DE", _set(["slots", "poker"], "allowed_categories", "value")),
    "unknown-autoplay-category": ("GB", _set(["fruit"], "autoplay", "categories")),
    "cap-in-an-unknown-currency": ("GB", _set("ZZZ", "stake_caps", 0, "currency")),
    "cap-with-too-many-decimals": ("GB", _set("2.001", "stake_caps", 0, "max")),
    "cap-as-a-number": ("GB", _set(2.0, "stake_caps", 0, "max")),
    "cap-not-a-number": ("GB", _set("two", "stake_caps", 0, "max")),
    "deposit-in-an-unknown-currency": ("DE", _set("ZZZ", "mandatory_deposit_limit", "currency")),
    "seconds-with-a-unit": ("GB", _set("2.5s", "min_round_seconds", 0, "value")),
    "seconds-negative": ("GB", _set("-1", "min_round_seconds", 0, "value")),
    "seconds-past-milliseconds": ("GB", _set("2.5001", "min_round_seconds", 0, "value")),
    "seconds-as-a-number": ("GB", _set(2.5, "min_round_seconds", 0, "value")),
    "seconds-empty": ("GB", _set("", "min_round_seconds", 0, "value")),
    "min-age-as-a-string": ("GB", _set("18", "min_age", "value")),
    "kyc-as-a-string": ("GB", _set("yes", "kyc_before_play", "value")),
    "code-not-iso": ("GB", _set("Great Britain", "code")),
}  # fmt: skip


@pytest.mark.parametrize(("code", "change"), BAD.values(), ids=BAD.keys())
def test_a_pack_that_does_not_parse_is_refused(code: str, change: Change) -> None:
    data = shipped_data(code)
    parse_pack(copy.deepcopy(data), CURRENCIES)  # the shipped pack parses
    change(data)
    with pytest.raises(ConfigurationError) as caught:
        parse_pack(data, CURRENCIES)
    assert caught.value.message.startswith("rule pack: ")


def test_seconds_are_read_to_the_millisecond() -> None:
    read = {}
    for text in ["5", "2.5", "0.25", "1.005", "0"]:
        data = shipped_data("GB")
        data["min_round_seconds"][0]["value"] = text
        pace = parse_pack(data, CURRENCIES).pace(C.SLOTS)
        assert pace is not None
        read[text] = pace.min_ms
    assert read == {"5": 5000, "2.5": 2500, "0.25": 250, "1.005": 1005, "0": 0}


def test_a_cap_is_read_in_its_currencys_minor_units() -> None:
    data = shipped_data("GB")
    data["stake_caps"][0] |= {"max": "300", "currency": "JPY"}
    data["stake_caps"][1] |= {"max": "0.5", "currency": "BHD"}  # three decimals
    rules = parse_pack(data, CURRENCIES)
    young, older = rules.stake_cap(C.SLOTS, 20), rules.stake_cap(C.SLOTS, 30)
    assert young is not None
    assert older is not None
    assert ((young.max_minor, young.currency), (older.max_minor, older.currency)) == (
        (300, "JPY"), (500, "BHD"),
    )  # fmt: skip


def test_an_empty_source_is_refused() -> None:
    data = shipped_data("GB")
    data["min_age"]["source"] = ""
    with pytest.raises(ConfigurationError):
        parse_pack(data, CURRENCIES)


# -- files: the shipped directory and an operator's ------------------------------------------


def test_an_operator_pack_replaces_the_shipped_one(tmp_path: Path) -> None:
    text = shipped_text("GB").replace('version = "2025-05-21"', 'version = "2030-01-01"')
    text = text.replace("[min_age]\nvalue = 18", "[min_age]\nvalue = 21")
    (tmp_path / "GB.toml").write_text(text, encoding="utf-8")
    (tmp_path / "CA.toml").write_text(
        shipped_text("CA-ON").replace('code = "CA-ON"', 'code = "CA"'), encoding="utf-8"
    )
    (tmp_path / "notes.txt").write_text("not a pack", encoding="utf-8")
    packs = load_rule_packs(CURRENCIES, str(tmp_path))
    assert sorted(packs.packs) == ["CA", "CA-ON", "DE", "GB"]
    gb = packs.packs["GB"]
    assert (gb.version, gb.min_age) == ("2030-01-01", 21)
    assert packs.packs["DE"] == load_rule_packs(CURRENCIES).packs["DE"]
    ontario = packs.for_player(("CA-ON", "CA"))
    canada = packs.for_player(("CA",))
    assert ontario is not None
    assert canada is not None
    assert (ontario.code, canada.code) == ("CA-ON", "CA")


def test_an_empty_operator_directory_changes_nothing(tmp_path: Path) -> None:
    assert load_rule_packs(CURRENCIES, str(tmp_path)) == load_rule_packs(CURRENCIES)
    assert load_rule_packs(CURRENCIES, None) == load_rule_packs(CURRENCIES)


@pytest.mark.parametrize(
    "text",
    [
        "code = ",  # not TOML
        'code = "GB"\n',  # TOML, but not a pack
        shipped_text("GB").replace('max = "2.00"', 'max = "2.001"'),
        shipped_text("GB").replace('value = "2.5"', 'value = "2.5s"'),
    ],
    ids=["not-toml", "not-a-pack", "cap-precision", "seconds"],
)
def test_a_bad_operator_pack_stops_the_load_naming_its_file(tmp_path: Path, text: str) -> None:
    (tmp_path / "GB.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError) as caught:
        load_rule_packs(CURRENCIES, str(tmp_path))
    assert str(tmp_path / "GB.toml") in caught.value.message


def test_a_pack_that_is_not_utf8_stops_the_load(tmp_path: Path) -> None:
    (tmp_path / "GB.toml").write_bytes(shipped_text("GB").encode("utf-16"))
    with pytest.raises(ConfigurationError) as caught:
        load_rule_packs(CURRENCIES, str(tmp_path))
    assert caught.value.message.startswith(f"{tmp_path / 'GB.toml'}: ")


def test_packs_need_the_currencies_their_caps_are_in() -> None:
    no_pound = CurrencyTable([CURRENCIES[code] for code in CURRENCIES if code != "GBP"])
    with pytest.raises(ConfigurationError) as caught:
        load_rule_packs(no_pound)
    assert caught.value.message.startswith("croupier/rules/jurisdictions/GB.toml: rule pack: ")
    assert "GBP" in caught.value.message


# -- age -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("birth", "day", "age"),
    [
        (date(2004, 2, 29), date(2022, 2, 28), 17),
        (date(2004, 2, 29), date(2022, 3, 1), 18),
        (date(2004, 2, 29), date(2024, 2, 28), 19),
        (date(2004, 2, 29), date(2024, 2, 29), 20),
        (date(2001, 1, 1), date(2026, 1, 1), 25),
        (date(2001, 1, 2), date(2026, 1, 1), 24),
        (date(2000, 12, 31), date(2026, 1, 1), 25),
        (date(2026, 1, 1), date(2026, 1, 1), 0),
    ],
)  # fmt: skip
def test_age_on(birth: date, day: date, age: int) -> None:
    assert age_on(birth, day) == age
