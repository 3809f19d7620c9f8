"""Anomaly signals, on SQLite and PostgreSQL: a player's bet rate, a big win and a burst of
refused calls are raised once as stored alerts (GET /operator/v1/alerts), log lines and
metrics, and never refuse anything. The fixture's thresholds: 20 bets a minute, a EUR
40,000.00 win at 350 times the round's stake, 10 refusals a minute."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import assert_append_only
from tests.e2e.conftest import Api


def bet(player: str, token: str, n: int, amount: str = "1.00") -> dict[str, Any]:
    return {"player_id": player, "token": token, "tx_id": f"b{n}", "round_id": f"r{n}",
            "game_code": "dice", "amount": amount, "currency": "EUR"}  # fmt: skip


def win(player: str, token: str, n: int, amount: str) -> dict[str, Any]:
    return {"player_id": player, "token": token, "tx_id": f"w{n}", "round_id": f"r{n}",
            "game_code": "dice", "amount": amount, "currency": "EUR",
            "close_round": True}  # fmt: skip


async def alerts(api: Api, query: str = "") -> list[dict[str, Any]]:
    r = await api.op("GET", f"/alerts{query}")
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def counted(metrics: httpx.Response, kind: str) -> float:
    for line in metrics.text.splitlines():
        if line.startswith(f'croupier_alerts_total{{kind="{kind}"}}'):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_more_bets_in_a_minute_than_the_threshold_raise_one_alert(api: Api) -> None:
    await api.player("p1", "1000.00")
    _, token = await api.session("p1")
    for n in range(20):
        assert (await api.post("bet", bet("p1", token, n))).status_code == 200
    assert await alerts(api, "?kind=bet_rate") == []

    for n in range(20, 25):  # the 21st raises it, the next ones in the minute do not
        assert (await api.post("bet", bet("p1", token, n))).status_code == 200
    raised = await alerts(api, "?kind=bet_rate")
    assert len(raised) == 1
    assert raised[0]["player_id"] == "p1"
    assert raised[0]["provider"] == "acme"
    assert raised[0]["detail"] == {"bets_in_a_minute": 21, "threshold": 20}
    assert (await api.post("bet", bet("p1", token, 3))).status_code == 200  # a replay
    assert len(await alerts(api, "?kind=bet_rate")) == 1

    api.clock.advance(61)  # a new minute: counting starts again
    for n in range(100, 121):
        assert (await api.post("bet", bet("p1", token, n))).status_code == 200
    assert len(await alerts(api, "?kind=bet_rate")) == 2
    assert counted(await api.http.get("/metrics"), "bet_rate") == 2


async def test_a_big_win_needs_both_the_amount_and_the_multiple(api: Api) -> None:
    await api.player("p1", "1000.00")
    _, token = await api.session("p1")
    cases = [  # (stake, win, alert?)
        ("100.00", "40000.00", True),  # 400 times, at the amount
        ("100.00", "39999.99", False),  # under the amount
        ("200.00", "40000.00", False),  # 200 times: under the multiple
    ]
    for n, (stake, amount, _) in enumerate(cases):
        assert (await api.post("bet", bet("p1", token, n, stake))).status_code == 200
        assert (await api.post("win", win("p1", token, n, amount))).status_code == 200
    raised = await alerts(api, "?kind=big_win")
    assert [a["detail"]["round_id"] for a in raised] == ["r0"]
    assert raised[0]["detail"]["amount"] == 4_000_000
    assert raised[0]["detail"]["stake"] == 10_000
    assert raised[0]["detail"]["multiple"] == 400
    assert counted(await api.http.get("/metrics"), "big_win") == 1


async def test_a_burst_of_refusals_from_a_provider_raises_one_alert_a_minute(api: Api) -> None:
    await api.player("p1", "1.00")
    _, token = await api.session("p1")
    for n in range(10):
        r = await api.post("bet", bet("p1", token, n, "5.00"))
        assert r.json()["error"]["code"] == "INSUFFICIENT_FUNDS"
    assert await alerts(api, "?kind=refusal_burst") == []
    for n in range(10, 15):
        await api.post("bet", bet("p1", token, n, "5.00"))
    raised = await alerts(api, "?kind=refusal_burst")
    assert len(raised) == 1
    assert raised[0]["provider"] == "acme"
    assert raised[0]["detail"]["last_code"] == "INSUFFICIENT_FUNDS"
    assert raised[0]["detail"]["refusals_in_a_minute"] == 11


async def test_alerts_are_paged_filtered_scoped_and_append_only(
    api: Api, database_url: str
) -> None:
    await api.player("p1", "1000.00")
    _, token = await api.session("p1")
    for n in range(3):
        await api.post("bet", bet("p1", token, n, "100.00"))
        await api.post("win", win("p1", token, n, "40000.00"))
    first = await api.op("GET", "/alerts?limit=2")
    assert first.status_code == 200
    page = first.json()
    assert len(page["items"]) == 2
    rest = await alerts(api, f"?limit=2&before={page['next_before']}")
    ids = [a["id"] for a in page["items"] + rest]
    assert len(ids) == len(set(ids)) == 3
    assert await alerts(api, "?player_id=nobody") == []
    for query in ("?kind=other", "?limit=0", "?limit=201", "?before=x"):
        r = await api.op("GET", f"/alerts{query}")
        assert r.status_code == 400, (query, r.text)
    assert api.operator_keys is not None
    _, narrow = await api.operator_keys.add(["players:read"], "no history")
    r = await api.op("GET", "/alerts", token=narrow)
    assert (r.status_code, r.json()["error"]["code"]) == (403, "SCOPE_NOT_GRANTED")

    await assert_append_only(
        api.wallet.store, "alerts", ("UPDATE alerts SET kind = 'x'", "DELETE FROM alerts")
    )
    assert len(await alerts(api)) == 3
