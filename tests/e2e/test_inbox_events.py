"""Rollback, jackpot and promotion events in the webhook inbox, on SQLite and PostgreSQL.

A rollback event refunds a bet exactly once, or leaves a tombstone when it comes before its
bet (the round event that follows moves no money and says why); a rollback of a bet whose
round an event already settled is refused (the first resolution stands); a jackpot or a
promotion credits the player once however often and however concurrently it is delivered;
what the schema refuses is dead at once; and a window of mixed events ends at the same
balances in any order, and again when it is replayed.
"""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from typing import Any

import httpx
import pytest

from croupier.domain.webhook_events import checksum
from tests.conftest import assert_ledger_ok
from tests.e2e.conftest import Api
from tests.e2e.test_inbox_worker import deliver, event, run, states

START = 10_000
"""Every player starts with EUR 100.00 (minor units)."""


def webhook(kind: str, event_id: str, *, player: str = "p1", **fields: Any) -> dict[str, Any]:
    """A finalized event of ``kind`` in EUR with its checksum; ``fields`` add or replace."""
    doc: dict[str, Any] = {
        "event_id": event_id, "type": kind, "player_id": player,
        "timestamp": "2026-01-01T12:00:00Z", "currency": "EUR", "finalized": True,
    }  # fmt: skip
    doc |= fields
    doc = {k: v for k, v in doc.items() if v is not None}
    doc["checksum"] = checksum(doc)
    return doc


def rollback(n: int, bet_tx_id: str, **fields: Any) -> dict[str, Any]:
    fields = {"event_id": f"rb-e{n}", "tx_id": f"rb{n}", "bet_tx_id": bet_tx_id} | fields
    return webhook("rollback", **fields)


def jackpot(n: int, amount: Any = "50.00", **fields: Any) -> dict[str, Any]:
    fields = {"event_id": f"jp-e{n}", "tx_id": f"jp{n}", "amount": amount,
              "jackpot_id": "mega"} | fields  # fmt: skip
    return webhook("jackpot", **fields)


def promotion(n: int, amount: str = "5.00", **fields: Any) -> dict[str, Any]:
    fields = {"event_id": f"pr-e{n}", "tx_id": f"pr{n}", "amount": amount,
              "campaign_id": "spring"} | fields  # fmt: skip
    return webhook("promotion", **fields)


async def errors(api: Api) -> dict[str, tuple[str, str | None]]:
    """Each delivery's status and the note or error it ended with."""
    assert api.inbox is not None
    rows = await api.inbox.store.deliveries(status=None, provider=None, limit=500)
    return {
        str(r["delivery_id"]): (str(r["status"]), r["last_error"])  # type: ignore[misc]
        for r in rows
    }


async def cash_bonus(api: Api, player: str = "p1") -> tuple[int, int]:
    balances = await api.wallet.balance(player)
    return balances.cash, balances.bonus


async def sync_bet(api: Api, tx_id: str, round_id: str, amount: str = "3.00") -> None:
    """A bet through the wallet API (a session of p1), its round left open."""
    _, token = await api.session("p1")
    body = {"player_id": "p1", "token": token, "tx_id": tx_id, "round_id": round_id,
            "game_code": "dice", "amount": amount, "currency": "EUR"}  # fmt: skip
    r = await api.post("bet", body)
    assert r.status_code == 200, r.text


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# -- rollbacks ---------------------------------------------------------------------------------


async def test_a_rollback_event_refunds_a_bet_of_an_open_round_once(
    api: Api, database_url: str
) -> None:
    await api.player("p1", "100.00")
    await sync_bet(api, "b1", "r1")
    assert await cash_bonus(api) == (START - 300, 0)
    await deliver(api, rollback(1, "b1", amount="3.00", round_id="r1", game_code="dice"), "m1")
    assert await run(api) == {"applied": 1}
    assert await cash_bonus(api) == (START, 0)
    # The same rollback again, and the same bet rolled back under another id: no second refund.
    await deliver(api, rollback(1, "b1", amount="3.00", round_id="r1", game_code="dice"), "m2")
    await deliver(api, rollback(2, "b1"), "m3")
    assert await run(api) == {"applied": 2}
    assert await cash_bonus(api) == (START, 0)
    assert_ledger_ok(database_url)


