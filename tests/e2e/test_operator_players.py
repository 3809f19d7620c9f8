"""The operator API's players, cashier and history over HTTP, on SQLite and PostgreSQL.

An operator creates its players (opaque ``pl_`` ids, found again by brand and its own
reference), changes their profile, blocks them, moves money in and out through the cashier
and reads their history. Each test checks the answer on the wire (status, error code and
field, amounts as decimal strings) and what reached the database: a refused call creates no
player and changes no profile, a replayed deposit credits once, the ledger stays balanced.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from croupier.domain.wallet import BonusGrant, ReserveHold
from tests.conftest import assert_ledger_ok
from tests.e2e.conftest import Api

BRAND = "casino-a"

# -- helpers ---------------------------------------------------------------------------------


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """A typed JSON refusal with this status and code; its error object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["status"] == "ERROR", body
    error: dict[str, Any] = body["error"]
    assert error["code"] == code, error
    return error


async def count(api: Api, table: str) -> int:
    rows = await api.wallet.store.fetch(f"SELECT count(*) FROM {table}")  # type: ignore[attr-defined]  # noqa: S608 - constant names
    return int(rows[0][0])


async def create(api: Api, ref: str = "u1", **fields: Any) -> dict[str, Any]:
    """A new player of BRAND (201) with ``fields`` over a EUR default."""
    body = {"brand": BRAND, "external_ref": ref, "currency": "EUR"} | fields
    r = await api.op("POST", "/players", body)
    assert r.status_code == 201, r.text
    player: dict[str, Any] = r.json()
    return player


async def get(api: Api, player_id: str) -> dict[str, Any]:
    r = await api.op("GET", f"/players/{player_id}")
    assert r.status_code == 200, r.text
    player: dict[str, Any] = r.json()
    return player


async def deposit(
    api: Api, player_id: str, amount: Any, reference: str, currency: str = "EUR"
) -> httpx.Response:
    body = {"reference": reference, "amount": amount, "currency": currency}
    return await api.op("POST", f"/players/{player_id}/deposits", body)


async def withdraw(
    api: Api, player_id: str, amount: Any, reference: str, currency: str = "EUR"
) -> httpx.Response:
    body = {"reference": reference, "amount": amount, "currency": currency}
    return await api.op("POST", f"/players/{player_id}/withdrawals", body)


def cash(response: httpx.Response) -> str:
    value: str = response.json()["balance"]["cash"]
    return value


# -- creating and finding players -----------------------------------------------------------


async def test_create_returns_an_opaque_id_and_the_whole_profile(api: Api) -> None:
    r = await api.op("POST", "/players", {
        "brand": BRAND, "external_ref": "user-7731", "currency": "EUR", "country": "CA",
        "subdivision": "CA-ON", "birth_date": "1990-02-28", "kyc_status": "verified",
    })  # fmt: skip

    assert r.status_code == 201, r.text
    player = r.json()
    assert player["id"].startswith("pl_")
    assert player["id"] != "user-7731"
    assert "7731" not in player["id"]
    assert {k: player[k] for k in ("brand", "external_ref", "currency", "status", "country",
                                   "subdivision", "birth_date", "kyc_status")} == {
        "brand": BRAND, "external_ref": "user-7731", "currency": "EUR", "status": "active",
        "country": "CA", "subdivision": "CA-ON", "birth_date": "1990-02-28",
        "kyc_status": "verified",
    }  # fmt: skip
    assert player["balance"] == {"cash": "0.00", "bonus": "0.00", "held": "0.00"}
    assert player["created_at"] == "2026-01-01T12:00:00+00:00"
    assert await get(api, player["id"]) == player


async def test_profile_fields_are_optional_and_kyc_defaults_to_none(api: Api) -> None:
    player = await create(api)
    assert (player["country"], player["subdivision"], player["birth_date"]) == (None, None, None)
    assert player["kyc_status"] == "none"


async def test_ids_differ_between_players(api: Api) -> None:
    ids = {(await create(api, f"u{i}"))["id"] for i in range(5)}
    assert len(ids) == 5


async def test_the_same_brand_and_reference_again_is_the_same_player(api: Api) -> None:
    first = await create(api, country="GB")
    api.clock.advance(60)

    again = await api.op("POST", "/players", {
        "brand": BRAND, "external_ref": "u1", "currency": "EUR", "country": "GB",
    })  # fmt: skip

    assert again.status_code == 200, again.text
    assert again.json() == first
    assert await count(api, "players") == 1


async def test_the_same_reference_with_another_currency_is_player_exists(api: Api) -> None:
    first = await create(api)

    r = await api.op("POST", "/players", {"brand": BRAND, "external_ref": "u1", "currency": "USD"})

    error = refused(r, 409, "PLAYER_EXISTS")
    assert error["details"]["currency"] == "EUR"
    assert error["details"]["player_id"] == first["id"]
    assert await count(api, "players") == 1
    assert (await get(api, first["id"]))["currency"] == "EUR"


