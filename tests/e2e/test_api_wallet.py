"""The money contract (WALLET_SEMANTICS.md) over HTTP, rule by rule, on SQLite and PostgreSQL.

tests/integration/test_wallet_rules.py drives the wallet service; these tests send what a
provider sends: signed native v1 calls through the ASGI app. Each checks the answer on the
wire (status, error code, ``replay`` flags, balances as decimal strings, the response
signature) and what reached the database: row counts where a call must write nothing, the
player's balance, and the ledger invariants after every test that moved money.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, cast

import httpx
import pytest

from croupier.adapters.db.runner import SqlUnit
from croupier.domain import signing
from croupier.domain.wallet import BonusGrant, Deposit
from tests.conftest import assert_ledger_ok
from tests.e2e.conftest import Api

COUNTED_TABLES = ("wallet_transactions", "journal_entries", "postings", "rounds")
DAY = 24 * 3600

# -- helpers ---------------------------------------------------------------------------------


def signed(api: Api, response: httpx.Response, secret: str | None = None) -> bool:
    """``Api.response_verified``, but with the nonce of this response's own request, so that
    it also holds for responses of calls sent concurrently (``api.last_nonce`` is the last
    one sent)."""
    stamp = response.headers.get(signing.TIMESTAMP_HEADER)
    if stamp is None:
        return False
    canonical = signing.canonical_response(
        response.status_code,
        response.request.url.raw_path.decode(),
        int(stamp),
        response.request.headers[signing.NONCE_HEADER],
        response.content,
    )
    given: str | None = response.headers.get(signing.SIGNATURE_HEADER)
    return given == signing.signature_header(secret or api.secret, canonical)


def decimal_pattern(exponent: int) -> re.Pattern[str]:
    whole = r"(0|[1-9][0-9]*)"
    return re.compile(whole if exponent == 0 else rf"{whole}\.[0-9]{{{exponent}}}")


def assert_balance_shape(body: dict[str, Any], exponent: int) -> None:
    balance = body["balance"]
    assert set(balance) == {"cash", "bonus"}, balance
    for name, value in balance.items():
        assert isinstance(value, str), (name, value)
        assert decimal_pattern(exponent).fullmatch(value), (name, value)


def ok(
    api: Api, response: httpx.Response, *, exponent: int = 2, secret: str | None = None
) -> dict[str, Any]:
    """A signed success carrying cash and bonus as decimal strings of the currency."""
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "OK", body
    assert signed(api, response, secret)
    assert_balance_shape(body, exponent)
    if "transaction" in body:
        tx = body["transaction"]
        for name in ("cash_amount", "bonus_amount"):
            assert decimal_pattern(exponent).fullmatch(tx[name]), (name, tx[name])
        assert isinstance(tx["replay"], bool)
    return body


def refused(
    api: Api,
    response: httpx.Response,
    status: int,
    code: str,
    *,
    replay: bool = False,
    balance: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """A signed error with this status and code; ``replay`` whether it must be flagged as the
    replay of a stored refusal. ``balance`` (cash, bonus): the player's balance, which the
    refusal states when the call carried the player's token, and must not state without one
    (a provider learns a balance only by proving the player)."""
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "ERROR", body
    assert body["error"]["code"] == code, body
    assert body.get("replay", False) is replay, body
    assert signed(api, response)
    if balance is not None:
        sent = json.loads(response.request.content)
        if sent.get("token"):
            assert_balance_shape(body, 2)
            assert (body["balance"]["cash"], body["balance"]["bonus"]) == balance, body
        else:
            assert "balance" not in body, body
    return body


def same_result(replayed: dict[str, Any], original: dict[str, Any]) -> None:
    """A replay is the original answer, with ``transaction.replay`` true."""
    assert replayed["transaction"]["replay"] is True
    assert original["transaction"]["replay"] is False
    assert {**replayed["transaction"], "replay": False} == original["transaction"]
    assert replayed["balance"] == original["balance"]
    assert replayed["currency"] == original["currency"]


async def counts(api: Api) -> dict[str, int]:
    """Rows of the ledger's tables, read through the store under test."""
    store = cast(SqlUnit, api.wallet.store)
    found = {}
    for table in COUNTED_TABLES:
        rows = await store.fetch(f"SELECT count(*) FROM {table}")  # noqa: S608 - constant names
        found[table] = int(rows[0][0])
    return found


async def cash_bonus(api: Api, player_id: str) -> tuple[int, int]:
    """The player's balances in minor units, read from the wallet (not from a response)."""
    balances = await api.wallet.balance(player_id)
    return balances.cash, balances.bonus


@dataclass
class Seat:
    """A player at a game, with a session token: builds the bodies a provider sends."""

    api: Api
    player_id: str
    token: str
    session_id: str
    game: str = "dice"
    currency: str = "EUR"

    def bet(self, tx_id: str, amount: Any, round_id: str = "r1", **change: Any) -> dict[str, Any]:
        body = {
            "player_id": self.player_id,
            "token": self.token,
            "tx_id": tx_id,
            "round_id": round_id,
            "game_code": self.game,
            "amount": amount,
            "currency": self.currency,
        }
        return body | change

    def win(self, tx_id: str, amount: Any, round_id: str = "r1", **change: Any) -> dict[str, Any]:
        body = {
            "player_id": self.player_id,
            "tx_id": tx_id,
            "round_id": round_id,
            "game_code": self.game,
            "amount": amount,
            "currency": self.currency,
        }
        return body | change

    def rollback(self, tx_id: str, bet_tx_id: str, **change: Any) -> dict[str, Any]:
        body = {
            "player_id": self.player_id,
            "tx_id": tx_id,
            "bet_tx_id": bet_tx_id,
            "currency": self.currency,
        }
        return body | change

    def end_round(self, tx_id: str, round_id: str = "r1", **change: Any) -> dict[str, Any]:
        body = {
            "player_id": self.player_id,
            "tx_id": tx_id,
            "round_id": round_id,
            "game_code": self.game,
            "currency": self.currency,
        }
        return body | change


async def seat(
    api: Api,
    player_id: str = "p1",
    cash: str = "10.00",
    *,
    bonus: int = 0,
    currency: str = "EUR",
    game: str = "dice",
    new_player: bool = True,
) -> Seat:
    """A funded player (``bonus`` in minor units) and a fresh session of theirs."""
    if new_player:
        await api.player(player_id, cash, currency)
        if bonus:
            await api.wallet.grant_bonus(
                BonusGrant(
                    player_id=player_id,
                    amount=bonus,
                    currency=currency,
                    cashier_ref=f"bonus-{player_id}",
                )
            )
    session_id, token = await api.session(player_id, game)
    return Seat(api, player_id, token, session_id, game=game, currency=currency)