@pytest.mark.parametrize("win", [None, "2.50"])
async def test_a_rollback_after_the_round_event_settled_its_round_is_dead(
    api: Api, database_url: str, win: str | None
) -> None:
    """A round event closes its round, with or without a win: a rollback of its bet comes
    too late (rule 5, BET_ALREADY_SETTLED, final): the first resolution stands."""
    await api.player("p1", "100.00")
    await deliver(api, event(1, win=win), "m1")
    assert await run(api) == {"applied": 1}
    settled = START - 100 + (250 if win else 0)
    assert await cash_bonus(api) == (settled, 0)
    await deliver(api, rollback(1, "b1", amount="1.00"), "m2")
    assert await run(api) == {"dead": 1}
    status, error = (await errors(api))["m2"]
    assert status == "dead"
    assert error is not None
    assert error.startswith("BET_ALREADY_SETTLED")
    assert await cash_bonus(api) == (settled, 0)
    assert_ledger_ok(database_url)


async def test_a_rollback_before_its_round_event_leaves_a_tombstone(
    api: Api, database_url: str
) -> None:
    await api.player("p1", "100.00")
    await deliver(api, rollback(1, "b1", round_id="r1"), "m1")
    assert await run(api) == {"applied": 1}  # the tombstone: nothing to refund yet
    assert await cash_bonus(api) == (START, 0)
    await deliver(api, event(1), "m2")  # its bet, and a win of 2.50
    assert await run(api) == {"applied": 1}
    status, note = (await errors(api))["m2"]
    assert status == "applied"
    assert note is not None
    assert note.startswith("TRANSACTION_ROLLED_BACK")
    assert await cash_bonus(api) == (START, 0)  # neither the stake nor the win moved
    assert (await errors(api))["m1"] == ("applied", None)
    assert_ledger_ok(database_url)


async def test_a_late_round_event_without_a_win_moves_nothing_either(
    api: Api, database_url: str
) -> None:
    await api.player("p1", "100.00")
    await deliver(api, rollback(1, "b1"), "m1")
    await deliver(api, event(1, win=None), "m2")
    assert await run(api) == {"applied": 2}
    status, note = (await errors(api))["m2"]
    assert status == "applied"
    assert note is not None
    assert note.startswith("TRANSACTION_ROLLED_BACK")
    assert await cash_bonus(api) == (START, 0)
    # Replayed, the round event still moves nothing.
    assert api.inbox is not None
    assert await api.inbox.store.requeue(ids=[2], now=api.clock()) == 1
    assert await run(api) == {"applied": 1}
    assert await cash_bonus(api) == (START, 0)
    assert_ledger_ok(database_url)


@pytest.mark.parametrize("rolled_back_by", ["webhook", "wallet api"])
async def test_a_synchronous_bet_rolled_back_leaves_its_round_event_nothing_to_settle(
    api: Api, database_url: str, rolled_back_by: str
) -> None:
    await api.player("p1", "100.00")
    await sync_bet(api, "b1", "r1", amount="1.00")  # the bet the round event carries
    if rolled_back_by == "webhook":
        await deliver(api, rollback(1, "b1"), "m0")
        assert await run(api) == {"applied": 1}
    else:
        body = {"player_id": "p1", "tx_id": "rb1", "bet_tx_id": "b1", "currency": "EUR"}
        assert ok(await api.post("rollback", body))["transaction"]["outcome"] == "applied"
    assert await cash_bonus(api) == (START, 0)
    await deliver(api, event(1), "m1")  # bet 1.00 (a replay), win 2.50
    assert await run(api) == {"applied": 1}
    status, note = (await errors(api))["m1"]
    assert status == "applied"
    assert note is not None
    assert note.startswith("TRANSACTION_ROLLED_BACK")
    assert await cash_bonus(api) == (START, 0)  # no win paid against a refunded stake
    assert_ledger_ok(database_url)