async def test_the_same_reference_in_another_brand_is_another_player(api: Api) -> None:
    a = await create(api, "u1")
    b = await create(api, "u1", brand="casino-b", currency="GBP")

    assert a["id"] != b["id"]
    assert (b["brand"], b["currency"]) == ("casino-b", "GBP")
    assert await count(api, "players") == 2


async def test_lookup_by_brand_and_reference(api: Api) -> None:
    a = await create(api, "u1")
    b = await create(api, "u1", brand="casino-b")
    assert (await deposit(api, a["id"], "12.30", "d1")).status_code == 201

    r = await api.op("GET", f"/players?brand={BRAND}&external_ref=u1")
    assert r.status_code == 200, r.text
    assert r.json()["id"] == a["id"]
    assert r.json()["balance"] == {"cash": "12.30", "bonus": "0.00", "held": "0.00"}
    other = await api.op("GET", "/players?brand=casino-b&external_ref=u1")
    assert other.json()["id"] == b["id"]

    refused(await api.op("GET", f"/players?brand={BRAND}&external_ref=u2"), 404,
            "PLAYER_NOT_FOUND")  # fmt: skip
    refused(await api.op("GET", "/players?brand=casino-c&external_ref=u1"), 404,
            "PLAYER_NOT_FOUND")  # fmt: skip
    missing_brand = refused(await api.op("GET", "/players?external_ref=u1"), 400,
                            "INVALID_REQUEST")  # fmt: skip
    assert missing_brand["details"]["field"] == "brand"


async def test_get_player_shows_balances_as_decimal_strings(api: Api) -> None:
    player = await create(api)
    assert (await deposit(api, player["id"], "40", "d1")).status_code == 201
    await api.wallet.grant_bonus(
        BonusGrant(player_id=player["id"], amount=250, currency="EUR", cashier_ref="bonus-1")
    )

    got = await get(api, player["id"])

    assert got["balance"] == {"cash": "40.00", "bonus": "2.50", "held": "0.00"}


async def test_unknown_player_id_is_player_not_found(api: Api) -> None:
    await create(api)
    refused(await api.op("GET", "/players/pl_doesnotexist"), 404, "PLAYER_NOT_FOUND")
    refused(await api.op("GET", "/players/u1"), 404, "PLAYER_NOT_FOUND")  # not by reference


# -- validation: a refused create creates nothing -----------------------------------------

INVALID_CREATE = [
    ({"country": "XX"}, "country"),
    ({"country": "gb"}, "country"),
    ({"country": "GB", "subdivision": "CA-ON"}, "subdivision"),
    ({"subdivision": "CA-ON"}, "subdivision"),
    ({"country": "CA", "subdivision": "CA-XX"}, "subdivision"),
    ({"birth_date": "2026-01-02"}, "birth_date"),
    ({"birth_date": "1899-12-31"}, "birth_date"),
    ({"birth_date": "2000-13-01"}, "birth_date"),
    ({"birth_date": "01/02/2000"}, "birth_date"),
    ({"birth_date": "2000-02-30"}, "birth_date"),
    ({"nickname": "ace"}, "nickname"),
    ({"currency": 978}, "currency"),
    ({"country": 44}, "country"),
    ({"birth_date": 20000101}, "birth_date"),
    ({"kyc_status": "approved"}, "kyc_status"),
    ({"kyc_status": "VERIFIED"}, "kyc_status"),
    ({"kyc_status": None}, "kyc_status"),
    ({"brand": "Casino-A"}, "brand"),
    ({"brand": "casino a"}, "brand"),
    ({"brand": ""}, "brand"),
    ({"brand": "-casino"}, "brand"),
    ({"brand": "b" * 65}, "brand"),
    ({"external_ref": ""}, "external_ref"),
]


@pytest.mark.parametrize(("change", "field"), INVALID_CREATE)
async def test_create_refuses_invalid_fields_and_creates_nothing(
    api: Api, change: dict[str, Any], field: str
) -> None:
    body = {"brand": BRAND, "external_ref": "u1", "currency": "EUR"} | change

    r = await api.op("POST", "/players", body)

    error = refused(r, 400, "INVALID_REQUEST")
    assert (
        error["details"].get("field") == field
        or f"`$.{field}`" in error["message"]
        or (f"`{field}`" in error["message"])
    ), error
    assert await count(api, "players") == 0
    assert await count(api, "accounts") == 0


async def test_create_refuses_missing_fields_and_unknown_currency(api: Api) -> None:
    for body in ({"brand": BRAND, "external_ref": "u1"}, {"brand": BRAND, "currency": "EUR"},
                 {"external_ref": "u1", "currency": "EUR"}):  # fmt: skip
        refused(await api.op("POST", "/players", body), 400, "INVALID_REQUEST")
    unknown = {"brand": BRAND, "external_ref": "u1", "currency": "XYZ"}
    refused(await api.op("POST", "/players", unknown), 400, "CURRENCY_UNKNOWN")
    assert await count(api, "players") == 0


