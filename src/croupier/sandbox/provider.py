"""The sandbox provider's game server: sessions from launch tokens, provably fair rounds paid
through the operator's wallet, round events sent as signed webhooks, and the daily
transaction feed. State is in memory: the sandbox is a rehearsal partner, not a system of
record (a restart forgets rounds, seeds and the feed; the wallet keeps the money).

A round, as a real provider plays it (docs/sandbox.md, "A round"):

1. ``bet`` (retried with backoff on a timeout, 5xx, 429, 503). Refused: the round ends there,
   nothing to undo. No definitive answer after the retries: the provider cannot know whether
   the wallet took the stake, so it sends a ``rollback`` of the bet (retried until decided, or
   queued for resending) and the round is void.
2. The outcome, from the player's seeds (``fair.py``); the nonce moves on.
3. ``win`` with ``close_round`` if it paid, else ``end_round``; retried, and when still
   undecided, queued and resent until the wallet decides (a win is owed, never dropped).
4. The round event, with its fairness evidence, to the webhook inbox (``drop``: held back and
   resent later; ``duplicate``: sent twice under one delivery id).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import hmac
import io
import itertools
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qsl

from croupier.domain import fairness as fair
from croupier.domain.webhook_events import checksum
from croupier.sandbox.chaos import Chaos
from croupier.sandbox.client import Answer, WalletClient
from croupier.sandbox.journal import Journal, Restored

FEED_COLUMNS = (
    "TransactionId", "RoundId", "PlayerId", "GameCode", "Type", "Amount", "Currency", "Status",
    "CreatedAt",
)  # fmt: skip


class SandboxError(Exception):
    """A request the sandbox refuses, with its HTTP status and a stable code."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        return {"status": "ERROR", "error": {"code": self.code, "message": self.message}}


def to_minor(text: str, exponent: int) -> int:
    """Decimal string to minor units, exactly; SandboxError if malformed or too fine."""
    whole, dot, frac = text.partition(".")
    too_long = len(text) > 40  # no stake has 40 digits; int() refuses past 4300
    if too_long or not whole.isdigit() or (dot and not frac.isdigit()) or not text.isascii():
        raise SandboxError(400, "AMOUNT_INVALID", f"{text!r} is not a decimal amount")
    if len(frac) > exponent and frac[exponent:].strip("0"):
        raise SandboxError(
            400, "AMOUNT_PRECISION", f"{text!r} is finer than the currency's {exponent} decimals"
        )
    minor: int = int(whole) * 10**exponent + int(frac[:exponent].ljust(exponent, "0") or "0")
    return minor


to_text = fair.format_minor
"""Minor units as a decimal string of the currency's decimals: (1234, 2) is "12.34"."""


def exponent_of(balance: str) -> int:
    """The currency's decimals, read from a balance as the wallet writes it ("100.00": 2)."""
    return len(balance.partition(".")[2])


@dataclass
class Session:
    id: str
    player_id: str
    token: str
    currency: str
    exponent: int
    game: str
    wallet_session: str
    mode: str = "real"


@dataclass
class Round:
    id: str
    session_id: str
    player_id: str
    game: str
    currency: str
    exponent: int
    stake: int
    params: dict[str, str]
    bet_tx: str
    status: str = "open"  # open, settled, refused, void, pending
    payout: int = 0
    win_tx: str | None = None
    end_tx: str | None = None
    rollback_tx: str | None = None
    error: str | None = None
    balance_before: str | None = None
    balance_after: str | None = None
    fairness: dict[str, Any] = field(default_factory=dict)
    started_at: float = 0.0
    seconds: float = 0.0

    def public(self) -> dict[str, Any]:
        out = asdict(self)
        out["stake"] = to_text(self.stake, self.exponent)
        out["payout"] = to_text(self.payout, self.exponent)
        return out


@dataclass
class FeedRow:
    tx_id: str
    round_id: str
    player_id: str
    game: str
    kind: str  # BET, WIN, REFUND, ROUND_END
    amount: str
    currency: str
    status: str  # OK, CANCELLED, FAILED
    at: datetime


@dataclass
class Pending:
    """A call or delivery the wallet has not decided yet, to send again."""

    kind: str  # a native call, or "webhook"
    payload: dict[str, Any]
    round_id: str
    msg_id: str = ""
    tries: int = 0

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.msg_id or self.payload.get('tx_id', '')}"


