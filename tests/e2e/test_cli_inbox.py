"""`croupier webhooks` and `croupier inbox` as a user runs them: a secret shown once, a signed
delivery stored by the app, applied by `croupier run --once`, listed, dead letters requeued,
a window replayed without a second settlement."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from croupier.bootstrap import gateway
from croupier.cli import app
from croupier.config import Settings
from croupier.domain import webhooks
from croupier.domain.wallet import Deposit
from croupier.domain.webhook_events import checksum

runner = CliRunner()


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    db = f"sqlite:///{tmp_path}/croupier.db"
    monkeypatch.setenv("CROUPIER_DATABASE_URL", db)
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    return db


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def round_event(n: int, bet: str) -> bytes:
    doc = {"event_id": f"e{n}", "type": "round", "player_id": "p1",
           "timestamp": "2026-01-01T12:00:00Z", "round_id": f"r{n}", "round_type": "normal",
           "game_code": "dice", "currency": "EUR", "bet": {"tx_id": f"b{n}", "amount": bet},
           "win": {"tx_id": f"w{n}", "amount": "0.00"}, "balance_before": "10.00",
           "balance_after": "9.00", "finalized": True}  # fmt: skip
    doc["checksum"] = checksum(doc)
    return orjson.dumps(doc)


async def receive(db: str, secret: str, bodies: list[bytes]) -> None:
    """A funded player, and the deliveries as the app receives them."""
    async with gateway(Settings(database_url=db)) as gw:
        await gw.wallet.open_wallet("p1", "EUR")
        await gw.wallet.deposit(Deposit(player_id="p1", amount=1000, currency="EUR",
                                        cashier_ref="d1"))  # fmt: skip
        for n, body in enumerate(bodies):
            stamp = int(datetime.now(UTC).timestamp())
            signature = webhooks.sign(secret, f"m{n}", stamp, body)
            headers = {"webhook-id": f"m{n}", "webhook-timestamp": str(stamp),
                       "webhook-signature": signature}  # fmt: skip
            await gw.inbox.receive("acme", headers, body)


async def cash(db: str) -> int:
    async with gateway(Settings(database_url=db)) as gw:
        return (await gw.wallet.balance("p1")).cash


def test_deliveries_are_applied_listed_requeued_and_replayed(url: str) -> None:
    secret = json.loads(invoke("webhooks", "secret-add", "acme"))["secret"]
    assert secret.startswith("whsec_")
    asyncio.run(receive(url, secret, [round_event(0, "1.00"), round_event(1, "99.00")]))

    assert "processed 2 webhook deliveries" in invoke("run", "--once")
    listed = json.loads(invoke("inbox", "list", "--json"))
    assert {(d["delivery_id"], d["status"]) for d in listed} == {("m0", "applied"), ("m1", "dead")}
    dead = json.loads(invoke("inbox", "list", "--status", "dead", "--json"))
    assert str(dead[0]["last_error"]).startswith("INSUFFICIENT_FUNDS")
    assert asyncio.run(cash(url)) == 900

    assert "requeued 1 deliveries" in invoke("inbox", "requeue", str(dead[0]["id"]))
    invoke("run", "--once")  # still refused: the player cannot cover it; dead again
    assert json.loads(invoke("inbox", "list", "--status", "dead", "--json"))[0]["attempts"] == 1

    now = datetime.now(UTC)
    window = ("--from", (now - timedelta(hours=1)).isoformat(), "--to",
              (now + timedelta(hours=1)).isoformat())  # fmt: skip
    for _ in range(2):
        assert "requeued 2 deliveries for replay" in invoke("inbox", "replay", *window)
        invoke("run", "--once")
        assert asyncio.run(cash(url)) == 900  # replays: never a second settlement


def test_a_window_that_ends_before_it_starts_is_refused(url: str) -> None:
    result = runner.invoke(app, ["inbox", "replay", "--from", "2026-01-02", "--to", "2026-01-01"])
    assert result.exit_code == 1
    assert "INVALID_REQUEST" in result.output