async def test_a_birth_date_of_today_is_accepted(api: Api) -> None:
    player = await create(api, birth_date="2026-01-01")
    assert player["birth_date"] == "2026-01-01"


# -- changing a profile ---------------------------------------------------------------------


async def test_patch_changes_country_subdivision_kyc_and_birth_date(api: Api) -> None:
    player = await create(api, country="GB", kyc_status="pending")
    path = f"/players/{player['id']}"
    api.clock.advance(3600)

    moved = await api.op("PATCH", path, {"country": "CA", "subdivision": "CA-ON"})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["country"], moved.json()["subdivision"]) == ("CA", "CA-ON")
    assert moved.json()["updated_at"] == "2026-01-01T13:00:00+00:00"
    assert moved.json()["created_at"] == player["created_at"]
    kyc = await api.op("PATCH", path, {"kyc_status": "verified"})
    assert kyc.json()["kyc_status"] == "verified"
    born = await api.op("PATCH", path, {"birth_date": "1985-07-14"})
    assert born.json()["birth_date"] == "1985-07-14"
    within = await api.op("PATCH", path, {"subdivision": "CA-QC"})
    assert within.json()["subdivision"] == "CA-QC"

    now = await get(api, player["id"])
    assert {k: now[k] for k in ("country", "subdivision", "kyc_status", "birth_date")} == {
        "country": "CA", "subdivision": "CA-QC", "kyc_status": "verified",
        "birth_date": "1985-07-14",
    }  # fmt: skip
    assert (now["id"], now["brand"], now["external_ref"], now["currency"]) == (
        player["id"], BRAND, "u1", "EUR",
    )  # fmt: skip


async def test_an_empty_patch_changes_nothing_but_the_time(api: Api) -> None:
    player = await create(api, country="CA", subdivision="CA-ON", birth_date="1990-01-01")
    r = await api.op("PATCH", f"/players/{player['id']}", {})
    assert r.status_code == 200, r.text
    assert {**r.json(), "updated_at": None} == {**player, "updated_at": None}


async def test_leaving_the_subdivisions_country_needs_a_new_subdivision(api: Api) -> None:
    player = await create(api, country="CA", subdivision="CA-ON")
    path = f"/players/{player['id']}"

    error = refused(await api.op("PATCH", path, {"country": "GB"}), 400, "INVALID_REQUEST")
    assert error["details"]["field"] == "subdivision"
    assert await get(api, player["id"]) == player
    same = await api.op("PATCH", path, {"country": "CA"})  # staying: the subdivision stays
    assert same.status_code == 200, same.text
    assert same.json()["subdivision"] == "CA-ON"
    wrong = await api.op("PATCH", path, {"country": "GB", "subdivision": "CA-ON"})
    assert refused(wrong, 400, "INVALID_REQUEST")["details"]["field"] == "subdivision"

    moved = await api.op("PATCH", path, {"country": "GB", "subdivision": "GB-SCT"})
    assert (moved.json()["country"], moved.json()["subdivision"]) == ("GB", "GB-SCT")
    cleared = await api.op("PATCH", path, {"country": "DE", "subdivision": ""})
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["country"], cleared.json()["subdivision"]) == ("DE", None)


async def test_an_empty_subdivision_removes_it(api: Api) -> None:
    player = await create(api, country="CA", subdivision="CA-ON")
    r = await api.op("PATCH", f"/players/{player['id']}", {"subdivision": ""})
    assert r.status_code == 200, r.text
    assert (r.json()["country"], r.json()["subdivision"]) == ("CA", None)
    assert (await get(api, player["id"]))["subdivision"] is None


INVALID_PATCH = [
    ({"country": "XX"}, "INVALID_REQUEST"),
    ({"subdivision": "US-CA"}, "INVALID_REQUEST"),
    ({"birth_date": "2030-01-01"}, "INVALID_REQUEST"),
    ({"birth_date": "yesterday"}, "INVALID_REQUEST"),
    ({"kyc_status": "done"}, "INVALID_REQUEST"),
    ({"brand": "Other Brand"}, "INVALID_REQUEST"),
    ({"external_ref": "u2"}, "INVALID_REQUEST"),
    ({"status": "blocked"}, "INVALID_REQUEST"),
    ({"country": 1}, "INVALID_REQUEST"),
    ({"currency": "XYZ"}, "CURRENCY_UNKNOWN"),
]


@pytest.mark.parametrize(("change", "code"), INVALID_PATCH)
async def test_patch_refuses_invalid_fields_and_changes_nothing(
    api: Api, change: dict[str, Any], code: str
) -> None:
    player = await create(api, country="CA", subdivision="CA-ON", kyc_status="pending")
    api.clock.advance(60)

    body = {"kyc_status": "verified", "birth_date": "1980-05-05"} | change
    refused(await api.op("PATCH", f"/players/{player['id']}", body), 400, code)

    assert await get(api, player["id"]) == player