async def test_a_winless_round_event_of_a_rolled_back_synchronous_bet_is_noted(
    api: Api, database_url: str
) -> None:
    await api.player("p1", "100.00")
    await sync_bet(api, "b1", "r1", amount="1.00")
    await deliver(api, rollback(1, "b1"), "m0")
    await deliver(api, event(1, win=None), "m1")
    assert await run(api) == {"applied": 2}
    assert await cash_bonus(api) == (START, 0)  # the money is right either way
    assert_ledger_ok(database_url)
    status, note = (await errors(api))["m1"]
    assert status == "applied"
    assert note is not None  # nothing says the event settled nothing


async def test_a_rollback_of_another_players_bet_is_dead(api: Api, database_url: str) -> None:
    await api.player("p1", "100.00")
    await api.player("p2", "100.00")
    await sync_bet(api, "b1", "r1")
    await deliver(api, rollback(1, "b1", player="p2"), "m1")
    assert await run(api) == {"dead": 1}
    status, error = (await errors(api))["m1"]
    assert (status, (error or "").split(":")[0]) == ("dead", "ROLLBACK_NOT_ALLOWED")
    assert await cash_bonus(api, "p1") == (START - 300, 0)
    assert await cash_bonus(api, "p2") == (START, 0)
    assert_ledger_ok(database_url)


async def test_a_rollback_whose_amount_is_not_its_bets_is_dead(api: Api, database_url: str) -> None:
    await api.player("p1", "100.00")
    await sync_bet(api, "b1", "r1", amount="3.00")
    await deliver(api, rollback(1, "b1", amount="2.00"), "m1")
    assert await run(api) == {"dead": 1}
    assert (await errors(api))["m1"][1].startswith("ROLLBACK_NOT_ALLOWED")  # type: ignore[union-attr]
    assert await cash_bonus(api) == (START - 300, 0)
    assert_ledger_ok(database_url)


async def test_a_rollback_id_reused_for_another_bet_is_dead(api: Api, database_url: str) -> None:
    await api.player("p1", "100.00")
    await sync_bet(api, "b1", "r1", amount="3.00")
    await sync_bet(api, "b2", "r2", amount="4.00")
    await deliver(api, rollback(1, "b1"), "m1")
    assert await run(api) == {"applied": 1}
    await deliver(api, webhook("rollback", "other", tx_id="rb1", bet_tx_id="b2"), "m2")
    await run(api)
    assert await cash_bonus(api) == (START - 400, 0)  # b2 is not refunded either way
    assert_ledger_ok(database_url)
    status, error = (await errors(api))["m2"]
    assert status == "dead"
    assert (error or "").startswith("IDEMPOTENCY_MISMATCH")


# -- jackpots and promotions ------------------------------------------------------------------


async def test_a_jackpot_credits_cash_once_however_often_it_is_delivered(
    api: Api, database_url: str
) -> None:
    await api.player("p1", "100.00")
    await asyncio.gather(*(deliver(api, jackpot(1), "m1") for _ in range(50)))
    await deliver(api, jackpot(1), "m1-again-under-a-new-id")
    assert await run(api) == {"applied": 2}
    assert await cash_bonus(api) == (START + 5_000, 0)
    assert await states(api) == [("m1", "applied", 1), ("m1-again-under-a-new-id", "applied", 1)]
    assert await run(api) == {}
    assert_ledger_ok(database_url)


