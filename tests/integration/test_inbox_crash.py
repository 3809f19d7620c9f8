"""A worker process killed (SIGKILL) while it applies webhook deliveries loses none and doubles
none: after a restart every stored delivery is applied exactly once, whatever instant the
kill hit (between a delivery's bet and its win, between the money and the delivery's
status), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import signal
import sys
from datetime import UTC, datetime

import orjson

from croupier.bootstrap import gateway
from croupier.config import Settings
from croupier.domain import webhooks
from croupier.domain.wallet import Deposit
from croupier.domain.webhook_events import checksum
from tests.conftest import assert_ledger_ok, truncate_postgres
from tests.integration.test_crash import TIMEOUT, child_env

DELIVERIES = 40
KILL_AFTER = 10
STAKE, WIN = 100, 30  # minor units: each round takes 0.70 net

WORKER = """
import asyncio, sys

from croupier.bootstrap import gateway
from croupier.config import Settings


async def main(url: str) -> None:
    settings = Settings(database_url=url, inbox_lease_seconds=1)
    async with gateway(settings) as gw:
        while True:
            done = await gw.inbox_worker.run_once(limit=1)
            if done:
                print(sum(done.values()), flush=True)
            await asyncio.sleep(0.01)


asyncio.run(main(sys.argv[1]))
"""


def round_event(n: int) -> bytes:
    doc = {"event_id": f"e{n}", "type": "round", "player_id": "p1",
           "timestamp": "2026-01-01T12:00:00Z", "round_id": f"r{n}", "round_type": "normal",
           "game_code": "dice", "currency": "EUR", "bet": {"tx_id": f"b{n}", "amount": "1.00"},
           "win": {"tx_id": f"w{n}", "amount": "0.30"}, "balance_before": "0.00",
           "balance_after": "0.00", "finalized": True}  # fmt: skip
    doc["checksum"] = checksum(doc)
    return orjson.dumps(doc)


async def store_deliveries(url: str) -> None:
    async with gateway(Settings(database_url=url)) as gw:
        await gw.wallet.open_wallet("p1", "EUR")
        await gw.wallet.deposit(Deposit(player_id="p1", amount=1_000_000, currency="EUR",
                                        cashier_ref="funds"))  # fmt: skip
        _, secret = await gw.inbox.add_secret("acme")
        for n in range(DELIVERIES):
            body, stamp = round_event(n), int(datetime.now(UTC).timestamp())
            signature = webhooks.sign(secret, f"m{n}", stamp, body)
            headers = {"webhook-id": f"m{n}", "webhook-timestamp": str(stamp),
                       "webhook-signature": signature}  # fmt: skip
            await gw.inbox.receive("acme", headers, body)


async def run_and_kill(url: str) -> int:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WORKER, url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=child_env(),
    )  # fmt: skip
    assert proc.stdout is not None
    seen = 0
    try:
        while seen < KILL_AFTER:
            line = await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)
            if not line:
                break
            seen += 1
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
        _, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode == -signal.SIGKILL, err.decode(errors="replace")
    return seen


async def test_a_killed_worker_loses_and_doubles_nothing(database_url: str) -> None:
    if database_url.startswith("postgresql"):
        truncate_postgres(database_url)
    await store_deliveries(database_url)

    assert await run_and_kill(database_url) == KILL_AFTER
    await asyncio.sleep(1.1)  # the dead worker's lease runs out

    async with gateway(Settings(database_url=database_url, inbox_lease_seconds=1)) as gw:
        while any((await gw.inbox_worker.run_once()).values()):
            pass
        rows = await gw.inbox.store.deliveries(status=None, provider=None, limit=100)
        assert {r["status"] for r in rows} == {"applied"}
        assert len(rows) == DELIVERIES
        assert (await gw.wallet.balance("p1")).cash == 1_000_000 - DELIVERIES * (STAKE - WIN)
    assert_ledger_ok(database_url)
