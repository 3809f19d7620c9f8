"""Game sessions through signed HTTP calls: tokens, the state machine and its event record.

Every test runs on SQLite and on PostgreSQL. Time moves only through ``api.clock``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from croupier.domain.errors import IllegalTransition
from croupier.domain.sessions import SessionState
from tests.conftest import assert_append_only
from tests.e2e.conftest import Api

S = SessionState
TOKEN_SECONDS = 900


# -- helpers ---------------------------------------------------------------------------------


def bet(
    token: str, tx_id: str, round_id: str, *, player: str = "p1", amount: str = "1.00",
    game: str = "dice",
) -> dict[str, Any]:  # fmt: skip
    return {"player_id": player, "token": token, "tx_id": tx_id, "round_id": round_id,
            "game_code": game, "amount": amount, "currency": "EUR"}  # fmt: skip


def win(
    tx_id: str, round_id: str, *, token: str | None = None, player: str = "p1",
    amount: str = "2.00", close: bool = True,
) -> dict[str, Any]:  # fmt: skip
    body: dict[str, Any] = {"player_id": player, "tx_id": tx_id, "round_id": round_id,
                            "game_code": "dice", "amount": amount, "currency": "EUR",
                            "close_round": close}  # fmt: skip
    if token is not None:
        body["token"] = token
    return body


def rollback(
    tx_id: str, bet_tx_id: str, *, token: str | None = None, player: str = "p1"
) -> dict[str, Any]:
    body: dict[str, Any] = {"player_id": player, "tx_id": tx_id, "bet_tx_id": bet_tx_id,
                            "currency": "EUR"}  # fmt: skip
    if token is not None:
        body["token"] = token
    return body


async def ok(api: Api, call: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    r = await api.post(call, body, **kwargs)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    assert data["status"] == "OK"
    return data


async def refused(
    api: Api, call: str, body: dict[str, Any], code: str, status: int, **kwargs: Any
) -> dict[str, Any]:
    r = await api.post(call, body, **kwargs)
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    assert api.response_verified(r, kwargs.get("secret"))
    data: dict[str, Any] = r.json()
    return data


async def written(api: Api, reference: str) -> int:
    """How many accepted wallet transactions carry this provider transaction id (an expired
    token's or a closed session's refusal of a bet is stored too, with no money: not counted)."""
    rows = await api.gateway_store.db.fetch(
        "SELECT count(*) FROM wallet_transactions WHERE reference = $1 AND status <> 'refused'",
        reference,
    )
    return int(rows[0][0])


async def cash(api: Api, player: str = "p1") -> int:
    return (await api.wallet.balance(player)).cash


async def state(api: Api, session_id: str) -> SessionState:
    return (await api.sessions.get(session_id)).state


async def moves(api: Api, session_id: str) -> list[tuple[SessionState | None, SessionState]]:
    return [(e.from_state, e.to_state) for e in await api.sessions.events(session_id)]


# -- authenticate and the first bet ----------------------------------------------------------


async def test_authenticate_launches_a_created_session_and_a_repeat_is_harmless(api: Api) -> None:
    await api.player("p1", "10.00")
    session_id, token = await api.session("p1")
    assert await state(api, session_id) is S.CREATED
    data = await ok(api, "authenticate", {"token": token})
    assert data["player_id"] == "p1"
    assert data["balance"] == {"cash": "10.00", "bonus": "0.00"}
    assert data["session"]["id"] == session_id
    assert data["session"]["state"] == "launched"
    assert data["session"]["game_code"] == "dice"
    expires = api.clock() + timedelta(seconds=TOKEN_SECONDS)
    assert datetime.fromisoformat(data["session"]["token_expires_at"]) == expires
    again = await ok(api, "authenticate", {"token": token})
    assert again["session"]["state"] == "launched"
    assert await state(api, session_id) is S.LAUNCHED
    events = await api.sessions.events(session_id)
    assert [(e.from_state, e.to_state) for e in events] == [
        (None, S.CREATED),
        (S.CREATED, S.LAUNCHED),
    ]
    assert events[1].actor == "provider:acme"
    assert (await api.sessions.get(session_id)).version == 2


async def test_authenticate_refuses_an_expired_token_and_leaves_the_session_created(
    api: Api,
) -> None:
    await api.player("p1")
    session_id, token = await api.session("p1")
    api.clock.advance(TOKEN_SECONDS + 1)
    await refused(api, "authenticate", {"token": token}, "TOKEN_EXPIRED", 401)
    assert await moves(api, session_id) == [(None, S.CREATED)]


async def test_first_bet_makes_a_launched_session_active_with_its_round_and_transaction(
    api: Api,
) -> None:
    await api.player("p1", "10.00")
    session_id, token = await api.session("p1")
    await ok(api, "authenticate", {"token": token})
    data = await ok(api, "bet", bet(token, "b1", "r1", amount="1.50"))
    tx_id = int(data["transaction"]["id"])
    assert data["balance"]["cash"] == "8.50"
    events = await api.sessions.events(session_id)
    assert [(e.from_state, e.to_state) for e in events] == [
        (None, S.CREATED),
        (S.CREATED, S.LAUNCHED),
        (S.LAUNCHED, S.ACTIVE),
    ]
    first_bet = events[-1]
    assert first_bet.round_ref == "r1"
    assert first_bet.tx_ids == (tx_id,)
    assert first_bet.actor == "provider:acme"
    assert first_bet.reason == "first bet accepted"
    rows = await api.gateway_store.db.fetch(
        "SELECT session_id FROM wallet_transactions WHERE id = $1", tx_id
    )
    assert rows == [(session_id,)]
    # later bets and replays do not move the session again
    await ok(api, "bet", bet(token, "b2", "r2"))
    replay = await ok(api, "bet", bet(token, "b1", "r1", amount="1.50"))
    assert replay["transaction"]["replay"] is True
    assert len(await api.sessions.events(session_id)) == 3
    assert await state(api, session_id) is S.ACTIVE


async def test_a_provider_that_skips_authenticate_goes_from_created_to_active(api: Api) -> None:
    await api.player("p1")
    session_id, token = await api.session("p1")
    data = await ok(api, "bet", bet(token, "b1", "r1"))
    events = await api.sessions.events(session_id)
    assert [(e.from_state, e.to_state) for e in events] == [
        (None, S.CREATED),
        (S.CREATED, S.ACTIVE),
    ]
    assert events[-1].tx_ids == (int(data["transaction"]["id"]),)
    assert events[-1].round_ref == "r1"
    # authenticate after the first bet is harmless: the session stays active
    again = await ok(api, "authenticate", {"token": token})
    assert again["session"]["state"] == "active"
    assert len(await api.sessions.events(session_id)) == 2


# -- token expiry and refresh ----------------------------------------------------------------


async def test_an_expired_token_refuses_bets_but_not_wins_rollbacks_or_end_round(
    api: Api,
) -> None:
    await api.player("p1", "10.00")
    session_id, token = await api.session("p1")
    await ok(api, "bet", bet(token, "b1", "r1", amount="1.00"))
    await ok(api, "bet", bet(token, "b2", "r2", amount="2.00"))
    assert await cash(api) == 700
    events_before = await api.sessions.events(session_id)
    api.clock.advance(TOKEN_SECONDS + 1)

    data = await refused(api, "bet", bet(token, "b3", "r3", amount="1.00"), "TOKEN_EXPIRED", 401)
    assert data["error"]["retry_class"] == "fatal"
    assert data["balance"]["cash"] == "7.00"
    assert await written(api, "b3") == 0
    assert await cash(api) == 700
    assert await api.sessions.events(session_id) == events_before
    # a bet on an open round is refused just the same
    await refused(api, "bet", bet(token, "b4", "r1"), "TOKEN_EXPIRED", 401)
    assert await written(api, "b4") == 0

    won = await ok(api, "win", win("w1", "r1", token=token, amount="5.00", close=False))
    assert won["balance"]["cash"] == "12.00"
    ended = await ok(api, "end_round", {"player_id": "p1", "tx_id": "e1", "round_id": "r1",
                                        "game_code": "dice", "currency": "EUR",
                                        "token": token})  # fmt: skip
    assert ended["transaction"]["round_closed"] is True
    back = await ok(api, "rollback", rollback("rb2", "b2", token=token))
    assert back["balance"]["cash"] == "14.00"
    assert await cash(api) == 1400
    for ref in ("w1", "e1", "rb2"):
        assert await written(api, ref) == 1
    assert await state(api, session_id) is S.ACTIVE


async def test_refresh_gives_a_new_token_for_bets_and_refuses_an_expired_one(api: Api) -> None:
    await api.player("p1", "10.00")
    session_id, token = await api.session("p1")
    api.clock.advance(600)
    data = await ok(api, "refresh", {"token": token})
    new = data["session"]["token"]
    assert new != token
    assert new.startswith("cst_")
    assert data["session"]["id"] == session_id
    assert data["player_id"] == "p1"
    expires = api.clock() + timedelta(seconds=TOKEN_SECONDS)
    assert datetime.fromisoformat(data["session"]["token_expires_at"]) == expires
    assert await state(api, session_id) is S.CREATED  # a refresh is not a transition

    api.clock.advance(301)  # the first token is 901 s old, the new one 301 s
    await refused(api, "bet", bet(token, "b-old", "r1"), "TOKEN_EXPIRED", 401)
    assert await written(api, "b-old") == 0
    placed = await ok(api, "bet", bet(new, "b-new", "r1"))
    assert placed["balance"]["cash"] == "9.00"
    assert await state(api, session_id) is S.ACTIVE
    await refused(api, "refresh", {"token": token}, "TOKEN_EXPIRED", 401)
    # the session's expiry follows its newest token: the sweep leaves it alone
    assert await api.sessions.sweep() == {}
    assert await state(api, session_id) is S.ACTIVE

    api.clock.advance(600)  # now the new token is 901 s old as well
    await refused(api, "refresh", {"token": new}, "TOKEN_EXPIRED", 401)
    await refused(api, "bet", bet(new, "b-late", "r1"), "TOKEN_EXPIRED", 401)
    assert await written(api, "b-late") == 0


async def test_refresh_of_a_closed_session_is_refused(api: Api) -> None:
    await api.player("p1")
    session_id, token = await api.session("p1")
    await api.sessions.close(session_id, actor="test", reason="player left")
    await refused(api, "refresh", {"token": token}, "SESSION_CLOSED", 403)
    await refused(api, "authenticate", {"token": token}, "SESSION_CLOSED", 403)


async def test_a_token_of_another_player_game_or_provider_is_invalid(api: Api) -> None:
    await api.player("p1", "10.00")
    await api.player("p2", "10.00")
    _, token = await api.session("p1", game="dice")

    data = await refused(api, "bet", bet(token, "x1", "r1", player="p2"), "TOKEN_INVALID", 401)
    assert data["error"]["retry_class"] == "fatal"
    data = await refused(api, "bet", bet(token, "x2", "r1", game="slots"), "TOKEN_INVALID", 401)
    assert data["error"]["details"]["game_code"] == "dice"
    other = await api.keys.add("other", key_id="o1")
    as_other = {"provider": "other", "key_id": other.key_id, "secret": other.secret}
    await refused(api, "bet", bet(token, "x3", "r1"), "TOKEN_INVALID", 401, **as_other)
    await refused(api, "authenticate", {"token": token}, "TOKEN_INVALID", 401, **as_other)
    await refused(api, "refresh", {"token": token}, "TOKEN_INVALID", 401, **as_other)
    # a settlement call that names a token must name the token's player too
    await ok(api, "bet", bet(token, "b1", "r1"))
    await refused(api, "win", win("x4", "r1", token=token, player="p2"), "TOKEN_INVALID", 401)
    await refused(api, "rollback", rollback("x5", "b1", token=token, player="p2"),
                  "TOKEN_INVALID", 401)  # fmt: skip
    for ref in ("x1", "x2", "x3", "x4", "x5"):
        assert await written(api, ref) == 0
    assert await cash(api, "p1") == 900
    assert await cash(api, "p2") == 1000


@pytest.mark.parametrize("token", ["cst_unknown", "", "x" * 129])
async def test_an_unknown_or_malformed_token_is_invalid(api: Api, token: str) -> None:
    await api.player("p1", "10.00")
    await api.session("p1")
    await refused(api, "bet", bet(token, "b1", "r1"), "TOKEN_INVALID", 401)
    await refused(api, "authenticate", {"token": token}, "TOKEN_INVALID", 401)
    await refused(api, "refresh", {"token": token}, "TOKEN_INVALID", 401)
    await refused(api, "balance", {"player_id": "p1", "token": token}, "TOKEN_INVALID", 401)
    assert await written(api, "b1") == 0
    assert await cash(api) == 1000


# -- closing ---------------------------------------------------------------------------------


async def test_closing_with_an_open_round_waits_for_its_settlement(api: Api) -> None:
    await api.player("p1", "10.00")
    session_id, token = await api.session("p1")
    await ok(api, "bet", bet(token, "b1", "r1"))
    after = await api.sessions.close(session_id, actor="test", reason="player left")
    assert after.state is S.PENDING_SETTLEMENT
    assert await state(api, session_id) is S.PENDING_SETTLEMENT

    data = await refused(api, "bet", bet(token, "b2", "r1"), "SESSION_CLOSED", 403)
    assert data["error"]["retry_class"] == "fatal"
    await refused(api, "bet", bet(token, "b3", "r2"), "SESSION_CLOSED", 403)
    assert await written(api, "b2") == 0
    assert await written(api, "b3") == 0
    assert await cash(api) == 900

    won = await ok(api, "win", win("w1", "r1", token=token, amount="3.00"))
    assert won["transaction"]["round_closed"] is True
    assert await cash(api) == 1200
    assert await api.sessions.sweep() == {"settled": 1}
    assert await state(api, session_id) is S.SETTLED
    last = (await api.sessions.events(session_id))[-1]
    assert (last.from_state, last.to_state) == (S.PENDING_SETTLEMENT, S.SETTLED)
    assert last.actor == "job:sessions"


async def test_a_pending_session_settles_once_its_token_expired_and_its_round_closed(
    api: Api,
) -> None:
    await api.player("p1", "10.00")
    session_id, token = await api.session("p1")
    await ok(api, "bet", bet(token, "b1", "r1"))
    await api.sessions.close(session_id, actor="test", reason="player left")
    api.clock.advance(TOKEN_SECONDS + 1)
    assert await api.sessions.sweep() == {}  # the round is still open
    assert await state(api, session_id) is S.PENDING_SETTLEMENT
    await ok(api, "win", win("w1", "r1", token=token, amount="3.00"))
    assert await api.sessions.sweep() == {"settled": 1}
    assert await state(api, session_id) is S.SETTLED
    assert await api.sessions.sweep() == {}


async def test_closing_again_settles_a_pending_session_whose_rounds_closed(api: Api) -> None:
    await api.player("p1", "10.00")
    session_id, token = await api.session("p1")
    await ok(api, "bet", bet(token, "b1", "r1"))
    await api.sessions.close(session_id, actor="test", reason="player left")
    again = await api.sessions.close(session_id, actor="test", reason="again")
    assert again.state is S.PENDING_SETTLEMENT  # round still open: nothing to do
    await ok(api, "win", win("w1", "r1"))
    settled = await api.sessions.close(session_id, actor="test", reason="again")
    assert settled.state is S.SETTLED


async def test_closing_with_every_round_closed_settles(api: Api) -> None:
    await api.player("p1", "10.00")
    session_id, token = await api.session("p1")
    placed = await ok(api, "bet", bet(token, "b1", "r1"))
    won = await ok(api, "win", win("w1", "r1", token=token))
    after = await api.sessions.close(session_id, actor="test", reason="player left")
    assert after.state is S.SETTLED
    last = (await api.sessions.events(session_id))[-1]
    assert (last.from_state, last.to_state, last.actor, last.reason) == (
        S.ACTIVE, S.SETTLED, "test", "player left",
    )  # fmt: skip
    assert set(last.tx_ids) == {int(placed["transaction"]["id"]), int(won["transaction"]["id"])}


@pytest.mark.parametrize("authenticated", [False, True])
async def test_closing_a_session_without_bets_cancels_it(api: Api, authenticated: bool) -> None:
    await api.player("p1")
    session_id, token = await api.session("p1")
    if authenticated:
        await ok(api, "authenticate", {"token": token})
    after = await api.sessions.close(session_id, actor="test", reason="player left")
    assert after.state is S.CANCELLED
    start = S.LAUNCHED if authenticated else S.CREATED
    assert (await moves(api, session_id))[-1] == (start, S.CANCELLED)
    await refused(api, "bet", bet(token, "b1", "r1"), "SESSION_CLOSED", 403)
    assert await written(api, "b1") == 0


async def test_closing_when_every_bet_was_rolled_back_reverses(api: Api) -> None:
    await api.player("p1", "10.00")
    session_id, token = await api.session("p1")
    await ok(api, "bet", bet(token, "b1", "r1"))
    await ok(api, "bet", bet(token, "b2", "r2"))
    await ok(api, "rollback", rollback("rb1", "b1", token=token))
    await ok(api, "rollback", rollback("rb2", "b2"))
    after = await api.sessions.close(session_id, actor="test", reason="player left")
    assert after.state is S.REVERSED
    assert (await moves(api, session_id))[-1] == (S.ACTIVE, S.REVERSED)
    assert await cash(api) == 1000


async def test_closing_when_only_some_bets_were_rolled_back_settles(api: Api) -> None:
    await api.player("p1", "10.00")
    session_id, token = await api.session("p1")
    await ok(api, "bet", bet(token, "b1", "r1"))
    await ok(api, "bet", bet(token, "b2", "r2"))
    await ok(api, "rollback", rollback("rb1", "b1", token=token))
    await ok(api, "win", win("w2", "r2", amount="0.00"))
    after = await api.sessions.close(session_id, actor="test", reason="player left")
    assert after.state is S.SETTLED


async def test_a_pending_session_whose_bets_are_rolled_back_is_reversed(api: Api) -> None:
    await api.player("p1", "10.00")
    session_id, token = await api.session("p1")
    await ok(api, "bet", bet(token, "b1", "r1"))
    assert (await api.sessions.close(session_id, actor="test", reason="left")).state is (
        S.PENDING_SETTLEMENT
    )
    await ok(api, "rollback", rollback("rb1", "b1", token=token))
    api.clock.advance(TOKEN_SECONDS + 1)
    assert await api.sessions.sweep() == {"reversed": 1}
    assert (await moves(api, session_id))[-1] == (S.PENDING_SETTLEMENT, S.REVERSED)


async def test_fail_from_created_and_launched_but_not_from_active(api: Api) -> None:
    await api.player("p1", "10.00")
    created_id, _ = await api.session("p1")
    failed = await api.sessions.fail(created_id, actor="test", reason="launch failed")
    assert failed.state is S.FAILED
    last = (await api.sessions.events(created_id))[-1]
    assert (last.from_state, last.to_state, last.actor, last.reason) == (
        S.CREATED, S.FAILED, "test", "launch failed",
    )  # fmt: skip

    launched_id, launched_token = await api.session("p1")
    await ok(api, "authenticate", {"token": launched_token})
    assert (await api.sessions.fail(launched_id, actor="test", reason="x")).state is S.FAILED

    active_id, token = await api.session("p1")
    await ok(api, "bet", bet(token, "b1", "r1"))
    with pytest.raises(IllegalTransition) as caught:
        await api.sessions.fail(active_id, actor="test", reason="too late")
    assert caught.value.code == "SESSION_TRANSITION_ILLEGAL"
    assert caught.value.http_status == 409
    assert await state(api, active_id) is S.ACTIVE
    assert len(await api.sessions.events(active_id)) == 2


@pytest.mark.parametrize("final", ["settled", "cancelled", "failed", "reversed"])
async def test_closing_a_final_session_is_illegal(api: Api, final: str) -> None:
    await api.player("p1", "10.00")
    session_id, token = await api.session("p1")
    if final == "failed":
        await api.sessions.fail(session_id, actor="test", reason="launch failed")
    else:
        if final != "cancelled":
            await ok(api, "bet", bet(token, "b1", "r1"))
            if final == "settled":
                await ok(api, "win", win("w1", "r1"))
            else:
                await ok(api, "rollback", rollback("rb1", "b1"))
        assert (await api.sessions.close(session_id, actor="test", reason="left")).state == final
    events = await api.sessions.events(session_id)
    with pytest.raises(IllegalTransition) as caught:
        await api.sessions.close(session_id, actor="test", reason="once more")
    assert caught.value.code == "SESSION_TRANSITION_ILLEGAL"
    if final == "failed":  # moving to the state it is in is a no-op, not a second event
        assert (await api.sessions.fail(session_id, actor="test", reason="again")).state == final
    else:
        with pytest.raises(IllegalTransition):
            await api.sessions.fail(session_id, actor="test", reason="once more")
    assert await state(api, session_id) == final
    assert await api.sessions.events(session_id) == events
    assert await api.sessions.sweep() == {}


async def test_sweep_closes_sessions_whose_token_expired(api: Api) -> None:
    await api.player("p1", "10.00")
    idle, _ = await api.session("p1")
    done, t_done = await api.session("p1")
    await ok(api, "bet", bet(t_done, "b-done", "r-done"))
    await ok(api, "win", win("w-done", "r-done", token=t_done))
    still_open, t_open = await api.session("p1")
    await ok(api, "bet", bet(t_open, "b-open", "r-open"))
    rolled, t_rolled = await api.session("p1")
    await ok(api, "bet", bet(t_rolled, "b-rolled", "r-rolled"))
    await ok(api, "rollback", rollback("rb-rolled", "b-rolled", token=t_rolled))

    api.clock.advance(TOKEN_SECONDS - 1)
    assert await api.sessions.sweep() == {}  # every token is still valid
    api.clock.advance(2)
    fresh, _ = await api.session("p1")
    moved = await api.sessions.sweep()
    assert moved == {"cancelled": 1, "settled": 1, "pending_settlement": 1, "reversed": 1}
    expected = {idle: S.CANCELLED, done: S.SETTLED, still_open: S.PENDING_SETTLEMENT,
                rolled: S.REVERSED, fresh: S.CREATED}  # fmt: skip
    for session_id, want in expected.items():
        assert await state(api, session_id) is want, session_id
    for session_id in (idle, done, still_open, rolled):
        last = (await api.sessions.events(session_id))[-1]
        assert (last.actor, last.reason) == ("job:sessions", "session token expired")
    assert await api.sessions.sweep() == {}

    await ok(api, "win", win("w-open", "r-open", token=t_open))
    assert await api.sessions.sweep() == {"settled": 1}
    assert await state(api, still_open) is S.SETTLED


async def test_sweep_settles_a_pending_session_behind_one_whose_round_stays_open(
    api: Api,
) -> None:
    """A round a provider never closes must not hold back the settlement of later sessions."""
    await api.player("p1", "10.00")
    stuck, t_stuck = await api.session("p1")
    await ok(api, "bet", bet(t_stuck, "b-stuck", "r-stuck"))
    api.clock.advance(1)
    ready, t_ready = await api.session("p1")
    await ok(api, "bet", bet(t_ready, "b-ready", "r-ready"))
    for session_id in (stuck, ready):
        await api.sessions.close(session_id, actor="test", reason="player left")
    await ok(api, "win", win("w-ready", "r-ready", token=t_ready))
    api.clock.advance(TOKEN_SECONDS + 1)
    for _ in range(3):  # every pass of a small batch
        await api.sessions.sweep(limit=1)
    assert await state(api, stuck) is S.PENDING_SETTLEMENT
    assert await state(api, ready) is S.SETTLED


# -- the event record ------------------------------------------------------------------------


async def test_every_transition_is_recorded_in_order_with_actor_reason_and_time(api: Api) -> None:
    await api.player("p1", "10.00")
    t0 = api.clock()
    session_id, token = await api.session("p1")
    api.clock.advance(10)
    await ok(api, "authenticate", {"token": token})
    api.clock.advance(10)
    placed = await ok(api, "bet", bet(token, "b1", "r1"))
    api.clock.advance(10)
    await api.sessions.close(session_id, actor="test", reason="operator ended it")
    api.clock.advance(10)
    won = await ok(api, "win", win("w1", "r1", token=token))
    api.clock.advance(10)
    await api.sessions.close(session_id, actor="test", reason="again")
    bet_id, win_id = int(placed["transaction"]["id"]), int(won["transaction"]["id"])

    events = await api.sessions.events(session_id)
    got = [(e.from_state, e.to_state, e.actor, e.reason, e.at) for e in events]
    step = timedelta(seconds=10)
    assert got == [
        (None, S.CREATED, "operator", "session opened", t0),
        (S.CREATED, S.LAUNCHED, "provider:acme", "provider authenticated the token", t0 + step),
        (S.LAUNCHED, S.ACTIVE, "provider:acme", "first bet accepted", t0 + 2 * step),
        (S.ACTIVE, S.PENDING_SETTLEMENT, "test", "operator ended it", t0 + 3 * step),
        (S.PENDING_SETTLEMENT, S.SETTLED, "test", "every round of the session is closed",
         t0 + 5 * step),
    ]  # fmt: skip
    assert all(e.session_id == session_id for e in events)
    assert events[2].tx_ids == (bet_id,)
    assert events[3].tx_ids == (bet_id,)
    assert events[4].tx_ids == (bet_id, win_id)
    # the events of HTTP calls carry the request's correlation id
    assert events[1].correlation_id
    assert events[2].correlation_id
    assert events[1].correlation_id != events[2].correlation_id
    session = await api.sessions.get(session_id)
    assert session.state is S.SETTLED
    assert session.version == len(events)
    assert session.updated_at == t0 + 5 * step


async def test_session_events_are_append_only(api: Api, database_url: str) -> None:
    await api.player("p1", "10.00")
    session_id, token = await api.session("p1")
    await ok(api, "bet", bet(token, "b1", "r1"))
    before = await api.sessions.events(session_id)
    assert len(before) == 2
    await assert_append_only(
        api.wallet.store, "session_events",
        ("UPDATE session_events SET reason = 'x'", "DELETE FROM session_events"),
    )  # fmt: skip

    assert await api.sessions.events(session_id) == before
    assert before[0].reason == "session opened"


# -- concurrency -----------------------------------------------------------------------------


async def test_concurrent_first_bets_make_one_transition(api: Api) -> None:
    await api.player("p1", "100.00")
    session_id, token = await api.session("p1")

    async def place(n: int) -> httpx.Response:
        return await api.post("bet", bet(token, f"c{n}", f"r{n}"))

    responses = await asyncio.gather(*(place(n) for n in range(10)))
    assert [r.status_code for r in responses] == [200] * 10, [r.text for r in responses]
    tx_ids = {int(r.json()["transaction"]["id"]) for r in responses}
    assert len(tx_ids) == 10
    events = await api.sessions.events(session_id)
    assert [(e.from_state, e.to_state) for e in events] == [
        (None, S.CREATED),
        (S.CREATED, S.ACTIVE),
    ]
    assert len(events[1].tx_ids) == 1
    assert events[1].tx_ids[0] in tx_ids
    session = await api.sessions.get(session_id)
    assert (session.state, session.version) == (S.ACTIVE, 2)
    assert await cash(api) == 9000


async def test_a_resent_bet_after_its_token_expired_answers_as_it_did(api: Api) -> None:
    """Rule 1 beats the token check: a repeat of an accepted bet is its original answer; a new
    bet with the expired token is refused."""
    await api.player("late", "10.00")
    _, token = await api.session("late")
    bet = {"player_id": "late", "token": token, "tx_id": "lb1", "round_id": "lr1",
           "game_code": "dice", "amount": "2.00", "currency": "EUR"}  # fmt: skip
    first = await api.post("bet", bet)
    assert first.status_code == 200, first.text
    api.clock.advance(901)
    again = await api.post("bet", bet)
    assert again.status_code == 200, again.text
    assert again.json()["transaction"]["replay"] is True
    assert again.json()["transaction"]["id"] == first.json()["transaction"]["id"]
    fresh = await api.post("bet", {**bet, "tx_id": "lb2", "round_id": "lr2"})
    assert fresh.status_code == 401
    assert fresh.json()["error"]["code"] == "TOKEN_EXPIRED"
    assert fresh.json()["balance"]["cash"] == "8.00"


async def test_a_bet_refused_for_its_expired_token_is_refused_again_with_a_new_one(
    api: Api,
) -> None:
    """The refusal is stored like a blocked player's: the same bet re-sent with a fresh token
    answers TOKEN_EXPIRED again (a replay) and takes nothing; a new bet id is accepted."""
    await api.player("p9", "10.00")
    _, old = await api.session("p9")
    api.clock.advance(901)
    bet = {"player_id": "p9", "token": old, "tx_id": "x1", "round_id": "xr1",
           "game_code": "dice", "amount": "1.00", "currency": "EUR"}  # fmt: skip
    first = await api.post("bet", bet)
    assert first.json()["error"]["code"] == "TOKEN_EXPIRED"
    assert first.json()["balance"]["cash"] == "10.00"
    _, new = await api.session("p9")
    again = await api.post("bet", {**bet, "token": new})
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "TOKEN_EXPIRED"
    assert again.json()["replay"] is True
    fresh = await api.post("bet", {**bet, "token": new, "tx_id": "x2", "round_id": "xr2"})
    assert fresh.status_code == 200, fresh.text
    assert fresh.json()["balance"]["cash"] == "9.00"


async def test_a_bogus_token_learns_no_balance(api: Api) -> None:
    """A provider that names another player without that player's token is refused without
    the player's balance, on a bet and on a win of an unknown round."""
    await api.player("rich", "1000.00")
    bet = {"player_id": "rich", "token": "cst_guess", "tx_id": "g1", "round_id": "gr1",
           "game_code": "dice", "amount": "1.00", "currency": "EUR"}  # fmt: skip
    r = await api.post("bet", bet)
    assert r.json()["error"]["code"] == "TOKEN_INVALID"
    assert "balance" not in r.json()
    win = {"player_id": "rich", "tx_id": "g2", "round_id": "nope", "game_code": "dice",
           "amount": "1.00", "currency": "EUR"}  # fmt: skip
    r = await api.post("win", win)
    assert r.json()["error"]["code"] == "BET_NOT_FOUND"
    assert "balance" not in r.json()
