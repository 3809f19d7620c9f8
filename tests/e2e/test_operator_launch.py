"""Game launch through the operator API (POST /operator/v1/launch), on SQLite and PostgreSQL.

A launch checks, in order and before anything is created: the player is active, has a rule
pack, passed KYC where the pack needs it, is old enough, may be offered the provider, the
game and its category where they are, is not excluded, and the game and its provider are
enabled; then it opens a session with the jurisdiction's bet rules and answers a launch URL
signed with the provider's primary key. Each refusal is checked with its code and
``details.rule`` and with no session written; the order is checked with players failing two
checks at once. The stake cap a launch fixes is then checked on the bets of its session, and
demo mode (no player, no session) last.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from croupier.services.launch import launch_signature
from tests.conftest import assert_ledger_ok
from tests.e2e.conftest import Api

BRAND = "casino-a"
LAUNCH_URL = "https://games.acme.test/launch"
ADULT = date(1990, 6, 15)
"""A birth date that makes a player 35 on the test clock's day (2026-01-01)."""
PACE = 5
"""Seconds between two rounds: more than any pack's least time per slots game."""
URL_PARAMS = ["mode", "game", "player", "currency", "session", "token", "lang", "expires",
              "key", "signature"]  # fmt: skip

Step = Callable[[Api, str], Awaitable[None]]

# -- helpers ---------------------------------------------------------------------------------


def today(api: Api) -> date:
    return api.clock().date()


def born(api: Api, age: int, *, last_day: bool = False) -> date:
    """The birth date of a player who turns ``age`` today, or (``last_day``) who is ``age``
    for one more day: turns ``age + 1`` tomorrow."""
    day = today(api)
    if last_day:
        return day.replace(year=day.year - age - 1) + timedelta(days=1)
    return day.replace(year=day.year - age)


async def sessions_count(api: Api) -> int:
    rows = await api.wallet.store.fetch("SELECT count(*) FROM game_sessions")  # type: ignore[attr-defined]
    return int(rows[0][0])


async def put_provider(
    api: Api, code: str = "acme", *, places: Sequence[str] = ("GB", "DE", "CA-ON"),
    launch_url: str = LAUNCH_URL, enabled: bool = True,
) -> None:  # fmt: skip
    body = {"name": code.title(), "launch_url": launch_url, "jurisdictions": list(places),
            "enabled": enabled}  # fmt: skip
    r = await api.op("PUT", f"/catalogue/providers/{code}", body)
    assert r.status_code == 200, r.text


async def put_game(
    api: Api, code: str, *, provider: str = "acme", category: str = "slots",
    places: Sequence[str] = ("*",), enabled: bool = True,
) -> None:  # fmt: skip
    body = {"name": code.title(), "category": category, "rtp": "96.50",
            "jurisdictions": list(places), "enabled": enabled}  # fmt: skip
    r = await api.op("PUT", f"/catalogue/games/{provider}/{code}", body)
    assert r.status_code == 200, r.text


async def catalogue(api: Api) -> None:
    """acme (GB, DE, Ontario) with a slot and a table game offered everywhere, and a slot
    offered in Germany only."""
    await put_provider(api)
    await put_game(api, "slot1")
    await put_game(api, "table1", category="table")
    await put_game(api, "de-slot", places=["DE"])