async def test_patch_of_an_unknown_player_is_player_not_found(api: Api) -> None:
    r = await api.op("PATCH", "/players/pl_missing", {"kyc_status": "verified"})
    refused(r, 404, "PLAYER_NOT_FOUND")
    assert await count(api, "players") == 0


async def test_brand_change_moves_the_player_to_the_other_brand(api: Api) -> None:
    player = await create(api)
    r = await api.op("PATCH", f"/players/{player['id']}", {"brand": "casino-b"})
    assert r.status_code == 200, r.text
    found = await api.op("GET", "/players?brand=casino-b&external_ref=u1")
    assert found.json()["id"] == player["id"]
    refused(await api.op("GET", f"/players?brand={BRAND}&external_ref=u1"), 404,
            "PLAYER_NOT_FOUND")  # fmt: skip


async def test_brand_change_onto_an_existing_player_is_refused_and_changes_nothing(
    api: Api,
) -> None:
    a = await create(api, "u1", country="GB", birth_date="1990-01-01", kyc_status="pending")
    b = await create(api, "u1", brand="casino-b")
    api.clock.advance(60)

    r = await api.op("PATCH", f"/players/{a['id']}", {
        "brand": "casino-b", "country": "CA", "subdivision": "CA-ON",
        "birth_date": "1970-01-01", "kyc_status": "verified", "currency": "USD",
    })  # fmt: skip

    error = refused(r, 409, "PLAYER_EXISTS")
    assert error["details"]["field"] == "brand"
    assert await get(api, a["id"]) == a  # every field, the currency and updated_at included
    assert await get(api, b["id"]) == b
    found = await api.op("GET", f"/players?brand={BRAND}&external_ref=u1")
    assert found.json()["id"] == a["id"]


# -- the wallet's currency ------------------------------------------------------------------


async def test_currency_changes_on_an_unused_wallet(api: Api, database_url: str) -> None:
    player = await create(api)
    path = f"/players/{player['id']}"

    r = await api.op("PATCH", path, {"currency": "USD"})

    assert r.status_code == 200, r.text
    assert r.json()["currency"] == "USD"
    assert r.json()["balance"] == {"cash": "0.00", "bonus": "0.00", "held": "0.00"}
    assert (await api.wallet.balance(player["id"])).currency == "USD"
    refused(await deposit(api, player["id"], "5.00", "d-eur"), 409, "CURRENCY_MISMATCH")
    paid = await deposit(api, player["id"], "5.00", "d-usd", "USD")
    assert paid.status_code == 201, paid.text
    assert (paid.json()["currency"], cash(paid)) == ("USD", "5.00")
    assert (await get(api, player["id"]))["balance"]["cash"] == "5.00"
    assert_ledger_ok(database_url)


async def test_currency_changes_to_one_of_another_exponent(api: Api) -> None:
    player = await create(api)
    r = await api.op("PATCH", f"/players/{player['id']}", {"currency": "JPY"})
    assert r.status_code == 200, r.text
    assert r.json()["balance"] == {"cash": "0", "bonus": "0", "held": "0"}
    paid = await deposit(api, player["id"], "500", "d1", "JPY")
    assert (paid.status_code, cash(paid)) == (201, "500")


async def test_currency_is_locked_after_a_deposit(api: Api) -> None:
    player = await create(api)
    assert (await deposit(api, player["id"], "1.00", "d1")).status_code == 201
    before = await get(api, player["id"])
    api.clock.advance(60)

    r = await api.op("PATCH", f"/players/{player['id']}",
                     {"currency": "USD", "kyc_status": "verified", "country": "GB"})  # fmt: skip

    error = refused(r, 409, "PLAYER_CURRENCY_LOCKED")
    assert error["details"]["currency"] == "EUR"
    assert await get(api, player["id"]) == before
    assert (await api.wallet.balance(player["id"])).currency == "EUR"
    same = await api.op("PATCH", f"/players/{player['id']}", {"currency": "EUR"})
    assert same.status_code == 200, same.text  # naming the current currency is no change


async def test_currency_is_locked_after_a_refused_withdrawal(api: Api) -> None:
    player = await create(api)
    refused(await withdraw(api, player["id"], "1.00", "w1"), 402, "INSUFFICIENT_FUNDS")
    assert await count(api, "wallet_transactions") == 1  # the refusal is stored

    r = await api.op("PATCH", f"/players/{player['id']}", {"currency": "USD"})

    refused(r, 409, "PLAYER_CURRENCY_LOCKED")
    assert (await get(api, player["id"]))["currency"] == "EUR"


# -- blocking -------------------------------------------------------------------------------