async def test_workers_racing_on_copies_of_one_jackpot_credit_it_once(
    api: Api, database_url: str
) -> None:
    """Twelve deliveries of one jackpot, three workers at once: each delivery is applied (the
    wallet answers all but one as replays), the money moves once."""
    await api.player("p1", "100.00")
    for n in range(12):
        await deliver(api, jackpot(1), f"m{n}")
    assert api.inbox_worker is not None
    worker = api.inbox_worker
    results = await asyncio.gather(*(worker.run_once(limit=4) for _ in range(3)))
    while any(results[-1].values()):
        results.append(await worker.run_once(limit=4))
    assert sum(r.get("applied", 0) for r in results) == 12
    assert {s for _, s, _ in await states(api)} == {"applied"}
    assert await cash_bonus(api) == (START + 5_000, 0)
    assert_ledger_ok(database_url)


async def test_a_jackpot_naming_its_round_is_paid_after_the_round(
    api: Api, database_url: str
) -> None:
    await api.player("p1", "100.00")
    await deliver(api, event(1, win=None), "m1")
    await deliver(api, jackpot(1, "1000.00", round_id="r1", game_code="dice"), "m2")
    assert await run(api) == {"applied": 2}
    assert await cash_bonus(api) == (START - 100 + 100_000, 0)
    assert_ledger_ok(database_url)


async def test_a_jackpot_naming_another_players_round_is_dead(api: Api, database_url: str) -> None:
    await api.player("p1", "100.00")
    await api.player("p2", "100.00")
    await deliver(api, event(1, player="p2"), "m1")
    await deliver(api, jackpot(1, round_id="r1"), "m2")  # for p1
    assert await run(api) == {"applied": 1, "dead": 1}
    assert (await errors(api))["m2"][1].startswith("ROUND_MISMATCH")  # type: ignore[union-attr]
    assert await cash_bonus(api, "p1") == (START, 0)
    assert_ledger_ok(database_url)


async def test_a_jackpot_reusing_the_id_of_a_synchronous_bet_is_dead(
    api: Api, database_url: str
) -> None:
    await api.player("p1", "100.00")
    await sync_bet(api, "b1", "r1", amount="3.00")
    await deliver(api, jackpot(1, "3.00", tx_id="b1", round_id="r1"), "m1")
    assert await run(api) == {"dead": 1}
    assert (await errors(api))["m1"][1].startswith("IDEMPOTENCY_MISMATCH")  # type: ignore[union-attr]
    assert await cash_bonus(api) == (START - 300, 0)
    assert_ledger_ok(database_url)


async def test_a_promotion_to_bonus_goes_to_the_bonus_balance(api: Api, database_url: str) -> None:
    await api.player("p1", "100.00")
    await deliver(api, promotion(1, "5.00", balance="bonus"), "m1")
    await deliver(api, promotion(2, "2.50", balance="cash"), "m2")
    await deliver(api, promotion(3, "1.25"), "m3")  # no balance: cash
    assert await run(api) == {"applied": 3}
    assert await cash_bonus(api) == (START + 250 + 125, 500)
    await deliver(api, promotion(1, "5.00", balance="bonus"), "m4")  # again: a replay
    assert await run(api) == {"applied": 1}
    assert await cash_bonus(api) == (START + 250 + 125, 500)
    assert_ledger_ok(database_url)


async def test_a_promotion_is_credited_to_a_blocked_player(api: Api, database_url: str) -> None:
    await api.player("p1", "100.00")
    await api.wallet.set_blocked("p1", blocked=True)
    await deliver(api, promotion(1, "5.00"), "m1")
    await deliver(api, event(1), "m2")  # a bet of a blocked player is refused
    assert await run(api) == {"applied": 1, "dead": 1}
    assert (await errors(api))["m2"][1].startswith("PLAYER_BLOCKED")  # type: ignore[union-attr]
    assert await cash_bonus(api) == (START + 500, 0)
    assert_ledger_ok(database_url)