async def new_player(
    api: Api, *, country: str | None = "GB", subdivision: str | None = None,
    birth: date | None = ADULT, currency: str = "GBP", kyc: str = "verified",
    deposit: str | None = "50.00", deposit_limit: str | None = "1000.00",
) -> str:  # fmt: skip
    """A new player of BRAND (funded with ``deposit``); its opaque id. A player in Germany
    also gets the monthly deposit limit the DE pack makes mandatory (``deposit_limit``)."""
    body: dict[str, Any] = {
        "brand": BRAND, "external_ref": f"u-{secrets.token_hex(6)}", "currency": currency,
        "country": country, "subdivision": subdivision, "kyc_status": kyc,
        "birth_date": birth.isoformat() if birth else None,
    }  # fmt: skip
    r = await api.op("POST", "/players", body)
    assert r.status_code == 201, r.text
    player_id: str = r.json()["id"]
    if country == "DE" and deposit_limit is not None:
        r = await api.op(
            "PUT", f"/players/{player_id}/limits/deposit_month", {"value": deposit_limit}
        )
        assert r.status_code == 200, r.text
    if deposit is not None:
        r = await api.op(
            "POST", f"/players/{player_id}/deposits",
            {"reference": f"dep-{player_id}", "amount": deposit, "currency": currency},
        )  # fmt: skip
        assert r.status_code == 201, r.text
    return player_id


async def launch(
    api: Api, player_id: str | None, game: str = "slot1", *, provider: str = "acme"
) -> httpx.Response:
    body: dict[str, Any] = {"provider": provider, "game": game}
    if player_id is not None:
        body["player_id"] = player_id
    return await api.op("POST", "/launch", body)