async def deposit(api: Api, player_id: str, amount: int, ref: str) -> None:
    await api.wallet.deposit(
        Deposit(player_id=player_id, amount=amount, currency="EUR", cashier_ref=ref)
    )


# -- rule 1: idempotent replay ----------------------------------------------------------------


async def test_bet_replay_returns_original_result_after_balance_moved(
    api: Api, database_url: str
) -> None:
    p1 = await seat(api)
    first = ok(api, await api.post("bet", p1.bet("b1", "1.50")))
    assert first["balance"] == {"cash": "8.50", "bonus": "0.00"}
    assert api.response_verified(await api.post("bet", p1.bet("b2", "2.00", round_id="r2")))
    await deposit(api, "p1", 10_000, "d2")
    before = await counts(api)

    again = await api.post("bet", p1.bet("b1", "1.50"))

    replayed = ok(api, again)
    assert api.response_verified(again)
    same_result(replayed, first)  # 8.50: the balance of the first answer, not today's
    assert replayed["transaction"]["cash_amount"] == "1.50"
    assert await counts(api) == before
    assert await cash_bonus(api, "p1") == (1000 - 150 - 200 + 10_000, 0)
    now = ok(api, await api.post("balance", {"player_id": "p1", "token": p1.token}))
    assert now["balance"] == {"cash": "106.50", "bonus": "0.00"}
    assert_ledger_ok(database_url)


async def test_win_replay_returns_original_result(api: Api, database_url: str) -> None:
    p1 = await seat(api)
    ok(api, await api.post("bet", p1.bet("b1", "3.00")))
    first = ok(api, await api.post("win", p1.win("w1", "5.00")))
    assert first["balance"]["cash"] == "12.00"
    ok(api, await api.post("bet", p1.bet("b2", "2.00", round_id="r2")))
    before = await counts(api)

    replayed = ok(api, await api.post("win", p1.win("w1", "5.00")))

    same_result(replayed, first)
    assert replayed["balance"]["cash"] == "12.00"
    assert await counts(api) == before
    assert await cash_bonus(api, "p1") == (1000, 0)  # paid once
    assert_ledger_ok(database_url)


async def test_rollback_replay_returns_original_result(api: Api, database_url: str) -> None:
    p1 = await seat(api)
    ok(api, await api.post("bet", p1.bet("b1", "3.00")))
    first = ok(api, await api.post("rollback", p1.rollback("rb1", "b1")))
    assert first["transaction"]["outcome"] == "applied"
    assert first["balance"]["cash"] == "10.00"
    ok(api, await api.post("bet", p1.bet("b2", "4.00", round_id="r2")))
    before = await counts(api)

    replayed = ok(api, await api.post("rollback", p1.rollback("rb1", "b1")))

    same_result(replayed, first)
    assert await counts(api) == before
    assert await cash_bonus(api, "p1") == (600, 0)  # refunded once
    assert_ledger_ok(database_url)


async def test_end_round_replay_returns_original_result(api: Api, database_url: str) -> None:
    p1 = await seat(api)
    ok(api, await api.post("bet", p1.bet("b1", "1.00")))
    first = ok(api, await api.post("end_round", p1.end_round("e1")))
    ok(api, await api.post("bet", p1.bet("b2", "2.00", round_id="r2")))
    before = await counts(api)

    replayed = ok(api, await api.post("end_round", p1.end_round("e1")))

    same_result(replayed, first)
    assert replayed["balance"]["cash"] == "9.00"
    assert await counts(api) == before
    assert_ledger_ok(database_url)


async def test_insufficient_funds_refusal_replays_with_original_balance(
    api: Api, database_url: str
) -> None:
    p1 = await seat(api, cash="1.00", bonus=20)
    first = refused(
        api,
        await api.post("bet", p1.bet("b1", "5.00")),
        402,
        "INSUFFICIENT_FUNDS",
        balance=("1.00", "0.20"),
    )
    assert first["error"]["retry_class"] == "final"
    await deposit(api, "p1", 10_000, "d2")  # the bet would be affordable now
    before = await counts(api)

    again = refused(
        api,
        await api.post("bet", p1.bet("b1", "5.00")),
        402,
        "INSUFFICIENT_FUNDS",
        replay=True,
        balance=("1.00", "0.20"),
    )

    assert again["error"] == first["error"]
    assert await counts(api) == before
    assert await cash_bonus(api, "p1") == (10_100, 20)
    # A rollback of the refused bet reverses nothing.
    undone = ok(api, await api.post("rollback", p1.rollback("rb1", "b1")))
    assert undone["transaction"]["outcome"] == "nothing_to_reverse"
    assert undone["transaction"]["cash_amount"] == "0.00"
    assert undone["balance"] == {"cash": "101.00", "bonus": "0.20"}
    assert_ledger_ok(database_url)


async def test_idempotency_key_is_provider_and_tx_id(api: Api, database_url: str) -> None:
    """The same tx id from another provider is another transaction, not a replay."""
    p1 = await seat(api)
    beta = await api.keys.add("beta", key_id="kb")
    _, beta_token, _ = await api.sessions.open(provider="beta", player_id="p1", game_code="dice")

    def as_beta(call: str, body: dict[str, Any]) -> Awaitable[httpx.Response]:
        return api.post(call, body, provider="beta", key_id=beta.key_id, secret=beta.secret)

    acme = ok(api, await api.post("bet", p1.bet("b1", "1.00")))
    other = ok(
        api, await as_beta("bet", p1.bet("b1", "1.00", token=beta_token)), secret=beta.secret
    )

    assert (acme["transaction"]["replay"], other["transaction"]["replay"]) == (False, False)
    assert acme["transaction"]["id"] != other["transaction"]["id"]
    assert other["balance"]["cash"] == "8.00"
    # Each provider's round is its own: beta's win settles beta's bet, acme's stays open.
    ok(api, await as_beta("win", p1.win("w1", "3.00", close_round=True)), secret=beta.secret)
    assert ok(api, await api.post("bet", p1.bet("b2", "1.00")))["balance"]["cash"] == "10.00"
    assert await cash_bonus(api, "p1") == (1000, 0)
    assert_ledger_ok(database_url)


