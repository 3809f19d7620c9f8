"""Round timeouts, on SQLite and PostgreSQL: rounds a provider left open beyond its threshold
are closed, voided or flagged by its policy (the fixture's default: flag after an hour).
Every action is recorded before money moves, once per round and action; a rerun, a second
sweep at the same time or a sweep that died halfway never moves money twice; sessions left in
pending_settlement settle once their round is resolved. Time moves only through ``api.clock``.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from croupier.domain.errors import RoundClosed, StorageUnavailable, TransactionNotFound
from croupier.domain.sessions import SessionState
from croupier.domain.timeouts import JOB_ACTOR, TimeoutAction, TimeoutPolicy, TimeoutRecord
from croupier.domain.wallet import Bet, BonusGrant, EndRound, Rollback, Win
from croupier.jobs.timeouts import resolve_timeouts
from croupier.services.timeouts import TimeoutService, TimeoutStore
from tests.conftest import assert_ledger_ok
from tests.e2e.conftest import Api

S = SessionState
A = TimeoutAction
HOUR = 3600


# -- helpers ---------------------------------------------------------------------------------


def svc(api: Api) -> TimeoutService:
    assert api.timeouts is not None
    return api.timeouts


async def wallet_bet(
    api: Api, round_id: str, tx_id: str, amount: int = 500, *, player: str = "p1",
    provider: str = "acme",
) -> None:  # fmt: skip
    """A bet straight through the wallet service (no session)."""
    await api.wallet.place_bet(
        Bet(player_id=player, amount=amount, currency="EUR", provider=provider, tx_id=tx_id,
            round_id=round_id, game_code="dice")
    )  # fmt: skip


def bet_body(token: str, tx_id: str, round_id: str, amount: str = "5.00") -> dict[str, Any]:
    return {"player_id": "p1", "token": token, "tx_id": tx_id, "round_id": round_id,
            "game_code": "dice", "amount": amount, "currency": "EUR"}  # fmt: skip


async def ok(api: Api, call: str, body: dict[str, Any]) -> dict[str, Any]:
    r = await api.post(call, body)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


async def session_round(
    api: Api, round_id: str, bets: tuple[tuple[str, str], ...] = (("b1", "5.00"),)
) -> tuple[str, str]:
    """A session of p1 that bets in ``round_id`` (signed API), then is closed with the round
    open: pending_settlement. (session id, token)."""
    session_id, token = await api.session("p1")
    for tx_id, amount in bets:
        await ok(api, "bet", bet_body(token, tx_id, round_id, amount))
    closed = await api.sessions.close(session_id, actor="operator:test", reason="player left")
    assert closed.state is S.PENDING_SETTLEMENT
    return session_id, token


async def records(api: Api, round_id: str | None = None) -> list[TimeoutRecord]:
    return list(await svc(api).store.timeout_records(provider=None, round_ref=round_id, limit=100))


async def alerts(api: Api) -> list[dict[str, Any]]:
    r = await api.op("GET", "/alerts?kind=round_timeout")
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def round_status(api: Api, round_id: str, provider: str = "acme") -> str:
    rows = await api.gateway_store.db.fetch(
        "SELECT status FROM rounds WHERE scope = $1 AND round_ref = $2",
        f"provider:{provider}",
        round_id,
    )
    assert len(rows) == 1
    return str(rows[0][0])


async def moves(api: Api, reference: str) -> int:
    """Accepted wallet transactions under this id."""
    rows = await api.gateway_store.db.fetch(
        "SELECT count(*) FROM wallet_transactions WHERE reference = $1 AND status = 'ok'",
        reference,
    )
    return int(rows[0][0])


async def balances(api: Api, player: str = "p1") -> tuple[int, int]:
    b = await api.wallet.balance(player)
    return b.cash, b.bonus


async def state(api: Api, session_id: str) -> SessionState:
    return (await api.sessions.get(session_id)).state


def counted(api: Api, action: str) -> float:
    value = api.metrics.registry.get_sample_value(
        "croupier_round_timeouts_total", {"action": action}
    )
    return value or 0.0


def stuck_gauge(api: Api, provider: str) -> float | None:
    return api.metrics.registry.get_sample_value("croupier_stuck_sessions", {"provider": provider})


def flaky(real: Any, error: Exception) -> Any:
    """``real``, failing once with ``error`` before doing anything."""
    calls = {"n": 0}

    async def call(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise error
        return await real(*args, **kwargs)

    return call


# -- the threshold ---------------------------------------------------------------------------


async def test_nothing_happens_before_the_threshold(api: Api, database_url: str) -> None:
    await api.player("p1", "100.00")
    await svc(api).set_policy("acme", TimeoutPolicy(1800, A.CLOSE))
    await wallet_bet(api, "r1", "b1", provider="acme")
    await wallet_bet(api, "r2", "b2", provider="zeta")  # the default: flag after an hour

    api.clock.advance(1799)
    report = await svc(api).sweep()
    assert (report.actions, report.total) == ({}, 0)
    assert await records(api) == []
    assert await alerts(api) == []
    assert await round_status(api, "r1") == "open"
    assert await moves(api, "timeout:close:r1") == 0
    assert counted(api, "close") == counted(api, "flag") == 0

    api.clock.advance(2)  # acme's 30 min passed; the default's hour not yet
    assert (await svc(api).sweep()).actions == {"close": 1}
    assert await round_status(api, "r1") == "closed"
    assert await round_status(api, "r2", "zeta") == "open"
    api.clock.advance(1798)  # 3599 s
    assert (await svc(api).sweep()).total == 0
    assert await records(api, "r2") == []
    assert await balances(api) == (9000, 0)

    api.clock.advance(2)
    assert (await svc(api).sweep()).actions == {"flag": 1}
    assert {(r.provider, r.round_ref, r.action) for r in await records(api)} == {
        ("acme", "r1", A.CLOSE),
        ("zeta", "r2", A.FLAG),
    }
    assert counted(api, "close") == counted(api, "flag") == 1
    assert_ledger_ok(database_url)


# -- the default: flag -----------------------------------------------------------------------


async def test_a_flagged_round_moves_no_money_alerts_once_and_waits_for_a_person(
    api: Api, database_url: str
) -> None:
    await api.player("p1", "100.00")
    session_id, _ = await session_round(api, "r1")
    assert await balances(api) == (9500, 0)
    opened = api.clock()

    api.clock.advance(HOUR + 1)
    report = await svc(api).sweep()
    assert report.actions == {"flag": 1}
    assert report.stuck_sessions == {"acme": 1}
    assert await balances(api) == (9500, 0)
    assert await round_status(api, "r1") == "open"
    [record] = await records(api, "r1")
    assert (record.provider, record.player_id, record.action) == ("acme", "p1", A.FLAG)
    assert (record.actor, record.tx_refs) == (JOB_ACTOR, ())
    assert (record.opened_at, record.at) == (opened, api.clock())
    assert "open beyond 3600s" in record.reason
    [alert] = await alerts(api)
    assert (alert["provider"], alert["player_id"]) == ("acme", "p1")
    assert {k: alert["detail"][k] for k in ("round_id", "action", "actor", "sessions")} == {
        "round_id": "r1",
        "action": "flag",
        "actor": JOB_ACTOR,
        "sessions": [session_id],
    }
    assert alert["detail"]["transactions"] == []
    flagged, stuck = await svc(api).awaiting_review()
    assert [(r.provider, r.round_ref, r.bets_live, r.win_count) for r in flagged] == [
        ("acme", "r1", 1, 0)
    ]
    assert [(s.id, s.provider, s.player_id) for s in stuck] == [(session_id, "acme", "p1")]
    assert counted(api, "flag") == 1

    api.clock.advance(600)  # flagged rounds are not picked again
    assert (await svc(api).sweep()).actions == {}
    assert len(await records(api, "r1")) == 1
    assert len(await alerts(api)) == 1
    assert counted(api, "flag") == 1
    assert await state(api, session_id) is S.PENDING_SETTLEMENT
    assert await api.sessions.sweep() == {}  # its round is still open

    done = await svc(api).resolve(
        "acme", "r1", A.CLOSE, actor="ops:alice", reason="provider confirmed a loss"
    )
    assert (done.action, done.actor) == (A.CLOSE, "ops:alice")
    assert "provider confirmed a loss" in done.reason
    assert done.tx_refs == ("timeout:close:r1",)
    assert await round_status(api, "r1") == "closed"
    assert await moves(api, "timeout:close:r1") == 1
    assert await balances(api) == (9500, 0)  # a close keeps the stake
    assert [(r.action, r.actor) for r in await records(api, "r1")] == [
        (A.CLOSE, "ops:alice"),
        (A.FLAG, JOB_ACTOR),
    ]
    assert [(a["detail"]["action"], a["detail"]["actor"]) for a in await alerts(api)] == [
        ("close", "ops:alice"),
        ("flag", JOB_ACTOR),
    ]
    flagged, stuck = await svc(api).awaiting_review()
    assert flagged == []
    assert [s.id for s in stuck] == [session_id]  # until the sessions job settles it
    assert await api.sessions.sweep() == {"settled": 1}
    assert await state(api, session_id) is S.SETTLED
    assert await svc(api).awaiting_review() == ([], [])
    assert (await svc(api).sweep()).stuck_sessions == {}
    assert_ledger_ok(database_url)


async def test_a_flagged_round_voided_by_hand_refunds_its_stakes(
    api: Api, database_url: str
) -> None:
    await api.player("p1", "100.00")
    session_id, _ = await session_round(api, "r1", (("b1", "5.00"), ("b2", "2.50")))
    assert await balances(api) == (9250, 0)
    api.clock.advance(HOUR + 1)
    assert (await svc(api).sweep()).actions == {"flag": 1}

    done = await svc(api).resolve("acme", "r1", A.VOID, actor="ops:bob", reason="game crashed")
    assert (done.action, done.actor) == (A.VOID, "ops:bob")
    assert done.tx_refs == ("timeout:void:b1", "timeout:void:b2", "timeout:close:r1")
    assert await balances(api) == (10_000, 0)
    assert await round_status(api, "r1") == "closed"
    for ref in done.tx_refs:
        assert await moves(api, ref) == 1
    assert [(r.action, r.actor) for r in await records(api, "r1")] == [
        (A.VOID, "ops:bob"),
        (A.FLAG, JOB_ACTOR),
    ]
    assert await api.sessions.sweep() == {"reversed": 1}
    assert await state(api, session_id) is S.REVERSED
    with pytest.raises(TransactionNotFound):  # closed now: nothing left to resolve
        await svc(api).resolve("acme", "r1", A.VOID, actor="ops:bob", reason="again")
    assert await balances(api) == (10_000, 0)
    assert_ledger_ok(database_url)


async def test_resolve_refuses_flag_unknown_and_closed_rounds(api: Api) -> None:
    await api.player("p1", "100.00")
    await wallet_bet(api, "r1", "b1")
    with pytest.raises(RoundClosed):
        await svc(api).resolve("acme", "r1", A.FLAG, actor="ops:x", reason="look")
    with pytest.raises(TransactionNotFound):
        await svc(api).resolve("acme", "nope", A.CLOSE, actor="ops:x", reason="typo")
    with pytest.raises(TransactionNotFound):  # the round is another provider's
        await svc(api).resolve("zeta", "r1", A.CLOSE, actor="ops:x", reason="wrong provider")
    await api.wallet.end_round(
        EndRound(player_id="p1", currency="EUR", provider="acme", tx_id="e1", round_id="r1",
                 game_code="dice")
    )  # fmt: skip
    with pytest.raises(TransactionNotFound):
        await svc(api).resolve("acme", "r1", A.VOID, actor="ops:x", reason="too late")
    assert await records(api) == []
    assert await balances(api) == (9500, 0)


# -- policies --------------------------------------------------------------------------------


async def test_a_close_policy_ends_the_round_keeps_the_stake_and_the_session_settles(
    api: Api, database_url: str
) -> None:
    await api.player("p1", "100.00")
    await svc(api).set_policy("acme", TimeoutPolicy(1800, A.CLOSE))
    assert await svc(api).policies() == {"acme": TimeoutPolicy(1800, A.CLOSE)}
    session_id, _ = await session_round(api, "r1")

    api.clock.advance(1801)
    report = await svc(api).sweep()
    assert report.actions == {"close": 1}
    assert await round_status(api, "r1") == "closed"
    assert await balances(api) == (9500, 0)
    assert await moves(api, "timeout:close:r1") == 1
    [record] = await records(api, "r1")
    assert (record.action, record.actor) == (A.CLOSE, JOB_ACTOR)
    assert record.tx_refs == ("timeout:close:r1",)
    assert "open beyond 1800s" in record.reason
    [alert] = await alerts(api)
    assert alert["detail"]["action"] == "close"
    assert alert["detail"]["transactions"] == ["timeout:close:r1"]
    assert alert["detail"]["sessions"] == [session_id]
    assert counted(api, "close") == 1

    assert await api.sessions.sweep() == {"settled": 1}
    assert await state(api, session_id) is S.SETTLED
    assert (await svc(api).sweep()).total == 0  # closed: not picked again
    assert len(await records(api)) == 1
    assert counted(api, "close") == 1
    assert_ledger_ok(database_url)


async def test_a_void_policy_refunds_cash_and_bonus_exactly_and_the_session_is_reversed(
    api: Api, database_url: str
) -> None:
    await api.player("p1", "3.00")
    await api.wallet.grant_bonus(
        BonusGrant(player_id="p1", amount=500, currency="EUR", cashier_ref="bonus-1")
    )
    await svc(api).set_policy("acme", TimeoutPolicy(600, A.VOID))
    session_id, token = await api.session("p1")
    first = await ok(api, "bet", bet_body(token, "b1", "r1", "2.00"))
    second = await ok(api, "bet", bet_body(token, "b2", "r1", "4.00"))
    assert first["transaction"]["cash_amount"] == "2.00"
    assert (second["transaction"]["cash_amount"], second["transaction"]["bonus_amount"]) == (
        "1.00",
        "3.00",
    )
    await ok(api, "bet", bet_body(token, "b3", "r1", "1.00"))  # bonus only
    await ok(api, "rollback", {"player_id": "p1", "tx_id": "rb3", "bet_tx_id": "b3",
                               "currency": "EUR"})  # fmt: skip  # the provider's own
    assert await balances(api) == (0, 200)
    await api.sessions.close(session_id, actor="operator:test", reason="player left")
    assert await state(api, session_id) is S.PENDING_SETTLEMENT

    api.clock.advance(601)
    assert (await svc(api).sweep()).actions == {"void": 1}
    assert await balances(api) == (300, 500)  # exactly as before the round
    assert await round_status(api, "r1") == "closed"
    [record] = await records(api, "r1")
    assert (record.action, record.actor) == (A.VOID, JOB_ACTOR)
    assert {"timeout:void:b1", "timeout:void:b2", "timeout:close:r1"} <= set(record.tx_refs)
    assert record.tx_refs[-1] == "timeout:close:r1"
    assert await moves(api, "timeout:void:b1") == 1
    assert await moves(api, "timeout:void:b2") == 1
    assert [a["detail"]["action"] for a in await alerts(api)] == ["void"]
    assert counted(api, "void") == 1

    assert await api.sessions.sweep() == {"reversed": 1}
    assert await state(api, session_id) is S.REVERSED
    assert (await svc(api).sweep()).total == 0
    assert await balances(api) == (300, 500)
    assert_ledger_ok(database_url)


async def test_a_void_of_a_round_that_paid_a_win_is_flagged_and_moves_no_money(
    api: Api, database_url: str
) -> None:
    await api.player("p1", "100.00")
    await svc(api).set_policy("acme", TimeoutPolicy(600, A.VOID))
    session_id, token = await api.session("p1")
    await ok(api, "bet", bet_body(token, "b1", "r1", "5.00"))
    await ok(api, "win", {"player_id": "p1", "tx_id": "w1", "round_id": "r1", "game_code": "dice",
                          "amount": "2.00", "currency": "EUR", "close_round": False})  # fmt: skip
    await api.sessions.close(session_id, actor="operator:test", reason="player left")
    assert await balances(api) == (9700, 0)

    api.clock.advance(601)
    report = await svc(api).sweep()
    assert report.actions == {"flag": 1}
    assert report.stuck_sessions == {"acme": 1}  # the provider's 10 min apply to its sessions
    assert await balances(api) == (9700, 0)
    assert await round_status(api, "r1") == "open"
    assert await moves(api, "timeout:void:b1") == 0
    [record] = await records(api, "r1")
    assert (record.action, record.tx_refs) == (A.FLAG, ())
    assert "paid a win" in record.reason
    assert [a["detail"]["action"] for a in await alerts(api)] == ["flag"]
    flagged, _ = await svc(api).awaiting_review()
    assert [(r.round_ref, r.win_count) for r in flagged] == [("r1", 1)]
    assert await state(api, session_id) is S.PENDING_SETTLEMENT

    with pytest.raises(RoundClosed):  # a void would take the win back: refused
        await svc(api).resolve("acme", "r1", A.VOID, actor="ops:x", reason="void it")
    assert await balances(api) == (9700, 0)
    assert len(await records(api, "r1")) == 1
    await svc(api).resolve("acme", "r1", A.CLOSE, actor="ops:x", reason="win stands")
    assert await balances(api) == (9700, 0)
    assert await api.sessions.sweep() == {"settled": 1}
    assert_ledger_ok(database_url)


async def test_each_provider_has_its_own_threshold(api: Api, database_url: str) -> None:
    await api.player("p1", "100.00")
    await svc(api).set_policy("acme", TimeoutPolicy(1800, A.CLOSE))
    await svc(api).set_policy("slow", TimeoutPolicy(2 * HOUR, A.CLOSE))
    await wallet_bet(api, "r1", "b1", provider="acme")
    await wallet_bet(api, "r2", "b2", provider="zeta")  # the default: flag after an hour
    await wallet_bet(api, "r3", "b3", provider="slow")

    api.clock.advance(1801)
    assert (await svc(api).sweep()).actions == {"close": 1}
    assert await round_status(api, "r1", "acme") == "closed"
    assert await round_status(api, "r2", "zeta") == "open"
    assert await records(api, "r2") == []

    api.clock.advance(1800)  # 1 h 1 s: the default's hour, not slow's two
    assert (await svc(api).sweep()).actions == {"flag": 1}
    assert [(r.provider, r.action) for r in await records(api, "r2")] == [("zeta", A.FLAG)]
    assert await round_status(api, "r3", "slow") == "open"
    assert await records(api, "r3") == []

    api.clock.advance(HOUR)
    assert (await svc(api).sweep()).actions == {"close": 1}
    assert await round_status(api, "r3", "slow") == "closed"
    assert await round_status(api, "r2", "zeta") == "open"  # flagged: waits for a person

    await svc(api).set_policy("slow", None)  # back to the default
    assert await svc(api).policies() == {"acme": TimeoutPolicy(1800, A.CLOSE)}
    assert await balances(api) == (8500, 0)
    assert_ledger_ok(database_url)


# -- concurrency and crashes -----------------------------------------------------------------


async def two_sweeps_setup(api: Api) -> None:
    await api.player("p1", "100.00")
    await svc(api).set_policy("acme", TimeoutPolicy(600, A.CLOSE))
    await svc(api).set_policy("beta", TimeoutPolicy(600, A.VOID))
    await wallet_bet(api, "r1", "b1", provider="acme")
    await wallet_bet(api, "r2", "b2", provider="beta")
    await wallet_bet(api, "r3", "b3", provider="zeta")
    api.clock.advance(HOUR + 1)


async def test_two_sweeps_at_once_move_money_once_and_record_once(
    api: Api, database_url: str
) -> None:
    await two_sweeps_setup(api)
    first, second = await asyncio.gather(svc(api).sweep(), svc(api).sweep())
    assert first.total + second.total >= 3

    assert await balances(api) == (9000, 0)  # r2's stake back, r1's kept, r3's untouched
    for ref in ("timeout:close:r1", "timeout:void:b2", "timeout:close:r2"):
        assert await moves(api, ref) == 1, ref
    assert await round_status(api, "r1", "acme") == "closed"
    assert await round_status(api, "r2", "beta") == "closed"
    assert await round_status(api, "r3", "zeta") == "open"
    assert sorted((r.provider, r.round_ref, r.action) for r in await records(api)) == [
        ("acme", "r1", A.CLOSE),
        ("beta", "r2", A.VOID),
        ("zeta", "r3", A.FLAG),
    ]
    assert sorted(a["detail"]["action"] for a in await alerts(api)) == ["close", "flag", "void"]
    assert (await svc(api).sweep()).total == 0
    assert_ledger_ok(database_url)


class Overlapping:
    """A replica's store that, for each query of open rounds, waits until the other replica
    has run the same query: both find the same rounds before either acts on them."""

    def __init__(self, store: Any, barriers: dict[int, asyncio.Barrier]) -> None:
        self._store = store
        self._barriers = barriers
        self._calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def open_rounds(self, **kwargs: Any) -> Any:
        found = await self._store.open_rounds(**kwargs)
        self._calls += 1
        barrier = self._barriers.setdefault(self._calls, asyncio.Barrier(2))
        await asyncio.wait_for(barrier.wait(), 10)
        return found


def replicas(api: Api) -> tuple[TimeoutService, TimeoutService]:
    """Two timeout jobs on the fixture's database, wallet, alerts and metrics."""
    barriers: dict[int, asyncio.Barrier] = {}
    base = svc(api)

    def replica() -> TimeoutService:
        store = cast(TimeoutStore, Overlapping(base.store, barriers))
        return TimeoutService(
            store, base.wallet, default=base.default, clock=base.clock, alerts=base.alerts,
            observe=base.observe,
        )  # fmt: skip

    return replica(), replica()


