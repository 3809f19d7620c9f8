"""The gates a fresh-eyes review found open, shut, on SQLite and PostgreSQL: an exclusion
refuses bets and deposits in the wallet itself (not only by closing sessions), a used
wallet's currency cannot change, amounts in the operator API's error details are decimal
strings, provider codes fit their columns, and a failing alert store never costs a
provider its answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from croupier.domain.errors import StorageUnavailable
from croupier.domain.limits import LimitState
from tests.e2e.conftest import Api


def bet(player: str, token: str, n: int, amount: str = "1.00") -> dict[str, Any]:
    return {"player_id": player, "token": token, "tx_id": f"b{n}", "round_id": f"r{n}",
            "game_code": "dice", "amount": amount, "currency": "EUR"}  # fmt: skip


def win(player: str, token: str, n: int, amount: str = "2.00") -> dict[str, Any]:
    return {"player_id": player, "token": token, "tx_id": f"w{n}", "round_id": f"r{n}",
            "game_code": "dice", "amount": amount, "currency": "EUR",
            "close_round": True}  # fmt: skip


def code_of(response: Any) -> str:
    body: dict[str, Any] = response.json()
    code: str = body["error"]["code"]
    return code


@pytest.mark.parametrize(("kind", "days", "code"), [
    ("self_exclusion", None, "SELF_EXCLUDED"), ("cool_off", 7, "COOLING_OFF"),
])  # fmt: skip
async def test_an_exclusion_refuses_bets_in_the_wallet_even_on_a_session_opened_after_it(
    api: Api, kind: str, days: int | None, code: str
) -> None:
    await api.player("p1", "100.00")
    _, token = await api.session("p1")
    assert (await api.post("bet", bet("p1", token, 1))).status_code == 200  # a round in flight
    r = await api.op("POST", "/players/p1/exclusions", {"kind": kind, "days": days})
    assert r.status_code == 201, r.text

    # A session opened behind the launch's back (a launch racing the exclusion does this).
    _, late = await api.session("p1")
    refused = await api.post("bet", bet("p1", late, 2))
    assert (refused.status_code, code_of(refused)) == (403, code)
    again = await api.post("bet", bet("p1", late, 2))  # stored: a resend answers the same
    assert (code_of(again), again.json().get("replay")) == (code, True)
    assert (await api.wallet.balance("p1")).cash == 9900  # nothing taken

    paid = await api.post("win", win("p1", token, 1))  # the round in flight still settles
    assert paid.status_code == 200, paid.text
    deposit = await api.op("POST", "/players/p1/deposits",
                           {"reference": "d-ex", "amount": "5.00", "currency": "EUR"})  # fmt: skip
    assert (deposit.status_code, code_of(deposit)) == (403, code)
    out = {"reference": "w-ex", "amount": "5.00", "currency": "EUR"}
    withdrawal = await api.op("POST", "/players/p1/withdrawals", out)
    assert withdrawal.status_code == 201, withdrawal.text  # money goes back out

    if days is not None:  # a cool-off ends; play resumes
        api.clock.advance(timedelta(days=days).total_seconds())
        _, fresh = await api.session("p1")
        assert (await api.post("bet", bet("p1", fresh, 3))).status_code == 200


async def test_a_wallet_with_limits_or_a_session_keeps_its_currency(api: Api) -> None:
    for n, step in enumerate(("limit", "session")):
        r = await api.op("POST", "/players", {"brand": "main", "external_ref": f"u{n}",
                                              "currency": "EUR", "country": "MT"})  # fmt: skip
        player = r.json()["id"]
        if step == "limit":
            r = await api.op("PUT", f"/players/{player}/limits/loss_day", {"value": "100.00"})
            assert r.status_code == 200, r.text
        else:
            await api.session(player)
        r = await api.op("PATCH", f"/players/{player}", {"currency": "USD"})
        assert (r.status_code, code_of(r)) == (409, "PLAYER_CURRENCY_LOCKED"), step
        assert (await api.op("GET", f"/players/{player}")).json()["currency"] == "EUR"


async def test_operator_error_details_state_amounts_as_decimal_strings(api: Api) -> None:
    await api.player("p1", "10.00")
    r = await api.op("POST", "/players/p1/withdrawals",
                     {"reference": "w1", "amount": "12.00", "currency": "EUR"})  # fmt: skip
    assert (r.status_code, code_of(r)) == (402, "INSUFFICIENT_FUNDS")
    details = r.json()["error"]["details"]
    assert (details["cash"], details["bonus"], details["currency"]) == ("10.00", "0.00", "EUR")
    history = (await api.op("GET", "/players/p1/transactions")).json()["items"]
    assert history[0]["error"]["details"]["cash"] == "10.00"


async def test_a_provider_code_longer_than_its_column_is_refused_not_a_storage_error(
    api: Api,
) -> None:
    body = {"name": "Long", "launch_url": "https://x.example/launch", "jurisdictions": ["*"]}
    r = await api.op("PUT", f"/catalogue/providers/{'p' * 65}", body)
    assert (r.status_code, code_of(r)) == (400, "INVALID_REQUEST")
    assert (await api.op("PUT", f"/catalogue/providers/{'p' * 64}", body)).status_code == 200


async def test_a_failing_alert_store_never_costs_a_provider_its_answer(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert api.alerts is not None

    async def down(*_: object) -> None:
        raise StorageUnavailable("the alerts table is unavailable")

    monkeypatch.setattr(api.alerts.store, "insert_alert", down)
    await api.player("p1", "1.00")
    _, token = await api.session("p1")
    for n in range(15):  # past the burst threshold of 10: the alert fails to store
        r = await api.post("bet", bet("p1", token, n, "5.00"))
        assert (r.status_code, code_of(r)) == (402, "INSUFFICIENT_FUNDS"), r.text


def test_usage_periods_only_move_forward() -> None:
    """A replica whose clock is a little behind, across midnight, does not reset the day."""
    friday = LimitState().at(datetime_utc("2026-01-02T00:00:01"))
    state, _ = friday.after_bet(500, datetime_utc("2026-01-02T00:00:01"), new_round=True)
    behind = state.at(datetime_utc("2026-01-01T23:59:59"))
    assert behind.usage["wager_day"] == 500
    assert behind.anchors == state.anchors


def datetime_utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)