async def test_a_credit_id_reused_with_other_content_is_dead(api: Api, database_url: str) -> None:
    await api.player("p1", "100.00")
    await deliver(api, promotion(1, "5.00"), "m1")  # to cash
    assert await run(api) == {"applied": 1}
    await deliver(api, promotion(1, "5.00", balance="bonus", event_id="pr-x"), "m2")
    await run(api)
    assert await cash_bonus(api) == (START + 500, 0)  # no second credit either way
    assert_ledger_ok(database_url)
    status, error = (await errors(api))["m2"]
    assert status == "dead"
    assert (error or "").startswith("IDEMPOTENCY_MISMATCH")


async def test_a_tentative_jackpot_is_held_and_moves_nothing(api: Api, database_url: str) -> None:
    await api.player("p1", "100.00")
    await deliver(api, jackpot(1, finalized=False), "m1")
    await deliver(api, promotion(1, finalized=False), "m2")
    assert await run(api) == {"held": 2}
    assert await cash_bonus(api) == (START, 0)
    assert {k: v[0] for k, v in (await errors(api)).items()} == {"m1": "held", "m2": "held"}
    await deliver(api, jackpot(1), "m3")  # finalized
    assert await run(api) == {"applied": 1}
    assert await cash_bonus(api) == (START + 5_000, 0)
    assert_ledger_ok(database_url)


async def test_a_big_jackpot_raises_one_big_win_alert(api: Api) -> None:
    await api.player("p1", "100.00")
    await deliver(api, jackpot(1, "40000.00"), "m1")
    await deliver(api, jackpot(1, "40000.00"), "m2")  # a replay raises nothing
    assert await run(api) == {"applied": 2}
    r = await api.op("GET", "/alerts?kind=big_win")
    assert r.status_code == 200, r.text
    raised = r.json()["items"]
    assert len(raised) == 1
    assert raised[0]["detail"]["amount"] == 4_000_000
    assert raised[0]["detail"]["stake"] == 0


# -- refusals ---------------------------------------------------------------------------------


def _without(doc: dict[str, Any], name: str) -> dict[str, Any]:
    rest = {k: v for k, v in doc.items() if k not in (name, "checksum")}
    return rest | {"checksum": checksum(rest)}


@pytest.mark.parametrize(
    "doc",
    [
        webhook("bonus_round", "x1", tx_id="t1", amount="1.00"),  # an unknown type
        _without(jackpot(1), "jackpot_id"),
        _without(promotion(1), "campaign_id"),
        _without(rollback(1, "b1"), "bet_tx_id"),
        jackpot(1, "1.005"),  # finer than EUR: refused, never rounded
        promotion(1, "-5.00"),
        jackpot(1, 50),  # not a decimal string
        promotion(1, balance="held"),
        jackpot(1, balance="bonus"),  # a jackpot is cash
        jackpot(1) | {"checksum": "0" * 64},
        jackpot(1, currency="XYZ"),  # no such currency
    ],
    ids=["unknown-type", "no-jackpot-id", "no-campaign-id", "no-bet-tx-id", "too-fine",
         "negative", "number", "bad-balance", "jackpot-to-bonus", "checksum", "currency"],
)  # fmt: skip
async def test_what_the_schema_refuses_is_dead_at_once(api: Api, doc: dict[str, Any]) -> None:
    await api.player("p1", "100.00")
    await deliver(api, doc, "m1")
    assert await run(api) == {"dead": 1}
    assert await states(api) == [("m1", "dead", 1)]
    assert (await errors(api))["m1"][1].startswith("INVALID_REQUEST")  # type: ignore[union-attr]
    assert await cash_bonus(api) == (START, 0)


@pytest.mark.parametrize("doc", [jackpot(1, "0"), promotion(1, "0.00", balance="bonus")])
async def test_a_zero_credit_is_refused_by_the_wallet_and_dead(
    api: Api, database_url: str, doc: dict[str, Any]
) -> None:
    await api.player("p1", "100.00")
    await deliver(api, doc, "m1")
    assert await run(api) == {"dead": 1}
    assert (await errors(api))["m1"][1].startswith("AMOUNT_OUT_OF_RANGE")  # type: ignore[union-attr]
    assert await cash_bonus(api) == (START, 0)
    assert api.inbox is not None
    assert await api.inbox.store.requeue(ids=[1], now=api.clock()) == 1
    assert await run(api) == {"dead": 1}  # nothing was stored: the same answer again
    assert_ledger_ok(database_url)