# -- rule 2: mismatch --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "1.51"},
        {"round_id": "r-other"},
        {"currency": "USD"},
        {"game_code": "slots"},
        {"player_id": "p2"},
    ],
    ids=["amount", "round", "currency", "game", "player"],
)
async def test_same_bet_id_with_different_content_is_a_mismatch(
    api: Api, database_url: str, change: dict[str, str]
) -> None:
    p1 = await seat(api)
    p2 = await seat(api, "p2")
    ok(api, await api.post("bet", p1.bet("b1", "1.50")))
    before = await counts(api)
    # The token must fit the player and game the body names, or the call never reaches the
    # wallet: a changed game or player comes with its own session.
    sender = p1
    if "game_code" in change:
        sender = await seat(api, "p1", game="slots", new_player=False)
    if "player_id" in change:
        sender = p2

    body = refused(
        api, await api.post("bet", sender.bet("b1", "1.50") | change), 409, "IDEMPOTENCY_MISMATCH"
    )

    assert body["error"]["retry_class"] == "final"
    assert await counts(api) == before
    assert await cash_bonus(api, "p1") == (850, 0)
    assert await cash_bonus(api, "p2") == (1000, 0)
    assert_ledger_ok(database_url)


async def test_same_win_or_rollback_id_with_different_content_is_a_mismatch(
    api: Api, database_url: str
) -> None:
    p1 = await seat(api)
    ok(api, await api.post("bet", p1.bet("b1", "1.00")))
    ok(api, await api.post("bet", p1.bet("b2", "1.00")))
    ok(api, await api.post("bet", p1.bet("b3", "2.00", round_id="r2")))
    ok(api, await api.post("win", p1.win("w1", "0.50", bet_tx_id="b1")))
    ok(api, await api.post("bet", p1.bet("b4", "1.00", round_id="r3")))
    ok(api, await api.post("rollback", p1.rollback("rb1", "b4")))
    before = await counts(api)
    changed = [
        ("win", p1.win("w1", "0.60", bet_tx_id="b1")),
        ("win", p1.win("w1", "0.50", bet_tx_id="b2")),
        ("win", p1.win("w1", "0.50", bet_tx_id="b1", close_round=True)),
        ("rollback", p1.rollback("rb1", "b3")),
        ("end_round", p1.end_round("w1")),  # a win's id reused for another kind of call
    ]

    for call, body in changed:
        refused(
            api, await api.post(call, body), 409, "IDEMPOTENCY_MISMATCH", balance=("6.50", "0.00")
        )

    assert await counts(api) == before
    assert await cash_bonus(api, "p1") == (650, 0)  # b3 still taken, w1 paid once
    assert_ledger_ok(database_url)


async def test_same_rollback_id_naming_another_game_is_a_mismatch(
    api: Api, database_url: str
) -> None:
    """Rule 2 lists the game among the content a repeat must match; a rollback carries one
    (``game_code``) as its round does (``round_id``, which is checked)."""
    p1 = await seat(api)
    ok(api, await api.post("bet", p1.bet("b1", "1.00")))
    ok(api, await api.post("rollback", p1.rollback("rb1", "b1", round_id="r1", game_code="dice")))
    before = await counts(api)

    refused(
        api,
        await api.post("rollback", p1.rollback("rb1", "b1", round_id="r2", game_code="dice")),
        409,
        "IDEMPOTENCY_MISMATCH",
        balance=("10.00", "0.00"),
    )
    refused(
        api,
        await api.post("rollback", p1.rollback("rb1", "b1", round_id="r1", game_code="slots")),
        409,
        "IDEMPOTENCY_MISMATCH",
        balance=("10.00", "0.00"),
    )

    assert await counts(api) == before
    assert_ledger_ok(database_url)


# -- rule 3: exactly once under concurrency ---------------------------------------------------


async def test_same_bet_sent_20_times_at_once_debits_once(api: Api, database_url: str) -> None:
    p1 = await seat(api)
    before = await counts(api)

    responses = await asyncio.gather(*(api.post("bet", p1.bet("b1", "2.50")) for _ in range(20)))

    bodies = [ok(api, r) for r in responses]
    assert sorted(b["transaction"]["replay"] for b in bodies) == [False] + [True] * 19
    assert len({b["transaction"]["id"] for b in bodies}) == 1
    assert {b["balance"]["cash"] for b in bodies} == {"7.50"}
    assert await cash_bonus(api, "p1") == (750, 0)
    after = await counts(api)
    assert after["wallet_transactions"] == before["wallet_transactions"] + 1
    assert after["journal_entries"] == before["journal_entries"] + 1
    assert_ledger_ok(database_url)


async def test_same_win_sent_20_times_at_once_credits_once(api: Api, database_url: str) -> None:
    p1 = await seat(api)
    ok(api, await api.post("bet", p1.bet("b1", "1.00")))

    responses = await asyncio.gather(*(api.post("win", p1.win("w1", "4.00")) for _ in range(20)))

    bodies = [ok(api, r) for r in responses]
    assert sorted(b["transaction"]["replay"] for b in bodies) == [False] + [True] * 19
    assert {b["balance"]["cash"] for b in bodies} == {"13.00"}
    assert await cash_bonus(api, "p1") == (1300, 0)
    assert_ledger_ok(database_url)


async def test_30_concurrent_bets_against_a_balance_for_10_accept_exactly_10(
    api: Api, database_url: str
) -> None:
    p1 = await seat(api, cash="10.00")
    bets = [p1.bet(f"b{i}", "1.00", round_id=f"r{i}") for i in range(30)]

    responses = await asyncio.gather(*(api.post("bet", b) for b in bets))

    accepted = [ok(api, r) for r in responses if r.status_code == 200]
    refusals = [r for r in responses if r.status_code != 200]
    assert len(accepted) == 10
    assert len(refusals) == 20
    for r in refusals:
        refused(api, r, 402, "INSUFFICIENT_FUNDS", balance=("0.00", "0.00"))
    assert sorted(b["balance"]["cash"] for b in accepted) == [f"{i}.00" for i in range(10)]
    assert await cash_bonus(api, "p1") == (0, 0)
    # Every call got its final answer: re-sent one by one, each replays it.
    for b, r in zip(bets, responses, strict=True):
        again = await api.post("bet", b)
        assert again.status_code == r.status_code
        if r.status_code == 200:
            same_result(ok(api, again), r.json())
        else:
            refused(api, again, 402, "INSUFFICIENT_FUNDS", replay=True, balance=("0.00", "0.00"))
    assert await cash_bonus(api, "p1") == (0, 0)
    assert_ledger_ok(database_url)


