"""Responsible-gaming limits through HTTP, on SQLite and PostgreSQL.

PUT /operator/v1/players/{id}/limits/{kind} sets one limit (money as a decimal string of the
player's currency, time limits in whole minutes, null removes); GET .../limits shows the
limits, the pending changes, the usage of the current periods and the append-only history
of requests. Then what the limits do to signed native v1 calls: loss and wager limits refuse
bets (stored refusals: a resend answers the same) and never wins or rollbacks; deposit limits
refuse deposits, not withdrawals; increases wait for the cooling period, decreases do not;
session time; reality checks on the bet's answer; the pace of rounds of a GB session; and
the acceptance criterion: fifty concurrent bets against a limit of ten pass exactly ten.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from croupier.bootstrap import currency_table, sync_currencies
from croupier.config import Settings
from croupier.domain.errors import (
    LimitReached,
    LossLimitReached,
    WagerLimitReached,
)
from croupier.domain.wallet import Bet, BonusPolicy, Deposit, WalletResult
from croupier.services.wallet import WalletService
from tests.conftest import assert_append_only, assert_ledger_ok, open_test_store, truncate_postgres
from tests.e2e.conftest import Api

DAY = 24 * 3600
HOUR = 3600
MINUTE = 60
T0 = "2026-01-01T12:00:00+00:00"
"""The test clock's start (a Thursday)."""
T0_PLUS_24H = "2026-01-02T12:00:00+00:00"
PERIODS = {"day": "2026-01-01", "week": "2025-12-29", "month": "2026-01-01"}
TIMEOUT = 60.0
"""Upper bound for one burst of concurrent calls: a deadlock fails instead of hanging."""

# -- helpers ---------------------------------------------------------------------------------


async def new_player(
    api: Api, cash: str | None = "1000.00", *, currency: str = "EUR", country: str = "MT"
) -> str:
    """A verified adult (created through the operator API), funded with ``cash``."""
    r = await api.op("POST", "/players", {
        "brand": "casino-a", "external_ref": f"u-{secrets.token_hex(6)}", "currency": currency,
        "country": country, "birth_date": "1985-05-05", "kyc_status": "verified",
    })  # fmt: skip
    assert r.status_code == 201, r.text
    player_id: str = r.json()["id"]
    if cash is not None:
        await deposited(api, player_id, cash, f"fund-{player_id}", currency=currency)
    return player_id


async def deposit(
    api: Api, player_id: str, amount: str, reference: str, *, currency: str = "EUR"
) -> httpx.Response:
    body = {"reference": reference, "amount": amount, "currency": currency}
    return await api.op("POST", f"/players/{player_id}/deposits", body)


async def deposited(
    api: Api, player_id: str, amount: str, reference: str, *, currency: str = "EUR"
) -> dict[str, Any]:
    r = await deposit(api, player_id, amount, reference, currency=currency)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def put_limit(api: Api, player_id: str, kind: str, value: Any, **kw: Any) -> httpx.Response:
    return await api.op("PUT", f"/players/{player_id}/limits/{kind}", {"value": value}, **kw)


