"""Calls that overtake each other while one is committing, on both databases.

A bet's commit is held back for a moment (its write is slowed down inside the transaction,
with the wallet locked), and a second call arrives meanwhile. On PostgreSQL that second call
waits for the lock in the statement that also reads the transaction, round and session, so
those reads are older than the bet: the wallet must decide again on fresh reads before it
refuses anything.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from croupier.adapters.db.postgres import PostgresTransaction
from croupier.adapters.db.sqlite import SqliteTransaction
from croupier.domain.sessions import SessionState
from croupier.domain.wallet import TxKind
from croupier.services.ports import Write
from tests.e2e.conftest import Api

HOLD_SECONDS = 0.3


@pytest.fixture
def slow_bets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every bet's write takes HOLD_SECONDS longer, inside its transaction."""
    for cls in (PostgresTransaction, SqliteTransaction):
        original = cls.write

        async def slowed(self: Any, write: Write, *, now: Any, _original: Any = original) -> Any:
            result = await _original(self, write, now=now)
            if write.tx is not None and write.tx.kind is TxKind.BET:
                await asyncio.sleep(HOLD_SECONDS)
            return result

        monkeypatch.setattr(cls, "write", slowed)


def bet(token: str, tx_id: str = "b1", round_id: str = "r1") -> dict[str, Any]:
    return {"player_id": "p1", "token": token, "tx_id": tx_id, "round_id": round_id,
            "game_code": "dice", "amount": "2.00", "currency": "EUR"}  # fmt: skip


async def later(seconds: float, call: Any) -> Any:
    await asyncio.sleep(seconds)
    return await call


async def test_a_win_that_waited_for_its_bet_is_paid(api: Api, slow_bets: None) -> None:
    await api.player("p1", "10.00")
    _, token = await api.session("p1")
    win = {"player_id": "p1", "tx_id": "w1", "round_id": "r1", "game_code": "dice",
           "amount": "5.00", "currency": "EUR", "close_round": True}  # fmt: skip
    placed, paid = await asyncio.gather(
        api.post("bet", bet(token)), later(HOLD_SECONDS / 3, api.post("win", win))
    )
    assert placed.status_code == 200, placed.text
    assert paid.status_code == 200, paid.text
    assert paid.json()["balance"]["cash"] == "13.00"


async def test_a_resent_bet_that_waited_for_its_original_answers_as_it(
    api: Api, slow_bets: None
) -> None:
    """The retry arrives once the token has expired, while the original is committing: it is
    the original's replay, not TOKEN_EXPIRED."""
    await api.player("p1", "10.00")
    _, token = await api.session("p1")

    async def retry() -> Any:
        await asyncio.sleep(HOLD_SECONDS / 3)
        api.clock.advance(901)
        return await api.post("bet", bet(token))

    original, again = await asyncio.gather(api.post("bet", bet(token)), retry())
    assert original.status_code == 200, original.text
    assert again.status_code == 200, again.text
    assert again.json()["transaction"]["replay"] is True
    assert again.json()["balance"]["cash"] == "8.00"


async def test_closing_a_session_while_its_first_bet_commits(api: Api, slow_bets: None) -> None:
    """The close waits for the bet: the session ends pending settlement with the bet's round
    open (never cancelled with money in it), and its activation is on record."""
    await api.player("p1", "10.00")
    session_id, token = await api.session("p1")

    async def close() -> Any:
        await asyncio.sleep(HOLD_SECONDS / 3)
        return await api.sessions.close(session_id, actor="test", reason="player left")

    placed, closed = await asyncio.gather(api.post("bet", bet(token)), close())
    assert placed.status_code == 200, placed.text
    assert closed.state is SessionState.PENDING_SETTLEMENT
    states = [e.to_state for e in await api.sessions.events(session_id)]
    assert states[0] is SessionState.CREATED
    assert SessionState.ACTIVE in states
    assert states[-1] is SessionState.PENDING_SETTLEMENT
    late = await api.post("bet", bet(token, "b2", "r2"))
    assert late.json()["error"]["code"] == "SESSION_CLOSED"
