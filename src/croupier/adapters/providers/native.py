"""The native wallet protocol, v1: Croupier's own provider-facing API (docs/protocol.md).

This adapter does everything protocol-specific: it verifies the signature (before reading a
single business field), refuses replayed nonces, decodes the body into typed structs,
turns amounts from decimal strings into minor units, maps each call to a canonical wallet
command, and renders the result or the error in this protocol's shape, signed. The wallet
and session services know nothing of it; another protocol is another module beside it.

Amounts are decimal strings in major units (``"1.50"``); JSON numbers are refused, never
rounded. Every response carries the player's cash and bonus balances where the player is
known (all but signature and syntax failures).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import orjson

from croupier.domain import signing
from croupier.domain.errors import (
    AuthenticationFailed,
    CroupierError,
    IdempotencyMismatch,
    InvalidAmount,
    InvalidRequest,
    NonceReplayed,
    RouteNotFound,
    UnsupportedMediaType,
)
from croupier.domain.money import CurrencyTable, format_decimal, money_details, parse_decimal
from croupier.domain.sessions import GameSession
from croupier.domain.wallet import Balances, Bet, EndRound, Rollback, WalletResult, Win, check_ref
from croupier.services import context as call_context
from croupier.services.gateway_ports import NonceStore
from croupier.services.keys import KeyService, check_name
from croupier.services.sessions import MoneyCallGuard, SessionService
from croupier.services.wallet import WalletService

PROTOCOL = "native"
VERSION = "v1"
PREFIX = f"/{PROTOCOL}/{VERSION}"


class _Request(msgspec.Struct, forbid_unknown_fields=True):
    pass


class AuthenticateRequest(_Request):
    token: str


class BalanceRequest(_Request):
    player_id: str
    token: str


class RefreshRequest(_Request):
    token: str


class BetRequest(_Request):
    player_id: str
    token: str
    tx_id: str
    round_id: str
    game_code: str
    amount: str
    currency: str


class WinRequest(_Request):
    player_id: str
    tx_id: str
    round_id: str
    game_code: str
    amount: str
    currency: str
    token: str | None = None
    bet_tx_id: str | None = None
    close_round: bool = False


class RollbackRequest(_Request):
    player_id: str
    tx_id: str
    bet_tx_id: str
    currency: str
    amount: str | None = None
    round_id: str | None = None
    game_code: str | None = None
    token: str | None = None


class EndRoundRequest(_Request):
    player_id: str
    tx_id: str
    round_id: str
    game_code: str
    currency: str
    token: str | None = None


REQUEST_TYPES: dict[str, type[_Request]] = {
    "authenticate": AuthenticateRequest,
    "balance": BalanceRequest,
    "refresh": RefreshRequest,
    "bet": BetRequest,
    "win": WinRequest,
    "rollback": RollbackRequest,
    "end_round": EndRoundRequest,
}
CALLS = tuple(REQUEST_TYPES)

_DECODERS = {call: msgspec.json.Decoder(kind) for call, kind in REQUEST_TYPES.items()}


@dataclass(slots=True)
class Reply:
    """A rendered answer plus what the API layer records about it (metrics, log line)."""

    status: int
    body: bytes
    headers: dict[str, str]
    call: str
    outcome: str
    """``OK`` or the error code."""
    replay: bool = False
    player_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Call:
    provider: str
    call: str
    path: str
    nonce: str
    secret: str | None = None
    player_id: str | None = None
    guard: MoneyCallGuard | None = None


class NativeV1:
    """The native protocol's adapter: ``handle`` takes a raw HTTP request, returns a Reply."""

    name = f"{PROTOCOL}/{VERSION}"
    prefix = PREFIX

    def __init__(
        self,
        *,
        wallet: WalletService,
        sessions: SessionService,
        keys: KeyService,
        nonces: NonceStore,
        currencies: CurrencyTable,
        window_seconds: int = 30,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.wallet = wallet
        self.sessions = sessions
        self.keys = keys
        self.nonces = nonces
        self.currencies = currencies
        self.window_seconds = window_seconds
        self.wall_clock = wall_clock
        self._handlers: dict[str, Callable[[_Call, Any], Awaitable[dict[str, Any]]]] = {
            "authenticate": self._authenticate,
            "balance": self._balance,
            "refresh": self._refresh,
            "bet": self._bet,
            "win": self._win,
            "rollback": self._rollback,
            "end_round": self._end_round,
        }

    # -- the request, in order: route, signature, nonce, body, call ---------------------

    async def handle(
        self, provider: str, call: str, path: str, headers: dict[str, str], body: bytes
    ) -> Reply:
        # Unknown calls are labelled "unknown": metric labels must not grow with what callers
        # put in a path.
        ctx = _Call(provider=provider, call=call if call in self._handlers else "unknown",
                    path=path, nonce="")  # fmt: skip
        try:
            if call not in self._handlers:
                raise RouteNotFound(f"no call {call!r} in the {self.name} protocol")
            try:
                check_name("provider", provider)
            except InvalidRequest:
                raise RouteNotFound("no such provider") from None
            await self._authenticate_request(ctx, headers, body)
            request = self._decode(call, headers, body)
            data = await self._handlers[call](ctx, request)
            return self._render(ctx, 200, {"status": "OK", **data}, outcome="OK",
                                replay=bool(data.get("transaction", {}).get("replay")))  # fmt: skip
        except CroupierError as error:
            return await self._render_error(ctx, error)

    async def _authenticate_request(self, ctx: _Call, headers: dict[str, str], body: bytes) -> None:
        signed = signing.parse_headers(headers)
        ctx.nonce = signed.nonce
        secret = await self.keys.verifying_secret(ctx.provider, signed.key_id)
        canonical = signing.canonical_request("POST", ctx.path, signed.timestamp, signed.nonce,
                                              body)  # fmt: skip
        signing.verify(secret, canonical, signed.mac)
        ctx.secret = secret  # verified: the response is signed with the same key
        now = self.wall_clock()
        signing.check_timestamp(signed.timestamp, now, self.window_seconds)
        # The nonce is kept until the request's timestamp has left the window of every
        # replica, with as much again for their clocks to differ; after that the timestamp
        # check alone refuses a replay.
        keep_until = datetime.fromtimestamp(max(now, signed.timestamp), UTC) + timedelta(
            seconds=2 * self.window_seconds
        )
        if not await self.nonces.remember(ctx.provider, signed.nonce, keep_until):
            # Unsigned: a copy of a request that was answered (a proxy's retry, or a replay
            # by someone else) must not carry a verifiable answer that the provider could
            # take for the answer to its call. The provider signs afresh and sends again.
            ctx.secret = None
            raise NonceReplayed("this nonce was already used; sign every request afresh")

    @staticmethod
    def _decode(call: str, headers: dict[str, str], body: bytes) -> Any:
        media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/json":
            raise UnsupportedMediaType("the body must be application/json")
        try:
            return _DECODERS[call].decode(body)
        except msgspec.ValidationError as exc:
            message = str(exc)
            if "`$.amount`" in message:
                raise InvalidAmount(
                    'amount must be a decimal string in major units, such as "1.50"; JSON '
                    "numbers (integers and floats) are refused",
                    field="amount",
                ) from None
            raise InvalidRequest(f"body does not match the {call} request: {message}",
                                 field=_field_of(message)) from None  # fmt: skip
        except msgspec.DecodeError as exc:
            raise InvalidRequest(f"body is not valid JSON: {exc}") from None
        except UnicodeDecodeError:  # msgspec lets this through for bytes that are not UTF-8
            raise InvalidRequest("body is not valid UTF-8") from None

    # -- calls --------------------------------------------------------------------------

    async def _authenticate(self, ctx: _Call, req: AuthenticateRequest) -> dict[str, Any]:
        session, expires = await self.sessions.authenticate(ctx.provider, req.token)
        ctx.player_id = session.player_id
        call_context.bind(session_id=session.id)
        balances = await self.wallet.balance(session.player_id)
        return {
            "player_id": session.player_id,
            **self._balance_of(balances),
            "session": self._session_of(session, expires),
        }

    async def _balance(self, ctx: _Call, req: BalanceRequest) -> dict[str, Any]:
        ctx.player_id = check_ref("player_id", req.player_id)
        session, _ = await self.sessions.resolve(ctx.provider, req.token)
        self.sessions.check_owner(session, req.player_id, None)
        balances = await self.wallet.balance(req.player_id)
        return {"player_id": req.player_id, **self._balance_of(balances)}

    async def _refresh(self, ctx: _Call, req: RefreshRequest) -> dict[str, Any]:
        session, token, expires = await self.sessions.refresh(ctx.provider, req.token)
        ctx.player_id = session.player_id
        balances = await self.wallet.balance(session.player_id)
        return {
            "player_id": session.player_id,
            **self._balance_of(balances),
            "session": {**self._session_of(session, expires), "token": token},
        }

    async def _bet(self, ctx: _Call, req: BetRequest) -> dict[str, Any]:
        ctx.player_id = check_ref("player_id", req.player_id)
        currency = self.currencies.get_currency(req.currency)
        bet = Bet(provider=ctx.provider, player_id=req.player_id, tx_id=req.tx_id,
                  round_id=req.round_id, game_code=req.game_code,
                  amount=parse_decimal(req.amount, currency), currency=req.currency)  # fmt: skip
        guard = ctx.guard = self.sessions.guard(ctx.provider, req.token, req.player_id,
                                                req.game_code, bet=True,
                                                stake=bet.amount)  # fmt: skip
        result = await self.wallet.place_bet(bet, session=guard)
        if not result.replay and guard.session is not None:
            await self.sessions.bet_placed(guard.session, round_ref=req.round_id,
                                           tx_id=result.transaction_id)  # fmt: skip
        return self._result(result)

    def _settlement_guard(
        self, ctx: _Call, token: str | None, player_id: str, game_code: str | None
    ) -> MoneyCallGuard | None:
        """Wins, rollbacks and end round: the token is optional and its age does not matter."""
        ctx.player_id = check_ref("player_id", player_id)
        if token is None:
            return None
        ctx.guard = self.sessions.guard(ctx.provider, token, player_id, game_code, bet=False)
        return ctx.guard

    async def _win(self, ctx: _Call, req: WinRequest) -> dict[str, Any]:
        guard = self._settlement_guard(ctx, req.token, req.player_id, req.game_code)
        currency = self.currencies.get_currency(req.currency)
        result = await self.wallet.settle_win(
            Win(provider=ctx.provider, player_id=req.player_id, tx_id=req.tx_id,
                round_id=req.round_id, game_code=req.game_code,
                amount=parse_decimal(req.amount, currency), currency=req.currency,
                bet_tx_id=req.bet_tx_id, close_round=req.close_round),
            session=guard,
        )  # fmt: skip
        return self._result(result)

    async def _rollback(self, ctx: _Call, req: RollbackRequest) -> dict[str, Any]:
        guard = self._settlement_guard(ctx, req.token, req.player_id, req.game_code)
        currency = self.currencies.get_currency(req.currency)
        amount = 0 if req.amount is None else parse_decimal(req.amount, currency)
        result = await self.wallet.rollback(
            Rollback(provider=ctx.provider, player_id=req.player_id, tx_id=req.tx_id,
                     bet_tx_id=req.bet_tx_id, round_id=req.round_id, amount=amount,
                     currency=req.currency, game_code=req.game_code),
            session=guard,
        )  # fmt: skip
        return self._result(result)

    async def _end_round(self, ctx: _Call, req: EndRoundRequest) -> dict[str, Any]:
        guard = self._settlement_guard(ctx, req.token, req.player_id, req.game_code)
        self.currencies.get_currency(req.currency)
        result = await self.wallet.end_round(
            EndRound(provider=ctx.provider, player_id=req.player_id, tx_id=req.tx_id,
                     round_id=req.round_id, game_code=req.game_code, currency=req.currency),
            session=guard,
        )  # fmt: skip
        return self._result(result)

    # -- rendering ----------------------------------------------------------------------

    def _balance_of(self, balances: Balances) -> dict[str, Any]:
        currency = self.currencies[balances.currency]
        return {
            "currency": balances.currency,
            "balance": {
                "cash": format_decimal(balances.cash, currency),
                "bonus": format_decimal(balances.bonus, currency),
            },
        }

    @staticmethod
    def _session_of(session: GameSession, expires: datetime) -> dict[str, Any]:
        return {
            "id": session.id,
            "state": session.state.value,
            "game_code": session.game_code,
            "token_expires_at": expires.astimezone(UTC).isoformat(timespec="seconds"),
        }

    def _result(self, result: WalletResult) -> dict[str, Any]:
        currency = self.currencies[result.balances.currency]
        extra: dict[str, Any] = {}
        if (check := result.extra.get("reality_check")) is not None:
            # The player's reality check is due: the game shows it before the next round.
            extra["reality_check"] = {
                "due": True,
                "interval_minutes": check.get("interval_minutes"),
                "net_loss_today": format_decimal(int(check.get("net_loss_today", 0)), currency),
            }
        return {
            **extra,
            **self._balance_of(result.balances),
            "transaction": {
                "id": str(result.transaction_id),
                "reference": result.reference,
                "kind": result.kind.value,
                "cash_amount": format_decimal(result.cash_amount, currency),
                "bonus_amount": format_decimal(result.bonus_amount, currency),
                "round_closed": result.round_closed,
                "outcome": result.outcome,
                "replay": result.replay,
            },
        }

    def _render(
        self, ctx: _Call, status: int, payload: dict[str, Any], *, outcome: str, replay: bool
    ) -> Reply:
        body = orjson.dumps(payload)
        headers = {"content-type": "application/json"}
        if ctx.secret is not None:
            stamp = int(self.wall_clock())
            canonical = signing.canonical_response(status, ctx.path, stamp, ctx.nonce, body)
            headers[signing.TIMESTAMP_HEADER] = str(stamp)
            headers[signing.SIGNATURE_HEADER] = signing.signature_header(ctx.secret, canonical)
        return Reply(status=status, body=body, headers=headers, call=ctx.call, outcome=outcome,
                     replay=replay, player_id=ctx.player_id)  # fmt: skip

    async def _render_error(self, ctx: _Call, error: CroupierError) -> Reply:
        wire = error.to_dict()
        details = money_details(dict(wire["details"]), self.currencies)
        replay = bool(details.pop("replay", False))
        payload: dict[str, Any] = {"status": "ERROR", "error": {**wire, "details": details}}
        # Only a balance the refusal itself carries (the wallet states it where the caller has
        # proven the player: its token, or the player's own round): never looked up for an
        # unproven player id, which would let any provider read any player's balance.
        balances = self._balances_from(details)
        if balances is None and ctx.guard is not None and ctx.guard.owner_verified:
            try:
                balances = await self.wallet.balance(ctx.guard.player_id)
            except CroupierError:
                balances = None
        if balances is not None:
            payload.update(self._balance_of(balances))
        if replay:
            payload["replay"] = True
        reply = self._render(ctx, error.http_status, payload, outcome=error.code, replay=replay)
        reply.extra["retry_class"] = error.retry_class.value
        reply.extra["mismatch"] = isinstance(error, IdempotencyMismatch)
        reply.extra["signature_failure"] = isinstance(error, AuthenticationFailed)
        return reply

    def _balances_from(self, details: dict[str, Any]) -> Balances | None:
        """A refusal that carries the balance (rule 8) states it in minor units: take it out
        of the details and render it like every other balance."""
        if not {"currency", "cash", "bonus"} <= details.keys():
            return None
        code = details["currency"]
        if code not in self.currencies:
            return None
        cash, bonus = details.pop("cash"), details.pop("bonus")
        details.pop("currency")
        currency = self.currencies[code]
        return Balances(code, parse_decimal(cash, currency), parse_decimal(bonus, currency))


def _field_of(message: str) -> str | None:
    """The top-level field a msgspec error is about: "... at `$.amount`", "... field `x`"."""
    for marker in ("at `$.", "field `"):
        if marker in message:
            name = message.split(marker, 1)[1].split("`", 1)[0]
            return name.split("[", 1)[0].split(".", 1)[0]
    return None