async def set_limit(api: Api, player_id: str, kind: str, value: Any) -> dict[str, Any]:
    r = await put_limit(api, player_id, kind, value)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def limits(api: Api, player_id: str) -> dict[str, Any]:
    r = await api.op("GET", f"/players/{player_id}/limits")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def refusal(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """A typed JSON refusal with this status and code; the whole body."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "ERROR", body
    assert body["error"]["code"] == code, body
    return body


async def table_count(api: Api, table: str) -> int:
    rows = await api.wallet.store.fetch(f"SELECT count(*) FROM {table}")  # type: ignore[attr-defined]  # noqa: S608 - constant names
    return int(rows[0][0])


async def cash(api: Api, player_id: str) -> int:
    return (await api.wallet.balance(player_id)).cash


def key_actor(api: Api, token: str | None = None) -> str:
    """The actor a request with this operator key is recorded under."""
    return "operator:" + (token or api.operator_token).removeprefix("cok_").split(".")[0]


@dataclass
class Seat:
    """A player in a session of provider acme's game dice: the bodies a provider sends."""

    api: Api
    player_id: str
    token: str
    session_id: str
    game: str = "dice"
    currency: str = "EUR"

    def bet_body(self, tx_id: str, amount: str, round_id: str) -> dict[str, Any]:
        return {"player_id": self.player_id, "token": self.token, "tx_id": tx_id,
                "round_id": round_id, "game_code": self.game, "amount": amount,
                "currency": self.currency}  # fmt: skip

    async def bet(self, tx_id: str, amount: str, round_id: str | None = None) -> httpx.Response:
        return await self.api.post("bet", self.bet_body(tx_id, amount, round_id or f"r-{tx_id}"))

    async def placed(self, tx_id: str, amount: str, round_id: str | None = None) -> dict[str, Any]:
        r = await self.bet(tx_id, amount, round_id)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        assert body["status"] == "OK", body
        return body

    async def win(
        self, tx_id: str, amount: str, round_id: str, *, close: bool = True
    ) -> dict[str, Any]:
        r = await self.api.post("win", {
            "player_id": self.player_id, "token": self.token, "tx_id": tx_id,
            "round_id": round_id, "game_code": self.game, "amount": amount,
            "currency": self.currency, "close_round": close,
        })  # fmt: skip
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    async def rollback(self, tx_id: str, bet_tx_id: str) -> dict[str, Any]:
        r = await self.api.post("rollback", {
            "player_id": self.player_id, "token": self.token, "tx_id": tx_id,
            "bet_tx_id": bet_tx_id, "currency": self.currency,
        })  # fmt: skip
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        assert body["transaction"]["outcome"] == "applied", body
        return body

    async def refresh(self) -> None:
        """A new token for the same session (a token lives 15 minutes)."""
        r = await self.api.post("refresh", {"token": self.token})
        assert r.status_code == 200, r.text
        self.token = r.json()["session"]["token"]


async def seat(api: Api, player_id: str, currency: str = "EUR") -> Seat:
    session_id, token = await api.session(player_id)
    return Seat(api, player_id, token, session_id, currency=currency)


async def limit_refused(
    seat: Seat, tx_id: str, amount: str, code: str, limit: str, *, replay: bool = False,
    round_id: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """The bet is refused by ``limit`` with ``code``, and states the balance."""
    body = refusal(await seat.bet(tx_id, amount, round_id), 403, code)
    details = body["error"]["details"]
    assert details["limit"] == limit, body
    assert body.get("replay", False) is replay, body
    assert body["error"]["retry_class"] == "final"
    assert "balance" in body, body
    return body


# -- PUT and GET -----------------------------------------------------------------------------


async def test_a_player_without_limits(api: Api) -> None:
    player_id = await new_player(api, cash=None)
    assert await limits(api, player_id) == {
        "currency": "EUR", "limits": {}, "pending": {}, "usage": {}, "periods": PERIODS,
        "history": [],
    }  # fmt: skip


async def test_put_and_get_limits(api: Api) -> None:
    player_id = await new_player(api)
    body = await set_limit(api, player_id, "loss_day", "10.00")
    assert body["limit"] == "loss_day"
    assert body["effective_at"] == T0
    assert body["currency"] == "EUR"
    assert body["limits"] == {"loss_day": "10.00"}
    assert body["pending"] == {}
    assert body["periods"] == PERIODS

    body = await set_limit(api, player_id, "session_minutes", 30)
    assert body["limits"] == {"loss_day": "10.00", "session_minutes": 30}
    body = await set_limit(api, player_id, "deposit_week", "2500")  # whole units are exact
    assert body["limits"]["deposit_week"] == "2500.00"
    body = await set_limit(api, player_id, "wager_month", "99.990")  # a trailing zero too
    assert body["limits"]["wager_month"] == "99.99"

    body = await set_limit(api, player_id, "loss_day", "25.50")  # an increase: pending
    assert body["effective_at"] == T0_PLUS_24H
    assert body["limits"]["loss_day"] == "10.00"
    assert body["pending"] == {"loss_day": {"value": "25.50", "effective_at": T0_PLUS_24H}}
    body = await set_limit(api, player_id, "session_minutes", None)  # a removal: pending
    assert body["effective_at"] == T0_PLUS_24H
    assert body["limits"]["session_minutes"] == 30
    assert body["pending"]["session_minutes"] == {"value": None, "effective_at": T0_PLUS_24H}

    shown = await limits(api, player_id)
    assert shown["limits"] == {"deposit_week": "2500.00", "loss_day": "10.00",
                               "session_minutes": 30, "wager_month": "99.99"}  # fmt: skip
    assert shown["pending"] == {
        "loss_day": {"value": "25.50", "effective_at": T0_PLUS_24H},
        "session_minutes": {"value": None, "effective_at": T0_PLUS_24H},
    }
    assert shown["usage"] == {"deposit_day": "1000.00", "deposit_month": "1000.00",
                              "deposit_week": "1000.00"}  # fmt: skip
    actor = key_actor(api)
    history = [{k: e[k] for k in ("kind", "limit", "previous", "effective_at", "actor", "at")}
               for e in shown["history"]]  # fmt: skip
    assert history == [
        {"kind": "limit", "limit": "loss_day", "previous": None, "effective_at": T0,
         "actor": actor, "at": T0},
        {"kind": "limit", "limit": "session_minutes", "previous": None, "effective_at": T0,
         "actor": actor, "at": T0},
        {"kind": "limit", "limit": "deposit_week", "previous": None, "effective_at": T0,
         "actor": actor, "at": T0},
        {"kind": "limit", "limit": "wager_month", "previous": None, "effective_at": T0,
         "actor": actor, "at": T0},
        {"kind": "limit", "limit": "loss_day", "previous": "10.00", "effective_at": T0_PLUS_24H,
         "actor": actor, "at": T0},
        {"kind": "limit", "limit": "session_minutes", "previous": 30,
         "effective_at": T0_PLUS_24H, "actor": actor, "at": T0},
    ]  # fmt: skip
    assert [e["value"] for e in shown["history"]][1::4] == [30, None]

    api.clock.advance(DAY - 1)
    assert (await limits(api, player_id))["limits"]["loss_day"] == "10.00"
    api.clock.advance(1)
    shown = await limits(api, player_id)
    assert shown["limits"] == {"deposit_week": "2500.00", "loss_day": "25.50",
                               "wager_month": "99.99"}  # fmt: skip
    assert shown["pending"] == {}
    assert shown["periods"] == {"day": "2026-01-02", "week": "2025-12-29", "month": "2026-01-01"}
    assert shown["usage"] == {"deposit_month": "1000.00", "deposit_week": "1000.00"}
    assert len(shown["history"]) == 6  # time passing records nothing


async def test_a_new_request_replaces_a_pending_one_and_a_decrease_cancels_it(api: Api) -> None:
    player_id = await new_player(api)
    await set_limit(api, player_id, "loss_week", "10.00")
    await set_limit(api, player_id, "loss_week", "50.00")
    api.clock.advance(HOUR)
    body = await set_limit(api, player_id, "loss_week", "40.00")  # still an increase on 10.00
    assert body["pending"] == {
        "loss_week": {"value": "40.00", "effective_at": "2026-01-02T13:00:00+00:00"}
    }
    body = await set_limit(api, player_id, "loss_week", "8.00")
    assert (body["effective_at"], body["limits"], body["pending"]) == (
        "2026-01-01T13:00:00+00:00", {"loss_week": "8.00"}, {},
    )  # fmt: skip
    api.clock.advance(3 * DAY)
    assert (await limits(api, player_id))["limits"] == {"loss_week": "8.00"}
    assert len((await limits(api, player_id))["history"]) == 4


@pytest.mark.parametrize(
    ("value", "code"),
    [("10.005", "AMOUNT_PRECISION"), ("0.001", "AMOUNT_PRECISION"),
     ("-1.00", "AMOUNT_OUT_OF_RANGE"), ("abc", "AMOUNT_INVALID"), ("1e3", "AMOUNT_INVALID"),
     (" 10.00", "AMOUNT_INVALID"), ("", "AMOUNT_INVALID"), ("0.00", "INVALID_REQUEST"),
     ("0", "INVALID_REQUEST"), (10, None), (10.5, None), (True, None), ([], None)],
)  # fmt: skip
async def test_a_money_limit_is_a_decimal_string_of_the_players_currency(
    api: Api, value: Any, code: str | None
) -> None:
    player_id = await new_player(api)
    r = await put_limit(api, player_id, "loss_day", value)
    assert r.status_code == 400, r.text
    body = r.json()
    if code is not None:
        assert body["error"]["code"] == code, body
    else:  # a JSON number or another type: refused as malformed
        assert body["error"]["code"] in {"INVALID_REQUEST", "AMOUNT_INVALID"}, body
    assert await limits(api, player_id) == {
        "currency": "EUR", "limits": {}, "pending": {},
        "usage": {"deposit_day": "1000.00", "deposit_month": "1000.00",
                  "deposit_week": "1000.00"},
        "periods": PERIODS, "history": [],
    }  # fmt: skip
    assert await table_count(api, "protection_events") == 0
    assert await table_count(api, "player_limits") == 1  # the deposit's usage only


async def test_money_limits_follow_the_currencys_precision(api: Api) -> None:
    player_id = await new_player(api, "5000", currency="JPY", country="JP")
    r = await put_limit(api, player_id, "loss_day", "10.5")
    assert refusal(r, 400, "AMOUNT_PRECISION")["error"]["details"]["currency"] == "JPY"
    body = await set_limit(api, player_id, "loss_day", "1000")
    assert body["limits"] == {"loss_day": "1000"}
    assert body["currency"] == "JPY"
    assert body["usage"]["deposit_day"] == "5000"
    s = await seat(api, player_id, "JPY")
    await s.placed("b1", "1000")
    await limit_refused(s, "b2", "1", "LOSS_LIMIT_REACHED", "loss_day")
    assert (await limits(api, player_id))["usage"]["loss_day"] == "1000"


@pytest.mark.parametrize(
    "value", ["30", "30.0", 30.0, 30.5, 0, -5, 7 * 24 * 60 + 1, True, False, {}],
    ids=["string", "decimal-string", "float", "fraction", "zero", "negative", "over-a-week",
         "true", "false", "object"],
)  # fmt: skip
@pytest.mark.parametrize("kind", ["session_minutes", "reality_check_minutes"])
async def test_a_time_limit_is_a_whole_number_of_minutes(api: Api, kind: str, value: Any) -> None:
    player_id = await new_player(api, cash=None)
    r = await put_limit(api, player_id, kind, value)
    refusal(r, 400, "INVALID_REQUEST")
    assert await table_count(api, "protection_events") == 0
    assert (await limits(api, player_id))["limits"] == {}


async def test_a_time_limit_of_a_week_is_the_largest(api: Api) -> None:
    player_id = await new_player(api, cash=None)
    body = await set_limit(api, player_id, "session_minutes", 7 * 24 * 60)
    assert body["limits"] == {"session_minutes": 10080}
    body = await set_limit(api, player_id, "reality_check_minutes", 1)
    assert body["limits"] == {"reality_check_minutes": 1, "session_minutes": 10080}


@pytest.mark.parametrize(
    ("kind", "body"),
    [("loss_year", {"value": "1.00"}), ("LOSS_DAY", {"value": "1.00"}),
     ("deposit", {"value": "1.00"}), ("loss_day", {}), ("loss_day", {"value": "1.00", "x": 1}),
     ("loss_day", {"amount": "1.00"})],
    ids=["unknown-period", "upper-case", "no-period", "no-value", "unknown-field", "misnamed"],
)  # fmt: skip
async def test_an_unknown_kind_or_a_malformed_body_is_refused(
    api: Api, kind: str, body: dict[str, Any]
) -> None:
    player_id = await new_player(api, cash=None)
    r = await api.op("PUT", f"/players/{player_id}/limits/{kind}", body)
    answer = refusal(r, 400, "INVALID_REQUEST")
    if kind != "loss_day":
        assert answer["error"]["details"]["field"] == "kind"
        assert "loss_day" in answer["error"]["message"]  # the known kinds are listed
    assert await table_count(api, "protection_events") == 0


async def test_limits_of_an_unknown_player_are_not_found(api: Api) -> None:
    refusal(await put_limit(api, "pl_nobody", "loss_day", "10.00"), 404, "PLAYER_NOT_FOUND")
    refusal(await api.op("GET", "/players/pl_nobody/limits"), 404, "PLAYER_NOT_FOUND")
    assert await table_count(api, "protection_events") == 0


async def test_setting_limits_needs_the_protection_scope(api: Api) -> None:
    player_id = await new_player(api)
    _, reader = await api.operator_keys.add(["players:read", "players:write", "cashier"], "desk")  # type: ignore[union-attr]
    r = await put_limit(api, player_id, "loss_day", "10.00", token=reader)
    assert refusal(r, 403, "SCOPE_NOT_GRANTED")["error"]["details"]["scope"] == "protection"
    assert await table_count(api, "protection_events") == 0
    r = await api.op("GET", f"/players/{player_id}/limits", token=reader)
    assert r.status_code == 200, r.text
    assert r.json()["limits"] == {}

    _, protector = await api.operator_keys.add(["protection"], "safer gambling")  # type: ignore[union-attr]
    r = await put_limit(api, player_id, "loss_day", "10.00", token=protector)
    assert r.status_code == 200, r.text
    r = await api.op("GET", f"/players/{player_id}/limits", token=protector)
    assert refusal(r, 403, "SCOPE_NOT_GRANTED")["error"]["details"]["scope"] == "players:read"
    refusal(await put_limit(api, player_id, "loss_day", "5.00", token=""), 401,
            "OPERATOR_KEY_INVALID")  # fmt: skip
    shown = await limits(api, player_id)
    assert shown["limits"] == {"loss_day": "10.00"}
    assert [e["actor"] for e in shown["history"]] == [key_actor(api, protector)]


async def test_protection_events_are_append_only(api: Api, database_url: str) -> None:
    player_id = await new_player(api)
    await set_limit(api, player_id, "loss_day", "10.00")
    await set_limit(api, player_id, "loss_day", None)
    before = (await limits(api, player_id))["history"]
    assert len(before) == 2
    await assert_append_only(api.wallet.store, "protection_events", (
        "UPDATE protection_events SET detail = '{}'",
        "UPDATE protection_events SET actor = 'x'",
        "DELETE FROM protection_events",
    ))  # fmt: skip
    assert (await limits(api, player_id))["history"] == before


# -- loss limits on bets ---------------------------------------------------------------------


async def test_a_loss_limit_refuses_the_bet_that_would_pass_it(api: Api, database_url: str) -> None:
    player_id = await new_player(api)
    await set_limit(api, player_id, "loss_day", "10.00")
    s = await seat(api, player_id)
    for i, amount in enumerate(("4.00", "3.50", "2.49", "0.01")):
        await s.placed(f"b{i}", amount)
    assert await cash(api, player_id) == 99_000
    entries = await table_count(api, "journal_entries")

    body = await limit_refused(s, "b-over", "0.01", "LOSS_LIMIT_REACHED", "loss_day")
    assert body["error"]["details"]["limit_amount"] == "10.00"
    assert body["error"]["details"]["used"] == "10.00"
    assert body["balance"] == {"cash": "990.00", "bonus": "0.00"}
    assert await cash(api, player_id) == 99_000  # no money taken
    assert await table_count(api, "journal_entries") == entries
    again = await limit_refused(s, "b-over", "0.01", "LOSS_LIMIT_REACHED", "loss_day",
                                replay=True)  # fmt: skip
    assert again["error"]["message"] == body["error"]["message"]

    await s.win("w1", "3.00", "r-b0")  # a win of 3.00 makes room for 3.00
    assert (await limits(api, player_id))["usage"]["loss_day"] == "7.00"
    await limit_refused(s, "b-big", "3.01", "LOSS_LIMIT_REACHED", "loss_day")
    await s.placed("b-room", "3.00")
    await limit_refused(s, "b-more", "0.01", "LOSS_LIMIT_REACHED", "loss_day")
    # the first refused bet stays refused: a resend answers as the first time
    await limit_refused(s, "b-over", "0.01", "LOSS_LIMIT_REACHED", "loss_day", replay=True)

    await s.rollback("rb1", "b1")  # a rollback of the 3.50 bet makes room too
    shown = await limits(api, player_id)
    assert (shown["usage"]["loss_day"], shown["usage"]["wager_day"]) == ("6.50", "9.50")
    await s.placed("b-after-rollback", "3.50")
    await limit_refused(s, "b-last", "0.01", "LOSS_LIMIT_REACHED", "loss_day")
    assert await cash(api, player_id) == 100_000 - 1000 + 300 - 300 + 350 - 350
    assert_ledger_ok(database_url)


async def test_weekly_and_monthly_loss_limits_are_named(api: Api) -> None:
    player_id = await new_player(api)
    await set_limit(api, player_id, "loss_day", "50.00")
    await set_limit(api, player_id, "loss_week", "20.00")
    await set_limit(api, player_id, "loss_month", "30.00")
    s = await seat(api, player_id)
    await s.placed("b1", "20.00")
    await limit_refused(s, "b2", "0.01", "LOSS_LIMIT_REACHED", "loss_week")
    api.clock.advance(4 * DAY)  # Monday 2026-01-05: a new week, the same month
    s = await seat(api, player_id)
    await s.placed("b3", "10.00")
    body = await limit_refused(s, "b4", "0.01", "LOSS_LIMIT_REACHED", "loss_month")
    details = body["error"]["details"]
    assert (details["limit_amount"], details["used"]) == ("30.00", "30.00")


async def test_wins_and_rollbacks_are_never_refused_by_a_limit(api: Api, database_url: str) -> None:
    player_id = await new_player(api)
    s = await seat(api, player_id)
    await s.placed("b1", "5.00", "r1")
    await s.placed("b2", "4.00", "r2")
    await s.placed("b3", "1.00", "r3")
    await set_limit(api, player_id, "loss_day", "1.00")  # at once, under what is in flight
    await set_limit(api, player_id, "wager_day", "1.00")
    await limit_refused(s, "b4", "0.01", "LOSS_LIMIT_REACHED", "loss_day")

    won = await s.win("w1", "2.00", "r1")  # the win pays
    assert won["balance"]["cash"] == "992.00"
    rolled = await s.rollback("rb2", "b2")  # the rollback refunds
    assert rolled["balance"]["cash"] == "996.00"
    r = await api.post("end_round", {"player_id": player_id, "token": s.token, "tx_id": "e3",
                                     "round_id": "r3", "game_code": "dice",
                                     "currency": "EUR"})  # fmt: skip
    assert r.status_code == 200, r.text
    usage = (await limits(api, player_id))["usage"]
    assert (usage["loss_day"], usage["wager_day"]) == ("4.00", "6.00")
    await limit_refused(s, "b5", "0.01", "LOSS_LIMIT_REACHED", "loss_day")
    assert await cash(api, player_id) == 99_600
    assert_ledger_ok(database_url)


# -- wager limits ----------------------------------------------------------------------------


async def test_a_wager_limit_refuses_bets_and_wins_make_no_room(
    api: Api, database_url: str
) -> None:
    player_id = await new_player(api)
    await set_limit(api, player_id, "wager_day", "10.00")
    s = await seat(api, player_id)
    await s.placed("b1", "6.00")
    await s.placed("b2", "4.00")
    body = await limit_refused(s, "b3", "0.01", "WAGER_LIMIT_REACHED", "wager_day")
    assert body["error"]["details"]["used"] == "10.00"
    assert await cash(api, player_id) == 99_000

    await s.win("w1", "10.00", "r-b1")  # all of it back: the net loss is 0, the wager is not
    usage = (await limits(api, player_id))["usage"]
    assert (usage.get("loss_day", "0.00"), usage["wager_day"]) == ("0.00", "10.00")
    await limit_refused(s, "b4", "0.01", "WAGER_LIMIT_REACHED", "wager_day")
    await limit_refused(s, "b3", "0.01", "WAGER_LIMIT_REACHED", "wager_day", replay=True)

    await s.rollback("rb2", "b2")  # a rollback makes room
    assert (await limits(api, player_id))["usage"]["wager_day"] == "6.00"
    await limit_refused(s, "b5", "4.01", "WAGER_LIMIT_REACHED", "wager_day")
    await s.placed("b6", "4.00")
    await limit_refused(s, "b7", "0.01", "WAGER_LIMIT_REACHED", "wager_day")
    assert await cash(api, player_id) == 100_000 - 1000 + 1000 + 400 - 400
    assert_ledger_ok(database_url)


# -- deposit limits --------------------------------------------------------------------------


async def test_a_deposit_limit_refuses_deposits_until_the_next_day(
    api: Api, database_url: str
) -> None:
    player_id = await new_player(api, cash=None)
    await set_limit(api, player_id, "deposit_day", "100.00")
    await deposited(api, player_id, "60.00", "d1")
    await deposited(api, player_id, "40.00", "d2")
    entries = await table_count(api, "journal_entries")

    r = await deposit(api, player_id, "0.01", "d3")
    body = refusal(r, 403, "DEPOSIT_LIMIT_REACHED")
    details = body["error"]["details"]
    assert (details["limit"], details["limit_amount"], details["used"]) == (
        "deposit_day", "100.00", "100.00",
    )  # fmt: skip
    assert await cash(api, player_id) == 10_000
    assert await table_count(api, "journal_entries") == entries
    again = refusal(await deposit(api, player_id, "0.01", "d3"), 403, "DEPOSIT_LIMIT_REACHED")
    assert again["error"]["details"]["replay"] is True

    r = await api.op("POST", f"/players/{player_id}/withdrawals",
                     {"reference": "w1", "amount": "70.00", "currency": "EUR"})  # fmt: skip
    assert r.status_code == 201, r.text  # withdrawals are not limited
    refusal(await deposit(api, player_id, "0.01", "d4"), 403, "DEPOSIT_LIMIT_REACHED")
    assert (await limits(api, player_id))["usage"]["deposit_day"] == "100.00"

    api.clock.advance(12 * HOUR - 1)  # Thursday 23:59:59
    refusal(await deposit(api, player_id, "0.01", "d5"), 403, "DEPOSIT_LIMIT_REACHED")
    api.clock.advance(1)  # Friday 00:00 UTC
    await deposited(api, player_id, "100.00", "d6")
    refusal(await deposit(api, player_id, "0.01", "d7"), 403, "DEPOSIT_LIMIT_REACHED")
    # the refusal of d3 was stored: a resend answers the same, even on a new day
    refusal(await deposit(api, player_id, "0.01", "d3"), 403, "DEPOSIT_LIMIT_REACHED")
    usage = (await limits(api, player_id))["usage"]
    assert (usage["deposit_day"], usage["deposit_week"]) == ("100.00", "200.00")
    assert await cash(api, player_id) == 10_000 - 7000 + 10_000
    assert_ledger_ok(database_url)


async def test_deposit_limits_do_not_limit_bets(api: Api) -> None:
    player_id = await new_player(api, cash=None)
    await set_limit(api, player_id, "deposit_day", "50.00")
    await deposited(api, player_id, "50.00", "d1")
    s = await seat(api, player_id)
    await s.placed("b1", "50.00")
    assert await cash(api, player_id) == 0


# -- increases wait, decreases do not --------------------------------------------------------


async def test_an_increase_waits_for_the_cooling_period_and_a_decrease_does_not(
    api: Api,
) -> None:
    player_id = await new_player(api)
    await set_limit(api, player_id, "loss_day", "10.00")
    s = await seat(api, player_id)
    await s.placed("b1", "10.00")
    await limit_refused(s, "b2", "0.01", "LOSS_LIMIT_REACHED", "loss_day")

    body = await set_limit(api, player_id, "loss_day", "50.00")
    assert body["effective_at"] == T0_PLUS_24H
    assert body["limits"]["loss_day"] == "10.00"
    await limit_refused(s, "b3", "0.01", "LOSS_LIMIT_REACHED", "loss_day")

    api.clock.advance(12 * HOUR)  # Friday 00:00: the day's usage starts again, the limit not
    s = await seat(api, player_id)
    await s.placed("b4", "10.00")
    await limit_refused(s, "b5", "0.01", "LOSS_LIMIT_REACHED", "loss_day")
    api.clock.advance(12 * HOUR - 1)  # Friday 11:59:59, a second before the increase
    s = await seat(api, player_id)
    body = await limit_refused(s, "b6", "0.01", "LOSS_LIMIT_REACHED", "loss_day")
    assert body["error"]["details"]["limit_amount"] == "10.00"
    api.clock.advance(1)  # Friday 12:00:00: 24 hours after the request
    await s.placed("b7", "40.00")
    body = await limit_refused(s, "b8", "0.01", "LOSS_LIMIT_REACHED", "loss_day")
    assert body["error"]["details"]["limit_amount"] == "50.00"
    shown = await limits(api, player_id)
    assert (shown["limits"], shown["pending"]) == ({"loss_day": "50.00"}, {})

    body = await set_limit(api, player_id, "loss_day", "5.00")  # a decrease: at once
    assert body["effective_at"] == "2026-01-02T12:00:00+00:00"
    assert (body["limits"], body["pending"]) == ({"loss_day": "5.00"}, {})
    assert body["usage"]["loss_day"] == "50.00"
    body = await limit_refused(s, "b9", "0.01", "LOSS_LIMIT_REACHED", "loss_day")
    assert body["error"]["details"]["limit_amount"] == "5.00"


async def test_a_removal_waits_for_the_cooling_period(api: Api) -> None:
    player_id = await new_player(api)
    await set_limit(api, player_id, "wager_week", "10.00")
    s = await seat(api, player_id)
    await s.placed("b1", "10.00")
    await set_limit(api, player_id, "wager_week", None)
    api.clock.advance(DAY - 1)
    s = await seat(api, player_id)
    await limit_refused(s, "b2", "0.01", "WAGER_LIMIT_REACHED", "wager_week")
    api.clock.advance(1)
    await s.placed("b3", "500.00")
    assert (await limits(api, player_id))["limits"] == {}


# -- session time ----------------------------------------------------------------------------


async def test_a_session_takes_no_bet_once_it_has_lasted_the_session_limit(
    api: Api, database_url: str
) -> None:
    player_id = await new_player(api)
    await set_limit(api, player_id, "session_minutes", 30)
    s = await seat(api, player_id)
    await s.placed("b1", "1.00", "r1")
    api.clock.advance(14 * MINUTE)
    await s.refresh()
    api.clock.advance(14 * MINUTE)
    await s.refresh()
    api.clock.advance(2 * MINUTE - 1)  # 29:59 after the session opened
    await s.placed("b2", "1.00", "r1")
    api.clock.advance(1)  # 30:00
    body = await limit_refused(s, "b3", "1.00", "SESSION_TIME_LIMIT_REACHED", "session_minutes",
                               round_id="r1")  # fmt: skip
    assert body["error"]["details"]["limit_value"] == 30
    await limit_refused(s, "b4", "1.00", "SESSION_TIME_LIMIT_REACHED", "session_minutes")
    await limit_refused(s, "b3", "1.00", "SESSION_TIME_LIMIT_REACHED", "session_minutes",
                        replay=True, round_id="r1")  # fmt: skip
    won = await s.win("w1", "5.00", "r1")  # the round in flight still settles
    assert won["balance"]["cash"] == "1003.00"

    fresh = await seat(api, player_id)  # a new session takes bets
    await fresh.placed("b5", "1.00")
    assert await cash(api, player_id) == 100_000 - 300 + 500
    assert_ledger_ok(database_url)


# -- reality checks --------------------------------------------------------------------------


async def test_the_bet_answer_carries_the_reality_check_when_due(api: Api) -> None:
    player_id = await new_player(api)
    await set_limit(api, player_id, "reality_check_minutes", 15)
    s = await seat(api, player_id)
    assert "reality_check" not in await s.placed("b1", "2.00")  # starts the clock
    api.clock.advance(10 * MINUTE)
    await s.refresh()
    await s.win("w1", "0.50", "r-b1")
    api.clock.advance(5 * MINUTE - 1)
    assert "reality_check" not in await s.placed("b2", "1.00")
    api.clock.advance(1)  # 15 minutes after the first bet
    due = await s.placed("b3", "1.00")
    assert due["reality_check"] == {"due": True, "interval_minutes": 15,
                                    "net_loss_today": "3.50"}  # fmt: skip
    assert due["balance"]["cash"] == "996.50"
    replayed = await s.placed("b3", "1.00")  # a resend answers the same
    assert replayed["reality_check"] == due["reality_check"]
    assert replayed["transaction"]["replay"] is True

    api.clock.advance(9 * MINUTE)
    await s.refresh()
    api.clock.advance(6 * MINUTE - 1)
    assert "reality_check" not in await s.placed("b4", "1.00")
    api.clock.advance(1)  # 15 minutes after the bet that was told
    assert (await s.placed("b5", "1.00"))["reality_check"]["net_loss_today"] == "5.50"
    assert "reality_check" not in await s.placed("b6", "1.00")


# -- pace of rounds --------------------------------------------------------------------------


async def test_a_gb_session_refuses_a_new_round_too_soon(api: Api) -> None:
    r = await api.op("PUT", "/catalogue/providers/acme", {
        "name": "Acme", "launch_url": "https://games.acme.test/launch", "jurisdictions": ["*"],
    })  # fmt: skip
    assert r.status_code == 200, r.text
    r = await api.op("PUT", "/catalogue/games/acme/slot1", {
        "name": "slot1", "category": "slots", "rtp": "96.00", "jurisdictions": ["*"],
    })  # fmt: skip
    assert r.status_code == 200, r.text
    player_id = await new_player(api, "50.00", currency="GBP", country="GB")
    r = await api.op("POST", "/launch", {"provider": "acme", "game": "slot1",
                                         "player_id": player_id})  # fmt: skip
    assert r.status_code == 201, r.text
    launched = r.json()
    s = Seat(api, player_id, launched["token"], launched["session_id"], game="slot1",
             currency="GBP")  # fmt: skip
    await s.placed("b1", "1.00", "r1")
    api.clock.advance(1)
    body = refusal(await s.bet("b2", "1.00", "r2"), 403, "ROUND_TOO_SOON")
    assert body["error"]["details"]["rule"] == "GB.min_round_seconds"
    assert body["error"]["details"]["min_round_ms"] == 2500
    await s.placed("b3", "1.00", "r1")  # the same round: not a new one
    api.clock.advance(2)  # 3 s after r1 opened
    again = refusal(await s.bet("b2", "1.00", "r2"), 403, "ROUND_TOO_SOON")
    assert again["replay"] is True  # stored: a resend answers the same
    await s.placed("b4", "1.00", "r4")
    assert await cash(api, player_id) == 5000 - 300


# -- concurrency: the acceptance criterion ---------------------------------------------------

ROUNDS = [1, 2, 3]
"""Each concurrency test runs three times, to catch a race that only shows now and then."""
LIMITED = [("loss_day", "LOSS_LIMIT_REACHED"), ("wager_day", "WAGER_LIMIT_REACHED")]


@pytest.mark.parametrize("attempt", ROUNDS)
@pytest.mark.parametrize(("kind", "code"), LIMITED, ids=["loss", "wager"])
async def test_fifty_concurrent_bets_pass_a_limit_of_ten_exactly(
    api: Api, database_url: str, kind: str, code: str, attempt: int
) -> None:
    player_id = await new_player(api, "1000.00")
    await set_limit(api, player_id, kind, "10.00")
    s = await seat(api, player_id)

    responses = await asyncio.wait_for(
        asyncio.gather(*(s.bet(f"b{attempt}-{i}", "1.00", f"r{i}") for i in range(50))),
        TIMEOUT,
    )

    outcomes = Counter(
        "OK" if r.status_code == 200 else f"{r.status_code} {r.json()['error']['code']}"
        for r in responses
    )
    assert outcomes == {"OK": 10, f"403 {code}": 40}, outcomes
    refused = [r.json() for r in responses if r.status_code != 200]
    assert {(b["error"]["details"]["limit"], b["error"]["details"]["used"]) for b in refused} == {
        (kind, "10.00")
    }  # each refusal saw all ten accepted bets committed
    cash_after = sorted(r.json()["balance"]["cash"] for r in responses if r.status_code == 200)
    assert cash_after == [f"{990 + i}.00" for i in range(10)]  # one unbroken sequence
    assert await cash(api, player_id) == 99_000
    shown = await limits(api, player_id)
    assert shown["usage"][kind] == "10.00"
    assert (shown["usage"]["loss_day"], shown["usage"]["wager_day"]) == ("10.00", "10.00")
    assert await table_count(api, "journal_entries") == 1 + 10  # the funding and ten bets
    assert_ledger_ok(database_url)


@pytest.fixture
async def pg_pool_wallet(postgres_url: str) -> AsyncIterator[tuple[WalletService, str]]:
    """A wallet service on a PostgreSQL pool of 10 connections, fresh and empty."""
    truncate_postgres(postgres_url)
    store = await open_test_store(postgres_url, pool_size=10)
    table = currency_table(Settings())
    await sync_currencies(store, table)
    yield WalletService(store=store, currencies=table, policy=BonusPolicy()), postgres_url
    await store.close()


@pytest.mark.postgres
@pytest.mark.parametrize("attempt", ROUNDS)
@pytest.mark.parametrize(
    ("kind", "error"), [("loss_day", LossLimitReached), ("wager_day", WagerLimitReached)],
    ids=["loss", "wager"],
)  # fmt: skip
async def test_fifty_concurrent_service_bets_on_a_pool_pass_a_limit_of_ten_exactly(
    pg_pool_wallet: tuple[WalletService, str],
    kind: str,
    error: type[LimitReached],
    attempt: int,
) -> None:
    wallet, url = pg_pool_wallet
    await wallet.open_wallet("p1", "EUR")
    await wallet.deposit(Deposit(player_id="p1", amount=100_000, currency="EUR",
                                 cashier_ref="fund"))  # fmt: skip
    await wallet.set_limit("p1", kind, 1000, cooling=timedelta(hours=24))

    def bet(i: int) -> Bet:
        return Bet(player_id="p1", amount=100, currency="EUR", provider="acme",
                   tx_id=f"b{attempt}-{i}", round_id=f"r{i}", game_code="dice")  # fmt: skip

    outcomes = await asyncio.wait_for(
        asyncio.gather(*(wallet.place_bet(bet(i)) for i in range(50)), return_exceptions=True),
        TIMEOUT,
    )

    accepted = [o for o in outcomes if isinstance(o, WalletResult)]
    refused = [o for o in outcomes if isinstance(o, error)]
    assert len(accepted) + len(refused) == 50, [
        o for o in outcomes if not isinstance(o, WalletResult | error)
    ]
    assert (len(accepted), len(refused)) == (10, 40)
    assert sorted(r.balances.cash for r in accepted) == list(range(99_000, 100_000, 100))
    assert {(e.details["limit"], e.details["used"]) for e in refused} == {(kind, 1000)}
    assert (await wallet.balance("p1")).cash == 99_000
    state = await wallet.limits("p1")
    assert (state.usage["loss_day"], state.usage["wager_day"]) == (1000, 1000)
    assert_ledger_ok(url)


# -- defects found by these tests, fixed ------------------------------------------------------


async def test_the_put_answer_says_whether_the_change_is_pending(api: Api) -> None:
    player_id = await new_player(api)
    await set_limit(api, player_id, "loss_day", "10.00")
    body = await set_limit(api, player_id, "loss_day", "50.00")
    assert body["waiting"] is True, body
    assert (await set_limit(api, player_id, "loss_day", "5.00"))["waiting"] is False


async def test_the_history_shows_money_limits_as_decimal_strings(api: Api) -> None:
    player_id = await new_player(api)
    await set_limit(api, player_id, "loss_day", "10.00")
    await set_limit(api, player_id, "loss_day", "5.00")
    history = (await limits(api, player_id))["history"]
    assert [(e["value"], e["previous"]) for e in history] == [("10.00", None), ("5.00", "10.00")]


async def test_a_late_rollback_of_yesterdays_bet_gives_no_extra_room_today(api: Api) -> None:
    player_id = await new_player(api)
    await set_limit(api, player_id, "wager_day", "10.00")
    s = await seat(api, player_id)
    await s.placed("b1", "10.00", "r1")
    api.clock.advance(21 * HOUR)  # Friday 09:00
    s = await seat(api, player_id)
    await s.rollback("rb1", "b1")
    placed = 0
    for i in range(20):
        if (await s.bet(f"f{i}", "1.00")).status_code != 200:
            break
        placed += 1
    assert placed <= 10, f"{placed}.00 staked on Friday under a daily wager limit of 10.00"
    assert (await limits(api, player_id))["usage"]["wager_day"] == f"{placed}.00"
