"""Cool-off and self-exclusion through the operator API, on SQLite and PostgreSQL.

POST /operator/v1/players/{id}/exclusions starts one now (a cool-off of 1 to 42 days, a
self-exclusion of 180 days or more, or indefinite); GET lists them with the one in force.
Checked: launches are refused while one is in force and pass once it ends, the bounds of
each kind, that a later shorter one never shortens a longer one, that starting one closes
the player's live sessions (no further bet, but the rounds in flight still settle), that the
table refuses UPDATE and DELETE on both databases, and that the route needs its scope.
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest

from croupier.domain.sessions import SessionState
from tests.conftest import assert_append_only, assert_ledger_ok
from tests.e2e.conftest import Api

DAY = 24 * 3600
T0 = "2026-01-01T12:00:00+00:00"
"""The test clock's start."""
PACE = 5

# -- helpers ---------------------------------------------------------------------------------


def refusal(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """A typed JSON refusal with this status and code; its ``details``."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "ERROR", body
    assert body["error"]["code"] == code, body
    details: dict[str, Any] = body["error"]["details"]
    return details


async def catalogue(api: Api) -> None:
    """acme, offered everywhere, with two slots."""
    r = await api.op("PUT", "/catalogue/providers/acme", {
        "name": "Acme", "launch_url": "https://games.acme.test/launch", "jurisdictions": ["*"],
    })  # fmt: skip
    assert r.status_code == 200, r.text
    for code in ("slot1", "slot2"):
        r = await api.op("PUT", f"/catalogue/games/acme/{code}", {
            "name": code, "category": "slots", "rtp": "96.00", "jurisdictions": ["*"],
        })  # fmt: skip
        assert r.status_code == 200, r.text


async def new_player(api: Api) -> str:
    """A verified adult in Great Britain with £50."""
    r = await api.op("POST", "/players", {
        "brand": "casino-a", "external_ref": f"u-{secrets.token_hex(6)}", "currency": "GBP",
        "country": "GB", "birth_date": "1980-03-03", "kyc_status": "verified",
    })  # fmt: skip
    assert r.status_code == 201, r.text
    player_id: str = r.json()["id"]
    r = await api.op("POST", f"/players/{player_id}/deposits",
                     {"reference": f"dep-{player_id}", "amount": "50.00",
                      "currency": "GBP"})  # fmt: skip
    assert r.status_code == 201, r.text
    return player_id


async def exclude(
    api: Api, player_id: str, kind: str, days: int | None = None, *, reason: str = ""
) -> httpx.Response:
    body: dict[str, Any] = {"kind": kind, "reason": reason}
    if days is not None:
        body["days"] = days
    return await api.op("POST", f"/players/{player_id}/exclusions", body)


async def started(
    api: Api, player_id: str, kind: str, days: int | None = None, *, reason: str = ""
) -> dict[str, Any]:
    r = await exclude(api, player_id, kind, days, reason=reason)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def exclusions(api: Api, player_id: str) -> dict[str, Any]:
    r = await api.op("GET", f"/players/{player_id}/exclusions")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def launch(api: Api, player_id: str, game: str = "slot1") -> httpx.Response:
    return await api.op("POST", "/launch", {"provider": "acme", "game": game,
                                            "player_id": player_id})  # fmt: skip


async def launch_refused(api: Api, player_id: str, code: str) -> dict[str, Any]:
    details = refusal(await launch(api, player_id), 403, code)
    assert details["rule"] == {"COOLING_OFF": "protection.cool_off",
                               "SELF_EXCLUDED": "protection.self_exclusion"}[code]  # fmt: skip
    return details


async def launch_passes(api: Api, player_id: str, game: str = "slot1") -> dict[str, Any]:
    r = await launch(api, player_id, game)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def table_count(api: Api, table: str) -> int:
    rows = await api.wallet.store.fetch(f"SELECT count(*) FROM {table}")  # type: ignore[attr-defined]  # noqa: S608 - constant names
    return int(rows[0][0])


def bet(
    player_id: str, token: str, tx_id: str, round_id: str, *, game: str = "slot1"
) -> dict[str, Any]:
    return {"player_id": player_id, "token": token, "tx_id": tx_id, "round_id": round_id,
            "game_code": game, "amount": "1.00", "currency": "GBP"}  # fmt: skip


async def cash(api: Api, player_id: str) -> int:
    return (await api.wallet.balance(player_id)).cash


# -- launches refused while an exclusion is in force -----------------------------------------


async def test_a_cool_off_refuses_launches_until_it_ends(api: Api) -> None:
    await catalogue(api)
    player_id = await new_player(api)
    body = await started(api, player_id, "cool_off", 7, reason="asked in chat")
    key_id = api.operator_token.removeprefix("cok_").split(".")[0]
    assert body == {
        "kind": "cool_off", "starts_at": T0, "ends_at": "2026-01-08T12:00:00+00:00",
        "indefinite": False, "actor": f"operator:{key_id}", "reason": "asked in chat",
    }  # fmt: skip
    details = await launch_refused(api, player_id, "COOLING_OFF")
    assert details["until"] == "2026-01-08T12:00:00+00:00"
    assert await table_count(api, "game_sessions") == 0

    api.clock.advance(7 * DAY - 1)
    await launch_refused(api, player_id, "COOLING_OFF")
    api.clock.advance(1)
    await launch_passes(api, player_id)
    listed = await exclusions(api, player_id)
    assert listed["current"] is None
    assert listed["items"] == [body]


@pytest.mark.parametrize(
    ("kind", "days"),
    [("cool_off", 0), ("cool_off", 43), ("cool_off", -1), ("cool_off", None),
     ("self_exclusion", 90), ("self_exclusion", 179), ("self_exclusion", 0),
     ("self_exclusion", 36501)],
)  # fmt: skip
async def test_an_exclusion_out_of_bounds_is_refused_and_writes_nothing(
    api: Api, kind: str, days: int | None
) -> None:
    player_id = await new_player(api)
    details = refusal(await exclude(api, player_id, kind, days), 400, "INVALID_REQUEST")
    assert details["field"] == "days"
    assert await exclusions(api, player_id) == {"current": None, "items": []}
    assert await table_count(api, "player_exclusions") == 0


@pytest.mark.parametrize(
    ("kind", "days", "ends_at"),
    [("cool_off", 1, "2026-01-02T12:00:00+00:00"), ("cool_off", 42, "2026-02-12T12:00:00+00:00"),
     ("self_exclusion", 180, "2026-06-30T12:00:00+00:00"),
     ("self_exclusion", 36500, "2125-12-08T12:00:00+00:00")],
)  # fmt: skip
async def test_the_bounds_of_each_kind_are_accepted(
    api: Api, kind: str, days: int, ends_at: str
) -> None:
    player_id = await new_player(api)
    body = await started(api, player_id, kind, days)
    assert (body["kind"], body["starts_at"], body["ends_at"], body["indefinite"]) == (
        kind, T0, ends_at, False,
    )  # fmt: skip
    assert (await exclusions(api, player_id))["current"] == body


@pytest.mark.parametrize(
    "body",
    [{"kind": "break", "days": 7}, {"kind": "cool_off", "days": "7"},
     {"kind": "cool_off", "days": 7.0}, {"kind": "cool_off", "days": 7, "until": "2026-02-01"},
     {"kind": "cool_off", "days": 7, "reason": "x" * 501}],
    ids=["kind", "days-string", "days-float", "unknown-field", "reason-too-long"],
)  # fmt: skip
async def test_a_malformed_exclusion_is_refused(api: Api, body: dict[str, Any]) -> None:
    player_id = await new_player(api)
    r = await api.op("POST", f"/players/{player_id}/exclusions", body)
    refusal(r, 400, "INVALID_REQUEST")
    assert await table_count(api, "player_exclusions") == 0


async def test_an_exclusion_of_an_unknown_player_is_not_found(api: Api) -> None:
    r = await exclude(api, "pl_nobody", "cool_off", 7)
    refusal(r, 404, "PLAYER_NOT_FOUND")
    refusal(await api.op("GET", "/players/pl_nobody/exclusions"), 404, "PLAYER_NOT_FOUND")
    assert await table_count(api, "player_exclusions") == 0


async def test_a_self_exclusion_without_days_is_indefinite(api: Api) -> None:
    await catalogue(api)
    player_id = await new_player(api)
    body = await started(api, player_id, "self_exclusion", reason="asked by phone")
    assert (body["ends_at"], body["indefinite"]) == (None, True)
    listed = await exclusions(api, player_id)
    assert listed["current"] == body
    assert listed["current"]["indefinite"] is True
    assert listed["items"] == [body]
    details = await launch_refused(api, player_id, "SELF_EXCLUDED")
    assert details["until"] is None
    api.clock.advance(100 * 365 * DAY)
    await launch_refused(api, player_id, "SELF_EXCLUDED")
    assert (await exclusions(api, player_id))["current"] == body


async def test_a_later_shorter_exclusion_never_shortens_a_longer_one(api: Api) -> None:
    await catalogue(api)
    player_id = await new_player(api)
    long = await started(api, player_id, "self_exclusion", 180)
    api.clock.advance(DAY)
    short = await started(api, player_id, "cool_off", 7)
    assert short["ends_at"] == "2026-01-09T12:00:00+00:00"
    listed = await exclusions(api, player_id)
    assert listed["current"] == long
    assert listed["items"] == [long, short]
    await launch_refused(api, player_id, "SELF_EXCLUDED")

    api.clock.advance(8 * DAY)  # the cool-off is over; the self-exclusion is not
    assert (await exclusions(api, player_id))["current"] == long
    details = await launch_refused(api, player_id, "SELF_EXCLUDED")
    assert details["until"] == "2026-06-30T12:00:00+00:00"
    api.clock.advance(171 * DAY)  # 2026-06-30 12:00: the self-exclusion ends
    assert (await exclusions(api, player_id))["current"] is None
    await launch_passes(api, player_id)


async def test_a_shorter_cool_off_leaves_a_longer_cool_off_in_force(api: Api) -> None:
    await catalogue(api)
    player_id = await new_player(api)
    long = await started(api, player_id, "cool_off", 42)
    await started(api, player_id, "cool_off", 1)
    assert (await exclusions(api, player_id))["current"] == long
    api.clock.advance(2 * DAY)
    details = await launch_refused(api, player_id, "COOLING_OFF")
    assert details["until"] == "2026-02-12T12:00:00+00:00"
    longer = await started(api, player_id, "cool_off", 42)  # extends it
    assert longer["ends_at"] == "2026-02-14T12:00:00+00:00"
    assert (await exclusions(api, player_id))["current"] == longer
    api.clock.advance(41 * DAY)  # past the first one's end, before the second's
    await launch_refused(api, player_id, "COOLING_OFF")


# -- live sessions are closed ----------------------------------------------------------------


async def test_an_exclusion_closes_live_sessions_but_rounds_in_flight_settle(
    api: Api, database_url: str
) -> None:
    await catalogue(api)
    player_id = await new_player(api)
    other = await new_player(api)
    playing = await launch_passes(api, player_id)
    idle = await launch_passes(api, player_id, "slot2")
    bystander = await launch_passes(api, other)
    token = playing["token"]
    for tx_id, round_id in (("b1", "r1"), ("b2", "r2")):
        api.clock.advance(PACE)  # GB: 2.5 s at least between two slots rounds
        r = await api.post("bet", bet(player_id, token, tx_id, round_id))
        assert r.status_code == 200, r.text
    assert await cash(api, player_id) == 4800

    await started(api, player_id, "cool_off", 7)
    sessions = {s: await api.sessions.get(s) for s in (playing["session_id"], idle["session_id"],
                                                      bystander["session_id"])}  # fmt: skip
    assert sessions[playing["session_id"]].state is SessionState.PENDING_SETTLEMENT
    assert sessions[idle["session_id"]].state is SessionState.CANCELLED
    assert sessions[bystander["session_id"]].state is SessionState.CREATED

    r = await api.post("bet", bet(player_id, token, "b3", "r1"))
    details = refusal(r, 403, "SESSION_CLOSED")
    assert details["state"] == "pending_settlement"
    r = await api.post("bet", bet(player_id, idle["token"], "b4", "r4", game="slot2"))
    refusal(r, 403, "SESSION_CLOSED")
    assert await cash(api, player_id) == 4800

    win = {"player_id": player_id, "token": token, "tx_id": "w1", "round_id": "r1",
           "game_code": "slot1", "amount": "3.00", "currency": "GBP",
           "close_round": True}  # fmt: skip
    r = await api.post("win", win)
    assert r.status_code == 200, r.text
    assert r.json()["balance"]["cash"] == "51.00"
    rollback = {"player_id": player_id, "token": token, "tx_id": "rb1", "bet_tx_id": "b2",
                "currency": "GBP"}  # fmt: skip
    r = await api.post("rollback", rollback)
    assert r.status_code == 200, r.text
    assert await cash(api, player_id) == 5200

    r = await api.post("bet", bet(other, bystander["token"], "ob1", "or1"))
    assert r.status_code == 200, r.text  # another player's session is untouched
    assert_ledger_ok(database_url)


# -- the record ------------------------------------------------------------------------------


async def test_player_exclusions_are_append_only(api: Api, database_url: str) -> None:
    player_id = await new_player(api)
    first = await started(api, player_id, "self_exclusion", 180, reason="asked by phone")
    await assert_append_only(api.wallet.store, "player_exclusions", (
        "UPDATE player_exclusions SET ends_at = NULL",
        "UPDATE player_exclusions SET reason = 'x'",
        "DELETE FROM player_exclusions",
    ))  # fmt: skip
    assert await exclusions(api, player_id) == {"current": first, "items": [first]}


# -- scopes ----------------------------------------------------------------------------------


async def test_starting_an_exclusion_needs_the_protection_scope(api: Api) -> None:
    player_id = await new_player(api)
    _, reader = await api.operator_keys.add(["players:read", "players:write", "launch"], "desk")  # type: ignore[union-attr]
    r = await api.op("POST", f"/players/{player_id}/exclusions",
                     {"kind": "cool_off", "days": 7}, token=reader)  # fmt: skip
    assert refusal(r, 403, "SCOPE_NOT_GRANTED")["scope"] == "protection"
    assert await table_count(api, "player_exclusions") == 0
    r = await api.op("GET", f"/players/{player_id}/exclusions", token=reader)
    assert r.status_code == 200, r.text

    _, protector = await api.operator_keys.add(["protection"], "safer gambling")  # type: ignore[union-attr]
    r = await api.op("POST", f"/players/{player_id}/exclusions",
                     {"kind": "cool_off", "days": 7}, token=protector)  # fmt: skip
    assert r.status_code == 201, r.text
    r = await api.op("GET", f"/players/{player_id}/exclusions", token=protector)
    assert refusal(r, 403, "SCOPE_NOT_GRANTED")["scope"] == "players:read"
    r = await api.op("POST", f"/players/{player_id}/exclusions", {"kind": "cool_off", "days": 7},
                     token="")  # fmt: skip
    refusal(r, 401, "OPERATOR_KEY_INVALID")
    assert await table_count(api, "player_exclusions") == 1