async def test_a_credit_to_an_unknown_player_is_dead(api: Api) -> None:
    await api.player("p1", "100.00")
    await deliver(api, jackpot(1, player="nobody"), "m1")
    assert await run(api) == {"dead": 1}
    assert (await errors(api))["m1"][1].startswith("PLAYER_NOT_FOUND")  # type: ignore[union-attr]


# -- order and replay -------------------------------------------------------------------------


def _window() -> list[tuple[str, dict[str, Any]]]:
    """Rounds of two players, a jackpot naming a round, promotions to cash and bonus, and a
    rollback of a bet that came through the wallet API: no two of them depend on order."""
    return [
        ("d1", event(1, bet="2.00", win="5.00")),
        ("d2", event(2, bet="1.50", win=None)),
        ("d3", event(3, bet="4.00", win="0.00")),
        ("d4", event(4, bet="3.00", win="10.00", player="p2")),
        ("d5", jackpot(1, "25.00", round_id="r1", game_code="dice")),
        ("d6", promotion(1, "7.00", balance="bonus")),
        ("d7", promotion(2, "1.10", player="p2")),
        ("d8", rollback(1, "sb1", amount="3.00", round_id="sr1")),
    ]


EXPECTED = {
    "p1": (START - 300 - 200 + 500 - 150 - 400 + 2_500 + 300, 700),
    "p2": (START - 300 + 1_000 + 110, 0),
}


@pytest.mark.parametrize("seed", [None, 1, 2, 3])
async def test_a_shuffled_window_ends_at_the_in_order_balances_and_replays_to_them(
    api: Api, database_url: str, seed: int | None
) -> None:
    await api.player("p1", "100.00")
    await api.player("p2", "100.00")
    await sync_bet(api, "sb1", "sr1", amount="3.00")
    window = _window()
    if seed is not None:
        random.Random(seed).shuffle(window)  # noqa: S311 - a reproducible order, no secret
    for delivery_id, doc in window:  # one at a time: the worker sees this order
        await deliver(api, doc, delivery_id)
        assert await run(api) == {"applied": 1}, delivery_id
    balances = {p: await cash_bonus(api, p) for p in EXPECTED}
    assert balances == EXPECTED
    assert {s for _, s, _ in await states(api)} == {"applied"}
    assert_ledger_ok(database_url)

    assert api.inbox is not None
    start, end = api.clock() - timedelta(minutes=1), api.clock() + timedelta(minutes=1)
    for _ in range(2):
        assert await api.inbox.store.requeue(start=start, end=end, now=api.clock()) == 8
        assert await run(api) == {"applied": 8}
        assert {p: await cash_bonus(api, p) for p in EXPECTED} == EXPECTED
    assert_ledger_ok(database_url)


async def test_replaying_a_window_with_a_tombstone_and_a_dead_letter_changes_nothing(
    api: Api, database_url: str
) -> None:
    """Replayed, a tombstone stays a tombstone, a late round event still moves nothing and a
    refused rollback is refused again."""
    await api.player("p1", "100.00")
    await deliver(api, rollback(1, "b1"), "m1")  # before its round: tombstone
    await deliver(api, event(1), "m2")  # nothing settled
    await deliver(api, event(2, win=None), "m3")  # settled ...
    await deliver(api, rollback(2, "b2"), "m4")  # ... so this is too late
    await deliver(api, jackpot(1), "m5")
    assert await run(api) == {"applied": 4, "dead": 1}
    after = await cash_bonus(api)
    assert after == (START - 100 + 5_000, 0)
    first = await errors(api)
    assert api.inbox is not None
    start, end = api.clock() - timedelta(minutes=1), api.clock() + timedelta(minutes=1)
    assert await api.inbox.store.requeue(start=start, end=end, now=api.clock()) == 5
    assert await run(api) == {"applied": 4, "dead": 1}
    assert await cash_bonus(api) == after
    assert await errors(api) == first
    assert_ledger_ok(database_url)


