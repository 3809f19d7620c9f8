"""The inbox worker, on SQLite and PostgreSQL: a stored round event is applied through the
wallet service once (a duplicate storm, a call that came synchronously first, a replay of
the window: never a second settlement); a tentative event moves no money; what can never
apply goes to the dead letters at once; a transient failure is retried with backoff up to
a budget; a worker that dies mid-delivery leaves it to be taken again."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import orjson
import pytest

from croupier.domain import webhooks
from croupier.domain.errors import StorageUnavailable
from croupier.domain.webhook_events import checksum
from tests.e2e.conftest import Api


def event(n: int, *, bet: str = "1.00", win: str | None = "2.50", finalized: bool = True,
          player: str = "p1", **changes: Any) -> dict[str, Any]:  # fmt: skip
    doc: dict[str, Any] = {
        "event_id": f"e{n}", "type": "round", "player_id": player,
        "timestamp": "2026-01-01T12:00:00Z", "round_id": f"r{n}", "round_type": "normal",
        "game_code": "dice", "currency": "EUR", "bet": {"tx_id": f"b{n}", "amount": bet},
        "balance_before": "100.00", "balance_after": "101.50", "finalized": finalized,
    }  # fmt: skip
    if win is not None:
        doc["win"] = {"tx_id": f"w{n}", "amount": win}
    doc |= changes
    doc["checksum"] = checksum(doc)
    return doc


async def deliver(api: Api, doc: dict[str, Any] | bytes, msg_id: str) -> None:
    assert api.inbox is not None
    secrets_ = await api.inbox.store.webhook_secrets("acme")
    secret = secrets_[0] if secrets_ else (await api.inbox.add_secret("acme"))[1]
    body = doc if isinstance(doc, bytes) else orjson.dumps(doc)
    stamp = int(api.clock().timestamp())
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(stamp),
               "webhook-signature": webhooks.sign(secret, msg_id, stamp, body)}  # fmt: skip
    r = await api.http.post("/webhooks/acme", content=body, headers=headers)
    assert r.status_code == 200, r.text


async def states(api: Api) -> list[tuple[str, str, int]]:
    assert api.inbox is not None
    rows = await api.inbox.store.deliveries(status=None, provider=None, limit=100)
    return sorted((str(r["delivery_id"]), str(r["status"]), int(r["attempts"])) for r in rows)  # type: ignore[call-overload]


async def run(api: Api) -> dict[str, int]:
    assert api.inbox_worker is not None
    return await api.inbox_worker.run_once()


async def test_a_round_event_is_applied_bet_then_win(api: Api) -> None:
    await api.player("p1", "100.00")
    await deliver(api, event(1), "m1")
    assert await run(api) == {"applied": 1}
    assert (await api.wallet.balance("p1")).cash == 10_000 - 100 + 250
    assert await states(api) == [("m1", "applied", 1)]
    assert await run(api) == {}  # nothing due


async def test_calls_that_came_synchronously_first_are_replays(api: Api) -> None:
    await api.player("p1", "100.00")
    _, token = await api.session("p1")
    sync = {"player_id": "p1", "token": token, "tx_id": "b1", "round_id": "r1",
            "game_code": "dice", "amount": "1.00", "currency": "EUR"}  # fmt: skip
    assert (await api.post("bet", sync)).status_code == 200
    won = sync | {"tx_id": "w1", "amount": "2.50", "bet_tx_id": "b1", "close_round": True}
    assert (await api.post("win", won)).status_code == 200  # with options an event lacks
    await deliver(api, event(1), "m1")
    assert await run(api) == {"applied": 1}
    assert (await api.wallet.balance("p1")).cash == 10_000 - 100 + 250  # each call once


async def test_a_storm_of_one_delivery_settles_once(api: Api) -> None:
    await api.player("p1", "100.00")
    await asyncio.gather(*(deliver(api, event(1), "m1") for _ in range(100)))
    assert await run(api) == {"applied": 1}
    assert (await api.wallet.balance("p1")).cash == 10_150


async def test_the_same_event_in_two_deliveries_settles_once(api: Api) -> None:
    await api.player("p1", "100.00")
    await deliver(api, event(1), "m1")
    await deliver(api, event(1), "m1-resent-under-a-new-id")
    assert await run(api) == {"applied": 2}
    assert (await api.wallet.balance("p1")).cash == 10_150


async def test_a_tentative_event_moves_no_money_until_finalized(api: Api) -> None:
    await api.player("p1", "100.00")
    await deliver(api, event(1, finalized=False), "m1")
    assert await run(api) == {"held": 1}
    assert (await api.wallet.balance("p1")).cash == 10_000
    await deliver(api, event(1), "m2")
    assert await run(api) == {"applied": 1}
    assert (await api.wallet.balance("p1")).cash == 10_150


@pytest.mark.parametrize("body", [
    b"not json", orjson.dumps({"event_id": "x"}),
    orjson.dumps(event(1) | {"checksum": "0" * 64}),
    orjson.dumps(event(1, bet="1.005")),  # finer than EUR: refused, never rounded
    orjson.dumps(event(1, bet=1.0)),  # a float
])  # fmt: skip
async def test_what_can_never_apply_is_dead_at_once(api: Api, body: bytes) -> None:
    await api.player("p1", "100.00")
    await deliver(api, body, "m1")
    assert await run(api) == {"dead": 1}
    assert await states(api) == [("m1", "dead", 1)]
    assert (await api.wallet.balance("p1")).cash == 10_000


async def test_a_refusal_of_the_wallet_is_dead_with_its_code(api: Api) -> None:
    await api.player("p1", "0.50")
    await deliver(api, event(1), "m1")
    assert await run(api) == {"dead": 1}
    assert api.inbox is not None
    dead = await api.inbox.store.deliveries(status="dead", provider=None, limit=5)
    assert str(dead[0]["last_error"]).startswith("INSUFFICIENT_FUNDS")


async def test_a_transient_failure_is_retried_with_backoff_then_dead(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    await api.player("p1", "100.00")
    await deliver(api, event(1), "m1")

    async def down(*_: object, **__: object) -> None:
        raise StorageUnavailable("the database went away")

    assert api.inbox_worker is not None
    monkeypatch.setattr(api.inbox_worker.wallet, "place_bet", down)
    assert await run(api) == {"retry": 1}
    assert await run(api) == {}  # not due before its backoff (2 s)
    api.clock.advance(2)
    assert await run(api) == {"retry": 1}
    api.clock.advance(3)
    assert await run(api) == {}  # the second wait is 4 s
    api.clock.advance(1)
    assert await run(api) == {"dead": 1}  # the third attempt was the budget's last
    assert await states(api) == [("m1", "dead", 3)]

    monkeypatch.undo()  # the database is back: an operator requeues the dead letter
    assert api.inbox is not None
    assert await api.inbox.store.requeue(ids=[1], now=api.clock()) == 1
    assert await run(api) == {"applied": 1}
    assert (await api.wallet.balance("p1")).cash == 10_150


async def test_a_delivery_whose_worker_died_is_taken_again_after_its_lease(api: Api) -> None:
    await api.player("p1", "100.00")
    await deliver(api, event(1), "m1")
    assert api.inbox is not None
    now = api.clock()
    claimed = await api.inbox.store.claim_deliveries(now, now + timedelta(seconds=60), 10)
    assert [d.delivery_id for d in claimed] == ["m1"]  # ... and the worker dies here
    assert await run(api) == {}  # still leased
    api.clock.advance(61)
    assert await run(api) == {"applied": 1}
    assert (await api.wallet.balance("p1")).cash == 10_150


async def test_replaying_a_window_twice_changes_no_balance(api: Api) -> None:
    await api.player("p1", "100.00")
    for n in range(3):
        await deliver(api, event(n), f"m{n}")
    assert await run(api) == {"applied": 3}
    after = (await api.wallet.balance("p1")).cash
    assert api.inbox is not None
    start, end = api.clock() - timedelta(minutes=1), api.clock() + timedelta(minutes=1)
    for _ in range(2):
        assert await api.inbox.store.requeue(start=start, end=end, now=api.clock()) == 3
        assert await run(api) == {"applied": 3}
        assert (await api.wallet.balance("p1")).cash == after


async def test_workers_sharing_the_queue_process_each_delivery_once(api: Api) -> None:
    """Three workers at once over thirty deliveries (on PostgreSQL each claim skips the rows
    another holds: FOR UPDATE SKIP LOCKED): every delivery applied once, by one of them."""
    await api.player("p1", "100.00")
    for n in range(30):
        await deliver(api, event(n, bet="0.10", win="0.00"), f"m{n}")
    assert api.inbox_worker is not None
    worker = api.inbox_worker
    results = await asyncio.gather(*(worker.run_once(limit=10) for _ in range(3)))
    while any(results[-1].values()):  # whatever a pass left, the next takes
        results.append(await worker.run_once(limit=10))
    assert sum(r.get("applied", 0) for r in results) == 30
    assert {(s, a) for _, s, a in await states(api)} == {("applied", 1)}
    assert (await api.wallet.balance("p1")).cash == 10_000 - 30 * 10


async def test_a_worker_whose_lease_ran_out_does_not_overwrite_the_one_after_it(
    api: Api,
) -> None:
    await api.player("p1", "100.00")
    await deliver(api, event(1), "m1")
    assert api.inbox is not None
    assert api.inbox_worker is not None
    now = api.clock()
    (stale,) = await api.inbox.store.claim_deliveries(now, now + timedelta(seconds=60), 10)
    api.clock.advance(61)
    assert await run(api) == {"applied": 1}  # another worker took it after the lease
    assert await api.inbox_worker._finish(stale, "dead", "late") == "superseded"
    assert await states(api) == [("m1", "applied", 2)]


async def test_a_delivery_that_kills_its_worker_every_time_ends_dead(api: Api) -> None:
    await api.player("p1", "100.00")
    await deliver(api, event(1), "m1")
    assert api.inbox is not None
    for _ in range(3):  # three workers die holding it (the fixture's budget is 3)
        now = api.clock()
        assert await api.inbox.store.claim_deliveries(now, now + timedelta(seconds=60), 10)
        api.clock.advance(61)
    assert await run(api) == {"dead": 1}
    assert (await api.wallet.balance("p1")).cash == 10_000