async def test_rollback_racing_its_bet_moves_no_money_either_way(
    api: Api, database_url: str
) -> None:
    p1 = await seat(api)

    bet_r, rollback_r = await asyncio.gather(
        api.post("bet", p1.bet("b1", "4.00")), api.post("rollback", p1.rollback("rb1", "b1"))
    )

    undone = ok(api, rollback_r)
    if undone["transaction"]["outcome"] == "tombstone":  # the rollback ran first
        refused(api, bet_r, 409, "TRANSACTION_ROLLED_BACK", balance=("10.00", "0.00"))
    else:  # the bet ran first, then was reversed
        assert undone["transaction"]["outcome"] == "applied"
        assert ok(api, bet_r)["balance"]["cash"] == "6.00"
        assert undone["balance"]["cash"] == "10.00"
    assert await cash_bonus(api, "p1") == (1000, 0)
    assert_ledger_ok(database_url)


async def test_win_racing_a_rollback_of_its_bet_resolves_the_round_once(
    api: Api, database_url: str
) -> None:
    p1 = await seat(api)
    ok(api, await api.post("bet", p1.bet("b1", "4.00")))

    win_r, rollback_r = await asyncio.gather(
        api.post("win", p1.win("w1", "9.00")), api.post("rollback", p1.rollback("rb1", "b1"))
    )

    if win_r.status_code == 200:  # the win came first: the round is settled
        assert ok(api, win_r)["balance"]["cash"] == "15.00"
        refused(api, rollback_r, 409, "BET_ALREADY_SETTLED", balance=("15.00", "0.00"))
        assert await cash_bonus(api, "p1") == (1500, 0)
    else:  # the rollback came first: the win has no live bet
        assert ok(api, rollback_r)["balance"]["cash"] == "10.00"
        refused(api, win_r, 409, "TRANSACTION_ROLLED_BACK", balance=("10.00", "0.00"))
        assert await cash_bonus(api, "p1") == (1000, 0)
    assert_ledger_ok(database_url)


async def test_same_rollback_sent_20_times_at_once_refunds_once(
    api: Api, database_url: str
) -> None:
    p1 = await seat(api)
    ok(api, await api.post("bet", p1.bet("b1", "4.00")))

    responses = await asyncio.gather(
        *(api.post("rollback", p1.rollback(f"rb{i % 2}", "b1")) for i in range(20))
    )

    bodies = [ok(api, r) for r in responses]
    assert sorted(b["transaction"]["replay"] for b in bodies) == [False] + [True] * 19
    assert len({b["transaction"]["id"] for b in bodies}) == 1
    assert {b["balance"]["cash"] for b in bodies} == {"10.00"}
    assert await cash_bonus(api, "p1") == (1000, 0)
    assert_ledger_ok(database_url)


# -- rule 4: rollback before bet --------------------------------------------------------------


async def test_rollback_before_bet_leaves_tombstone_and_the_late_bet_is_refused(
    api: Api, database_url: str
) -> None:
    p1 = await seat(api)
    before = await counts(api)

    early = ok(api, await api.post("rollback", p1.rollback("rb1", "b1", round_id="r1")))

    assert early["transaction"]["outcome"] == "tombstone"
    assert early["transaction"]["kind"] == "rollback"
    assert (early["transaction"]["cash_amount"], early["transaction"]["bonus_amount"]) == (
        "0.00",
        "0.00",
    )
    assert early["balance"] == {"cash": "10.00", "bonus": "0.00"}
    after = await counts(api)
    assert after["wallet_transactions"] == before["wallet_transactions"] + 2  # rollback, stone
    assert after["postings"] == before["postings"]

    late = refused(
        api,
        await api.post("bet", p1.bet("b1", "3.00")),
        409,
        "TRANSACTION_ROLLED_BACK",
        balance=("10.00", "0.00"),
    )
    assert late["error"]["retry_class"] == "final"
    # The late bet re-sent is refused again, and the rollback re-sent is a replay.
    refused(
        api,
        await api.post("bet", p1.bet("b1", "3.00")),
        409,
        "TRANSACTION_ROLLED_BACK",
        balance=("10.00", "0.00"),
    )
    same_result(ok(api, await api.post("rollback", p1.rollback("rb1", "b1", round_id="r1"))), early)

    assert await counts(api) == after
    assert await cash_bonus(api, "p1") == (1000, 0)
    # The round the refused bet named was never opened: a win on it has no bet.
    refused(
        api,
        await api.post("win", p1.win("w1", "1.00")),
        404,
        "BET_NOT_FOUND",
        balance=("10.00", "0.00"),
    )
    assert_ledger_ok(database_url)


# -- rule 5: rollback after bet, rollback twice, rollback after win ---------------------------


async def test_rollback_after_bet_restores_the_balance(api: Api, database_url: str) -> None:
    p1 = await seat(api)
    ok(api, await api.post("bet", p1.bet("b1", "3.00")))

    undone = ok(
        api, await api.post("rollback", p1.rollback("rb1", "b1", amount="3.00", round_id="r1"))
    )

    tx = undone["transaction"]
    assert (tx["kind"], tx["outcome"], tx["replay"]) == ("rollback", "applied", False)
    assert (tx["cash_amount"], tx["bonus_amount"]) == ("3.00", "0.00")
    assert undone["balance"] == {"cash": "10.00", "bonus": "0.00"}
    assert await cash_bonus(api, "p1") == (1000, 0)
    # A win on the round whose only bet was rolled back is refused (rule 6).
    refused(
        api,
        await api.post("win", p1.win("w1", "5.00")),
        409,
        "TRANSACTION_ROLLED_BACK",
        balance=("10.00", "0.00"),
    )
    assert_ledger_ok(database_url)


async def test_second_rollback_of_a_bet_is_a_replay_not_a_second_refund(
    api: Api, database_url: str
) -> None:
    p1 = await seat(api)
    ok(api, await api.post("bet", p1.bet("b1", "3.00")))
    first = ok(api, await api.post("rollback", p1.rollback("rb1", "b1")))
    before = await counts(api)

    second = ok(api, await api.post("rollback", p1.rollback("rb2", "b1")))

    same_result(second, first)
    assert await counts(api) == before
    assert await cash_bonus(api, "p1") == (1000, 0)
    assert_ledger_ok(database_url)


