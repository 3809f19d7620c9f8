"""The go-live certification run: a wallet speaking the native protocol put through the tests
that matter, each a named test with a verdict and its evidence (docs/certify.md).

The run plays the provider: it signs with one of the provider's keys and sends what real
providers send, in the orders and failures they send it. What it needs from the operator's
side (players, deposits, session tokens, a loss limit) it asks through the operator API with
an operator key; with ``recon`` the reconciliation test also diffs its feed through the
operator's reconciliation API.

Every amount the tests compare is an integer in minor units; balances are read with the
wallet's own ``balance`` call.
"""

from __future__ import annotations

import asyncio
import html
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from croupier.sandbox.chaos import Chaos, ChaosTransport, Switch
from croupier.sandbox.client import Answer, Backoff, Credentials, WalletClient
from croupier.sandbox.operator import OperatorClient, OperatorError
from croupier.sandbox.players import CATEGORIES
from croupier.sandbox.provider import Provider, exponent_of, to_minor, to_text


class Failed(Exception):
    """A verdict of fail, with what was seen."""

    def __init__(self, message: str, **evidence: Any) -> None:
        super().__init__(message)
        self.evidence = evidence


@dataclass
class Result:
    name: str
    title: str
    passed: bool
    seconds: float
    detail: str
    evidence: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "title": self.title, "verdict": "pass" if self.passed else "fail",
            "seconds": round(self.seconds, 3), "detail": self.detail, "evidence": self.evidence,
        }  # fmt: skip


@dataclass
class Target:
    """The wallet under test and the operator side that feeds it."""

    wallet_url: str
    credentials: Credentials
    operator_url: str
    operator_key: str
    wallet_transport: httpx.AsyncBaseTransport | None = None
    operator_transport: httpx.AsyncBaseTransport | None = None
    clock: Callable[[], float] = time.time
    recon: bool = True
    """Also diff the reconciliation test's feed through the operator's recon API."""


@dataclass
class Report:
    run_id: str
    wallet_url: str
    provider: str
    started_at: str
    results: list[Result] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "wallet_url": self.wallet_url, "provider": self.provider,
            "started_at": self.started_at, "passed": self.passed,
            "counts": {"pass": sum(r.passed for r in self.results),
                       "fail": sum(not r.passed for r in self.results)},
            "tests": [r.to_dict() for r in self.results],
        }  # fmt: skip

    def to_html(self) -> str:
        rows = "".join(
            f"<tr class={'pass' if r.passed else 'fail'}><td>{html.escape(r.name)}</td>"
            f"<td>{html.escape(r.title)}</td><td>{'PASS' if r.passed else 'FAIL'}</td>"
            f"<td>{r.seconds:.2f}</td><td>{html.escape(r.detail)}</td>"
            "<td><details><summary>evidence</summary><pre>"
            f"{html.escape(json.dumps(r.evidence, indent=2, default=str))}</pre>"
            "</details></td></tr>"
            for r in self.results
        )
        verdict = "PASSED" if self.passed else "FAILED"
        return (
            "<!doctype html><meta charset=utf-8><title>Croupier certification</title>"
            "<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 8px;"
            "vertical-align:top;border-bottom:1px solid #ddd}.pass td:nth-child(3){color:#070}"
            ".fail td:nth-child(3){color:#b00;font-weight:bold}pre{max-width:60em;"
            "overflow:auto}</style>"
            f"<h1>Certification {verdict}</h1><p>run {html.escape(self.run_id)}, wallet "
            f"{html.escape(self.wallet_url)}, provider {html.escape(self.provider)}, started "
            f"{html.escape(self.started_at)}</p><table><tr><th>test</th><th>what</th>"
            f"<th>verdict</th><th>s</th><th>detail</th><th></th></tr>{rows}</table>"
        )


Check = Callable[["Run"], Awaitable[tuple[str, dict[str, Any]]]]
TESTS: dict[str, tuple[str, Check]] = {}


