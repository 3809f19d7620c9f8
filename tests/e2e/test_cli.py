"""The `croupier` command as a user runs it: migrate, move money, verify, refuse bad input."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from croupier.cli import app

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "var" / "croupier.db"
    monkeypatch.setenv("CROUPIER_DATABASE_URL", f"sqlite:///{path}")
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    return path


def ok(*args: str) -> dict[str, object]:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_a_session_of_cashier_moves_and_bets(db: Path) -> None:
    ok("wallet", "open", "alice", "EUR")
    ok("wallet", "deposit", "alice", "100.00", "--ref", "dep-1")
    ok("wallet", "bonus", "alice", "5", "--ref", "bonus-1")
    bet = ok("wallet", "bet", "alice", "102.50", "--provider", "demo", "--tx", "t1",
             "--round", "r1", "--game", "slots")  # fmt: skip
    assert bet["balances"] == {"currency": "EUR", "cash": "0.00", "bonus": "2.50", "held": "0.00"}
    assert (bet["cash_amount"], bet["bonus_amount"]) == (10000, 250)
    again = ok("wallet", "bet", "alice", "102.50", "--provider", "demo", "--tx", "t1",
               "--round", "r1", "--game", "slots")  # fmt: skip
    assert again["replay"] is True
    assert again["transaction_id"] == bet["transaction_id"]
    win = ok("wallet", "win", "alice", "41", "--provider", "demo", "--tx", "w1",
             "--round", "r1", "--game", "slots", "--close")  # fmt: skip
    assert win["round_closed"] is True
    assert ok("wallet", "balance", "alice")["cash"] == "40.00"
    assert runner.invoke(app, ["ledger", "verify"]).exit_code == 0


def test_amount_finer_than_the_currency_is_refused_with_a_typed_error(db: Path) -> None:
    ok("wallet", "open", "bob", "JPY")
    result = runner.invoke(app, ["wallet", "deposit", "bob", "100.5", "--ref", "d1"])
    assert result.exit_code == 1
    error = json.loads(result.stderr)["error"]
    assert error["code"] == "AMOUNT_PRECISION"
    assert error["retry_class"] == "final"
    assert ok("wallet", "balance", "bob")["cash"] == "0"


def test_ledger_verify_fails_loudly_on_a_tampered_balance(db: Path) -> None:
    ok("wallet", "open", "carol", "USD")
    ok("wallet", "deposit", "carol", "10", "--ref", "d1")
    with sqlite3.connect(db) as conn:  # noqa: TID251 - tampering on purpose, bypassing the store
        conn.execute("UPDATE accounts SET balance = balance + 1 WHERE type = 'player_cash'")
    result = runner.invoke(app, ["ledger", "verify", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    failed = {c["name"] for c in report["checks"] if not c["ok"]}
    assert failed == {"cached_balances"}
    text = runner.invoke(app, ["ledger", "verify"])
    assert text.exit_code == 1
    assert "FAILED" in text.stdout


def test_run_once_sweeps_and_exits(db: Path) -> None:
    result = runner.invoke(app, ["run", "--once"])
    assert result.exit_code == 0, result.output
    assert "released 0 expired holds, moved 0 sessions" in result.stdout


def test_run_refuses_an_unmigrated_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CROUPIER_DATABASE_URL", f"sqlite:///{tmp_path}/fresh.db")
    result = runner.invoke(app, ["run", "--once"])
    assert result.exit_code == 1
    assert "croupier migrate" in result.stderr


def croupier(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own entry point with fixed arguments
        [sys.executable, "-m", "croupier", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_configuration_that_could_overflow_is_refused_at_start(tmp_path: Path) -> None:
    env = {"CROUPIER_CRYPTO_PRECISIONS": '{"WEI": 18}'}  # 10**9 * 10**18 > 2**63 - 1
    result = croupier(env, "currencies")
    assert result.returncode == 1
    error = json.loads(result.stderr)["error"]
    assert error["code"] == "CONFIGURATION_ERROR"
    assert "WEI" in error["message"]


def test_a_changed_precision_is_refused_once_the_ledger_has_used_it(tmp_path: Path) -> None:
    env = {"CROUPIER_DATABASE_URL": f"sqlite:///{tmp_path}/c.db"}
    assert croupier(env, "migrate").returncode == 0
    assert croupier(env, "wallet", "open", "dora", "BTC").returncode == 0
    changed = croupier(
        env | {"CROUPIER_CRYPTO_PRECISIONS": '{"BTC": 6}'}, "wallet", "balance", "dora"
    )
    assert changed.returncode == 1
    assert "precision differs" in json.loads(changed.stderr)["error"]["message"]


def _commands(group: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path of the CLI (typer vendors click, so walk by ``.commands``)."""
    found = [path]
    for name, sub in getattr(group, "commands", {}).items():
        found += _commands(sub, (*path, name))
    return found


@pytest.mark.parametrize(
    "path", _commands(get_command(app)), ids=lambda p: " ".join(p) or "croupier"
)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.stdout


def test_errors_catalogue_lists_codes_with_status_and_retry_class() -> None:
    result = runner.invoke(app, ["errors", "--json"])
    assert result.exit_code == 0
    rows = {r["code"]: r for r in json.loads(result.stdout)}
    assert rows["INSUFFICIENT_FUNDS"]["retry_class"] == "final"
    assert rows["STORAGE_CONFLICT"]["http_status"] == 503