@pytest.mark.parametrize("settle", ["win", "end_round"])
async def test_rollback_after_the_round_was_settled_is_refused(
    api: Api, database_url: str, settle: str
) -> None:
    p1 = await seat(api)
    ok(api, await api.post("bet", p1.bet("b1", "3.00")))
    if settle == "win":
        ok(api, await api.post("win", p1.win("w1", "1.00")))
    else:
        ok(api, await api.post("end_round", p1.end_round("e1")))
    cash = "8.00" if settle == "win" else "7.00"
    before = await counts(api)

    body = refused(
        api,
        await api.post("rollback", p1.rollback("rb1", "b1")),
        409,
        "BET_ALREADY_SETTLED",
        balance=(cash, "0.00"),
    )

    assert body["error"]["retry_class"] == "final"
    assert await counts(api) == before
    assert (await cash_bonus(api, "p1"))[0] == int(cash.replace(".", ""))
    assert_ledger_ok(database_url)


async def test_rollback_that_does_not_describe_its_bet_is_refused(
    api: Api, database_url: str
) -> None:
    p1 = await seat(api)
    p2 = await seat(api, "p2")
    ok(api, await api.post("bet", p1.bet("b1", "3.00")))
    ok(api, await api.post("win", p1.win("w1", "1.00", round_id="r1")))
    ok(api, await api.post("bet", p1.bet("b2", "2.00", round_id="r2")))
    before = await counts(api)

    refused(
        api,
        await api.post("rollback", p1.rollback("rb1", "b2", amount="1.00")),
        409,
        "ROLLBACK_NOT_ALLOWED",
        balance=("6.00", "0.00"),
    )
    refused(
        api,
        await api.post("rollback", p1.rollback("rb2", "b2", round_id="r1")),
        409,
        "ROUND_MISMATCH",
        balance=("6.00", "0.00"),
    )
    refused(
        api,
        await api.post("rollback", p1.rollback("rb3", "w1")),
        409,
        "ROLLBACK_NOT_ALLOWED",
        balance=("6.00", "0.00"),
    )
    refused(
        api,
        await api.post("rollback", p2.rollback("rb4", "b2")),
        409,
        "ROLLBACK_NOT_ALLOWED",
        balance=("10.00", "0.00"),
    )

    assert await counts(api) == before
    assert await cash_bonus(api, "p1") == (600, 0)
    assert await cash_bonus(api, "p2") == (1000, 0)
    assert_ledger_ok(database_url)


async def test_rollback_naming_another_game_than_its_bet_is_refused(
    api: Api, database_url: str
) -> None:
    """A rollback's round, where given, must be its bet's (ROUND_MISMATCH); so must its game,
    the other half of what identifies the round (the wallet answers a bet or win naming a
    round of another game with ROUND_MISMATCH)."""
    p1 = await seat(api)
    ok(api, await api.post("bet", p1.bet("b1", "3.00")))
    before = await counts(api)

    refused(
        api,
        await api.post("rollback", p1.rollback("rb1", "b1", game_code="slots")),
        409,
        "ROUND_MISMATCH",
        balance=("7.00", "0.00"),
    )

    assert await counts(api) == before
    assert await cash_bonus(api, "p1") == (700, 0)
    assert_ledger_ok(database_url)


# -- rule 6: win without a bet, or against a rolled-back bet ----------------------------------


async def test_win_without_a_bet_is_refused(api: Api, database_url: str) -> None:
    p1 = await seat(api)
    ok(api, await api.post("bet", p1.bet("b1", "1.00", round_id="r1")))
    before = await counts(api)

    no_round = refused(
        api,
        await api.post("win", p1.win("w1", "5.00", round_id="r9")),
        404,
        "BET_NOT_FOUND",
        balance=("9.00", "0.00"),
    )
    refused(
        api,
        await api.post("win", p1.win("w2", "5.00", bet_tx_id="nope")),
        404,
        "BET_NOT_FOUND",
        balance=("9.00", "0.00"),
    )

    assert no_round["error"]["retry_class"] == "final"
    assert await counts(api) == before
    assert await cash_bonus(api, "p1") == (900, 0)
    # Nothing was stored under w1: the id is free for a real win.
    paid = ok(api, await api.post("win", p1.win("w1", "5.00", round_id="r1")))
    assert (paid["transaction"]["replay"], paid["balance"]["cash"]) == (False, "14.00")
    assert_ledger_ok(database_url)


async def test_win_naming_a_rolled_back_bet_is_refused(api: Api, database_url: str) -> None:
    p1 = await seat(api)
    ok(api, await api.post("bet", p1.bet("b1", "1.00")))
    ok(api, await api.post("bet", p1.bet("b2", "2.00")))  # keeps the round alive
    ok(api, await api.post("rollback", p1.rollback("rb1", "b1")))
    ok(api, await api.post("rollback", p1.rollback("rb3", "b3")))  # b3 never came: tombstone
    before = await counts(api)

    for bet_tx_id in ("b1", "b3"):
        refused(
            api,
            await api.post("win", p1.win(f"w-{bet_tx_id}", "5.00", bet_tx_id=bet_tx_id)),
            409,
            "TRANSACTION_ROLLED_BACK",
            balance=("8.00", "0.00"),
        )

    assert await counts(api) == before
    paid = ok(api, await api.post("win", p1.win("w2", "5.00", bet_tx_id="b2")))
    assert paid["balance"]["cash"] == "13.00"
    assert_ledger_ok(database_url)


# -- rule 7: closed rounds, end round ---------------------------------------------------------


async def test_bet_on_a_closed_round_is_a_stored_refusal(api: Api, database_url: str) -> None:
    p1 = await seat(api)
    ok(api, await api.post("bet", p1.bet("b1", "1.00")))
    closed = ok(api, await api.post("win", p1.win("w1", "0.50", close_round=True)))
    assert closed["transaction"]["round_closed"] is True

    first = refused(
        api,
        await api.post("bet", p1.bet("b2", "1.00")),
        409,
        "ROUND_CLOSED",
        balance=("9.50", "0.00"),
    )
    await deposit(api, "p1", 1000, "d2")
    before = await counts(api)
    again = refused(
        api,
        await api.post("bet", p1.bet("b2", "1.00")),
        409,
        "ROUND_CLOSED",
        replay=True,
        balance=("9.50", "0.00"),
    )

    assert again["error"] == first["error"]
    assert await counts(api) == before
    assert await cash_bonus(api, "p1") == (1950, 0)
    assert_ledger_ok(database_url)


async def test_win_on_a_closed_round_is_refused(api: Api, database_url: str) -> None:
    p1 = await seat(api)
    ok(api, await api.post("bet", p1.bet("b1", "1.00")))
    ok(api, await api.post("win", p1.win("w1", "2.00", close_round=True)))
    ok(api, await api.post("bet", p1.bet("b2", "1.00", round_id="r2")))
    ok(api, await api.post("end_round", p1.end_round("e2", round_id="r2")))
    before = await counts(api)

    for tx_id, round_id in (("w2", "r1"), ("w3", "r2")):
        body = refused(
            api,
            await api.post("win", p1.win(tx_id, "5.00", round_id=round_id)),
            409,
            "ROUND_CLOSED",
            balance=("10.00", "0.00"),
        )
        assert body["error"]["retry_class"] == "final"

    assert await counts(api) == before
    assert await cash_bonus(api, "p1") == (1000, 0)
    assert_ledger_ok(database_url)