async def test_a_blocked_player_cannot_use_the_cashier_until_unblocked(
    api: Api, database_url: str
) -> None:
    player = await create(api)
    path = f"/players/{player['id']}"
    assert (await deposit(api, player["id"], "10.00", "d1")).status_code == 201

    blocked = await api.op("POST", f"{path}/block")
    assert blocked.status_code == 200, blocked.text
    assert blocked.json()["status"] == "blocked"
    assert (await api.op("POST", f"{path}/block")).json()["status"] == "blocked"
    refused(await deposit(api, player["id"], "5.00", "d2"), 403, "PLAYER_BLOCKED")
    refused(await withdraw(api, player["id"], "5.00", "w1"), 403, "PLAYER_BLOCKED")
    assert (await get(api, player["id"]))["balance"]["cash"] == "10.00"

    unblocked = await api.op("POST", f"{path}/unblock")
    assert unblocked.json()["status"] == "active"
    # The blocked deposit was a stored refusal (docs/wallet.md, rule 9): its reference stays
    # refused; a new one is credited.
    refused(await deposit(api, player["id"], "5.00", "d2"), 403, "PLAYER_BLOCKED")
    again = await deposit(api, player["id"], "5.00", "d3")
    assert (again.status_code, cash(again)) == (201, "15.00")
    assert_ledger_ok(database_url)


async def test_blocking_an_unknown_player_is_player_not_found(api: Api) -> None:
    refused(await api.op("POST", "/players/pl_missing/block"), 404, "PLAYER_NOT_FOUND")
    refused(await api.op("POST", "/players/pl_missing/unblock"), 404, "PLAYER_NOT_FOUND")


# -- cashier --------------------------------------------------------------------------------


async def test_deposit_credits_cash_and_replays_by_reference(api: Api, database_url: str) -> None:
    player = await create(api)

    first = await deposit(api, player["id"], "25.50", "dep-1")

    assert first.status_code == 201, first.text
    body = first.json()
    assert {k: body[k] for k in ("reference", "kind", "replay", "currency", "balance")} == {
        "reference": "dep-1", "kind": "deposit", "replay": False, "currency": "EUR",
        "balance": {"cash": "25.50", "bonus": "0.00", "held": "0.00"},
    }  # fmt: skip
    again = await deposit(api, player["id"], "25.50", "dep-1")
    assert again.status_code == 200, again.text
    assert again.json() == {**body, "replay": True}
    assert (await get(api, player["id"]))["balance"]["cash"] == "25.50"
    assert await count(api, "wallet_transactions") == 1
    assert_ledger_ok(database_url)


async def test_deposit_with_a_used_reference_and_another_amount_is_a_mismatch(
    api: Api,
) -> None:
    player = await create(api)
    assert (await deposit(api, player["id"], "25.50", "dep-1")).status_code == 201

    refused(await deposit(api, player["id"], "30.00", "dep-1"), 409, "IDEMPOTENCY_MISMATCH")
    refused(await withdraw(api, player["id"], "25.50", "dep-1"), 409, "IDEMPOTENCY_MISMATCH")

    assert (await get(api, player["id"]))["balance"]["cash"] == "25.50"
    assert await count(api, "wallet_transactions") == 1


BAD_AMOUNTS = [
    ("1.005", 400, "AMOUNT_PRECISION"),
    (1.5, 400, "AMOUNT_INVALID"),  # a JSON number: amounts are decimal strings
    (10, 400, "AMOUNT_INVALID"),
    (None, 400, "AMOUNT_INVALID"),
    ("1,50", 400, "AMOUNT_INVALID"),
    ("1e2", 400, "AMOUNT_INVALID"),
    ("", 400, "AMOUNT_INVALID"),
    ("-1.00", 400, "AMOUNT_OUT_OF_RANGE"),
]


@pytest.mark.parametrize(("amount", "status", "code"), BAD_AMOUNTS)
async def test_cashier_refuses_bad_amounts_and_writes_nothing(
    api: Api, amount: Any, status: int, code: str
) -> None:
    player = await create(api)
    assert (await deposit(api, player["id"], "5.00", "d0")).status_code == 201

    refused(await deposit(api, player["id"], amount, "d1"), status, code)
    refused(await withdraw(api, player["id"], amount, "w1"), status, code)

    assert await count(api, "wallet_transactions") == 1
    assert (await get(api, player["id"]))["balance"]["cash"] == "5.00"


async def test_cashier_refuses_another_currency_and_unknown_players(api: Api) -> None:
    player = await create(api)
    assert (await deposit(api, player["id"], "5.00", "d0")).status_code == 201

    refused(await deposit(api, player["id"], "1.00", "d1", "USD"), 409, "CURRENCY_MISMATCH")
    refused(await withdraw(api, player["id"], "1.00", "w1", "USD"), 409, "CURRENCY_MISMATCH")
    refused(await deposit(api, player["id"], "1.00", "d2", "XYZ"), 400, "CURRENCY_UNKNOWN")
    refused(await deposit(api, "pl_missing", "1.00", "d3"), 404, "PLAYER_NOT_FOUND")
    r = await api.op("POST", f"/players/{player['id']}/deposits",
                     {"amount": "1.00", "currency": "EUR"})  # fmt: skip
    refused(r, 400, "INVALID_REQUEST")

    assert (await get(api, player["id"]))["balance"]["cash"] == "5.00"
    assert await count(api, "wallet_transactions") == 1


