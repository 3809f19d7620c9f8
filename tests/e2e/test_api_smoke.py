"""A first signed round through the API: authenticate, bet, win, balance."""

from __future__ import annotations

from tests.e2e.conftest import Api


async def test_a_round_over_http(api: Api) -> None:
    await api.player("p1", "10.00")
    session_id, token = await api.session("p1")
    r = await api.post("authenticate", {"token": token})
    assert r.status_code == 200, r.text
    assert r.json()["balance"] == {"cash": "10.00", "bonus": "0.00"}
    assert r.json()["session"]["state"] == "launched"
    assert api.response_verified(r)
    bet = {"player_id": "p1", "token": token, "tx_id": "b1", "round_id": "r1",
           "game_code": "dice", "amount": "1.50", "currency": "EUR"}  # fmt: skip
    r = await api.post("bet", bet)
    assert r.status_code == 200, r.text
    assert r.json()["balance"]["cash"] == "8.50"
    r = await api.post("bet", bet)
    assert r.json()["transaction"]["replay"] is True
    assert r.json()["balance"]["cash"] == "8.50"
    win = {"player_id": "p1", "tx_id": "w1", "round_id": "r1", "game_code": "dice",
           "amount": "3.00", "currency": "EUR", "close_round": True}  # fmt: skip
    r = await api.post("win", win)
    assert r.status_code == 200, r.text
    assert r.json()["balance"]["cash"] == "11.50"
    events = await api.sessions.events(session_id)
    assert [e.to_state.value for e in events] == ["created", "launched", "active"]