async def test_end_round_closes_the_round_once(api: Api, database_url: str) -> None:
    p1 = await seat(api)
    ok(api, await api.post("bet", p1.bet("b1", "1.00")))
    ok(api, await api.post("win", p1.win("w1", "0.40")))

    first = ok(api, await api.post("end_round", p1.end_round("e1")))
    second = ok(api, await api.post("end_round", p1.end_round("e2")))

    tx = first["transaction"]
    assert (tx["kind"], tx["outcome"], tx["round_closed"], tx["replay"]) == (
        "end_round",
        "applied",
        True,
        False,
    )
    assert (tx["cash_amount"], tx["bonus_amount"]) == ("0.00", "0.00")
    assert first["balance"] == {"cash": "9.40", "bonus": "0.00"}
    assert (second["transaction"]["outcome"], second["transaction"]["replay"]) == (
        "already_closed",
        False,
    )
    refused(
        api,
        await api.post("end_round", p1.end_round("e3", round_id="r9")),
        404,
        "TRANSACTION_NOT_FOUND",
        balance=("9.40", "0.00"),
    )
    refused(api, await api.post("bet", p1.bet("b2", "1.00")), 409, "ROUND_CLOSED")
    assert await cash_bonus(api, "p1") == (940, 0)
    assert_ledger_ok(database_url)


async def test_round_of_another_player_is_refused(api: Api, database_url: str) -> None:
    p1 = await seat(api)
    p2 = await seat(api, "p2")
    ok(api, await api.post("bet", p1.bet("b1", "1.00")))
    before = await counts(api)

    refused(
        api,
        await api.post("bet", p2.bet("b2", "1.00")),
        409,
        "ROUND_MISMATCH",
        balance=("10.00", "0.00"),
    )
    refused(
        api,
        await api.post("win", p2.win("w1", "1.00")),
        409,
        "ROUND_MISMATCH",
        balance=("10.00", "0.00"),
    )
    refused(
        api,
        await api.post("end_round", p2.end_round("e1")),
        409,
        "ROUND_MISMATCH",
        balance=("10.00", "0.00"),
    )

    assert await counts(api) == before
    assert await cash_bonus(api, "p1") == (900, 0)
    assert await cash_bonus(api, "p2") == (1000, 0)
    assert_ledger_ok(database_url)


# -- rule 8: insufficient funds ---------------------------------------------------------------


async def test_insufficient_funds_reports_cash_and_bonus(api: Api, database_url: str) -> None:
    p1 = await seat(api, cash="1.00", bonus=50)
    before = await counts(api)

    refused(
        api,
        await api.post("bet", p1.bet("b1", "1.51")),
        402,
        "INSUFFICIENT_FUNDS",
        balance=("1.00", "0.50"),
    )

    after = await counts(api)
    assert after["postings"] == before["postings"]
    assert after["rounds"] == before["rounds"]  # a refused bet opens no round
    exact = ok(api, await api.post("bet", p1.bet("b2", "1.50")))  # exactly what is playable
    assert exact["balance"] == {"cash": "0.00", "bonus": "0.00"}
    assert (exact["transaction"]["cash_amount"], exact["transaction"]["bonus_amount"]) == (
        "1.00",
        "0.50",
    )
    assert_ledger_ok(database_url)


# -- rule 9: bets only are refused for the player's state and the token's age ----------------


async def test_blocked_player_cannot_bet_but_wins_and_rollbacks_settle(
    api: Api, database_url: str
) -> None:
    p1 = await seat(api)
    ok(api, await api.post("bet", p1.bet("b1", "1.00", round_id="r1")))
    ok(api, await api.post("bet", p1.bet("b2", "2.00", round_id="r2")))
    await api.wallet.set_blocked("p1", blocked=True)
    before = await counts(api)

    body = refused(
        api,
        await api.post("bet", p1.bet("b3", "1.00", round_id="r3")),
        403,
        "PLAYER_BLOCKED",
        balance=("7.00", "0.00"),
    )
    assert body["error"]["retry_class"] == "fatal"
    after = await counts(api)
    assert after == before | {"wallet_transactions": before["wallet_transactions"] + 1}

    paid = ok(api, await api.post("win", p1.win("w1", "5.00", round_id="r1", close_round=True)))
    undone = ok(api, await api.post("rollback", p1.rollback("rb2", "b2")))
    assert paid["balance"]["cash"] == "12.00"
    assert (undone["transaction"]["outcome"], undone["balance"]["cash"]) == ("applied", "14.00")
    assert await cash_bonus(api, "p1") == (1400, 0)
    # The provider was told the bet was refused: re-sent after the unblock, it still is.
    await api.wallet.set_blocked("p1", blocked=False)
    refused(
        api,
        await api.post("bet", p1.bet("b3", "1.00", round_id="r3")),
        403,
        "PLAYER_BLOCKED",
        replay=True,
        balance=("7.00", "0.00"),
    )
    assert ok(api, await api.post("bet", p1.bet("b4", "1.00", round_id="r4")))["balance"] == {
        "cash": "13.00",
        "bonus": "0.00",
    }
    assert_ledger_ok(database_url)