async def test_withdrawal_takes_cash_and_refuses_more_than_cash(
    api: Api, database_url: str
) -> None:
    player = await create(api)
    assert (await deposit(api, player["id"], "20.00", "d1")).status_code == 201

    too_much = await withdraw(api, player["id"], "20.01", "w1")
    refused(too_much, 402, "INSUFFICIENT_FUNDS")
    assert (await get(api, player["id"]))["balance"]["cash"] == "20.00"
    part = await withdraw(api, player["id"], "7.25", "w2")
    assert part.status_code == 201, part.text
    assert (part.json()["kind"], cash(part)) == ("withdrawal", "12.75")
    rest = await withdraw(api, player["id"], "12.75", "w3")
    assert (rest.status_code, cash(rest)) == (201, "0.00")
    assert (await withdraw(api, player["id"], "7.25", "w2")).json()["replay"] is True
    assert (await get(api, player["id"]))["balance"]["cash"] == "0.00"
    assert_ledger_ok(database_url)


async def test_withdrawal_never_takes_bonus_or_held_funds(api: Api, database_url: str) -> None:
    player = await create(api)
    pid = player["id"]
    assert (await deposit(api, pid, "10.00", "d1")).status_code == 201
    await api.wallet.grant_bonus(
        BonusGrant(player_id=pid, amount=500, currency="EUR", cashier_ref="bonus-1")
    )
    await api.wallet.reserve_hold(
        ReserveHold(player_id=pid, amount=300, currency="EUR", cashier_ref="hold-1",
                    expires_in_seconds=3600)
    )  # fmt: skip
    assert (await get(api, pid))["balance"] == {"cash": "7.00", "bonus": "5.00", "held": "3.00"}

    refused(await withdraw(api, pid, "12.00", "w1"), 402, "INSUFFICIENT_FUNDS")  # cash + bonus
    refused(await withdraw(api, pid, "10.00", "w2"), 402, "INSUFFICIENT_FUNDS")  # cash + held
    refused(await withdraw(api, pid, "7.01", "w3"), 402, "INSUFFICIENT_FUNDS")
    assert (await get(api, pid))["balance"] == {"cash": "7.00", "bonus": "5.00", "held": "3.00"}

    cash_only = await withdraw(api, pid, "7.00", "w4")

    assert cash_only.status_code == 201, cash_only.text
    assert cash_only.json()["balance"] == {"cash": "0.00", "bonus": "5.00", "held": "3.00"}
    assert_ledger_ok(database_url)


async def test_concurrent_duplicate_deposits_credit_once(api: Api, database_url: str) -> None:
    player = await create(api)

    answers = await asyncio.gather(
        *(deposit(api, player["id"], "10.00", "dep-same") for _ in range(20))
    )

    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] * 19 + [201], [r.text for r in answers if r.status_code >= 300]
    assert [r.json()["replay"] for r in answers].count(False) == 1
    assert len({r.json()["transaction_id"] for r in answers}) == 1
    assert (await get(api, player["id"]))["balance"]["cash"] == "10.00"
    assert await count(api, "wallet_transactions") == 1
    assert_ledger_ok(database_url)


# -- history --------------------------------------------------------------------------------


async def funded_history(api: Api) -> tuple[str, list[str]]:
    """A player with six cashier transactions, one refused; their references, oldest first."""
    pid = (await create(api))["id"]
    calls = [
        (deposit, "10.00", "d1", 201), (deposit, "20.00", "d2", 201),
        (withdraw, "5.00", "w1", 201), (withdraw, "100.00", "w2", 402),
        (deposit, "1.50", "d3", 201), (withdraw, "0.50", "w3", 201),
    ]  # fmt: skip
    for call, amount, ref, status in calls:
        api.clock.advance(1)
        assert (await call(api, pid, amount, ref)).status_code == status
    return pid, [ref for _, _, ref, _ in calls]


async def test_transactions_page_newest_first_and_visit_each_once(api: Api) -> None:
    pid, refs = await funded_history(api)

    seen: list[dict[str, Any]] = []
    url = f"/players/{pid}/transactions?limit=2"
    pages = 0
    while url:
        r = await api.op("GET", url)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        seen += page["items"]
        pages += 1
        assert pages <= 5, "paging does not end"
        before = page["next_before"]
        if before is not None:
            assert before == page["items"][-1]["id"]
        url = f"/players/{pid}/transactions?limit=2&before={before}" if before else ""

    assert [t["reference"] for t in seen] == refs[::-1]
    ids = [int(t["id"]) for t in seen]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == len(ids) == 6
    whole = (await api.op("GET", f"/players/{pid}/transactions")).json()
    assert whole["items"] == seen
    assert whole["next_before"] is None