# -- bodies that could stop the worker, events that cannot apply whole ---------------------------


@pytest.mark.parametrize("body", [
    b'{"event_id": "x", "type": "jackpot", "jackpot_id": "\\ud800"}',  # a lone surrogate
    b"[" * 30_000 + b"]" * 30_000,  # nested past the parser's recursion, under 64 KiB
], ids=["surrogate", "deep"])  # fmt: skip
async def test_a_poison_body_is_dead_and_the_delivery_beside_it_applies(
    api: Api, body: bytes
) -> None:
    await api.player("p1", "100.00")
    await deliver(api, body, "m-poison")
    await deliver(api, jackpot(1, "5.00"), "m-good")
    assert await run(api) == {"dead": 1, "applied": 1}
    status, error = (await errors(api))["m-poison"]
    assert (status, (error or "").split(":")[0]) == ("dead", "INVALID_REQUEST")
    assert await cash_bonus(api) == (START + 500, 0)


async def test_a_round_event_with_the_longest_event_id_applies_whole(
    api: Api, database_url: str
) -> None:
    await api.player("p1", "100.00")
    await deliver(api, event(1, event_id="e" * 128), "m1")  # its end-round id is hashed
    assert await run(api) == {"applied": 1}
    assert await cash_bonus(api) == (START - 100 + 250, 0)
    rows = await api.wallet.store.fetch(  # type: ignore[attr-defined]
        "SELECT status FROM rounds WHERE round_ref = 'r1'"
    )
    assert [r[0] for r in rows] == ["closed"]
    assert_ledger_ok(database_url)


@pytest.mark.parametrize("changes", [
    {"win": {"tx_id": "b1", "amount": "2.50"}},  # the win reuses the bet's id
    {"win": {"tx_id": "é" * 100, "amount": "2.50"}},  # 100 characters, 200 bytes
    {"event_id": "e1\n"},  # a pattern's $ lets a final newline through
    {"timestamp": "not a date"},
], ids=["same-id", "win-id-bytes", "newline", "timestamp"])  # fmt: skip
async def test_a_round_event_that_cannot_apply_whole_moves_nothing(
    api: Api, database_url: str, changes: dict[str, Any]
) -> None:
    await api.player("p1", "100.00")
    await deliver(api, event(1, **changes), "m1")
    assert await run(api) == {"dead": 1}
    assert (await errors(api))["m1"][1].startswith("INVALID_REQUEST")  # type: ignore[union-attr]
    assert await cash_bonus(api) == (START, 0)  # the bet was not taken either
    assert_ledger_ok(database_url)


async def test_a_round_event_reusing_the_id_of_a_refused_bet_is_dead_as_a_mismatch(
    api: Api, database_url: str
) -> None:
    """A bet refused on the wallet API (a blocked player) and an event reusing its id in
    another game: not a replay of the refusal, not a bet: dead IDEMPOTENCY_MISMATCH."""
    await api.player("p1", "100.00")
    _, token = await api.session("p1")
    await api.wallet.set_blocked("p1", blocked=True)
    body = {"player_id": "p1", "token": token, "tx_id": "b1", "round_id": "r1",
            "game_code": "dice", "amount": "1.00", "currency": "EUR"}  # fmt: skip
    assert (await api.post("bet", body)).json()["error"]["code"] == "PLAYER_BLOCKED"
    await api.wallet.set_blocked("p1", blocked=False)
    await deliver(api, event(1, game_code="slots"), "m1")
    assert await run(api) == {"dead": 1}
    assert (await errors(api))["m1"][1].startswith("IDEMPOTENCY_MISMATCH")  # type: ignore[union-attr]
    assert await cash_bonus(api) == (START, 0)
    assert_ledger_ok(database_url)
