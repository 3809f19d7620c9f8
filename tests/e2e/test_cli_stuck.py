"""`croupier stuck` as a user runs it, on a SQLite file: nothing stuck on a new database; then
a hold past its expiry, a round and a session left two hours back, and a dead webhook, as
tables (one per category, then the totals) and as JSON. The money is seeded through the
gateway with a clock set hours back."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from croupier.bootstrap import gateway
from croupier.cli import app
from croupier.config import Settings
from croupier.domain.wallet import Bet, Deposit, ReserveHold
from croupier.services import context as call_context

runner = CliRunner()
pytestmark = pytest.mark.skipif(
    not any(c.name == "stuck" for c in app.registered_commands),
    reason="`croupier stuck` is not registered in croupier.cli yet",
)


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    db = f"sqlite:///{tmp_path}/croupier.db"
    monkeypatch.setenv("CROUPIER_DATABASE_URL", db)
    monkeypatch.delenv("CROUPIER_ROUND_TIMEOUT_SECONDS", raising=False)
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    return db


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


async def _seed(db: str) -> None:
    """Two hours back: p1's hold (for an hour), a bet in round r1 outside any session, and a
    session that bets in r2 and is closed (pending_settlement). Then a dead delivery."""
    past = datetime.now(UTC) - timedelta(hours=2)
    async with gateway(Settings(database_url=db)) as gw:
        gw.wallet.clock = lambda: past
        gw.sessions.clock = lambda: past
        await gw.wallet.open_wallet("p1", "EUR")
        await gw.wallet.deposit(
            Deposit(player_id="p1", amount=10_000, currency="EUR", cashier_ref="d1")
        )
        await gw.wallet.reserve_hold(
            ReserveHold(player_id="p1", amount=250, currency="EUR", cashier_ref="h1",
                        expires_in_seconds=3600)
        )  # fmt: skip
        await gw.wallet.place_bet(
            Bet(player_id="p1", amount=400, currency="EUR", provider="acme", tx_id="b1",
                round_id="r1", game_code="dice")
        )  # fmt: skip
        session, _, _ = await gw.sessions.open(provider="acme", player_id="p1", game_code="dice")
        call_context.bind(session_id=session.id)
        try:
            await gw.wallet.place_bet(
                Bet(player_id="p1", amount=100, currency="EUR", provider="acme", tx_id="b2",
                    round_id="r2", game_code="dice")
            )  # fmt: skip
        finally:
            call_context.reset()
        await gw.sessions.close(session.id, actor="operator:test", reason="left")
        await gw.inbox.store.store_delivery("acme", "m1", {}, b"not json", past)
        assert await gw.inbox_worker.run_once() == {"dead": 1}


def test_help() -> None:
    out = invoke("stuck", "--help")
    assert "--json" in out
    assert "--limit" in out
    assert "--database-url" in out


def test_nothing_stuck(url: str) -> None:
    assert "Nothing is stuck" in invoke("stuck")
    data: dict[str, Any] = json.loads(invoke("stuck", "--json"))
    assert data["totals"] == {"holds": {}, "rounds": {}, "sessions": {}, "dead_webhooks": {}}


def test_each_category_as_tables_and_json(url: str) -> None:
    asyncio.run(_seed(url))

    data = json.loads(invoke("stuck", "--json"))
    assert data["totals"] == {
        "holds": {"EUR": {"count": 1, "amount": "2.50"}},
        "rounds": {"EUR": {"count": 2, "amount": "5.00"}},
        "sessions": {"EUR": {"count": 1, "amount": "1.00"}},
        "dead_webhooks": {"?": {"count": 1, "amount": None}},
    }
    assert data["holds"][0]["expired"] is True
    assert data["expired_holds"] == 1
    assert [r["round_id"] for r in data["rounds"]] == ["r1", "r2"]
    assert data["rounds"][0]["age_seconds"] >= 2 * 3600
    assert data["sessions"][0]["open_rounds"] == 1
    assert data["dead_webhooks"][0]["delivery_id"] == "m1"

    out = invoke("stuck")
    for title in ("Open holds", "Rounds with a bet and no result", "pending_settlement",
                  "Dead-lettered webhooks", "Totals"):  # fmt: skip
        assert title in out
    assert "EXPIRED" in out
    assert "sweeper is not running" in out
    assert "2.50 EUR" in out

    limited = json.loads(invoke("stuck", "--json", "--limit", "1"))
    assert [r["round_id"] for r in limited["rounds"]] == ["r1"]
    assert limited["truncated"]["rounds"] is True
    assert "1 of 2 listed" in invoke("stuck", "--limit", "1")