async def test_transactions_show_amounts_kinds_and_refusals(api: Api) -> None:
    pid, _ = await funded_history(api)

    items = (await api.op("GET", f"/players/{pid}/transactions")).json()["items"]

    by_ref = {t["reference"]: t for t in items}
    assert (by_ref["d1"]["kind"], by_ref["d1"]["amount"], by_ref["d1"]["status"]) == (
        "deposit", "10.00", "ok",
    )  # fmt: skip
    assert by_ref["d1"]["error"] is None
    assert (by_ref["w1"]["kind"], by_ref["w1"]["amount"]) == ("withdrawal", "5.00")
    refusal = by_ref["w2"]
    assert (refusal["kind"], refusal["status"], refusal["amount"]) == (
        "withdrawal", "refused", "100.00",
    )  # fmt: skip
    assert refusal["error"]["code"] == "INSUFFICIENT_FUNDS"
    assert all(t["player_id"] == pid and t["currency"] == "EUR" for t in items)
    assert all(t["session_id"] is None and t["round_id"] is None for t in items)


async def test_transactions_of_a_new_or_unknown_player(api: Api) -> None:
    pid = (await create(api))["id"]
    empty = await api.op("GET", f"/players/{pid}/transactions")
    assert empty.json() == {"items": [], "next_before": None}
    rounds = await api.op("GET", f"/players/{pid}/rounds")
    assert rounds.json() == {"items": [], "next_before": None}
    refused(await api.op("GET", "/players/pl_missing/transactions"), 404, "PLAYER_NOT_FOUND")
    refused(await api.op("GET", "/players/pl_missing/rounds"), 404, "PLAYER_NOT_FOUND")


async def test_rounds_list_the_rounds_of_bets_placed_by_a_provider(api: Api) -> None:
    pid = (await create(api))["id"]
    assert (await deposit(api, pid, "50.00", "d1")).status_code == 201
    _, token = await api.session(pid)

    def bet(tx_id: str, round_id: str, amount: str) -> dict[str, Any]:
        return {"player_id": pid, "token": token, "tx_id": tx_id, "round_id": round_id,
                "game_code": "dice", "amount": amount, "currency": "EUR"}  # fmt: skip

    for body in (bet("b1", "r1", "1.00"), bet("b2", "r1", "2.00"), bet("b3", "r2", "4.00")):
        api.clock.advance(1)
        assert (await api.post("bet", body)).status_code == 200
    win = {"player_id": pid, "tx_id": "w1", "round_id": "r1", "game_code": "dice",
           "amount": "7.50", "currency": "EUR", "close_round": True}  # fmt: skip
    assert (await api.post("win", win)).status_code == 200

    r = await api.op("GET", f"/players/{pid}/rounds")

    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [x["round_id"] for x in items] == ["r2", "r1"]
    r2, r1 = items
    assert {k: r1[k] for k in ("provider", "player_id", "game_code", "currency", "staked",
                               "won", "bets", "wins", "bets_rolled_back")} == {
        "provider": "acme", "player_id": pid, "game_code": "dice", "currency": "EUR",
        "staked": "3.00", "won": "7.50", "bets": 2, "wins": 1, "bets_rolled_back": 0,
    }  # fmt: skip
    assert r1["closed_at"] is not None
    assert (r2["staked"], r2["won"], r2["bets"], r2["closed_at"]) == ("4.00", "0.00", 1, None)
    first = (await api.op("GET", f"/players/{pid}/rounds?limit=1")).json()
    assert [x["round_id"] for x in first["items"]] == ["r2"]
    rest = await api.op("GET", f"/players/{pid}/rounds?limit=1&before={first['next_before']}")
    assert [x["round_id"] for x in rest.json()["items"]] == ["r1"]


