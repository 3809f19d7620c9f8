"""Storage failures and hostile input end as typed errors, never as raw driver exceptions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from croupier.cli import app
from croupier.domain.errors import (
    InvalidRequest,
    RollbackNotAllowed,
    RoundMismatch,
    StorageUnavailable,
)
from croupier.domain.wallet import Bet, Deposit, Rollback
from croupier.jobs.holds import sweep_expired_holds
from croupier.services.wallet import WalletService


def bet(tx_id: str, amount: int = 100, **fields: str) -> Bet:
    values = {"player_id": "p", "provider": "pv", "round_id": "r", "game_code": "g"} | fields
    return Bet(amount=amount, currency="EUR", tx_id=tx_id, **values)


@pytest.mark.parametrize("field", ["tx_id", "player_id", "round_id", "provider"])
async def test_a_lone_surrogate_in_an_id_is_an_invalid_request(
    wallet: WalletService, field: str
) -> None:
    fields = {"tx_id": "t1"} | {field: "a\ud800"}
    with pytest.raises(InvalidRequest) as refused:
        await wallet.place_bet(bet(**fields))
    assert refused.value.details["field"] in {field, "reference"}
    with pytest.raises(InvalidRequest):
        await wallet.balance("a\ud800")


async def test_a_second_rollback_must_describe_the_same_bet(wallet: WalletService) -> None:
    await wallet.open_wallet("p", "EUR")
    await wallet.deposit(Deposit(player_id="p", amount=1000, currency="EUR", cashier_ref="d"))
    await wallet.place_bet(bet("b1"))
    first = await wallet.rollback(
        Rollback(player_id="p", amount=100, currency="EUR", provider="pv", tx_id="rb1",
                 bet_tx_id="b1")
    )  # fmt: skip
    with pytest.raises(RollbackNotAllowed):
        await wallet.rollback(
            Rollback(player_id="p", amount=999, currency="EUR", provider="pv", tx_id="rb2",
                     bet_tx_id="b1")
        )  # fmt: skip
    with pytest.raises(RoundMismatch):
        await wallet.rollback(
            Rollback(player_id="p", amount=0, currency="EUR", provider="pv", tx_id="rb3",
                     bet_tx_id="b1", round_id="other")
        )  # fmt: skip
    same = await wallet.rollback(
        Rollback(player_id="p", amount=100, currency="EUR", provider="pv", tx_id="rb4",
                 bet_tx_id="b1", round_id="r")
    )  # fmt: skip
    assert same.replay
    assert same.balances == first.balances
    assert (await wallet.balance("p")).cash == 1000


async def test_a_lost_database_is_storage_unavailable(wallet: WalletService) -> None:
    await wallet.open_wallet("p", "EUR")
    await wallet.store.close()
    with pytest.raises(StorageUnavailable) as refused:
        await wallet.place_bet(bet("t1"))
    assert refused.value.retry_class.value == "retryable"
    with pytest.raises(StorageUnavailable):
        await wallet.balance("p")


class FlakyWallet:
    """A wallet whose first sweep finds the database down."""

    def __init__(self) -> None:
        self.calls = 0
        self.recovered = asyncio.Event()

    async def expire_holds(self) -> int:
        self.calls += 1
        if self.calls == 1:
            raise StorageUnavailable("PostgreSQL failed: restart")
        self.recovered.set()
        return 2


async def test_the_sweeper_survives_a_database_outage() -> None:
    flaky = FlakyWallet()
    stop = asyncio.Event()
    task = asyncio.create_task(
        sweep_expired_holds(flaky, interval=0.01, stop=stop)  # type: ignore[arg-type]
    )
    await asyncio.wait_for(flaky.recovered.wait(), timeout=5)
    stop.set()
    assert await asyncio.wait_for(task, timeout=5) >= 2


def test_cli_on_a_missing_database_says_so_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "none.db"
    for args in (["ledger", "verify"], ["wallet", "balance", "p"], ["hold", "expire"]):
        result = CliRunner().invoke(app, [*args, "--database-url", f"sqlite:///{missing}"])
        assert result.exit_code == 1
        assert "croupier migrate" in result.stderr
        assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not missing.exists()
