"""`croupier rounds` as a user runs it, on a SQLite file: providers' timeout policies set,
listed and removed; a round left open resolved by `croupier run --once`; what the job did
(`rounds timeouts`), what waits for a person (`rounds stuck`) and `rounds resolve` with its
refusals. Rounds are seeded through the gateway with a clock set hours back."""

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
from croupier.domain.sessions import SessionState
from croupier.domain.wallet import Bet, Deposit, Win
from croupier.services import context as call_context

runner = CliRunner()
DEFAULT = {"provider": "*", "after_seconds": 3600, "action": "flag"}


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    db = f"sqlite:///{tmp_path}/croupier.db"
    monkeypatch.setenv("CROUPIER_DATABASE_URL", db)
    monkeypatch.delenv("CROUPIER_ROUND_TIMEOUT_SECONDS", raising=False)
    monkeypatch.delenv("CROUPIER_ROUND_TIMEOUT_ACTION", raising=False)
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    return db


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def as_json(*args: str) -> Any:
    return json.loads(invoke(*args, "--json"))


def refused(*args: str) -> dict[str, Any]:
    """The typed error of a command that exits 1."""
    result = runner.invoke(app, list(args))
    assert result.exit_code == 1, result.output
    error: dict[str, Any] = json.loads(result.stderr)["error"]
    return error


async def _fund(db: str, player: str, amount: int) -> None:
    async with gateway(Settings(database_url=db)) as gw:
        await gw.wallet.open_wallet(player, "EUR")
        await gw.wallet.deposit(
            Deposit(player_id=player, amount=amount, currency="EUR", cashier_ref=f"d-{player}")
        )


async def _seed(
    db: str, provider: str, round_id: str, bet_id: str, amount: int, *, minutes_ago: float,
    win: int = 0, in_session: bool = False,
) -> str | None:  # fmt: skip
    """A bet of p1 that opens ``round_id`` ``minutes_ago`` (and a win that leaves it open);
    ``in_session``: placed in a session that is then closed (pending_settlement). The
    session's id."""
    past = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    async with gateway(Settings(database_url=db)) as gw:
        gw.wallet.clock = lambda: past
        gw.sessions.clock = lambda: past
        session_id = None
        if in_session:
            session, _, _ = await gw.sessions.open(
                provider=provider, player_id="p1", game_code="dice"
            )
            session_id = session.id
            call_context.bind(session_id=session_id)
        try:
            await gw.wallet.place_bet(
                Bet(player_id="p1", amount=amount, currency="EUR", provider=provider,
                    tx_id=bet_id, round_id=round_id, game_code="dice")
            )  # fmt: skip
            if win:
                await gw.wallet.settle_win(
                    Win(player_id="p1", amount=win, currency="EUR", provider=provider,
                        tx_id=f"w-{bet_id}", round_id=round_id, game_code="dice")
                )  # fmt: skip
        finally:
            call_context.reset()
        if session_id is not None:
            closed = await gw.sessions.close(session_id, actor="operator:test", reason="left")
            assert closed.state is SessionState.PENDING_SETTLEMENT
        return session_id


def fund(db: str, player: str = "p1", amount: int = 1000) -> None:
    asyncio.run(_fund(db, player, amount))


def seed(db: str, provider: str, round_id: str, bet_id: str, amount: int = 400,
         **kwargs: Any) -> str | None:  # fmt: skip
    return asyncio.run(_seed(db, provider, round_id, bet_id, amount, **kwargs))


def cash() -> str:
    data = json.loads(invoke("wallet", "balance", "p1"))
    return str(data["cash"])


# -- policies --------------------------------------------------------------------------------