async def test_session_transactions_list_that_sessions_calls(api: Api) -> None:
    pid = (await create(api))["id"]
    other = (await create(api, "u2"))["id"]
    for p in (pid, other):
        assert (await deposit(api, p, "50.00", f"d-{p}")).status_code == 201
    session_id, token = await api.session(pid)
    other_session, other_token = await api.session(other)

    def bet(player: str, tok: str, tx_id: str, amount: str) -> dict[str, Any]:
        return {"player_id": player, "token": tok, "tx_id": tx_id, "round_id": f"r-{tx_id}",
                "game_code": "dice", "amount": amount, "currency": "EUR"}  # fmt: skip

    assert (await api.post("bet", bet(pid, token, "b1", "1.00"))).status_code == 200
    assert (await api.post("bet", bet(other, other_token, "b2", "2.00"))).status_code == 200
    assert (await api.post("bet", bet(pid, token, "b3", "3.00"))).status_code == 200
    assert (await api.post("bet", bet(pid, token, "b4", "99.00"))).status_code == 402

    r = await api.op("GET", f"/sessions/{session_id}/transactions")

    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [(t["reference"], t["kind"], t["status"]) for t in items] == [
        ("b4", "bet", "refused"), ("b3", "bet", "ok"), ("b1", "bet", "ok"),
    ]  # fmt: skip
    assert all(t["session_id"] == session_id and t["player_id"] == pid for t in items)
    assert items[0]["error"]["code"] == "INSUFFICIENT_FUNDS"
    assert (items[1]["amount"], items[1]["round_id"], items[1]["scope"]) == (
        "3.00", "r-b3", "provider:acme",
    )  # fmt: skip
    theirs = (await api.op("GET", f"/sessions/{other_session}/transactions")).json()["items"]
    assert [t["reference"] for t in theirs] == ["b2"]
    paged = (await api.op("GET", f"/sessions/{session_id}/transactions?limit=2")).json()
    assert [t["reference"] for t in paged["items"]] == ["b4", "b3"]
    assert paged["next_before"] == paged["items"][-1]["id"]
    none = await api.op("GET", "/sessions/gs_unknown/transactions")
    assert none.json() == {"items": [], "next_before": None}


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=201", "limit=-1", "limit=abc", "limit=", "limit=1.5", "before=abc",
     "before=-1", "before=", "limit=99999999999999999999"],
)  # fmt: skip
async def test_history_refuses_bad_paging(api: Api, query: str) -> None:
    pid = (await create(api))["id"]
    for path in (f"/players/{pid}/transactions", f"/players/{pid}/rounds",
                 "/sessions/gs_any/transactions"):  # fmt: skip
        error = refused(await api.op("GET", f"{path}?{query}"), 400, "INVALID_REQUEST")
        assert error["details"]["field"] == query.partition("=")[0], error


async def test_history_accepts_the_page_limits(api: Api) -> None:
    pid, _ = await funded_history(api)
    for limit, n in (("1", 1), ("200", 6)):
        r = await api.op("GET", f"/players/{pid}/transactions?limit={limit}")
        assert r.status_code == 200, r.text
        assert len(r.json()["items"]) == n


# -- races ----------------------------------------------------------------------------------


async def test_concurrent_creates_of_one_reference_make_one_player(api: Api) -> None:
    body = {"brand": BRAND, "external_ref": "u1", "currency": "EUR", "country": "GB"}

    answers = await asyncio.gather(*(api.op("POST", "/players", body) for _ in range(10)))

    assert sorted(r.status_code for r in answers) == [200] * 9 + [201], [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    assert await count(api, "players") == 1


async def test_a_currency_change_racing_a_deposit_is_one_or_the_other(
    api: Api, database_url: str
) -> None:
    pids = [(await create(api, f"u{i}"))["id"] for i in range(8)]

    async def race(pid: str) -> tuple[httpx.Response, httpx.Response]:
        paid, changed = await asyncio.gather(
            deposit(api, pid, "3.00", f"d-{pid}"),
            api.op("PATCH", f"/players/{pid}", {"currency": "USD"}),
        )
        return paid, changed

    for pid, (paid, changed) in zip(pids, await asyncio.gather(*map(race, pids)), strict=True):
        now = await get(api, pid)
        if paid.status_code == 201:
            refused(changed, 409, "PLAYER_CURRENCY_LOCKED")
            assert (now["currency"], now["balance"]["cash"]) == ("EUR", "3.00")
        else:
            refused(paid, 409, "CURRENCY_MISMATCH")
            assert changed.status_code == 200, changed.text
            assert (now["currency"], now["balance"]["cash"]) == ("USD", "0.00")
        assert (await api.wallet.balance(pid)).currency == now["currency"]
    assert_ledger_ok(database_url)


async def test_a_brand_conflict_found_at_the_write_leaves_the_currency_unchanged(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    player = await create(api)
    assert api.players is not None
    store = api.players.store
    original = store.update_player

    async def race_then_write(*args: Any) -> Any:
        # Another operator call takes (casino-b, u1) after the service's own check, before
        # the write that changes currency and brand together.
        await create(api, "u1", brand="casino-b")
        return await original(*args)

    monkeypatch.setattr(store, "update_player", race_then_write)

    r = await api.op("PATCH", f"/players/{player['id']}", {"brand": "casino-b", "currency": "USD"})

    refused(r, 409, "PLAYER_EXISTS")
    now = await get(api, player["id"])
    assert (now["brand"], now["currency"]) == (BRAND, "EUR")


async def test_an_empty_brand_in_a_patch_is_refused(api: Api) -> None:
    player = await create(api)

    r = await api.op("PATCH", f"/players/{player['id']}", {"brand": ""})

    assert refused(r, 400, "INVALID_REQUEST")["details"]["field"] == "brand"


async def test_an_empty_country_in_a_patch_is_refused_or_clears_it(api: Api) -> None:
    player = await create(api, country="GB")

    r = await api.op("PATCH", f"/players/{player['id']}", {"country": ""})

    if r.status_code == 200:  # accepted: then it must have done what it said
        assert (r.json()["country"], r.json()["subdivision"]) == (None, None), r.json()
    else:
        assert refused(r, 400, "INVALID_REQUEST")["details"]["field"] == "country"