async def test_expired_token_refuses_bets_but_not_wins_rollbacks_or_end_round(
    api: Api, database_url: str
) -> None:
    p1 = await seat(api)
    taken = ok(api, await api.post("bet", p1.bet("b1", "1.00", round_id="r1")))
    ok(api, await api.post("bet", p1.bet("b2", "2.00", round_id="r2")))
    ok(api, await api.post("bet", p1.bet("b3", "3.00", round_id="r3")))
    refused(
        api,
        await api.post("bet", p1.bet("bx", "99.00", round_id="rx")),
        402,
        "INSUFFICIENT_FUNDS",
        balance=("4.00", "0.00"),
    )
    api.clock.advance(901)  # the token lived 900 s
    before = await counts(api)

    body = refused(
        api,
        await api.post("bet", p1.bet("b4", "1.00", round_id="r4")),
        401,
        "TOKEN_EXPIRED",
        balance=("4.00", "0.00"),
    )
    assert body["error"]["retry_class"] == "fatal"
    # Bets answered while the token was good, re-sent now, answer as they did (rule 1).
    same_result(ok(api, await api.post("bet", p1.bet("b1", "1.00", round_id="r1"))), taken)
    refused(
        api,
        await api.post("bet", p1.bet("bx", "99.00", round_id="rx")),
        402,
        "INSUFFICIENT_FUNDS",
        replay=True,
        balance=("4.00", "0.00"),
    )
    refused(
        api, await api.post("bet", p1.bet("b1", "1.01", round_id="r1")), 409, "IDEMPOTENCY_MISMATCH"
    )
    # The refused bet is stored (a resend answers the same), with no money moved.
    assert await counts(api) == before | {"wallet_transactions": before["wallet_transactions"] + 1}
    refused(
        api, await api.post("balance", {"player_id": "p1", "token": p1.token}), 401, "TOKEN_EXPIRED"
    )

    # Settlement with the expired token given, and without a token at all.
    paid = ok(api, await api.post("win", p1.win("w1", "5.00", round_id="r1", token=p1.token)))
    undone = ok(
        api, await api.post("rollback", p1.rollback("rb2", "b2", token=p1.token, game_code="dice"))
    )
    ended = ok(api, await api.post("end_round", p1.end_round("e3", round_id="r3", token=p1.token)))
    assert paid["balance"]["cash"] == "9.00"
    assert (undone["transaction"]["outcome"], undone["balance"]["cash"]) == ("applied", "11.00")
    assert ended["transaction"]["round_closed"] is True
    api.clock.advance(DAY)
    ok(api, await api.post("win", p1.win("w2", "1.00", round_id="r1")))
    assert await cash_bonus(api, "p1") == (1200, 0)
    # The expired token is still only p1's: naming another player is refused, not settled.
    await seat(api, "p2")
    refused(
        api,
        await api.post("win", p1.win("w3", "1.00", round_id="r1", token=p1.token, player_id="p2")),
        401,
        "TOKEN_INVALID",
    )
    assert await cash_bonus(api, "p2") == (1000, 0)
    assert_ledger_ok(database_url)


async def test_closed_session_takes_no_bets_but_its_open_rounds_settle(
    api: Api, database_url: str
) -> None:
    """Rule 7's "open rounds must be able to settle": the player left (the session no longer
    takes bets), the provider still pays, reverses and closes the rounds in flight."""
    p1 = await seat(api)
    taken = ok(api, await api.post("bet", p1.bet("b1", "1.00", round_id="r1")))
    ok(api, await api.post("bet", p1.bet("b2", "2.00", round_id="r2")))
    ok(api, await api.post("bet", p1.bet("b3", "3.00", round_id="r3")))
    closed = await api.sessions.close(p1.session_id, actor="operator", reason="player left")
    assert not closed.state.takes_bets
    before = await counts(api)

    body = refused(
        api,
        await api.post("bet", p1.bet("b4", "1.00", round_id="r1")),
        403,
        "SESSION_CLOSED",
        balance=("4.00", "0.00"),
    )
    assert body["error"]["retry_class"] == "fatal"
    # The refused bet is stored (a resend answers the same), with no money moved.
    assert await counts(api) == before | {"wallet_transactions": before["wallet_transactions"] + 1}
    same_result(ok(api, await api.post("bet", p1.bet("b1", "1.00", round_id="r1"))), taken)

    paid = ok(
        api,
        await api.post(
            "win", p1.win("w1", "5.00", round_id="r1", token=p1.token, close_round=True)
        ),
    )
    undone = ok(api, await api.post("rollback", p1.rollback("rb2", "b2", token=p1.token)))
    ended = ok(api, await api.post("end_round", p1.end_round("e3", round_id="r3")))
    assert paid["balance"]["cash"] == "9.00"
    assert (undone["transaction"]["outcome"], undone["balance"]["cash"]) == ("applied", "11.00")
    assert (ended["transaction"]["outcome"], ended["balance"]["cash"]) == ("applied", "11.00")
    assert await cash_bonus(api, "p1") == (1100, 0)
    assert_ledger_ok(database_url)


# -- rule 10: bonus split ---------------------------------------------------------------------


async def test_bet_takes_cash_then_bonus_and_win_returns_in_proportion(
    api: Api, database_url: str
) -> None:
    p1 = await seat(api, cash="10.00", bonus=500)

    staked = ok(api, await api.post("bet", p1.bet("b1", "12.00")))
    assert (staked["transaction"]["cash_amount"], staked["transaction"]["bonus_amount"]) == (
        "10.00",
        "2.00",
    )
    assert staked["balance"] == {"cash": "0.00", "bonus": "3.00"}

    paid = ok(api, await api.post("win", p1.win("w1", "6.00", close_round=True)))
    assert (paid["transaction"]["cash_amount"], paid["transaction"]["bonus_amount"]) == (
        "5.00",
        "1.00",
    )
    assert paid["balance"] == {"cash": "5.00", "bonus": "4.00"}
    assert await cash_bonus(api, "p1") == (500, 400)
    balance = ok(api, await api.post("balance", {"player_id": "p1", "token": p1.token}))
    assert balance["balance"] == {"cash": "5.00", "bonus": "4.00"}

    # Cash 1/3 and bonus 2/3 of the stake: a win of 1.00 splits 0.33 / 0.67, the odd cent
    # to bonus, so rounding never makes bonus money withdrawable.
    ok(api, await api.post("bet", p1.bet("b2", "7.00", round_id="r2")))
    ok(api, await api.post("rollback", p1.rollback("rb-none", "b-none")))  # moves nothing
    assert await cash_bonus(api, "p1") == (0, 200)
    await deposit(api, "p1", 100, "d2")
    third = ok(api, await api.post("bet", p1.bet("b3", "3.00", round_id="r3")))
    assert (third["transaction"]["cash_amount"], third["transaction"]["bonus_amount"]) == (
        "1.00",
        "2.00",
    )
    odd = ok(api, await api.post("win", p1.win("w3", "1.00", round_id="r3")))
    assert (odd["transaction"]["cash_amount"], odd["transaction"]["bonus_amount"]) == (
        "0.33",
        "0.67",
    )
    assert odd["balance"] == {"cash": "0.33", "bonus": "0.67"}
    assert_ledger_ok(database_url)


