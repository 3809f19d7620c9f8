"""A wallet process killed with SIGKILL mid-stream loses no acknowledged bet and half-writes none.

A child process places bets in a loop and prints each answer as soon as it has it; the test
kills it without warning once it has acknowledged about fifty, then checks, on the same
database: every acknowledged bet is there and replays with its original answer, the balance
matches exactly the bets that committed (acknowledged or not), and the ledger verifies.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import sqlalchemy as sa

from croupier.adapters.db.migrate import make_engine
from croupier.domain.wallet import Bet, Deposit
from croupier.services.wallet import WalletService
from tests.conftest import assert_ledger_ok

SRC = Path(__file__).resolve().parents[2] / "src"
PLAYER = "crash-player"
START = 1_000_000
STAKE = 7
ACKS_BEFORE_KILL = 50
TIMEOUT = 30.0
"""Bound on the child's start and on each line it prints; a stuck child fails the test."""

WORKER = """
import asyncio, sys

from croupier.bootstrap import wallet_service
from croupier.config import Settings
from croupier.domain.wallet import Bet


async def main(url: str, player: str, stake: int) -> None:
    async with wallet_service(Settings(database_url=url)) as wallet:
        i = 0
        while True:
            result = await wallet.place_bet(
                Bet(player_id=player, amount=stake, currency="EUR", provider="pv",
                    tx_id=f"crash-{i}", round_id=f"round-{i}", game_code="g1")
            )
            print(result.reference, result.transaction_id, result.balances.cash, flush=True)
            i += 1


asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


CONCURRENT_WORKER = """
import asyncio, sys

from croupier.bootstrap import wallet_service
from croupier.config import Settings
from croupier.domain.wallet import Bet


async def main(url: str, player: str, stake: int) -> None:
    async with wallet_service(Settings(database_url=url)) as wallet:
        async def loop(task: int) -> None:
            i = 0
            while True:
                result = await wallet.place_bet(
                    Bet(player_id=player, amount=stake, currency="EUR", provider="pv",
                        tx_id=f"crash-{task}-{i}", round_id=f"round-{task}-{i}", game_code="g1")
                )
                print(result.reference, result.transaction_id, result.balances.cash, flush=True)
                i += 1

        await asyncio.gather(*(loop(t) for t in range(8)))


asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""
"""Eight bets in flight at a time: on SQLite they share commits (group commit), so the kill
lands between a batch's units and its one COMMIT."""


def crash_bet(reference: str) -> Bet:
    index = reference.removeprefix("crash-")
    return Bet(
        player_id=PLAYER, amount=STAKE, currency="EUR", provider="pv", tx_id=reference,
        round_id=f"round-{index}", game_code="g1",
    )  # fmt: skip


def child_env() -> dict[str, str]:
    """The test's environment without CROUPIER_* settings, with this checkout's sources first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROUPIER_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env.get("PYTHONPATH")) if p)
    return env


def parse(line: bytes) -> tuple[str, int, int]:
    reference, tx_id, cash = line.decode().split()
    return reference, int(tx_id), int(cash)


async def run_and_kill(
    url: str, worker: str = WORKER
) -> tuple[list[tuple[str, int, int]], int | None, str]:
    """Start the worker, SIGKILL it after ACKS_BEFORE_KILL answers; every answer it printed."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", worker, url, PLAYER, str(STAKE),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=child_env(),
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[bytes] = []
    try:
        while len(lines) < ACKS_BEFORE_KILL:
            line = await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)
            if not line:  # the worker died on its own
                break
            lines.append(line)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
        # Whatever it printed before the kill was acknowledged too (only whole lines count).
        rest, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    lines += [ln for ln in rest.splitlines(keepends=True) if ln.endswith(b"\n")]
    return [parse(ln) for ln in lines], proc.returncode, err.decode(errors="replace")


def committed_bets(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT reference FROM wallet_transactions "
                    "WHERE player_id = :p AND kind = 'bet' AND status = 'ok'"
                ),
                {"p": PLAYER},
            )
            return {r[0] for r in rows}
    finally:
        engine.dispose()


async def test_sigkill_loses_no_acknowledged_bet(wallet: WalletService, database_url: str) -> None:
    await wallet.open_wallet(PLAYER, "EUR")
    await wallet.deposit(
        Deposit(player_id=PLAYER, amount=START, currency="EUR", cashier_ref="crash-funds")
    )

    acked, returncode, stderr = await run_and_kill(database_url)

    assert len(acked) >= ACKS_BEFORE_KILL, stderr
    assert returncode == -signal.SIGKILL, stderr
    committed = committed_bets(database_url)
    # The worker is sequential: what committed is an unbroken run crash-0 .. crash-(n-1),
    # at least every acknowledged bet, at most one more (the one in flight at the kill).
    n = len(committed)
    assert committed == {f"crash-{i}" for i in range(n)}
    assert len(acked) <= n <= len(acked) + 1
    assert (await wallet.balance(PLAYER)).cash == START - STAKE * n

    for reference, tx_id, cash in acked:
        replayed = await wallet.place_bet(crash_bet(reference))
        assert replayed.replay, reference
        assert (replayed.transaction_id, replayed.balances.cash) == (tx_id, cash)

    assert (await wallet.balance(PLAYER)).cash == START - STAKE * n  # replays took nothing
    assert_ledger_ok(database_url)


async def test_sigkill_with_bets_in_flight_loses_no_acknowledged_bet(
    wallet: WalletService, database_url: str
) -> None:
    """Eight concurrent bets at the kill: whatever was acknowledged committed, whatever
    committed is whole (balance, replays, ledger), whether or not it was acknowledged."""
    await wallet.open_wallet(PLAYER, "EUR")
    await wallet.deposit(
        Deposit(player_id=PLAYER, amount=START, currency="EUR", cashier_ref="crash-funds")
    )

    acked, returncode, stderr = await run_and_kill(database_url, CONCURRENT_WORKER)

    assert len(acked) >= ACKS_BEFORE_KILL, stderr
    assert returncode == -signal.SIGKILL, stderr
    committed = committed_bets(database_url)
    assert {reference for reference, _, _ in acked} <= committed
    assert len(committed) <= len(acked) + 8  # at most the eight in flight went unanswered
    assert (await wallet.balance(PLAYER)).cash == START - STAKE * len(committed)
    for reference, tx_id, cash in acked:
        task, index = reference.removeprefix("crash-").split("-")
        replayed = await wallet.place_bet(
            Bet(player_id=PLAYER, amount=STAKE, currency="EUR", provider="pv", tx_id=reference,
                round_id=f"round-{task}-{index}", game_code="g1")
        )  # fmt: skip
        assert replayed.replay, reference
        assert (replayed.transaction_id, replayed.balances.cash) == (tx_id, cash)
    assert_ledger_ok(database_url)