def test(name: str, title: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        TESTS[name] = (title, fn)
        return fn

    return register


class Run:
    """One certification run: its ids, its clients, its players."""

    def __init__(self, target: Target, *, repeat: int = 10) -> None:
        self.target = target
        self.repeat = repeat
        self.id = secrets.token_hex(4)
        self.operator = OperatorClient(
            target.operator_url, target.operator_key, transport=target.operator_transport
        )
        self._n = 0
        self._clients: list[WalletClient] = []

    def ref(self, what: str) -> str:
        self._n += 1
        return f"cert-{self.id}-{what}{self._n}"

    def client(self, chaos: Chaos | None = None, *, attempts: int = 5) -> WalletClient:
        inner = self.target.wallet_transport or httpx.AsyncHTTPTransport()
        transport = ChaosTransport(inner, chaos) if chaos is not None else inner
        client = WalletClient(
            self.target.wallet_url, self.target.credentials, transport=transport,
            backoff=Backoff(attempts=attempts, base=0.02, cap=0.2), clock=self.target.clock,
        )  # fmt: skip
        self._clients.append(client)
        return client

    async def close(self) -> None:
        for c in self._clients:
            await c.aclose()
        await self.operator.aclose()

    async def setup(self) -> None:
        await self.operator.put_catalogue(
            self.target.credentials.provider, "http://127.0.0.1:9/launch", CATEGORIES
        )

    async def player(self, deposit: str, currency: str = "EUR", game: str = "dice") -> Player:
        ref = self.ref("player")
        player_id = await self.operator.player(ref, currency, deposit)
        launched = await self.operator.launch(player_id, self.target.credentials.provider, game)
        return Player(self, player_id, str(launched["token"]), currency, game)


@dataclass
class Player:
    run: Run
    id: str
    token: str
    currency: str
    game: str
    exponent: int = -1

    async def balance(self, client: WalletClient | None = None) -> int:
        answer = await (client or self.run.client()).call(
            "balance", {"player_id": self.id, "token": self.token}
        )
        if not answer.ok or answer.balance() is None:
            raise Failed(f"balance refused: {answer.code}", answer=answer.body)
        cash = answer.balance()[0]  # type: ignore[index]
        self.exponent = exponent_of(cash)
        return to_minor(cash, self.exponent)

    def amount(self, minor: int) -> str:
        return to_text(minor, self.exponent)

    def bet(self, tx: str, round_id: str, minor: int) -> dict[str, Any]:
        return {
            "player_id": self.id, "token": self.token, "tx_id": tx, "round_id": round_id,
            "game_code": self.game, "amount": self.amount(minor), "currency": self.currency,
        }  # fmt: skip

    def win(self, tx: str, round_id: str, minor: int, *, token: bool = True) -> dict[str, Any]:
        body = self.bet(tx, round_id, minor) | {"close_round": True}
        if not token:
            del body["token"]
        return body

    def rollback(self, tx: str, round_id: str, bet_tx: str) -> dict[str, Any]:
        return {
            "player_id": self.id, "token": self.token, "tx_id": tx, "round_id": round_id,
            "game_code": self.game, "bet_tx_id": bet_tx, "currency": self.currency,
        }  # fmt: skip

    def end(self, tx: str, round_id: str) -> dict[str, Any]:
        return {"player_id": self.id, "token": self.token, "tx_id": tx, "round_id": round_id,
                "game_code": self.game, "currency": self.currency}  # fmt: skip


def expect_balance(what: str, got: int, want: int, p: Player, **evidence: Any) -> None:
    if got != want:
        raise Failed(
            f"{what}: balance {p.amount(got)}, expected {p.amount(want)}",
            balance=p.amount(got), expected=p.amount(want), **evidence,
        )  # fmt: skip


def brief(a: Answer) -> dict[str, Any]:
    tx = a.transaction
    return {"status": a.status, "code": a.code, "tx": tx.get("id"), "replay": tx.get("replay"),
            "outcome": tx.get("outcome"), "attempts": a.attempts,
            "signed": a.verified}  # fmt: skip


# -- 1. concurrency and retry --------------------------------------------------------------


@test("concurrency_same_bet", "the same bet id sent in parallel, many times: exactly one debit")
async def same_bet(run: Run) -> tuple[str, dict[str, Any]]:
    p = await run.player("100.00")
    client = run.client()
    start = await p.balance(client)
    stake, copies = 100 if p.exponent >= 2 else 1, 8
    seen: list[list[dict[str, Any]]] = []
    for _ in range(run.repeat):
        tx, rnd = run.ref("bet"), run.ref("round")
        answers = await asyncio.gather(*(client.call("bet", p.bet(tx, rnd, stake))
                                         for _ in range(copies)))  # fmt: skip
        seen.append([brief(a) for a in answers])
        ok = [a for a in answers if a.ok]
        fresh = [a for a in ok if not a.transaction.get("replay")]
        ids = {a.transaction.get("id") for a in ok}
        if len(fresh) != 1 or len(ids) != 1 or len(ok) != copies:
            raise Failed(
                f"{tx}: {len(ok)} of {copies} copies answered OK, {len(fresh)} as new, "
                f"{len(ids)} transaction ids (want {copies}, 1, 1)", answers=seen[-1],
            )  # fmt: skip
        await client.call("end_round", p.end(run.ref("end"), rnd))
    end = await p.balance(client)
    expect_balance("after the parallel copies", end, start - run.repeat * stake, p,
                   answers=seen[:2])  # fmt: skip
    return (
        f"{run.repeat} bets, each sent {copies} times at once: one debit each",
        {"start": p.amount(start), "end": p.amount(end), "sample": seen[0]},
    )


# -- 2. timeout and rollback ---------------------------------------------------------------


@test("timeout_rollback_before", "a bet timed out; its rollback arrives before the bet itself")
async def rollback_before(run: Run) -> tuple[str, dict[str, Any]]:
    p = await run.player("50.00")
    client = run.client()
    start = await p.balance(client)
    stake = 5 * 10**p.exponent
    tx, rnd = run.ref("bet"), run.ref("round")
    rolled = await client.call("rollback", p.rollback(run.ref("rb"), rnd, tx))
    if not rolled.ok:
        raise Failed(f"a rollback of an unknown bet was refused ({rolled.code}); the wallet "
                     "must accept it and remember it", rollback=brief(rolled))  # fmt: skip
    late = await client.call("bet", p.bet(tx, rnd, stake))
    again = await client.call("bet", p.bet(tx, rnd, stake))
    end = await p.balance(client)
    evidence = {"rollback": brief(rolled), "late_bet": brief(late), "resent_bet": brief(again)}
    if late.ok and late.transaction.get("outcome") == "applied":
        raise Failed("the bet that arrived after its rollback was taken", **evidence,
                     balance=p.amount(end), expected=p.amount(start))  # fmt: skip
    expect_balance("after rollback then bet", end, start, p, **evidence)
    return f"late bet refused with {late.code}; balance unchanged", evidence


@test("timeout_rollback_after", "a bet's answer lost after the wallet took it; then its rollback")
async def rollback_after(run: Run) -> tuple[str, dict[str, Any]]:
    p = await run.player("50.00")
    chaos = Chaos(seed=1)
    chaos.set("bet", Switch(lost_answer=1.0))
    lossy, client = run.client(chaos, attempts=1), run.client()
    start = await p.balance(client)
    stake = 5 * 10**p.exponent
    tx, rnd = run.ref("bet"), run.ref("round")
    lost = await lossy.call("bet", p.bet(tx, rnd, stake))
    if lost.ok:
        raise Failed("the chaos switch did not lose the answer", bet=brief(lost))
    taken = await p.balance(client)
    rolled = await client.call("rollback", p.rollback(run.ref("rb"), rnd, tx))
    resent = await client.call("bet", p.bet(tx, rnd, stake))
    end = await p.balance(client)
    evidence = {"balance_after_lost_bet": p.amount(taken), "rollback": brief(rolled),
                "resent_bet": brief(resent)}  # fmt: skip
    if taken != start - stake:
        raise Failed("the bet whose answer was lost did not take the stake", **evidence)
    if not rolled.ok:
        raise Failed(f"the rollback was refused ({rolled.code})", **evidence)
    expect_balance("after the lost bet, its rollback and the bet resent", end, start, p,
                   **evidence)  # fmt: skip
    return "stake taken, refunded once; the resent bet moved nothing", evidence


# -- 3. reconciliation ---------------------------------------------------------------------


@test("reconciliation", "a burst of mixed traffic, then the provider's feed diffed to zero")
async def reconciliation(run: Run) -> tuple[str, dict[str, Any]]:
    chaos = Chaos(seed=7)
    for endpoint in ("bet", "win", "end_round", "rollback"):
        chaos.set(endpoint, Switch(duplicate=0.2, lost_answer=0.1))
    chaos.set("bet", Switch(duplicate=0.2, lost_answer=0.1, reorder=0.1))
    provider = Provider(run.client(chaos), chaos=chaos, clock=run.target.clock,
                        prefix=f"cert-{run.id}-recon")  # fmt: skip
    players = [await run.player("200.00", game=game) for game in ("dice", "limbo", "fruit-5x3")]
    starts = {p.id: await p.balance() for p in players}
    sessions = [(await provider.open_session(p.token, p.game))["session_id"] for p in players]
    params = {"dice": {"target": "50.00", "direction": "over"}, "limbo": {"target": "1.80"},
              "fruit-5x3": {}}  # fmt: skip
    rounds = max(10, run.repeat * 3)
    for i in range(rounds):
        await asyncio.gather(*(
            provider.spin(s, stake=("1.00", "0.50", "2.00")[(i + k) % 3], params=params[p.game])
            for k, (s, p) in enumerate(zip(sessions, players, strict=True))
        ))  # fmt: skip
    for _ in range(20):
        if not provider.pending:
            break
        await provider.resend()
    if provider.pending:
        raise Failed(f"{len(provider.pending)} calls still undecided after 20 resends")
    net: dict[str, int] = dict.fromkeys(starts, 0)
    signs = {"BET": -1, "WIN": 1, "REFUND": 1, "ROUND_END": 0}
    for row in provider.feed:
        # A CANCELLED bet was taken, then refunded by its REFUND line; a FAILED one never taken.
        if row.status == "OK" or (row.kind == "BET" and row.status == "CANCELLED"):
            net[row.player_id] += signs[row.kind] * to_minor(row.amount, players[0].exponent)
    mismatches = {}
    for p in players:
        got = await p.balance()
        if got - starts[p.id] != net[p.id]:
            mismatches[p.id] = {"feed_net": p.amount(net[p.id]),
                                "wallet_net": p.amount(got - starts[p.id])}  # fmt: skip
    evidence: dict[str, Any] = {
        "rounds": len(provider.rounds), "feed_rows": len(provider.feed),
        "chaos_fired": chaos.snapshot()["fired"], "anomalies": provider.anomalies,
    }  # fmt: skip
    if mismatches or provider.anomalies:
        raise Failed("the feed and the wallet disagree", mismatches=mismatches, **evidence)
    detail = f"{len(provider.rounds)} rounds, {len(provider.feed)} feed rows: balances agree"
    if run.target.recon:
        differences = await _recon(run, provider)
        evidence["recon_differences"] = differences
        if differences:
            raise Failed(f"the reconciliation found {len(differences)} differences", **evidence)
        detail += "; the reconciliation of the feed found no difference"
    return detail, evidence


async def _recon(run: Run, provider: Provider) -> list[dict[str, Any]]:
    """A dry run of the operator's reconciliation for each day the feed covers (a run across
    midnight UTC has two); the differences that name this run's transactions."""
    ours = f"cert-{run.id}-recon"
    found: list[dict[str, Any]] = []
    for day in sorted({row.at.date() for row in provider.feed}):
        response = await run.operator.http.post(
            "/recon/runs", params={"provider": run.target.credentials.provider,
                                   "date": str(day), "dry_run": "true",
                                   "name": f"certify-{run.id}"},
            content=provider.feed_csv(day).encode(), headers={"content-type": "text/csv"},
        )  # fmt: skip
        if response.status_code >= 300:
            raise Failed(f"the reconciliation API answered {response.status_code}",
                         body=response.text[:500])  # fmt: skip
        found += [d for d in response.json().get("differences", [])
                  if str(d.get("key", "")).startswith(ours)]  # fmt: skip
    return found


# -- 4. responsible gaming -----------------------------------------------------------------


@test("loss_limit", "a low loss limit; a fast-cadence game cannot breach it")
async def loss_limit(run: Run) -> tuple[str, dict[str, Any]]:
    p = await run.player("50.00", game="limbo")
    client = run.client()
    start = await p.balance(client)
    limit = 5 * 10**p.exponent
    await run.operator.set_limit(p.id, "loss_day", p.amount(limit))
    stake = 10**p.exponent
    refused: dict[str, int] = {}
    taken = 0
    for _batch in range(3):  # waves of losing bets, all at once
        bets = []
        for _ in range(8):
            tx, rnd = run.ref("bet"), run.ref("round")
            bets.append((tx, rnd))
        answers = await asyncio.gather(*(client.call("bet", p.bet(tx, rnd, stake))
                                         for tx, rnd in bets))  # fmt: skip
        for (_, rnd), a in zip(bets, answers, strict=True):
            if a.ok:
                taken += 1
                await client.call("end_round", p.end(run.ref("end"), rnd))
            else:
                refused[a.code or "?"] = refused.get(a.code or "?", 0) + 1
    end = await p.balance(client)
    evidence = {"limit": p.amount(limit), "bets_taken": taken, "refused": refused,
                "loss": p.amount(start - end)}  # fmt: skip
    if start - end > limit:
        raise Failed(f"lost {p.amount(start - end)} with a loss limit of {p.amount(limit)}",
                     **evidence)  # fmt: skip
    if not refused.get("LOSS_LIMIT_REACHED"):
        raise Failed("no bet was refused with LOSS_LIMIT_REACHED", **evidence)
    return f"loss stopped at {p.amount(start - end)} of {p.amount(limit)}", evidence


# -- 5. the wider matrix -------------------------------------------------------------------


@test("duplicate_callbacks", "a win and an end of round delivered many times: paid once")
async def duplicate_callbacks(run: Run) -> tuple[str, dict[str, Any]]:
    p = await run.player("20.00")
    client = run.client()
    start = await p.balance(client)
    stake, prize = 2 * 10**p.exponent, 7 * 10**p.exponent
    tx, rnd, win = run.ref("bet"), run.ref("round"), run.ref("win")
    bet = await client.call("bet", p.bet(tx, rnd, stake))
    wins = await asyncio.gather(*(client.call("win", p.win(win, rnd, prize)) for _ in range(6)))
    ends = await asyncio.gather(*(client.call("end_round", p.end(run.ref("end"), rnd))
                                  for _ in range(2)))  # fmt: skip
    end = await p.balance(client)
    evidence = {"bet": brief(bet), "wins": [brief(a) for a in wins],
                "ends": [brief(a) for a in ends]}  # fmt: skip
    applied = [a for a in wins if a.ok and not a.transaction.get("replay")]
    if len(applied) != 1:
        raise Failed(f"{len(applied)} of 6 copies of one win were applied as new", **evidence)
    expect_balance("after a win delivered 6 times", end, start - stake + prize, p, **evidence)
    return "win paid once, 5 replays; round ends harmless", evidence


@test("delayed_settlement", "a win that comes late, without the session's token, still pays")
async def delayed_settlement(run: Run) -> tuple[str, dict[str, Any]]:
    p = await run.player("20.00")
    client = run.client()
    start = await p.balance(client)
    stake, prize = 10**p.exponent, 3 * 10**p.exponent
    tx, rnd = run.ref("bet"), run.ref("round")
    bet = await client.call("bet", p.bet(tx, rnd, stake))
    await asyncio.sleep(0.5)
    # Meanwhile the player launched the game again: a new session, the round's one left behind.
    relaunched = await run.operator.launch(p.id, run.target.credentials.provider, p.game)
    win = await client.call("win", p.win(run.ref("win"), rnd, prize, token=False))
    end = await p.balance(client)
    evidence = {"bet": brief(bet), "late_win": brief(win),
                "new_session": relaunched.get("session_id")}  # fmt: skip
    if not win.ok:
        raise Failed(f"the late win was refused ({win.code})", **evidence)
    expect_balance("after a late win", end, start - stake + prize, p, **evidence)
    return "late win without a token settled the round", evidence


@test("partial_outage", "503 bursts, 5xx and lost answers: retried, settled exactly once")
async def partial_outage(run: Run) -> tuple[str, dict[str, Any]]:
    p = await run.player("100.00")
    chaos = Chaos(seed=11)
    chaos.set("bet", Switch(burst=3, error_status=503, lost_answer=0.3))
    chaos.set("win", Switch(error_rate=0.3, error_status=500, lost_answer=0.3))
    chaos.set("rollback", Switch(error_rate=0.2, error_status=429))
    flaky, steady = run.client(chaos, attempts=6), run.client()
    start = await p.balance(steady)
    expected, outcomes = start, []
    stake, prize = 10**p.exponent, 2 * 10**p.exponent
    for i in range(max(8, run.repeat)):
        tx, rnd = run.ref("bet"), run.ref("round")
        bet = await flaky.call("bet", p.bet(tx, rnd, stake))
        if not bet.definitive:  # what a provider does: give the stake back
            rb = await steady.call("rollback", p.rollback(run.ref("rb"), rnd, tx))
            outcomes.append({"round": rnd, "bet": brief(bet), "rollback": brief(rb)})
            if not rb.ok:
                raise Failed(f"{tx}: the rollback of an undecided bet was refused ({rb.code})",
                             rounds=outcomes)  # fmt: skip
            continue
        if not bet.ok:  # a funded player's bet: nothing may refuse it
            outcomes.append({"round": rnd, "bet": brief(bet)})
            raise Failed(f"{tx}: refused with {bet.code} through the outage", rounds=outcomes)
        expected -= stake
        paid = prize if i % 2 else stake
        payload = p.win(run.ref("win"), rnd, paid)
        win = await flaky.call("win", payload)
        if not win.definitive:  # a win is owed: sent again until the wallet decides
            win = await steady.call("win", payload)
        outcomes.append({"round": rnd, "bet": brief(bet), "win": brief(win)})
        if not win.ok:
            raise Failed(f"{payload['tx_id']}: the win was not paid ({win.code})", rounds=outcomes)
        expected += paid
    end = await p.balance(steady)
    evidence = {"rounds": outcomes, "chaos_fired": chaos.snapshot()["fired"]}
    expect_balance("after the outage", end, expected, p, **evidence)
    return f"{len(outcomes)} rounds through the outage; balance exact", evidence


@test("malformed_payloads", "malformed and forged requests: a typed 4xx each, nothing moved")
async def malformed(run: Run) -> tuple[str, dict[str, Any]]:
    p = await run.player("20.00")
    client = run.client(attempts=1)
    start = await p.balance(client)
    rnd = run.ref("round")
    good = p.bet(run.ref("bet"), rnd, 10**p.exponent)
    cases: dict[str, bytes | dict[str, Any]] = {
        "amount as a JSON number": good | {"amount": 1.0},
        "negative amount": good | {"amount": "-1.00"},
        "amount with an exponent": good | {"amount": "1e2"},
        "amount with spaces": good | {"amount": " 1.00"},
        "missing tx_id": {k: v for k, v in good.items() if k != "tx_id"},
        "unknown field": good | {"bonus_code": "x"},
        "tx_id over 128 bytes": good | {"tx_id": "x" * 129},
        "another currency": good | {"currency": "USD" if p.currency != "USD" else "EUR"},
        "not JSON": b"{not json",
        "a JSON array": b"[]",
        "empty body": b"",
    }
    seen: dict[str, dict[str, Any]] = {}
    bad: list[str] = []
    for name, body in cases.items():
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        a = await client.send_once("bet", raw)
        seen[name] = {"status": a.status, "code": a.code, "signed": a.verified}
        if (
            a.status is None
            or not 400 <= a.status < 500
            or a.ok
            or a.code is None
            or a.code.startswith("HTTP_")
        ):
            bad.append(name)
    forged = await client.send_once("bet", json.dumps(good).encode(), sign=False)
    seen["unsigned"] = {"status": forged.status, "code": forged.code}
    if forged.status != 401:
        bad.append("unsigned")
    end = await p.balance(client)
    if bad:
        raise Failed(f"not a typed 4xx refusal: {', '.join(bad)}", answers=seen)
    expect_balance("after malformed requests", end, start, p, answers=seen)
    return f"{len(seen)} malformed or forged requests refused, typed, nothing moved", seen


@test("currency_precision", "amounts at and past each currency's precision (EUR, JPY, BTC)")
async def precision(run: Run) -> tuple[str, dict[str, Any]]:
    cases = (("EUR", "10.00", "0.01", "1.005"), ("JPY", "1000", "1", "1.5"),
             ("BTC", "0.01000000", "0.00000001", "0.000000001"))  # fmt: skip
    seen: dict[str, Any] = {}
    client = run.client(attempts=1)
    for currency, deposit, smallest, too_fine in cases:
        p = await run.player(deposit, currency=currency)
        start = await p.balance(client)
        rnd = run.ref("round")
        fine = await client.call("bet", p.bet(run.ref("bet"), rnd, 1) | {"amount": smallest})
        rough = await client.call("bet", p.bet(run.ref("bet"), rnd, 1) | {"amount": too_fine})
        end = await p.balance(client)
        seen[currency] = {"decimals": p.exponent, "smallest": brief(fine),
                          "too_fine": brief(rough)}  # fmt: skip
        if not fine.ok:
            raise Failed(f"{currency} {smallest} refused ({fine.code})", answers=seen)
        if rough.ok or rough.code not in ("AMOUNT_PRECISION", "AMOUNT_INVALID"):
            raise Failed(f"{currency} {too_fine} was not refused for its precision "
                         f"({rough.code})", answers=seen)  # fmt: skip
        expect_balance(f"{currency} after the smallest unit", end, start - 1, p, answers=seen)
    return "smallest unit taken exactly; one digit finer refused, never rounded", seen


@test("concurrent_bets", "many different bets at once on one wallet: never below zero")
async def concurrent_bets(run: Run) -> tuple[str, dict[str, Any]]:
    p = await run.player("10.00")
    client = run.client()
    start = await p.balance(client)
    stake = start // 10
    answers = await asyncio.gather(*(
        client.call("bet", p.bet(run.ref("bet"), run.ref("round"), stake)) for _ in range(30)
    ))  # fmt: skip
    taken = sum(a.ok for a in answers)
    codes: dict[str, int] = {}
    for a in answers:
        if not a.ok:
            codes[a.code or "?"] = codes.get(a.code or "?", 0) + 1
    end = await p.balance(client)
    evidence = {"taken": taken, "refused": codes, "stake": p.amount(stake)}
    if taken != 10 or set(codes) != {"INSUFFICIENT_FUNDS"}:
        raise Failed(f"{taken} of 30 bets taken (want 10, the rest INSUFFICIENT_FUNDS)",
                     **evidence)  # fmt: skip
    expect_balance("after 30 bets at once", end, start - 10 * stake, p, **evidence)
    return "10 taken, 20 refused for funds; balance exact", evidence


@test("signatures", "signed both ways: answers signed for the request; forged and replayed refused")
async def signatures(run: Run) -> tuple[str, dict[str, Any]]:
    p = await run.player("10.00")
    client = run.client(attempts=1)
    start = await p.balance(client)
    body = json.dumps({"player_id": p.id, "token": p.token}).encode()
    bet = json.dumps(p.bet(run.ref("bet"), run.ref("round"), 10**p.exponent)).encode()
    nonce = f"cert-{run.id}-{secrets.token_hex(8)}"
    now = int(run.target.clock())
    seen = {
        "signed balance": await client.send_once("balance", body, nonce=nonce),
        "the same nonce again": await client.send_once("balance", body, nonce=nonce),
        "signed 10 minutes ago": await client.send_once("bet", bet, timestamp=now - 600),
        "signed 10 minutes ahead": await client.send_once("bet", bet, timestamp=now + 600),
        "another secret": await client.send_once("bet", bet, secret="csk_" + "x" * 43),
    }
    evidence = {k: {"status": a.status, "code": a.code, "signed": a.verified}
                for k, a in seen.items()}  # fmt: skip
    first = seen["signed balance"]
    if not first.ok:
        raise Failed(f"a signed balance call was not answered with a signed OK ({first.code})",
                     answers=evidence)  # fmt: skip
    wanted = {
        "the same nonce again": "NONCE_REPLAYED",
        "signed 10 minutes ago": "REQUEST_EXPIRED",
        "signed 10 minutes ahead": "REQUEST_EXPIRED",
        "another secret": "SIGNATURE_INVALID",
    }
    wrong = [f"{k} ({seen[k].code}, want {code})" for k, code in wanted.items()
             if seen[k].code != code or not 400 <= (seen[k].status or 0) < 500]  # fmt: skip
    if wrong:
        raise Failed(f"not refused as the protocol says: {'; '.join(wrong)}", answers=evidence)
    end = await p.balance(client)
    expect_balance("after forged bets", end, start, p, answers=evidence)
    return "answers signed for their request; replayed, stale, early and forged refused", evidence


async def certify(
    target: Target,
    *,
    only: list[str] | None = None,
    repeat: int = 10,
    on_result: Callable[[Result], None] = lambda _: None,
) -> Report:
    """Run the named tests (all by default), in order; each is independent (players of its
    own), and a test that raises anything is a fail with the error as its detail."""
    unknown = sorted(set(only or ()) - set(TESTS))
    if unknown:
        raise ValueError(f"unknown test {unknown[0]!r}; known: {', '.join(TESTS)}")
    run = Run(target, repeat=repeat)
    report = Report(run.id, target.wallet_url, target.credentials.provider,
                    datetime.now(UTC).isoformat(timespec="seconds"))  # fmt: skip
    try:
        try:
            await run.setup()
        except (OperatorError, httpx.HTTPError) as exc:
            result = Result(
                "setup",
                "catalogue entries for the run",
                passed=False,
                seconds=0.0,
                detail=f"the operator API at {target.operator_url}: {exc}",
                evidence={},
            )
            report.results.append(result)
            on_result(result)
            return report
        for name, (title, check) in TESTS.items():
            if only and name not in only:
                continue
            began = time.perf_counter()
            try:
                detail, evidence = await check(run)
                passed = True
            except Failed as exc:
                passed, detail, evidence = False, str(exc), exc.evidence
            except Exception as exc:  # noqa: BLE001 - whatever a wallet makes a test raise is its fail
                passed, detail, evidence = False, f"{type(exc).__name__}: {exc}", {}
            result = Result(name, title, passed, time.perf_counter() - began, detail, evidence)
            report.results.append(result)
            on_result(result)
    finally:
        await run.close()
    return report