def test_policies_are_set_listed_overwritten_and_removed(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert as_json("rounds", "policies") == [DEFAULT]
    set_ = json.loads(invoke("rounds", "policy-set", "acme", "--after", "30m", "--action", "close"))
    assert set_ == {"provider": "acme", "after_seconds": 1800, "action": "close"}
    invoke("rounds", "policy-set", "beta", "--after", "2d", "--action", "void")
    assert as_json("rounds", "policies") == [
        {"provider": "acme", "after_seconds": 1800, "action": "close"},
        {"provider": "beta", "after_seconds": 172_800, "action": "void"},
        DEFAULT,
    ]
    invoke("rounds", "policy-set", "acme", "--after", "90s", "--action", "flag")
    assert as_json("rounds", "policies")[0] == {
        "provider": "acme",
        "after_seconds": 90,
        "action": "flag",
    }
    table = invoke("rounds", "policies")
    assert "Round timeout policies" in table
    assert "acme" in table
    assert "172800" in table

    removed = invoke("rounds", "policy-remove", "acme")
    assert "acme follows the default round timeout policy" in removed
    assert [p["provider"] for p in as_json("rounds", "policies")] == ["beta", "*"]
    invoke("rounds", "policy-remove", "acme")  # removing it again is harmless
    assert [p["provider"] for p in as_json("rounds", "policies")] == ["beta", "*"]

    monkeypatch.setenv("CROUPIER_ROUND_TIMEOUT_SECONDS", "600")
    monkeypatch.setenv("CROUPIER_ROUND_TIMEOUT_ACTION", "close")
    assert as_json("rounds", "policies")[-1] == {
        "provider": "*",
        "after_seconds": 600,
        "action": "close",
    }


@pytest.mark.parametrize("after", ["30x", "59s", "0", "91d", "1.5h", "-5m", "", "h", "5 m"])
def test_an_invalid_duration_is_a_typed_error(url: str, after: str) -> None:
    error = refused("rounds", "policy-set", "acme", "--after", after, "--action", "close")
    assert error["code"] == "INVALID_REQUEST"
    assert error["retry_class"] == "final"
    assert error["details"] == {"field": "after"}
    assert as_json("rounds", "policies") == [DEFAULT]  # nothing stored


def test_the_limits_of_a_duration_are_accepted(url: str) -> None:
    for after, seconds in (("60", 60), ("1m", 60), ("90d", 7_776_000), ("6h", 21_600)):
        row = json.loads(invoke("rounds", "policy-set", "acme", "--after", after, "--action",
                                "void"))  # fmt: skip
        assert row["after_seconds"] == seconds, after


def test_an_unknown_action_or_a_bad_provider_is_refused(url: str) -> None:
    result = runner.invoke(
        app, ["rounds", "policy-set", "acme", "--after", "1h", "--action", "nuke"]
    )
    assert result.exit_code == 2  # a usage error: typer lists the choices
    error = refused("rounds", "policy-set", "x" * 65, "--after", "1h", "--action", "close")
    assert error["code"] == "INVALID_REQUEST"
    assert as_json("rounds", "policies") == [DEFAULT]


# -- the job, and what it did ----------------------------------------------------------------


def test_run_once_closes_a_round_left_open_beyond_its_providers_threshold(url: str) -> None:
    fund(url)
    seed(url, "acme", "r1", "b1", 400, minutes_ago=120)
    seed(url, "acme", "r2", "b2", 100, minutes_ago=10)
    invoke("rounds", "policy-set", "acme", "--after", "1h", "--action", "close")
    assert as_json("rounds", "timeouts") == []

    assert "resolved 1 rounds left open" in invoke("run", "--once")
    assert cash() == "5.00"  # a close keeps the stakes
    [row] = as_json("rounds", "timeouts")
    assert {k: row[k] for k in ("provider", "round_id", "player_id", "action", "actor")} == {
        "provider": "acme",
        "round_id": "r1",
        "player_id": "p1",
        "action": "close",
        "actor": "job:timeouts",
    }
    assert row["transactions"] == ["timeout:close:r1"]
    assert "open beyond 3600s" in row["reason"]
    opened = datetime.fromisoformat(row["opened_at"])
    assert timedelta(minutes=119) < datetime.now(UTC) - opened < timedelta(minutes=121)

    assert "resolved 0 rounds left open" in invoke("run", "--once")  # closed: not again
    assert len(as_json("rounds", "timeouts")) == 1
    assert as_json("rounds", "stuck") == {"flagged_rounds": [], "stuck_sessions": []}
    table = invoke("rounds", "timeouts")
    assert "Round timeouts" in table
    assert "acme" in table
    assert runner.invoke(app, ["ledger", "verify"]).exit_code == 0


def test_stuck_lists_what_waits_for_a_person_and_resolve_voids_it(url: str) -> None:
    fund(url)
    session_id = seed(url, "beta", "r7", "b7", 250, minutes_ago=120, in_session=True)
    seed(url, "acme", "r8", "b8", 100, minutes_ago=5)
    assert cash() == "6.50"
    before = as_json("rounds", "stuck")
    assert before["flagged_rounds"] == []  # not flagged yet: the job has not run
    assert [(s["session_id"], s["provider"], s["player_id"]) for s in before["stuck_sessions"]] == [
        (session_id, "beta", "p1")
    ]

    assert "resolved 1 rounds left open" in invoke("run", "--once")  # the default: flag
    assert cash() == "6.50"
    stuck = as_json("rounds", "stuck")
    [flagged] = stuck["flagged_rounds"]
    assert {k: flagged[k] for k in ("provider", "round_id", "player_id", "game_code")} == {
        "provider": "beta",
        "round_id": "r7",
        "player_id": "p1",
        "game_code": "dice",
    }
    assert (flagged["bets_live"], flagged["wins"]) == (1, 0)
    assert [s["session_id"] for s in stuck["stuck_sessions"]] == [session_id]
    table = invoke("rounds", "stuck")
    assert "Flagged rounds" in table
    assert "r7" in table
    assert "resolved 0 rounds left open" in invoke("run", "--once")  # flagged once

    done = json.loads(invoke("rounds", "resolve", "beta", "r7", "--action", "void",
                             "--reason", "provider confirmed the game crashed",
                             "--actor", "alice"))  # fmt: skip
    assert (done["action"], done["actor"]) == ("void", "cli:alice")
    assert done["reason"] == "provider confirmed the game crashed; void by hand"
    assert done["transactions"] == ["timeout:void:b7", "timeout:close:r7"]
    assert done["id"] > 0  # the stored record, as `rounds timeouts` lists it
    assert cash() == "9.00"  # b7's stake back; b8 (acme, 5 min old) untouched
    history = as_json("rounds", "timeouts", "--round", "r7")
    assert [(r["action"], r["actor"]) for r in history] == [
        ("void", "cli:alice"),
        ("flag", "job:timeouts"),
    ]
    assert as_json("rounds", "timeouts", "--provider", "acme") == []
    assert len(as_json("rounds", "timeouts", "--limit", "1")) == 1

    invoke("run", "--once")  # the sessions job settles the session now its round is closed
    assert as_json("rounds", "stuck") == {"flagged_rounds": [], "stuck_sessions": []}
    empty = invoke("rounds", "stuck")
    assert "Flagged rounds: none" in empty
    assert "Sessions stuck in pending_settlement: none" in empty
    assert json.loads(invoke("session", "show", str(session_id)))["state"] == "reversed"
    assert runner.invoke(app, ["ledger", "verify"]).exit_code == 0


def test_resolve_closes_by_hand_and_refuses_what_it_cannot_do(url: str) -> None:
    fund(url)
    seed(url, "acme", "r1", "b1", 400, minutes_ago=30, win=100)  # a win paid, round open
    seed(url, "acme", "r2", "b2", 100, minutes_ago=30)

    assert refused("rounds", "resolve", "acme", "nope", "--action", "close",
                   "--reason", "typo")["code"] == "TRANSACTION_NOT_FOUND"  # fmt: skip
    assert refused("rounds", "resolve", "zeta", "r2", "--action", "close",
                   "--reason", "wrong provider")["code"] == "TRANSACTION_NOT_FOUND"  # fmt: skip
    flag = refused("rounds", "resolve", "acme", "r2", "--action", "flag", "--reason", "look")
    assert (flag["code"], flag["details"]) == ("INVALID_REQUEST", {"field": "action"})
    blank = refused("rounds", "resolve", "acme", "r2", "--action", "close", "--reason", "  ")
    assert (blank["code"], blank["details"]) == ("INVALID_REQUEST", {"field": "reason"})
    long = refused("rounds", "resolve", "acme", "r2", "--action", "close", "--reason", "x" * 501)
    assert long["code"] == "INVALID_REQUEST"
    void = refused("rounds", "resolve", "acme", "r1", "--action", "void", "--reason", "void it")
    assert void["code"] == "ROUND_CLOSED"  # it paid a win: a void would take it back
    assert "win" in void["message"]
    assert as_json("rounds", "timeouts") == []  # no refusal was recorded
    assert cash() == "6.00"

    done = json.loads(invoke("rounds", "resolve", "acme", "r1", "--action", "close",
                             "--reason", "the win stands"))  # fmt: skip
    assert (done["action"], done["actor"], done["round_id"]) == ("close", "cli:cli", "r1")
    assert done["transactions"] == ["timeout:close:r1"]
    again = refused("rounds", "resolve", "acme", "r1", "--action", "close", "--reason", "again")
    assert again["code"] == "TRANSACTION_NOT_FOUND"

    voided = json.loads(invoke("rounds", "resolve", "acme", "r2", "--action", "void",
                               "--reason", "game crashed", "--actor", "bob"))  # fmt: skip
    assert (voided["action"], voided["actor"]) == ("void", "cli:bob")
    assert cash() == "7.00"
    assert [(r["round_id"], r["action"]) for r in as_json("rounds", "timeouts")] == [
        ("r2", "void"),
        ("r1", "close"),
    ]
    assert "resolved 0 rounds left open" in invoke("run", "--once")
    assert runner.invoke(app, ["ledger", "verify"]).exit_code == 0