async def test_rollback_returns_the_stake_to_where_it_came_from(
    api: Api, database_url: str
) -> None:
    p1 = await seat(api, cash="1.00", bonus=500)
    staked = ok(api, await api.post("bet", p1.bet("b1", "3.00")))
    assert staked["balance"] == {"cash": "0.00", "bonus": "3.00"}

    undone = ok(api, await api.post("rollback", p1.rollback("rb1", "b1")))

    assert (undone["transaction"]["cash_amount"], undone["transaction"]["bonus_amount"]) == (
        "1.00",
        "2.00",
    )
    assert undone["balance"] == {"cash": "1.00", "bonus": "5.00"}
    assert await cash_bonus(api, "p1") == (100, 500)
    assert_ledger_ok(database_url)


# -- rule 11: precision, negative amounts, JSON numbers, currency -----------------------------


BAD_AMOUNTS = {
    # id: (amount on the wire, HTTP status, error code)
    "finer-than-cents": ("1.001", 400, "AMOUNT_PRECISION"),
    "json-float": (1.5, 400, "AMOUNT_INVALID"),
    "json-integer": (150, 400, "AMOUNT_INVALID"),
    "negative": ("-1.00", 400, "AMOUNT_OUT_OF_RANGE"),
    "exponent": ("1e2", 400, "AMOUNT_INVALID"),
    "leading-plus": ("+1.00", 400, "AMOUNT_INVALID"),
    "nan": ("NaN", 400, "AMOUNT_INVALID"),
    "above-max": (f"{10**9 + 1}.00", 400, "AMOUNT_OUT_OF_RANGE"),
}


@pytest.mark.parametrize("case", list(BAD_AMOUNTS), ids=list(BAD_AMOUNTS))
async def test_bad_amount_is_refused_before_anything_is_written(
    api: Api, database_url: str, case: str
) -> None:
    amount, status, code = BAD_AMOUNTS[case]
    p1 = await seat(api)
    ok(api, await api.post("bet", p1.bet("b0", "1.00")))
    before = await counts(api)
    calls = [
        ("bet", p1.bet("b1", amount)),
        ("win", p1.win("w1", amount)),
        ("rollback", p1.rollback("rb1", "b0", amount=amount)),
    ]

    for call, body in calls:
        error = refused(api, await api.post(call, body), status, code)
        assert error["error"]["retry_class"] == "final", call

    assert await counts(api) == before
    assert await cash_bonus(api, "p1") == (900, 0)
    # Nothing was stored under these ids: sent right, they are fresh calls.
    assert ok(api, await api.post("bet", p1.bet("b1", "1.00")))["transaction"]["replay"] is False
    assert ok(api, await api.post("win", p1.win("w1", "1.00")))["transaction"]["replay"] is False
    assert_ledger_ok(database_url)


async def test_trailing_zeros_are_exact_and_accepted(api: Api, database_url: str) -> None:
    p1 = await seat(api)
    placed = ok(api, await api.post("bet", p1.bet("b1", "1.500")))
    assert placed["transaction"]["cash_amount"] == "1.50"
    assert placed["balance"]["cash"] == "8.50"
    # "1.5" and "1.500" are the same amount: the same content, so a replay.
    assert ok(api, await api.post("bet", p1.bet("b1", "1.5")))["transaction"]["replay"] is True
    assert_ledger_ok(database_url)


async def test_jpy_has_no_minor_unit(api: Api, database_url: str) -> None:
    jp = await seat(api, "pj", "5000", currency="JPY")
    before = await counts(api)

    refused(api, await api.post("bet", jp.bet("b1", "1.5")), 400, "AMOUNT_PRECISION")
    refused(api, await api.post("win", jp.win("w1", "0.5")), 400, "AMOUNT_PRECISION")
    assert await counts(api) == before

    placed = ok(api, await api.post("bet", jp.bet("b1", "1200")), exponent=0)
    assert placed["currency"] == "JPY"
    assert placed["balance"] == {"cash": "3800", "bonus": "0"}
    paid = ok(api, await api.post("win", jp.win("w1", "3000", close_round=True)), exponent=0)
    assert paid["balance"] == {"cash": "6800", "bonus": "0"}
    assert await cash_bonus(api, "pj") == (6800, 0)
    assert_ledger_ok(database_url)


async def test_currency_not_the_players_is_refused_and_nothing_written(
    api: Api, database_url: str
) -> None:
    p1 = await seat(api)
    ok(api, await api.post("bet", p1.bet("b0", "1.00")))
    before = await counts(api)

    body = refused(
        api,
        await api.post("bet", p1.bet("b1", "1.00", currency="USD")),
        409,
        "CURRENCY_MISMATCH",
        balance=("9.00", "0.00"),
    )
    assert body["error"]["details"] == {"currency": "USD", "wallet_currency": "EUR"}
    refused(
        api, await api.post("win", p1.win("w1", "1.00", currency="USD")), 409, "CURRENCY_MISMATCH"
    )
    refused(
        api,
        await api.post("rollback", p1.rollback("rb1", "b0", currency="USD")),
        409,
        "CURRENCY_MISMATCH",
    )
    refused(
        api,
        await api.post("end_round", p1.end_round("e1", currency="USD")),
        409,
        "CURRENCY_MISMATCH",
    )
    refused(
        api, await api.post("bet", p1.bet("b2", "1.00", currency="ZZZ")), 400, "CURRENCY_UNKNOWN"
    )

    assert await counts(api) == before
    assert await cash_bonus(api, "p1") == (900, 0)
    accepted = ok(api, await api.post("bet", p1.bet("b1", "1.00")))
    assert (accepted["transaction"]["replay"], accepted["balance"]["cash"]) == (False, "8.00")
    assert_ledger_ok(database_url)


# -- rule 12: retention -----------------------------------------------------------------------


async def test_replays_are_recognised_four_months_later(api: Api, database_url: str) -> None:
    p1 = await seat(api)
    ok(api, await api.post("bet", p1.bet("b1", "1.00", round_id="r1")))
    won = ok(api, await api.post("win", p1.win("w1", "3.00", round_id="r1")))
    ok(api, await api.post("bet", p1.bet("b2", "2.00", round_id="r2")))
    undone = ok(api, await api.post("rollback", p1.rollback("rb2", "b2")))
    api.clock.advance(122 * DAY)  # Hub88 keeps retrying for up to 4 months
    before = await counts(api)

    same_result(ok(api, await api.post("win", p1.win("w1", "3.00", round_id="r1"))), won)
    same_result(ok(api, await api.post("rollback", p1.rollback("rb2", "b2"))), undone)
    refused(
        api, await api.post("win", p1.win("w1", "3.01", round_id="r1")), 409, "IDEMPOTENCY_MISMATCH"
    )

    assert await counts(api) == before
    assert await cash_bonus(api, "p1") == (1200, 0)
    assert_ledger_ok(database_url)