async def test_two_replicas_that_found_the_same_rounds_act_once(
    api: Api, database_url: str
) -> None:
    await two_sweeps_setup(api)
    one, two = replicas(api)
    first, second = await asyncio.gather(one.sweep(), two.sweep())
    # each found all three rounds; each action is counted by the replica that did it
    both = {
        k: first.actions.get(k, 0) + second.actions.get(k, 0) for k in ("close", "void", "flag")
    }
    assert both == {"close": 1, "void": 1, "flag": 1}

    assert await balances(api) == (9000, 0)
    for ref in ("timeout:close:r1", "timeout:void:b2", "timeout:close:r2"):
        assert await moves(api, ref) == 1, ref
    assert sorted((r.provider, r.round_ref, r.action) for r in await records(api)) == [
        ("acme", "r1", A.CLOSE),
        ("beta", "r2", A.VOID),
        ("zeta", "r3", A.FLAG),
    ]
    assert sorted(a["detail"]["action"] for a in await alerts(api)) == ["close", "flag", "void"]
    assert_ledger_ok(database_url)


async def test_two_replicas_count_each_action_once(api: Api) -> None:
    await two_sweeps_setup(api)
    one, two = replicas(api)
    first, second = await asyncio.gather(one.sweep(), two.sweep())
    assert len(await records(api)) == 3
    assert (counted(api, "close"), counted(api, "void"), counted(api, "flag")) == (1, 1, 1)
    assert first.total + second.total == 3