class Provider:
    def __init__(
        self,
        client: WalletClient,
        *,
        chaos: Chaos | None = None,
        launch_seconds_skew: int = 30,
        clock: Callable[[], float] = time.time,
        prefix: str | None = None,
        journal: Journal | None = None,
    ) -> None:
        self.client = client
        self.chaos = chaos or Chaos()
        self.clock = clock
        self.skew = launch_seconds_skew
        self.prefix = prefix or f"sbx-{secrets.token_hex(3)}"
        self.sessions: dict[str, Session] = {}
        self.seeds: dict[str, fair.SeedPair] = {}
        self.revealed: dict[str, str] = {}  # commitment -> server seed, after a rotation
        self.rounds: dict[str, Round] = {}
        self.feed: list[FeedRow] = []
        self.pending: list[Pending] = []
        self.anomalies: list[str] = []
        self._ids = itertools.count(1)
        self._locks: dict[str, asyncio.Lock] = {}
        self.journal = journal
        if journal is not None:
            self._restore(journal.read())

    def _restore(self, restored: Restored) -> None:
        """What an earlier run of this sandbox left in its journal: seeds (and the nonces
        used), revealed seeds, rounds and the feed. Sessions are not kept: players launch
        again."""
        for player_id, s in restored.seeds.items():
            self.seeds[player_id] = fair.SeedPair(
                str(s["server_seed"]), str(s["client_seed"]), int(s["nonce"])
            )
        self.revealed.update(restored.revealed)
        names = {f.name for f in fields(Round)}
        for round_id, r in restored.rounds.items():
            self.rounds[round_id] = Round(**{k: v for k, v in r.items() if k in names})
        for row in restored.feed.values():
            self.feed.append(FeedRow(**{**row, "at": datetime.fromisoformat(row["at"])}))
        for item in restored.pending.values():
            if item.get("owed"):
                self.pending.append(Pending(
                    str(item["kind"]), dict(item["payload"]), str(item["round_id"]),
                    msg_id=str(item.get("msg_id", "")),
                ))  # fmt: skip

    def _owe(self, item: Pending) -> None:
        """Something the wallet has not decided: resent until it is (kept across restarts)."""
        self.pending.append(item)
        if self.journal is not None:
            self.journal.write("pending", {
                "key": item.key, "owed": True, "kind": item.kind, "payload": item.payload,
                "round_id": item.round_id, "msg_id": item.msg_id,
            })  # fmt: skip

    def _settled(self, item: Pending) -> None:
        if self.journal is not None:
            self.journal.write("pending", {"key": item.key, "owed": False})

    def _keep_seed(self, player_id: str, pair: fair.SeedPair) -> None:
        if self.journal is not None:
            self.journal.write("seeds", {"player_id": player_id, **asdict(pair)})

    def _keep_round(self, r: Round) -> None:
        if self.journal is not None:
            self.journal.write("rounds", asdict(r))

    def _keep_row(self, row: FeedRow) -> None:
        if self.journal is not None:
            self.journal.write("feed", {**asdict(row), "at": row.at.isoformat()})

    # -- sessions -------------------------------------------------------------------------

    def verify_launch(self, query: str) -> dict[str, str]:
        """The launch URL's fields, if its signature (``LAUNCH\\n`` + the query up to
        ``&signature``, HMAC-SHA256 with the provider key) holds and it has not expired."""
        signed, sep, signature = query.rpartition("&signature=")
        if not sep:
            raise SandboxError(400, "LAUNCH_INVALID", "the launch URL carries no signature")
        fields = dict(parse_qsl(signed, keep_blank_values=True))
        creds = self.client.credentials
        if fields.get("key") != creds.key_id:
            raise SandboxError(401, "LAUNCH_INVALID", "the launch URL is signed with another key")
        expected = hmac.new(
            creds.secret.encode(), f"LAUNCH\n{signed}".encode(), hashlib.sha256
        ).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.encode()):
            raise SandboxError(401, "LAUNCH_INVALID", "the launch URL's signature does not match")
        expires = fields.get("expires", "")
        if not expires.isdigit() or int(expires) + self.skew < self.clock():
            raise SandboxError(401, "LAUNCH_EXPIRED", "the launch URL has expired; launch again")
        return fields

    async def launch(self, query: str) -> dict[str, Any]:
        fields = self.verify_launch(query)
        if fields.get("mode") != "real":
            raise SandboxError(400, "DEMO_NOT_OFFERED", "the sandbox plays real-money sessions")
        if fields.get("game") not in fair.GAMES:
            raise SandboxError(
                404, "GAME_NOT_FOUND", f"the sandbox has no game {fields.get('game')!r}"
            )
        return await self.open_session(fields["token"], fields["game"])

    async def open_session(self, token: str, game: str) -> dict[str, Any]:
        """``authenticate`` the token with the wallet; a session of the sandbox's own."""
        answer = await self.client.call("authenticate", {"token": token})
        if not answer.ok:
            raise SandboxError(
                502 if not answer.definitive else 403, answer.code or "WALLET_ERROR",
                f"the wallet refused the token: {answer.code}",
            )  # fmt: skip
        body = answer.body
        balance = answer.balance() or ("0", "0")
        session = Session(
            id=f"ss_{secrets.token_hex(8)}", player_id=str(body["player_id"]), token=token,
            currency=str(body["currency"]), exponent=exponent_of(balance[0]), game=game,
            wallet_session=str(body.get("session", {}).get("id", "")),
        )  # fmt: skip
        self.sessions[session.id] = session
        pair = self.seed_pair(session.player_id)
        return {
            "session_id": session.id, "player_id": session.player_id, "game": game,
            "currency": session.currency, "balance": {"cash": balance[0], "bonus": balance[1]},
            "seed": {"server_seed_hash": pair.server_seed_hash, "client_seed": pair.client_seed,
                     "nonce": pair.nonce},
        }  # fmt: skip

    def session(self, session_id: str) -> Session:
        try:
            return self.sessions[session_id]
        except KeyError:
            raise SandboxError(404, "SESSION_NOT_FOUND", f"no session {session_id!r}") from None

    # -- seeds ----------------------------------------------------------------------------

    def seed_pair(self, player_id: str) -> fair.SeedPair:
        pair = self.seeds.get(player_id)
        if pair is None:
            pair = fair.SeedPair(fair.new_server_seed(), secrets.token_hex(8))
            self.seeds[player_id] = pair
            self._keep_seed(player_id, pair)
        return pair

    async def rotate(self, player_id: str, client_seed: str | None = None) -> dict[str, Any]:
        """A new server seed (its commitment shown), the old one revealed for verification.
        Under the player's lock: a round in flight finishes on the old seed first, and its
        nonce is kept before the seed is revealed, never after."""
        async with self._lock(player_id):
            return self._rotate(player_id, client_seed)

    def _lock(self, player_id: str) -> asyncio.Lock:
        return self._locks.setdefault(player_id, asyncio.Lock())

    def _rotate(self, player_id: str, client_seed: str | None) -> dict[str, Any]:
        old = self.seed_pair(player_id)
        try:
            new, revealed = fair.rotate(old, client_seed=client_seed)
        except fair.FairnessError as exc:
            raise SandboxError(400, "SEED_INVALID", str(exc)) from None
        self.seeds[player_id] = new
        self.revealed[old.server_seed_hash] = revealed
        if self.journal is not None:
            self.journal.write("seeds", {"revealed": old.server_seed_hash, "server_seed": revealed})
        self._keep_seed(player_id, new)
        return {
            "revealed": {"server_seed": revealed, "server_seed_hash": old.server_seed_hash,
                         "client_seed": old.client_seed, "rounds_played": old.nonce},
            "current": {"server_seed_hash": new.server_seed_hash,
                        "client_seed": new.client_seed, "nonce": new.nonce},
        }  # fmt: skip

    # -- rounds ---------------------------------------------------------------------------

    def _tx(self, kind: str) -> str:
        return f"{self.prefix}-{kind}{next(self._ids)}"

    def _row(self, r: Round, tx: str, kind: str, amount: int, status: str) -> None:
        row = FeedRow(
            tx, r.id, r.player_id, r.game, kind, to_text(amount, r.exponent), r.currency,
            status, datetime.fromtimestamp(self.clock(), UTC),
        )  # fmt: skip
        self.feed.append(row)
        self._keep_row(row)

    async def spin(
        self, session_id: str, *, game: str | None = None, stake: str,
        params: dict[str, str] | None = None,
    ) -> Round:  # fmt: skip
        session = self.session(session_id)
        game = game or session.game
        params = dict(params or {})
        minor = to_minor(stake, session.exponent)
        if minor <= 0:
            raise SandboxError(400, "AMOUNT_INVALID", "the stake must be above zero")
        if game not in fair.GAMES:
            raise SandboxError(404, "GAME_NOT_FOUND", f"the sandbox has no game {game!r}")
        # One round at a time per player: the nonce is the round's place in the seed's order.
        async with self._lock(session.player_id):
            pair = self.seed_pair(session.player_id)
            try:  # params checked before any money moves
                fair.play(game, server_seed=pair.server_seed, client_seed=pair.client_seed,
                          nonce=pair.nonce, stake=minor, params=params)  # fmt: skip
            except fair.FairnessError as exc:
                raise SandboxError(400, "PARAMS_INVALID", str(exc)) from None
            r = Round(
                id=self._tx("r"), session_id=session.id, player_id=session.player_id,
                game=game, currency=session.currency, exponent=session.exponent, stake=minor,
                params=params, bet_tx=self._tx("b"), started_at=self.clock(),
            )  # fmt: skip
            self.rounds[r.id] = r
            began = time.perf_counter()
            await self._play(session, r, pair)
            r.seconds = time.perf_counter() - began
            self._keep_round(r)
        return r

    def _money(self, s: Session, r: Round, tx: str, amount: int, **extra: Any) -> dict[str, Any]:
        return {
            "player_id": s.player_id, "token": s.token, "tx_id": tx, "round_id": r.id,
            "game_code": r.game, "amount": to_text(amount, r.exponent), "currency": r.currency,
            **extra,
        }  # fmt: skip

    async def _play(self, s: Session, r: Round, pair: fair.SeedPair) -> None:
        bet = self._money(s, r, r.bet_tx, r.stake)
        if self.chaos.roll("bet", "reorder"):
            # The provider gave up on the bet before sending it: its rollback goes first, and
            # the bet, delayed somewhere, arrives after it. The wallet must refuse it.
            decided = await self._rollback(s, r) is not None
            late = await self.client.call("bet", bet)
            taken = late.ok and late.transaction.get("outcome") == "applied"
            if taken and decided:  # an undecided rollback may truly have come second
                self.anomalies.append(f"{r.bet_tx}: a bet after its rollback was taken")
            r.status = "void"
            r.error = "ROLLED_BACK_BEFORE_BET"
            self._row(r, r.bet_tx, "BET", r.stake, "OK" if taken else "FAILED")
            return
        answer = await self.client.call("bet", bet)
        await self._maybe_duplicate("bet", bet, answer)
        if answer.ok:
            r.balance_before = self._before(answer, r)
        elif answer.definitive:
            r.status, r.error = "refused", answer.code
            self._row(r, r.bet_tx, "BET", r.stake, "FAILED")
            return
        else:  # undecided: the stake may have been taken; give it back
            reversed_ = bool(await self._rollback(s, r))
            r.status, r.error = "void", answer.code
            # The rollback says what happened to the bet: taken and given back, or never
            # taken (the rollback left a tombstone, or found the bet refused).
            self._row(r, r.bet_tx, "BET", r.stake, "CANCELLED" if reversed_ else "FAILED")
            await self._event(r, "rollback")
            return
        self._row(r, r.bet_tx, "BET", r.stake, "OK")
        outcome = fair.play(r.game, server_seed=pair.server_seed, client_seed=pair.client_seed,
                            nonce=pair.nonce, stake=r.stake, params=r.params)  # fmt: skip
        r.payout = outcome.payout
        r.fairness = fair.evidence(
            outcome, server_seed_hash=pair.server_seed_hash, client_seed=pair.client_seed,
            nonce=pair.nonce, server_seed=None, exponent=r.exponent,
        )  # fmt: skip
        pair.nonce += 1
        self._keep_seed(r.player_id, pair)
        if outcome.payout:
            r.win_tx = self._tx("w")
            call, payload = "win", self._money(s, r, r.win_tx, outcome.payout, close_round=True)
        else:
            r.end_tx = self._tx("e")
            call = "end_round"
            payload = self._money(s, r, r.end_tx, 0)
            del payload["amount"]
        answer = await self.client.call(call, payload)
        await self._maybe_duplicate(call, payload, answer)
        kind = "WIN" if call == "win" else "ROUND_END"
        self._row(r, payload["tx_id"], kind, outcome.payout, "OK")
        if answer.ok:
            r.status = "settled"
            r.balance_after = (answer.balance() or ("", ""))[0]
        elif answer.definitive:  # the wallet will never take it: a case for reconciliation
            r.status, r.error = "settled", answer.code
            self.anomalies.append(f"{payload['tx_id']}: {call} refused with {answer.code}")
        else:
            r.status, r.error = "pending", answer.code
            self._owe(Pending(call, payload, r.id))
        await self._event(r, "round")

    def _before(self, answer: Answer, r: Round) -> str | None:
        cash = (answer.balance() or ("", ""))[0]
        if not cash:
            return None
        tx = answer.transaction
        taken = to_minor(str(tx.get("cash_amount", "0")), r.exponent)
        return to_text(to_minor(cash, r.exponent) + taken, r.exponent)

    async def _rollback(self, s: Session, r: Round) -> bool | None:
        """Send the bet's rollback: whether it gave a stake back; None while undecided (it is
        then resent until it is decided)."""
        r.rollback_tx = self._tx("rb")
        payload = {
            "player_id": s.player_id, "token": s.token, "tx_id": r.rollback_tx,
            "round_id": r.id, "game_code": r.game, "bet_tx_id": r.bet_tx, "currency": r.currency,
        }  # fmt: skip
        answer = await self.client.call("rollback", payload)
        await self._maybe_duplicate("rollback", payload, answer)
        reversed_ = answer.ok and answer.transaction.get("outcome") == "applied"
        self._row(r, r.rollback_tx, "REFUND", r.stake if reversed_ else 0, "OK")
        if not answer.definitive:
            self._owe(Pending("rollback", payload, r.id))
            return None
        return reversed_

    def _rolled_back(self, r: Round, answer: Answer) -> None:
        """A rollback resent and decided at last: the feed says what it did to the bet."""
        if answer.ok and answer.transaction.get("outcome") == "applied":
            for row in self.feed:
                if row.tx_id == r.bet_tx:
                    row.status = "CANCELLED"
                    self._keep_row(row)
                elif row.tx_id == r.rollback_tx:
                    row.amount = to_text(r.stake, r.exponent)
                    self._keep_row(row)

    async def _maybe_duplicate(self, call: str, payload: dict[str, Any], first: Answer) -> None:
        """``duplicate``: the same call again, signed afresh; the wallet must answer the
        first result (same transaction, ``replay: true``) and move nothing."""
        if not first.ok or not self.chaos.roll(call, "duplicate"):
            return
        again = await self.client.call(call, payload)
        if again.ok and (
            again.transaction.get("id") != first.transaction.get("id")
            or not again.transaction.get("replay")
        ):
            self.anomalies.append(f"{payload['tx_id']}: a duplicate {call} was applied again")

    # -- webhooks -------------------------------------------------------------------------

    def round_event(self, r: Round, kind: str) -> dict[str, Any]:
        now = datetime.fromtimestamp(self.clock(), UTC).isoformat().replace("+00:00", "Z")
        event: dict[str, Any] = {
            "event_id": f"{r.id}-{kind}", "type": kind, "player_id": r.player_id,
            "timestamp": now, "currency": r.currency, "finalized": True,
        }  # fmt: skip
        if kind == "rollback":
            event |= {"tx_id": r.rollback_tx, "bet_tx_id": r.bet_tx, "round_id": r.id,
                      "game_code": r.game, "amount": to_text(r.stake, r.exponent)}  # fmt: skip
        else:
            event |= {
                "round_id": r.id, "round_type": "normal", "game_code": r.game,
                "bet": {"tx_id": r.bet_tx, "amount": to_text(r.stake, r.exponent)},
                "balance_before": r.balance_before or "0",
                "balance_after": r.balance_after or "0",
                "fairness": {k: v for k, v in r.fairness.items() if k != "server_seed"},
            }  # fmt: skip
            if r.win_tx:
                event["win"] = {"tx_id": r.win_tx, "amount": to_text(r.payout, r.exponent)}
        event["checksum"] = checksum(event)
        return event

    async def _event(self, r: Round, kind: str) -> None:
        if self.client.webhook_secret is None:
            return
        if kind == "round" and (r.balance_before is None or r.balance_after is None):
            return  # a round event needs both balances: sent once the win is decided
        event = self.round_event(r, kind)
        msg_id = f"msg_{event['event_id']}"
        if self.chaos.roll("webhook", "drop"):
            self._owe(Pending("webhook", event, r.id, msg_id=msg_id))
            return
        answer = await self.client.deliver(event, msg_id=msg_id)
        if answer.ok and self.chaos.roll("webhook", "duplicate"):
            again = await self.client.deliver(event, msg_id=msg_id)
            if again.ok and not again.body.get("duplicate"):
                self.anomalies.append(f"{msg_id}: a duplicate delivery was stored twice")
        if not answer.definitive:
            self._owe(Pending("webhook", event, r.id, msg_id=msg_id))

    async def resend(self) -> int:
        """One pass over what is owed: undecided wins, rollbacks and end-rounds, dropped or
        undelivered webhooks. Returns how many were settled."""
        done = 0
        waiting, self.pending = self.pending, []
        for item in waiting:
            item.tries += 1
            if item.kind == "webhook":
                answer = await self.client.deliver(item.payload, msg_id=item.msg_id)
            else:
                answer = await self.client.call(item.kind, item.payload)
            if answer.definitive:
                done += 1
                self._settled(item)
                r = self.rounds.get(item.round_id)
                if r is not None and item.kind == "rollback":
                    self._rolled_back(r, answer)
                if r is not None and r.status == "pending" and item.kind != "webhook":
                    r.status = "settled"
                    if answer.ok:
                        r.error = None
                        r.balance_after = (answer.balance() or ("", ""))[0] or None
                    else:  # refused for good: a case for reconciliation
                        r.error = answer.code
                        self.anomalies.append(f"{item.key}: refused with {answer.code}")
                    self._keep_round(r)
                    await self._event(r, "round")
            else:
                self.pending.append(item)
        return done

    def round_out(self, r: Round) -> dict[str, Any]:
        """A round as JSON, its server seed in the evidence once it has been revealed."""
        out = r.public()
        seed = self.revealed.get(str(r.fairness.get("server_seed_hash")))
        if seed is not None:
            out["fairness"] = {**r.fairness, "server_seed": seed}
        return out

    # -- feed and stats -------------------------------------------------------------------

    def feed_csv(self, day: date | None = None) -> str:
        """The day's transactions (UTC), every one the provider sent, as its partners get
        them (the mapping `croupier sandbox setup` stores reads it: docs/sandbox.md)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(FEED_COLUMNS)
        for row in self.feed:
            if day is not None and row.at.date() != day:
                continue
            writer.writerow((
                row.tx_id, row.round_id, row.player_id, row.game, row.kind, row.amount,
                row.currency, row.status, row.at.isoformat().replace("+00:00", "Z"),
            ))  # fmt: skip
        return out.getvalue()

    def stats(self) -> dict[str, Any]:
        by_status: dict[str, int] = {}
        errors: dict[str, int] = {}
        for r in self.rounds.values():
            by_status[r.status] = by_status.get(r.status, 0) + 1
            if r.error:
                errors[r.error] = errors.get(r.error, 0) + 1
        latencies = sorted(self.client.log.latencies)
        return {
            "rounds": len(self.rounds), "by_status": by_status, "errors": errors,
            "calls": dict(sorted(self.client.log.outcomes.items())),
            "latency_ms": {"p50": percentile(latencies, 50), "p99": percentile(latencies, 99)},
            "pending": len(self.pending), "anomalies": self.anomalies[-50:],
            "sessions": len(self.sessions), "chaos": self.chaos.snapshot(),
        }  # fmt: skip


def percentile(sorted_values: list[float], p: int) -> float | None:
    """The nearest-rank percentile, in milliseconds to 0.1."""
    if not sorted_values:
        return None
    rank = max(1, -(-p * len(sorted_values) // 100))
    return round(sorted_values[rank - 1] * 1000, 1)