async def launched(api: Api, player_id: str, game: str = "slot1") -> dict[str, Any]:
    r = await launch(api, player_id, game)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def refusal(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """A typed JSON refusal with this status and code; its ``details``."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "ERROR", body
    assert body["error"]["code"] == code, body
    details: dict[str, Any] = body["error"]["details"]
    return details


async def refused_launch(
    api: Api, player_id: str, code: str, rule: str, game: str = "slot1"
) -> dict[str, Any]:
    """The launch is refused with ``code`` (403) naming ``rule``; no session was written."""
    before = await sessions_count(api)
    details = refusal(await launch(api, player_id, game), 403, code)
    assert details["rule"] == rule, details
    assert await sessions_count(api) == before
    return details


def query_of(url: str) -> list[tuple[str, str]]:
    return parse_qsl(urlsplit(url).query, keep_blank_values=True, strict_parsing=True)


def signed_part(url: str) -> tuple[str, str]:
    """(the query string before ``&signature=``, the signature)."""
    query = urlsplit(url).query
    head, _, signature = query.rpartition("&signature=")
    return head, signature


def bet(
    player_id: str, token: str, tx_id: str, amount: str, *, round_id: str = "r1",
    game: str = "slot1", currency: str = "GBP",
) -> dict[str, Any]:  # fmt: skip
    return {"player_id": player_id, "token": token, "tx_id": tx_id, "round_id": round_id,
            "game_code": game, "amount": amount, "currency": currency}  # fmt: skip


async def cash(api: Api, player_id: str) -> int:
    return (await api.wallet.balance(player_id)).cash


# -- steps that make a check refuse ------------------------------------------------------------


async def block(api: Api, player_id: str) -> None:
    r = await api.op("POST", f"/players/{player_id}/block")
    assert r.status_code == 200, r.text


async def cool_off(api: Api, player_id: str) -> None:
    r = await api.op("POST", f"/players/{player_id}/exclusions", {"kind": "cool_off", "days": 7})
    assert r.status_code == 201, r.text


async def self_exclude(api: Api, player_id: str) -> None:
    r = await api.op("POST", f"/players/{player_id}/exclusions", {"kind": "self_exclusion"})
    assert r.status_code == 201, r.text


async def disable_game(api: Api, _: str) -> None:
    r = await api.op("PATCH", "/catalogue/games/acme/slot1", {"enabled": False})
    assert r.status_code == 200, r.text


async def disable_provider(api: Api, _: str) -> None:
    r = await api.op("PATCH", "/catalogue/providers/acme", {"enabled": False})
    assert r.status_code == 200, r.text


async def provider_in_germany_only(api: Api, _: str) -> None:
    await put_provider(api, places=["DE"])


# -- a launch that passes --------------------------------------------------------------------


async def test_a_launch_answers_a_signed_url_a_session_and_its_rules(api: Api) -> None:
    await catalogue(api)
    player_id = await new_player(api)
    assert await sessions_count(api) == 0
    r = await launch(api, player_id)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["mode"] == "real"
    assert body["session_id"].startswith("gs_")
    assert body["token"].startswith("cst_")
    assert body["rules"] == {
        "jurisdiction": "GB", "stake_cap": "5.00", "stake_cap_rule": "GB.stake_caps",
        "min_round_seconds": "2.5", "min_round_rule": "GB.min_round_seconds", "autoplay": False,
    }  # fmt: skip
    assert await sessions_count(api) == 1

    url = body["url"]
    assert url.startswith(LAUNCH_URL + "?")
    query = query_of(url)
    assert [name for name, _ in query] == URL_PARAMS
    params = dict(query)
    expires = int(api.clock().timestamp()) + 120
    assert params == {
        "mode": "real", "game": "slot1", "player": player_id, "currency": "GBP",
        "session": body["session_id"], "token": body["token"], "lang": "en",
        "expires": str(expires), "key": "k1", "signature": params["signature"],
    }  # fmt: skip
    assert body["expires_at"] == "2026-01-01T12:02:00+00:00"
    head, signature = signed_part(url)
    assert signature == launch_signature(api.secret, head)
    assert signature != launch_signature("another secret", head)

    session = await api.sessions.get(body["session_id"])
    assert (session.player_id, session.provider, session.game_code) == (player_id, "acme", "slot1")
    assert (session.jurisdiction, session.stake_cap, session.stake_cap_rule) == (
        "GB", 500, "GB.stake_caps",
    )  # fmt: skip

    auth = await api.post("authenticate", {"token": body["token"]})
    assert auth.status_code == 200, auth.text
    data = auth.json()
    assert data["player_id"] == player_id
    assert data["session"]["id"] == body["session_id"]
    assert data["session"]["state"] == "launched"
    assert data["balance"] == {"cash": "50.00", "bonus": "0.00"}
    assert data["currency"] == "GBP"


async def test_the_language_is_carried_and_checked(api: Api) -> None:
    await catalogue(api)
    player_id = await new_player(api)
    body = {"provider": "acme", "game": "slot1", "player_id": player_id, "language": "de-DE"}
    r = await api.op("POST", "/launch", body)
    assert r.status_code == 201, r.text
    assert dict(query_of(r.json()["url"]))["lang"] == "de-DE"
    bad = await api.op("POST", "/launch", body | {"language": "de&x=1"})
    assert refusal(bad, 400, "INVALID_REQUEST")["field"] == "language"
    assert await sessions_count(api) == 1


async def test_a_real_launch_names_a_player(api: Api) -> None:
    await catalogue(api)
    details = refusal(await launch(api, None), 400, "INVALID_REQUEST")
    assert details["field"] == "player_id"
    assert await sessions_count(api) == 0


async def test_each_launch_signs_with_the_current_primary_key(api: Api) -> None:
    await catalogue(api)
    player_id = await new_player(api)
    k2 = await api.keys.add("acme", key_id="k2")
    await api.keys.promote("acme", "k2")
    url = (await launched(api, player_id))["url"]
    head, signature = signed_part(url)
    assert dict(query_of(url))["key"] == "k2"
    assert signature == launch_signature(k2.secret, head)
    assert signature != launch_signature(api.secret, head)


async def test_a_launch_url_with_its_own_query_is_signed_as_sent(api: Api) -> None:
    await put_provider(api, launch_url=LAUNCH_URL + "?brand=x")
    await put_game(api, "slot1")
    player_id = await new_player(api)
    url = (await launched(api, player_id))["url"]
    assert url.startswith(LAUNCH_URL + "?brand=x&mode=real&")
    # The provider's check, as docs/operator-api.md gives it.
    query, _, signature = url.partition("?")[2].rpartition("&signature=")
    assert signature == launch_signature(api.secret, query)


# -- each check refusing ---------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A player (``player`` over a verified GB adult with a GBP wallet), what is done before
    the launch, and the refusal expected."""

    code: str
    rule: str
    player: dict[str, Any] = field(default_factory=dict)
    steps: tuple[Step, ...] = ()
    game: str = "slot1"


CHECKS = {
    "blocked": Case("PLAYER_BLOCKED", "player.active", steps=(block,)),
    "no-country": Case("JURISDICTION_REFUSED", "jurisdiction.pack", {"country": None}),
    "no-pack": Case("JURISDICTION_REFUSED", "jurisdiction.pack",
                    {"country": "FR", "currency": "EUR"}),
    "canada-outside-ontario": Case("JURISDICTION_REFUSED", "jurisdiction.pack",
                                   {"country": "CA", "currency": "CAD"}),
    "kyc-pending": Case("KYC_REQUIRED", "GB.kyc_before_play", {"kyc": "pending"}),
    "kyc-none": Case("KYC_REQUIRED", "GB.kyc_before_play", {"kyc": "none"}),
    "kyc-rejected": Case("KYC_REQUIRED", "GB.kyc_before_play", {"kyc": "rejected"}),
    "de-kyc-pending": Case("KYC_REQUIRED", "DE.kyc_before_play",
                           {"country": "DE", "currency": "EUR", "kyc": "pending"}),
    "no-birth-date": Case("UNDER_AGE", "GB.min_age", {"birth": None}),
    "provider-jurisdictions": Case("JURISDICTION_REFUSED", "catalogue.provider.jurisdictions",
                                   steps=(provider_in_germany_only,)),
    "game-jurisdictions": Case("JURISDICTION_REFUSED", "catalogue.game.jurisdictions",
                               game="de-slot"),
    "de-table-game": Case("JURISDICTION_REFUSED", "DE.allowed_categories",
                          {"country": "DE", "currency": "EUR"}, game="table1"),
    "cool-off": Case("COOLING_OFF", "protection.cool_off", steps=(cool_off,)),
    "self-exclusion": Case("SELF_EXCLUDED", "protection.self_exclusion", steps=(self_exclude,)),
    "game-disabled": Case("GAME_UNAVAILABLE", "catalogue.game.enabled", steps=(disable_game,)),
    "provider-disabled": Case("GAME_UNAVAILABLE", "catalogue.provider.enabled",
                              steps=(disable_provider,)),
    "gb-stake-cap-in-eur": Case("JURISDICTION_REFUSED", "GB.stake_caps", {"currency": "EUR"}),
}  # fmt: skip


@pytest.mark.parametrize("case", CHECKS.values(), ids=CHECKS.keys())
async def test_each_check_refuses_with_its_rule_and_creates_nothing(api: Api, case: Case) -> None:
    await catalogue(api)
    player_id = await new_player(api, **case.player)
    for step in case.steps:
        await step(api, player_id)
    await refused_launch(api, player_id, case.code, case.rule, case.game)
    assert await sessions_count(api) == 0
    assert await cash(api, player_id) == 5000  # nothing moved


async def test_the_refusals_carry_their_details(api: Api) -> None:
    await catalogue(api)
    nowhere = await new_player(api, country=None)
    details = await refused_launch(api, nowhere, "JURISDICTION_REFUSED", "jurisdiction.pack")
    assert details["jurisdictions"] == []
    france = await new_player(api, country="FR", currency="EUR")
    details = await refused_launch(api, france, "JURISDICTION_REFUSED", "jurisdiction.pack")
    assert details["jurisdictions"] == ["FR"]
    young = await new_player(api, birth=born(api, 17, last_day=True))
    details = await refused_launch(api, young, "UNDER_AGE", "GB.min_age")
    assert details["min_age"] == 18
    assert "Gambling Act 2005" in details["source"]
    pending = await new_player(api, kyc="pending")
    details = await refused_launch(api, pending, "KYC_REQUIRED", "GB.kyc_before_play")
    assert details["source"].startswith("LCCP")
    euro = await new_player(api, currency="EUR")
    details = await refused_launch(api, euro, "JURISDICTION_REFUSED", "GB.stake_caps")
    assert details["currency"] == "GBP"
    r = await launch(api, euro)
    assert r.json()["error"]["retry_class"] == "final"


async def test_the_minimum_age_is_the_packs(api: Api) -> None:
    """GB: 17 the day before the 18th birthday is refused, 18 on the day passes. Ontario: 18
    the day before the 19th birthday is refused, 19 on the day passes."""
    await catalogue(api)
    gb_17 = await new_player(api, birth=born(api, 17, last_day=True))
    await refused_launch(api, gb_17, "UNDER_AGE", "GB.min_age")
    gb_18 = await new_player(api, birth=born(api, 18))
    assert (await launched(api, gb_18))["rules"]["jurisdiction"] == "GB"

    ontario = {"country": "CA", "subdivision": "CA-ON", "currency": "CAD"}
    on_18 = await new_player(api, birth=born(api, 18, last_day=True), **ontario)
    details = await refused_launch(api, on_18, "UNDER_AGE", "CA-ON.min_age")
    assert details["min_age"] == 19
    on_19 = await new_player(api, birth=born(api, 19), **ontario)
    rules = (await launched(api, on_19))["rules"]
    assert rules == {
        "jurisdiction": "CA-ON", "stake_cap": None, "stake_cap_rule": None,
        "min_round_seconds": None, "min_round_rule": None, "autoplay": True,
    }  # fmt: skip
    assert await sessions_count(api) == 2


async def test_a_refused_player_launches_once_the_cause_is_gone(api: Api) -> None:
    await catalogue(api)
    player_id = await new_player(api, kyc="pending")
    await refused_launch(api, player_id, "KYC_REQUIRED", "GB.kyc_before_play")
    r = await api.op("PATCH", f"/players/{player_id}", {"kyc_status": "verified"})
    assert r.status_code == 200, r.text
    await disable_game(api, player_id)
    await refused_launch(api, player_id, "GAME_UNAVAILABLE", "catalogue.game.enabled")
    r = await api.op("PATCH", "/catalogue/games/acme/slot1", {"enabled": True})
    assert r.status_code == 200, r.text
    await launched(api, player_id)
    assert await sessions_count(api) == 1


# -- the order of the checks -----------------------------------------------------------------


YOUNG = {"birth": date(2010, 6, 15)}  # 15 on the test clock's day

ORDER = {
    "blocked-before-no-pack": Case("PLAYER_BLOCKED", "player.active", {"country": None},
                                   steps=(block,)),
    "blocked-before-under-age": Case("PLAYER_BLOCKED", "player.active", YOUNG, steps=(block,)),
    "no-pack-before-kyc": Case("JURISDICTION_REFUSED", "jurisdiction.pack",
                               {"country": "FR", "currency": "EUR", "kyc": "pending"}),
    "kyc-before-under-age": Case("KYC_REQUIRED", "GB.kyc_before_play",
                                 YOUNG | {"kyc": "pending"}),
    "under-age-before-provider-jurisdictions": Case(
        "UNDER_AGE", "GB.min_age", YOUNG, steps=(provider_in_germany_only,)),
    "under-age-before-excluded": Case("UNDER_AGE", "GB.min_age", YOUNG, steps=(self_exclude,)),
    "provider-before-game-jurisdictions": Case(
        "JURISDICTION_REFUSED", "catalogue.provider.jurisdictions",
        steps=(provider_in_germany_only,), game="de-slot"),
    "game-jurisdictions-before-category": Case(
        "JURISDICTION_REFUSED", "catalogue.game.jurisdictions",
        {"country": "DE", "currency": "EUR"}, steps=(self_exclude,), game="gb-table"),
    "game-jurisdictions-before-excluded": Case(
        "JURISDICTION_REFUSED", "catalogue.game.jurisdictions", steps=(cool_off,),
        game="de-slot"),
    "category-before-excluded": Case("JURISDICTION_REFUSED", "DE.allowed_categories",
                                     {"country": "DE", "currency": "EUR"}, steps=(cool_off,),
                                     game="table1"),
    "self-exclusion-before-cool-off": Case("SELF_EXCLUDED", "protection.self_exclusion",
                                           steps=(cool_off, self_exclude)),
    "excluded-before-game-disabled": Case("COOLING_OFF", "protection.cool_off",
                                          steps=(cool_off, disable_game)),
    "self-excluded-before-provider-disabled": Case(
        "SELF_EXCLUDED", "protection.self_exclusion", steps=(self_exclude, disable_provider)),
    "provider-disabled-before-game-disabled": Case(
        "GAME_UNAVAILABLE", "catalogue.provider.enabled", steps=(disable_game, disable_provider)),
    "game-disabled-before-stake-cap-currency": Case(
        "GAME_UNAVAILABLE", "catalogue.game.enabled", {"currency": "EUR"},
        steps=(disable_game,)),
}  # fmt: skip


@pytest.mark.parametrize("case", ORDER.values(), ids=ORDER.keys())
async def test_a_player_failing_two_checks_gets_the_earlier_ones_error(
    api: Api, case: Case
) -> None:
    await catalogue(api)
    await put_game(api, "gb-table", category="table", places=["GB"])
    player_id = await new_player(api, **case.player)
    for step in case.steps:
        await step(api, player_id)
    await refused_launch(api, player_id, case.code, case.rule, case.game)
    assert await sessions_count(api) == 0


# -- bet rules by jurisdiction, category and age ----------------------------------------------


async def test_stake_caps_follow_the_age_band(api: Api) -> None:
    await catalogue(api)
    cases = [
        (await new_player(api, birth=born(api, 18)), "slot1", "2.00"),
        (await new_player(api, birth=born(api, 24, last_day=True)), "slot1", "2.00"),
        (await new_player(api, birth=born(api, 25)), "slot1", "5.00"),  # 25 today
        (await new_player(api, birth=born(api, 70)), "slot1", "5.00"),
        (await new_player(api, birth=born(api, 30)), "table1", None),
    ]
    got = [(await launched(api, p, game))["rules"]["stake_cap"] for p, game, _ in cases]
    assert got == [cap for _, _, cap in cases]


async def test_the_rules_of_each_pack_and_category(api: Api) -> None:
    await catalogue(api)
    de = await new_player(api, country="DE", currency="EUR")
    assert (await launched(api, de))["rules"] == {
        "jurisdiction": "DE", "stake_cap": "1.00", "stake_cap_rule": "DE.stake_caps",
        "min_round_seconds": "5", "min_round_rule": "DE.min_round_seconds", "autoplay": False,
    }  # fmt: skip
    gb = await new_player(api, birth=born(api, 24))
    assert (await launched(api, gb))["rules"] == {
        "jurisdiction": "GB", "stake_cap": "2.00", "stake_cap_rule": "GB.stake_caps",
        "min_round_seconds": "2.5", "min_round_rule": "GB.min_round_seconds", "autoplay": False,
    }  # fmt: skip
    assert (await launched(api, gb, "table1"))["rules"] == {
        "jurisdiction": "GB", "stake_cap": None, "stake_cap_rule": None,
        "min_round_seconds": None, "min_round_rule": None, "autoplay": True,
    }  # fmt: skip
    # A table game carries no GB cap in any currency: a EUR wallet may play it.
    gb_eur = await new_player(api, currency="EUR")
    assert (await launched(api, gb_eur, "table1"))["rules"]["stake_cap"] is None


async def test_a_launched_session_caps_its_bets(api: Api, database_url: str) -> None:
    await catalogue(api)
    player_id = await new_player(api, birth=born(api, 24, last_day=True))
    body = await launched(api, player_id)
    assert body["rules"]["stake_cap"] == "2.00"
    token = body["token"]

    r = await api.post("bet", bet(player_id, token, "b1", "2.00"))
    assert r.status_code == 200, r.text
    assert r.json()["balance"]["cash"] == "48.00"

    api.clock.advance(PACE)
    over = bet(player_id, token, "b2", "2.01", round_id="r2")
    r = await api.post("bet", over)
    details = refusal(r, 403, "STAKE_CAP_EXCEEDED")
    assert details["rule"] == "GB.stake_caps"
    assert details["stake_cap"] == "2.00"  # decimal strings on the wire, details too
    assert "replay" not in r.json()
    assert r.json()["balance"] == {"cash": "48.00", "bonus": "0.00"}
    assert await cash(api, player_id) == 4800

    again = await api.post("bet", over)
    assert refusal(again, 403, "STAKE_CAP_EXCEEDED")["rule"] == "GB.stake_caps"
    assert again.json()["replay"] is True
    assert await cash(api, player_id) == 4800
    rows = await api.wallet.store.fetch(  # type: ignore[attr-defined]
        "SELECT status FROM wallet_transactions WHERE reference = $1", "b2"
    )
    assert [r[0] for r in rows] == ["refused"]

    win = {"player_id": player_id, "token": token, "tx_id": "w1", "round_id": "r1",
           "game_code": "slot1", "amount": "10.00", "currency": "GBP",
           "close_round": True}  # fmt: skip
    r = await api.post("win", win)
    assert r.status_code == 200, r.text
    assert await cash(api, player_id) == 5800
    api.clock.advance(PACE)
    r = await api.post("bet", bet(player_id, token, "b3", "1.50", round_id="r3"))
    assert r.status_code == 200, r.text
    rollback = {"player_id": player_id, "token": token, "tx_id": "rb1", "bet_tx_id": "b3",
                "currency": "GBP"}  # fmt: skip
    r = await api.post("rollback", rollback)
    assert r.status_code == 200, r.text
    assert await cash(api, player_id) == 5800
    assert_ledger_ok(database_url)


async def test_a_25_year_olds_session_takes_5_and_refuses_more(api: Api) -> None:
    await catalogue(api)
    player_id = await new_player(api, birth=born(api, 25))
    token = (await launched(api, player_id))["token"]
    r = await api.post("bet", bet(player_id, token, "b1", "5.00"))
    assert r.status_code == 200, r.text
    api.clock.advance(PACE)
    r = await api.post("bet", bet(player_id, token, "b2", "5.01", round_id="r2"))
    assert refusal(r, 403, "STAKE_CAP_EXCEEDED")["stake_cap"] == "5.00"
    assert await cash(api, player_id) == 4500


async def test_a_session_opened_without_a_launch_has_no_cap(api: Api) -> None:
    await catalogue(api)
    player_id = await new_player(api, birth=born(api, 20))
    _, token = await api.session(player_id, "slot1")
    r = await api.post("bet", bet(player_id, token, "b1", "20.00"))
    assert r.status_code == 200, r.text
    assert await cash(api, player_id) == 3000


# -- demo, and a provider with no key --------------------------------------------------------


async def test_a_demo_launch_has_no_player_no_session_and_no_token(api: Api) -> None:
    await catalogue(api)
    r = await api.op("POST", "/launch", {"provider": "acme", "game": "slot1", "mode": "demo"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["mode"] == "demo"
    assert (body["session_id"], body["token"], body["token_expires_at"], body["rules"]) == (
        None, None, None, None,
    )  # fmt: skip
    url = body["url"]
    assert url.startswith(LAUNCH_URL + "?")
    params = dict(query_of(url))
    assert params == {
        "mode": "demo", "game": "slot1", "lang": "en",
        "expires": str(int(api.clock().timestamp()) + 120), "key": "k1",
        "signature": params["signature"],
    }  # fmt: skip
    head, signature = signed_part(url)
    assert signature == launch_signature(api.secret, head)
    assert await sessions_count(api) == 0


async def test_a_demo_launch_refuses_a_player_and_a_disabled_game(api: Api) -> None:
    await catalogue(api)
    player_id = await new_player(api)
    demo = {"provider": "acme", "game": "slot1", "mode": "demo"}
    r = await api.op("POST", "/launch", demo | {"player_id": player_id})
    assert refusal(r, 400, "INVALID_REQUEST")["field"] == "player_id"
    await disable_game(api, player_id)
    details = refusal(await api.op("POST", "/launch", demo), 403, "GAME_UNAVAILABLE")
    assert details["rule"] == "catalogue.game.enabled"
    await disable_provider(api, player_id)
    details = refusal(await api.op("POST", "/launch", demo), 403, "GAME_UNAVAILABLE")
    assert details["rule"] == "catalogue.provider.enabled"
    assert await sessions_count(api) == 0


async def test_an_unknown_game_is_not_found(api: Api) -> None:
    await catalogue(api)
    player_id = await new_player(api)
    assert refusal(await launch(api, player_id, "nope"), 404, "GAME_NOT_FOUND")["game"] == "nope"
    demo = {"provider": "acme", "game": "nope", "mode": "demo"}
    refusal(await api.op("POST", "/launch", demo), 404, "GAME_NOT_FOUND")
    assert await sessions_count(api) == 0


async def test_an_unknown_provider_is_not_found(api: Api) -> None:
    await catalogue(api)
    player_id = await new_player(api)
    details = refusal(await launch(api, player_id, provider="nobody"), 404, "PROVIDER_NOT_FOUND")
    assert details["provider"] == "nobody"
    assert await sessions_count(api) == 0


async def test_a_provider_without_a_key_cannot_be_launched(api: Api) -> None:
    await catalogue(api)
    await put_provider(api, "keyless", places=["*"])
    await put_game(api, "slot9", provider="keyless")
    player_id = await new_player(api)
    before = await api.wallet.store.fetch("SELECT count(*) FROM session_tokens")  # type: ignore[attr-defined]
    r = await api.op("POST", "/launch", {"provider": "keyless", "game": "slot9",
                                         "player_id": player_id})  # fmt: skip
    refusal(r, 404, "KEY_NOT_FOUND")
    demo = {"provider": "keyless", "game": "slot9", "mode": "demo"}
    refusal(await api.op("POST", "/launch", demo), 404, "KEY_NOT_FOUND")
    assert await sessions_count(api) == 0
    assert await api.wallet.store.fetch("SELECT count(*) FROM session_tokens") == before  # type: ignore[attr-defined]


async def test_germany_requires_a_monthly_deposit_limit_before_play(api: Api) -> None:
    """DE.mandatory_deposit_limit (GlüStV 2021 § 6c): no limit, or one over €1,000 a month,
    refuses the launch, writing nothing; €1,000 or less passes."""
    await catalogue(api)
    player_id = await new_player(api, country="DE", currency="EUR", deposit_limit=None)
    for limit in (None, "1000.01"):
        if limit is not None:
            r = await api.op("PUT", f"/players/{player_id}/limits/deposit_month",
                             {"value": limit})  # fmt: skip
            assert r.status_code == 200, r.text
        before = await sessions_count(api)
        details = refusal(await launch(api, player_id), 403, "JURISDICTION_REFUSED")
        assert details["rule"] == "DE.mandatory_deposit_limit"
        assert await sessions_count(api) == before
    r = await api.op("PUT", f"/players/{player_id}/limits/deposit_month", {"value": "1000.00"})
    assert r.status_code == 200, r.text  # a decrease: at once
    assert (await launch(api, player_id)).status_code == 201
