"""Stuck money, on SQLite and PostgreSQL: pending holds, rounds with a bet and no result beyond
their provider's threshold, sessions in pending_settlement, dead-lettered webhooks, each with
since when and the sums per currency (StuckService and GET /operator/v1/stuck). Nothing
is reported when nothing is stuck; money that moved on (a posted hold, a won round, a
settled session, an applied delivery) is not stuck. Time moves only through ``api.clock``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest

from croupier.adapters.db.stuck import SqlStuckStore
from croupier.api.operator import OperatorApi
from croupier.domain.timeouts import TimeoutAction, TimeoutPolicy
from croupier.domain.wallet import Bet, ReserveHold, Rollback, Win
from croupier.services.operator_keys import SCOPES
from croupier.services.stuck import StuckReport, StuckService, Total
from tests.e2e.conftest import Api
from tests.e2e.test_inbox_worker import deliver, event
from tests.e2e.test_inbox_worker import run as run_worker
from tests.e2e.test_round_timeouts import session_round

HOUR = 3600


def svc(api: Api) -> StuckService:
    assert api.stuck is not None
    return api.stuck


async def report(api: Api, limit: int = 200) -> StuckReport:
    return await svc(api).report(limit=limit)


async def stuck_json(api: Api, query: str = "", token: str | None = None) -> dict[str, Any]:
    r = await api.op("GET", f"/stuck{query}", token=token)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


async def hold(api: Api, ref: str, amount: int, *, player: str = "p1", currency: str = "EUR",
               seconds: int = 2 * HOUR) -> None:  # fmt: skip
    await api.wallet.reserve_hold(
        ReserveHold(player_id=player, amount=amount, currency=currency, cashier_ref=ref,
                    expires_in_seconds=seconds)
    )  # fmt: skip


async def bet(api: Api, round_id: str, tx_id: str, amount: int, *, player: str = "p1",
              provider: str = "acme") -> None:  # fmt: skip
    await api.wallet.place_bet(
        Bet(player_id=player, amount=amount, currency="EUR", provider=provider, tx_id=tx_id,
            round_id=round_id, game_code="dice")
    )  # fmt: skip


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


EMPTY_TOTALS: dict[str, dict[str, Any]] = {
    "holds": {}, "rounds": {}, "sessions": {}, "dead_webhooks": {}
}  # fmt: skip


# -- nothing stuck ------------------------------------------------------------------------------


async def test_nothing_is_reported_when_nothing_is_stuck(api: Api) -> None:
    found = await report(api)
    assert found.empty
    assert (found.holds, found.rounds, found.sessions, found.dead_webhooks) == ([], [], [], [])
    data = await stuck_json(api)
    assert data == {
        "as_of": iso(api.clock()), "limit": 200, "holds": [], "rounds": [], "sessions": [],
        "dead_webhooks": [], "totals": EMPTY_TOTALS, "expired_holds": 0,
        "truncated": dict.fromkeys(EMPTY_TOTALS, False),
    }  # fmt: skip


async def test_money_that_moved_on_is_not_stuck(api: Api) -> None:
    await api.player("p1", "100.00")
    await hold(api, "h-posted", 500)
    await api.wallet.post_hold("h-posted", 200)  # partly: the rest returned
    await hold(api, "h-voided", 500)
    await api.wallet.void_hold("h-voided")
    await hold(api, "h-expired", 500, seconds=60)
    await bet(api, "r-won", "b1", 100)  # a win came: a result, even with the round open
    await api.wallet.settle_win(
        Win(player_id="p1", amount=50, currency="EUR", provider="acme", tx_id="w1",
            round_id="r-won", game_code="dice", bet_tx_id="b1")
    )  # fmt: skip
    await bet(api, "r-void", "b2", 100)  # its only bet rolled back: nothing live
    await api.wallet.rollback(
        Rollback(player_id="p1", amount=100, currency="EUR", provider="acme", tx_id="rb2",
                 bet_tx_id="b2", round_id="r-void", game_code="dice")
    )  # fmt: skip
    await api.session("p1")  # a session in play, never closed
    await deliver(api, event(7, bet="1.00", win="2.00"), "m7")  # applied
    assert await run_worker(api) == {"applied": 1}
    api.clock.advance(2 * HOUR)
    assert await api.wallet.expire_holds() == 1  # the sweeper ran

    assert (await report(api)).empty
    assert (await stuck_json(api))["totals"] == EMPTY_TOTALS


# -- holds --------------------------------------------------------------------------------------


async def test_pending_holds_with_since_expiry_and_sums_per_currency(api: Api) -> None:
    t0 = api.clock()
    await api.player("p1", "100.00")
    await api.player("p2", "1000", currency="JPY")
    await hold(api, "h1", 500, seconds=HOUR)
    api.clock.advance(60)
    await hold(api, "h2", 250, seconds=3 * HOUR)
    await hold(api, "h3", 700, player="p2", currency="JPY")
    api.clock.advance(HOUR)  # h1 is past its expiry: the sweeper is not running

    found = await report(api)
    assert [(h.reference, h.player_id, h.currency, h.amount, h.since, h.expired)
            for h in found.holds] == [
        ("h1", "p1", "EUR", 500, t0, True),
        ("h2", "p1", "EUR", 250, t0 + timedelta(seconds=60), False),
        ("h3", "p2", "JPY", 700, t0 + timedelta(seconds=60), False),
    ]  # fmt: skip
    assert found.holds[0].expires_at == t0 + timedelta(hours=1)
    assert found.totals["holds"] == {"EUR": Total(2, 750), "JPY": Total(1, 700)}
    assert found.expired_holds == 1
    assert found.rounds == found.sessions == found.dead_webhooks == []

    data = await stuck_json(api)
    assert data["holds"][0] == {
        "reference": "h1", "player_id": "p1", "currency": "EUR", "amount": "5.00",
        "since": iso(t0), "age_seconds": HOUR + 60, "expires_at": iso(t0 + timedelta(hours=1)),
        "expired": True,
    }  # fmt: skip
    assert data["totals"]["holds"] == {
        "EUR": {"count": 2, "amount": "7.50"}, "JPY": {"count": 1, "amount": "700"}
    }  # fmt: skip
    assert data["expired_holds"] == 1

    await api.wallet.post_hold("h2")
    assert (await report(api)).totals["holds"]["EUR"] == Total(1, 500)


# -- rounds -------------------------------------------------------------------------------------


async def test_a_round_with_a_bet_and_no_result_is_stuck_beyond_its_threshold(api: Api) -> None:
    t0 = api.clock()
    await api.player("p1", "100.00")
    await bet(api, "r1", "b1", 500)
    await bet(api, "r1", "b2", 300)  # the round's stake: both bets
    api.clock.advance(HOUR - 1)
    assert (await report(api)).rounds == []  # the default threshold: an hour
    api.clock.advance(2)

    found = await report(api)
    assert [(r.provider, r.round_ref, r.player_id, r.currency, r.game_code, r.amount, r.since,
             r.bets_live, r.flagged, r.threshold_seconds) for r in found.rounds] == [
        ("acme", "r1", "p1", "EUR", "dice", 800, t0, 2, False, HOUR)
    ]  # fmt: skip
    assert found.totals["rounds"] == {"EUR": Total(1, 800)}

    assert api.timeouts is not None
    await api.timeouts.sweep()  # the default policy flags it: still open, still stuck
    flagged = (await report(api)).rounds
    assert [(r.round_ref, r.flagged) for r in flagged] == [("r1", True)]
    data = await stuck_json(api)
    assert data["rounds"] == [{
        "provider": "acme", "round_id": "r1", "player_id": "p1", "game_code": "dice",
        "currency": "EUR", "amount": "8.00", "since": iso(t0), "age_seconds": HOUR + 1,
        "bets": 2, "flagged": True, "threshold_seconds": HOUR,
    }]  # fmt: skip
    assert data["totals"]["rounds"] == {"EUR": {"count": 1, "amount": "8.00"}}


async def test_each_provider_has_its_own_threshold(api: Api) -> None:
    assert api.timeouts is not None
    await api.timeouts.set_policy("acme", TimeoutPolicy(600, TimeoutAction.CLOSE))
    await api.player("p1", "100.00")
    await bet(api, "r-acme", "b1", 100)
    await bet(api, "r-other", "b2", 200, provider="other")  # the default: an hour
    api.clock.advance(601)

    found = await report(api)
    assert [(r.provider, r.round_ref, r.threshold_seconds) for r in found.rounds] == [
        ("acme", "r-acme", 600)
    ]
    assert found.totals["rounds"] == {"EUR": Total(1, 100)}

    api.clock.advance(HOUR)
    found = await report(api)
    assert [(r.provider, r.threshold_seconds) for r in found.rounds] == [
        ("acme", 600), ("other", HOUR)
    ]  # fmt: skip
    assert found.totals["rounds"] == {"EUR": Total(2, 300)}


# -- sessions -----------------------------------------------------------------------------------


async def test_a_session_in_pending_settlement_with_its_open_rounds_stakes(api: Api) -> None:
    await api.player("p1", "100.00")
    session_id, _ = await session_round(api, "r1", (("b1", "5.00"), ("b2", "2.50")))
    closed_at = api.clock()
    api.clock.advance(HOUR - 1)
    assert (await report(api)).sessions == []
    api.clock.advance(2)

    found = await report(api)
    assert [(s.id, s.provider, s.player_id, s.currency, s.game_code, s.amount, s.open_rounds,
             s.since) for s in found.sessions] == [
        (session_id, "acme", "p1", "EUR", "dice", 750, 1, closed_at)
    ]  # fmt: skip
    assert found.totals["sessions"] == {"EUR": Total(1, 750)}
    # The same money, seen from its round: categories overlap, totals are per category.
    assert found.totals["rounds"] == {"EUR": Total(1, 750)}

    data = await stuck_json(api)
    assert data["sessions"] == [{
        "session_id": session_id, "provider": "acme", "player_id": "p1", "game_code": "dice",
        "currency": "EUR", "amount": "7.50", "open_rounds": 1, "since": iso(closed_at),
        "age_seconds": HOUR + 1,
    }]  # fmt: skip
    assert data["totals"]["sessions"] == {"EUR": {"count": 1, "amount": "7.50"}}

    assert api.timeouts is not None  # its round closed, the session settles: nothing stuck
    await api.timeouts.resolve("acme", "r1", TimeoutAction.CLOSE, actor="test", reason="t")
    await api.sessions.sweep()
    assert (await report(api)).empty


# -- dead webhooks ------------------------------------------------------------------------------


async def test_dead_webhooks_with_their_events_money_or_unparsed(api: Api) -> None:
    await api.player("p1", "0.50")
    t0 = api.clock()
    await deliver(api, event(1, bet="1.00", win=None), "m1")  # refused: insufficient funds
    api.clock.advance(10)
    await deliver(api, b"not json", "m2")  # never parses
    await deliver(api, event(3, bet="0.25", win="3.00", currency="USD"), "m3")  # a USD bet
    assert await run_worker(api) == {"dead": 3}
    api.clock.advance(50)

    found = await report(api)
    assert [(d.delivery_id, d.provider, d.since, d.event_type, d.currency, d.amount)
            for d in found.dead_webhooks] == [
        ("m1", "acme", t0, "round", "EUR", 100),
        ("m2", "acme", t0 + timedelta(seconds=10), None, None, 0),
        ("m3", "acme", t0 + timedelta(seconds=10), "round", "USD", 25),
    ]  # fmt: skip
    assert str(found.dead_webhooks[0].last_error).startswith("INSUFFICIENT_FUNDS")
    assert found.totals["dead_webhooks"] == {
        "EUR": Total(1, 100), "?": Total(1, 0), "USD": Total(1, 25)
    }  # fmt: skip

    data = await stuck_json(api)
    first, unparsed = data["dead_webhooks"][:2]
    assert first["event_type"] == "round"
    assert first["event_id"] == "e1"
    assert first["player_id"] == "p1"
    assert (first["currency"], first["amount"], first["since"], first["age_seconds"]) == (
        "EUR", "1.00", iso(t0), 60
    )  # fmt: skip
    assert first["attempts"] == 1
    assert (unparsed["event_type"], unparsed["currency"], unparsed["amount"]) == (None,) * 3
    assert unparsed["last_error"].startswith("INVALID_REQUEST")
    assert data["totals"]["dead_webhooks"] == {
        "?": {"count": 1, "amount": None}, "EUR": {"count": 1, "amount": "1.00"},
        "USD": {"count": 1, "amount": "0.25"},
    }  # fmt: skip

    assert api.timeouts is not None  # without a parser, every dead delivery is unknown
    blind = StuckService(SqlStuckStore(api.gateway_store.db), api.timeouts, None, api.clock)
    assert (await blind.report()).totals["dead_webhooks"] == {"?": Total(3, 0)}


async def test_every_dead_delivery_is_counted_past_the_listed_ones(api: Api) -> None:
    await api.player("p1", "0.00")
    for n in range(5):
        await deliver(api, event(n, bet="1.00", win=None), f"m{n}")
    assert await run_worker(api) == {"dead": 5}
    found = await report(api, limit=2)
    assert [d.delivery_id for d in found.dead_webhooks] == ["m0", "m1"]
    assert found.totals["dead_webhooks"] == {"EUR": Total(5, 500)}
    assert found.truncated("dead_webhooks")


# -- the API ------------------------------------------------------------------------------------


async def test_all_four_categories_and_limit_through_the_api(api: Api) -> None:
    await api.player("p1", "100.00")
    await hold(api, "h1", 100)
    await hold(api, "h2", 200)
    await bet(api, "r2", "b9", 300)  # first: the signed calls below bind their session to
    await session_round(api, "r1")  # the test's context
    await deliver(api, b"[]", "m1")
    assert await run_worker(api) == {"dead": 1}
    api.clock.advance(HOUR + 1)

    data = await stuck_json(api, "?limit=1")
    assert data["limit"] == 1
    assert [len(data[c]) for c in EMPTY_TOTALS] == [1, 1, 1, 1]
    assert data["totals"] == {
        "holds": {"EUR": {"count": 2, "amount": "3.00"}},
        "rounds": {"EUR": {"count": 2, "amount": "8.00"}},
        "sessions": {"EUR": {"count": 1, "amount": "5.00"}},
        "dead_webhooks": {"?": {"count": 1, "amount": None}},
    }
    assert data["truncated"] == {
        "holds": True, "rounds": True, "sessions": False, "dead_webhooks": False
    }  # fmt: skip
    assert [r["round_id"] for r in data["rounds"]] == ["r2"]  # oldest first


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "x", "1.5", "", "99999999999999999999"])
async def test_a_bad_limit_is_refused(api: Api, limit: str) -> None:
    r = await api.op("GET", f"/stuck?limit={limit}")
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "INVALID_REQUEST"


async def test_the_route_needs_history_read(api: Api) -> None:
    assert api.operator_keys is not None
    _, reader = await api.operator_keys.add(["history:read"], "reader")
    assert (await api.op("GET", "/stuck", token=reader)).status_code == 200

    _, others = await api.operator_keys.add(set(SCOPES) - {"history:read"}, "all but one")
    r = await api.op("GET", "/stuck", token=others)
    assert r.status_code == 403
    error = r.json()["error"]
    assert error["code"] == "SCOPE_NOT_GRANTED"
    assert error["details"] == {"scope": "history:read"}
    r = await api.op("GET", "/stuck", token="")
    assert r.status_code == 401


async def test_the_route_exists_only_with_a_stuck_service(api: Api) -> None:
    assert api.players is not None
    assert api.catalogue is not None
    assert api.operator_keys is not None
    assert api.launcher is not None
    assert api.protection is not None
    common: dict[str, Any] = {
        "keys": api.operator_keys, "players": api.players, "catalogue": api.catalogue,
        "wallet": api.wallet, "launcher": api.launcher, "protection": api.protection,
        "metrics": api.metrics, "max_body_bytes": 1024,
    }  # fmt: skip
    paths = {getattr(r, "path", "") for r in OperatorApi(**common).routes()}
    assert "/operator/v1/stuck" not in paths
    paths = {getattr(r, "path", "") for r in OperatorApi(**common, stuck=api.stuck).routes()}
    assert "/operator/v1/stuck" in paths


async def test_the_answer_is_json_with_decimal_strings(api: Api) -> None:
    await api.player("p1", "100.00")
    await hold(api, "h1", 1)
    r = await api.op("GET", "/stuck")
    assert r.headers["content-type"].startswith("application/json")
    assert orjson.loads(r.content)["holds"][0]["amount"] == "0.01"