async def test_a_sweep_that_dies_after_the_record_is_finished_by_the_next(
    api: Api, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await api.player("p1", "100.00")
    await svc(api).set_policy("acme", TimeoutPolicy(600, A.CLOSE))
    session_id, _ = await session_round(api, "r1")
    api.clock.advance(601)
    monkeypatch.setattr(
        api.wallet, "end_round", flaky(api.wallet.end_round, StorageUnavailable("db restarting"))
    )

    # the round is left for the next pass, logged and counted
    assert (await svc(api).sweep()).failed == 1
    [record] = await records(api, "r1")  # recorded, but no money moved yet
    assert record.action is A.CLOSE
    assert await round_status(api, "r1") == "open"
    assert await moves(api, "timeout:close:r1") == 0

    api.clock.advance(60)
    assert (await svc(api).sweep()).actions == {"close": 1}
    assert await round_status(api, "r1") == "closed"
    assert await moves(api, "timeout:close:r1") == 1
    assert [r.action for r in await records(api, "r1")] == [A.CLOSE]  # still one
    assert await balances(api) == (9500, 0)
    assert counted(api, "close") == 1
    assert await api.sessions.sweep() == {"settled": 1}
    assert await state(api, session_id) is S.SETTLED
    assert_ledger_ok(database_url)


async def test_the_job_retries_a_retryable_failure_at_its_next_pass(
    api: Api, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await api.player("p1", "100.00")
    await svc(api).set_policy("acme", TimeoutPolicy(600, A.VOID))
    await wallet_bet(api, "r1", "b1", 300)
    await wallet_bet(api, "r1", "b2", 200)
    api.clock.advance(601)
    monkeypatch.setattr(
        api.wallet, "rollback", flaky(api.wallet.rollback, StorageUnavailable("db restarting"))
    )
    stop = asyncio.Event()

    assert await resolve_timeouts(svc(api), interval=0, stop=stop, once=True) == 0
    assert [r.action for r in await records(api, "r1")] == [A.VOID]
    assert await balances(api) == (9500, 0)
    assert await resolve_timeouts(svc(api), interval=0, stop=stop, once=True) == 1
    assert await balances(api) == (10_000, 0)
    assert await round_status(api, "r1") == "closed"
    assert [r.action for r in await records(api, "r1")] == [A.VOID]
    for ref in ("timeout:void:b1", "timeout:void:b2", "timeout:close:r1"):
        assert await moves(api, ref) == 1
    assert await resolve_timeouts(svc(api), interval=0, stop=stop, once=True) == 0
    assert_ledger_ok(database_url)


async def test_a_void_that_died_before_its_close_is_finished_as_the_same_void(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    await api.player("p1", "100.00")
    await svc(api).set_policy("acme", TimeoutPolicy(600, A.VOID))
    await wallet_bet(api, "r1", "b1")
    api.clock.advance(601)
    monkeypatch.setattr(
        api.wallet, "end_round", flaky(api.wallet.end_round, StorageUnavailable("db restarting"))
    )
    assert (await svc(api).sweep()).failed == 1
    assert await balances(api) == (10_000, 0)  # the stake came back before the crash

    await svc(api).sweep()
    assert await round_status(api, "r1") == "closed"
    assert await balances(api) == (10_000, 0)
    assert [r.action for r in await records(api, "r1")] == [A.VOID]
    assert [a["detail"]["action"] for a in await alerts(api)] == ["void"]


async def test_a_close_finished_after_a_crash_is_still_alerted(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    await api.player("p1", "100.00")
    await svc(api).set_policy("acme", TimeoutPolicy(600, A.CLOSE))
    await wallet_bet(api, "r1", "b1")
    api.clock.advance(601)
    monkeypatch.setattr(
        api.wallet, "end_round", flaky(api.wallet.end_round, StorageUnavailable("db restarting"))
    )
    assert (await svc(api).sweep()).failed == 1
    await svc(api).sweep()
    assert await round_status(api, "r1") == "closed"
    assert [a["detail"]["action"] for a in await alerts(api)] == ["close"]


async def test_a_win_between_the_record_and_the_rollback_turns_the_void_into_a_flag(
    api: Api, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await api.player("p1", "100.00")
    await svc(api).set_policy("acme", TimeoutPolicy(600, A.VOID))
    await wallet_bet(api, "r1", "b1")
    api.clock.advance(601)
    real = api.wallet.rollback

    async def win_first(cmd: Rollback, **kwargs: Any) -> Any:
        await api.wallet.settle_win(
            Win(player_id="p1", amount=800, currency="EUR", provider="acme", tx_id="w1",
                round_id="r1", game_code="dice")
        )  # fmt: skip
        return await real(cmd, **kwargs)

    monkeypatch.setattr(api.wallet, "rollback", win_first)
    assert (await svc(api).sweep()).actions == {"flag": 1}
    assert await balances(api) == (10_300, 0)  # the win paid, the stake not refunded
    assert await round_status(api, "r1") == "open"
    assert await moves(api, "timeout:void:b1") == 0
    assert [r.action for r in await records(api, "r1")] == [A.FLAG, A.VOID]
    assert "BET_ALREADY_SETTLED" in (await records(api, "r1"))[0].reason
    flagged, _ = await svc(api).awaiting_review()
    assert [r.round_ref for r in flagged] == ["r1"]
    assert_ledger_ok(database_url)


async def test_ids_at_the_length_limit_give_valid_transaction_ids(
    api: Api, database_url: str
) -> None:
    await api.player("p1", "100.00")
    await svc(api).set_policy("acme", TimeoutPolicy(600, A.VOID))
    round_id, bet_id = "r" * 128, "b" * 128
    await wallet_bet(api, round_id, bet_id)
    api.clock.advance(601)
    assert (await svc(api).sweep()).actions == {"void": 1}
    [record] = await records(api, round_id)
    assert all(len(ref.encode()) <= 128 for ref in record.tx_refs)
    assert [ref.startswith(("timeout:void:sha256:", "timeout:close:sha256:"))
            for ref in record.tx_refs] == [True, True]  # fmt: skip
    assert await balances(api) == (10_000, 0)
    assert await round_status(api, round_id) == "closed"
    assert_ledger_ok(database_url)


async def test_a_non_ascii_round_id_at_the_limit_is_closed(api: Api) -> None:
    await api.player("p1", "100.00")
    await svc(api).set_policy("acme", TimeoutPolicy(600, A.CLOSE))
    round_id = "ü" * 64  # 128 bytes: accepted by the wallet
    await wallet_bet(api, round_id, "b1")
    api.clock.advance(601)
    assert (await svc(api).sweep()).actions == {"close": 1}
    assert await round_status(api, round_id) == "closed"


# -- after the action ------------------------------------------------------------------------


async def test_calls_that_arrive_after_a_timeout_are_refused(api: Api, database_url: str) -> None:
    await api.player("p1", "100.00")
    await svc(api).set_policy("acme", TimeoutPolicy(600, A.CLOSE))
    await svc(api).set_policy("beta", TimeoutPolicy(600, A.VOID))
    session_id, _ = await session_round(api, "r1")
    await wallet_bet(api, "r2", "b2", provider="beta")
    api.clock.advance(601)
    assert (await svc(api).sweep()).actions == {"close": 1, "void": 1}
    assert await balances(api) == (9500, 0)

    late = {"player_id": "p1", "tx_id": "w1", "round_id": "r1", "game_code": "dice",
            "amount": "50.00", "currency": "EUR", "close_round": True}  # fmt: skip
    r = await api.post("win", late)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "ROUND_CLOSED"), r.text
    r = await api.post("rollback", {"player_id": "p1", "tx_id": "rb1", "bet_tx_id": "b1",
                                    "currency": "EUR"})  # fmt: skip
    assert r.json()["error"]["code"] == "BET_ALREADY_SETTLED", r.text
    with pytest.raises(RoundClosed):
        await api.wallet.settle_win(
            Win(player_id="p1", amount=5000, currency="EUR", provider="acme", tx_id="w1b",
                round_id="r1", game_code="dice")
        )  # fmt: skip
    with pytest.raises(RoundClosed):  # a late bet on the voided round
        await wallet_bet(api, "r2", "b2-late", provider="beta")
    assert await balances(api) == (9500, 0)
    assert await api.sessions.sweep() == {"settled": 1}
    assert await state(api, session_id) is S.SETTLED
    assert_ledger_ok(database_url)


async def test_a_flagged_round_the_provider_finishes_itself_leaves_the_review_list(
    api: Api, database_url: str
) -> None:
    await api.player("p1", "100.00")
    session_id, _ = await session_round(api, "r1")
    api.clock.advance(HOUR + 1)
    assert (await svc(api).sweep()).actions == {"flag": 1}
    late = {"player_id": "p1", "tx_id": "w1", "round_id": "r1", "game_code": "dice",
            "amount": "12.00", "currency": "EUR", "close_round": True}  # fmt: skip
    await ok(api, "win", late)  # a flag moved no money and closed nothing: the win is paid
    assert await balances(api) == (10_700, 0)
    assert await round_status(api, "r1") == "closed"
    assert await api.sessions.sweep() == {"settled": 1}
    assert await svc(api).awaiting_review() == ([], [])
    with pytest.raises(TransactionNotFound):
        await svc(api).resolve("acme", "r1", A.CLOSE, actor="ops:x", reason="too late")
    assert [r.action for r in await records(api, "r1")] == [A.FLAG]
    assert await state(api, session_id) is S.SETTLED
    assert_ledger_ok(database_url)


async def test_stuck_sessions_are_counted_per_provider_threshold(
    api: Api, database_url: str
) -> None:
    await api.player("p1", "100.00")
    await svc(api).set_policy("acme", TimeoutPolicy(1800, A.FLAG))
    first, _ = await session_round(api, "r1")
    second, _ = await session_round(api, "r2", (("b2", "1.00"),))
    api.clock.advance(1000)
    await session_round(api, "r3", (("b3", "1.00"),))

    api.clock.advance(801)  # first and second 1801 s in pending_settlement, third 801 s
    report = await svc(api).sweep()
    assert report.stuck_sessions == {"acme": 2}
    assert stuck_gauge(api, "acme") == 2
    _, stuck = await svc(api).awaiting_review()
    assert {s.id for s in stuck} == {first, second}
    # r1 and r2 are flagged now; r3 (opened 801 s ago) is not
    assert report.actions == {"flag": 2}

    api.clock.advance(1000)
    assert (await svc(api).sweep()).stuck_sessions == {"acme": 3}
    assert stuck_gauge(api, "acme") == 3

    for round_id in ("r1", "r2", "r3"):
        await svc(api).resolve("acme", round_id, A.CLOSE, actor="ops:x", reason="cleanup")
    assert await api.sessions.sweep() == {"settled": 3}
    assert (await svc(api).sweep()).stuck_sessions == {}
    assert stuck_gauge(api, "acme") == 0  # set back to 0, not left at 3
    assert_ledger_ok(database_url)


async def test_a_bet_that_comes_during_a_void_is_refunded_too(
    api: Api, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The void looks for bets once more after its rollbacks: one placed meanwhile is
    refunded as well, never kept as a loss."""
    await api.player("p1", "100.00")
    await svc(api).set_policy("acme", TimeoutPolicy(600, A.VOID))
    await wallet_bet(api, "r1", "b1", 300)
    api.clock.advance(601)
    real = svc(api).store.live_bets
    looks = 0

    async def live_bets(*args: Any) -> Any:
        nonlocal looks
        listed = await real(*args)
        looks += 1
        if looks == 1:  # listed: now another replica takes a second bet
            await wallet_bet(api, "r1", "b2", 200)
        return listed

    monkeypatch.setattr(svc(api).store, "live_bets", live_bets)
    assert (await svc(api).sweep()).actions == {"void": 1}
    assert await balances(api) == (10_000, 0)
    assert await round_status(api, "r1") == "closed"
    assert await moves(api, "timeout:void:b2") == 1
    assert_ledger_ok(database_url)


async def test_a_bet_that_comes_just_before_the_close_of_a_void_is_flagged(
    api: Api, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await api.player("p1", "100.00")
    await svc(api).set_policy("acme", TimeoutPolicy(600, A.VOID))
    await wallet_bet(api, "r1", "b1", 300)
    api.clock.advance(601)
    real = api.wallet.end_round

    async def end_round(cmd: EndRound, **kw: Any) -> Any:
        await wallet_bet(api, "r1", "b2", 200)  # after the last look, before the close
        return await real(cmd, **kw)

    monkeypatch.setattr(api.wallet, "end_round", end_round)
    await svc(api).sweep()
    assert await balances(api) == (10_000 - 200, 0)  # b2 stands: a person must look at it
    assert [r.action for r in await records(api, "r1")] == [A.FLAG, A.VOID]
    assert "arrived while the round was voided" in (await records(api, "r1"))[0].reason
    assert sorted(a["detail"]["action"] for a in await alerts(api)) == ["flag", "void"]
    assert_ledger_ok(database_url)


async def test_an_alert_that_cannot_be_stored_neither_undoes_nor_stops_the_pass(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    await api.player("p1", "100.00")
    await svc(api).set_policy("acme", TimeoutPolicy(600, A.CLOSE))
    await wallet_bet(api, "r1", "b1")
    await wallet_bet(api, "r2", "b2")
    api.clock.advance(601)
    assert api.alerts is not None
    monkeypatch.setattr(
        api.alerts, "record", flaky(api.alerts.record, StorageUnavailable("alerts table"))
    )
    report = await svc(api).sweep()
    assert (report.actions, report.failed) == ({"close": 2}, 0)
    assert (await round_status(api, "r1"), await round_status(api, "r2")) == ("closed", "closed")
    assert counted(api, "close") == 2
