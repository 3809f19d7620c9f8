"""The operator API (``/operator/v1``): players, cashier, catalogue, launch, exclusions, limits,
alerts and history, for the operator's own platform. Authenticated with operator API keys
(``Authorization: Bearer cok_...``), each route needing one scope; JSON in and out, amounts as
decimal strings (in error details too).

A cold path next to the provider calls: Starlette routes, msgspec for bodies. Every answer
is JSON; every refusal is a typed error (code, HTTP status, retry class), never a bare 500.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any, Literal, TypeVar

import msgspec
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from croupier.api.app import (
    CORRELATION_HEADER,
    correlation_id_of,
    error_body,
    query_int,
    read_limited,
)
from croupier.api.metrics import Metrics
from croupier.api.recon import ReconApi
from croupier.api.stuck import render_stuck
from croupier.domain import fairness
from croupier.domain.catalogue import (
    CatalogueProvider,
    Game,
    build_game,
    build_provider,
    format_rtp,
    game_problems,
    provider_problems,
)
from croupier.domain.errors import (
    CroupierError,
    InvalidRequest,
    TransactionNotFound,
    UnsupportedMediaType,
)
from croupier.domain.limits import LIMIT_KINDS, MONEY_LIMITS, TIME_LIMITS, LimitState
from croupier.domain.money import CurrencyTable, format_decimal, money_details, parse_decimal
from croupier.domain.players import KycStatus, PlayerProfile
from croupier.domain.signals import AlertKind
from croupier.domain.wallet import Balances, Deposit, WalletResult, Withdrawal
from croupier.services import context as call_context
from croupier.services.catalogue import CatalogueService
from croupier.services.launch import Launch, LaunchService
from croupier.services.operator_keys import OperatorKeyService
from croupier.services.operator_ports import Exclusion, RoundView, TxView
from croupier.services.players import MAX_PAGE, PlayerInput, PlayerService, PlayerUpdate
from croupier.services.protection import ProtectionService
from croupier.services.stuck import StuckService
from croupier.services.wallet import WalletService

log = logging.getLogger("croupier.operator")

PREFIX = "/operator/v1"
S = TypeVar("S")


# -- wire bodies ---------------------------------------------------------------------------


class PlayerCreateBody(msgspec.Struct, forbid_unknown_fields=True):
    brand: str
    external_ref: str
    currency: str
    country: str | None = None
    subdivision: str | None = None
    birth_date: date | None = None
    kyc_status: KycStatus = KycStatus.NONE


class PlayerUpdateBody(msgspec.Struct, forbid_unknown_fields=True):
    brand: str | None = None
    country: str | None = None
    subdivision: str | None = None
    birth_date: date | None = None
    kyc_status: KycStatus | None = None
    currency: str | None = None


class VerifyBody(msgspec.Struct, forbid_unknown_fields=True):
    """A round to verify: a webhook delivery the inbox stored (``delivery``, its id), or the
    document itself (a round event, a provider's round, or bare fairness evidence)."""

    delivery: int | None = None
    document: dict[str, Any] | None = None
    server_seed: str | None = None


class CashierBody(msgspec.Struct, forbid_unknown_fields=True):
    reference: str
    amount: Any
    """A decimal string; anything else is AMOUNT_INVALID (parse_decimal says why)."""
    currency: str


class ProviderBody(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    launch_url: str
    jurisdictions: list[str]
    enabled: bool = True


class GameBody(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    category: str
    rtp: str
    jurisdictions: list[str]
    enabled: bool = True


class EnabledBody(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool


class LaunchBody(msgspec.Struct, forbid_unknown_fields=True):
    provider: str
    game: str
    mode: Literal["real", "demo"] = "real"
    player_id: str | None = None
    language: str = "en"


class LimitBody(msgspec.Struct, forbid_unknown_fields=True):
    value: Any
    """A decimal string for money limits, whole minutes for time limits, null removes."""


class ExclusionBody(msgspec.Struct, forbid_unknown_fields=True):
    kind: Literal["cool_off", "self_exclusion"]
    days: int | None = None
    reason: str = ""


class ProviderDoc(ProviderBody, forbid_unknown_fields=True):
    code: str = ""


class GameDoc(GameBody, forbid_unknown_fields=True):
    provider: str = ""
    code: str = ""


class CatalogueDoc(msgspec.Struct, forbid_unknown_fields=True):
    """A catalogue file (TOML or JSON): ``providers`` and ``games`` lists."""

    providers: list[ProviderDoc] = []
    games: list[GameDoc] = []


def parse_catalogue(data: Any) -> tuple[list[CatalogueProvider], list[Game]]:
    """A parsed catalogue document checked whole: every problem of every entry is reported
    with where it is (``games[2].rtp``) before anything is written."""
    if not isinstance(data, dict):
        problem = "the document: a table with a providers list and a games list"
        raise InvalidRequest(f"catalogue has 1 problem(s): {problem}", problems=[problem])
    problems = [f"unknown field `{k}` (only providers and games)" for k in sorted(
        set(data) - {"providers", "games"}, key=str)]  # fmt: skip
    providers: list[CatalogueProvider] = []
    games: list[Game] = []
    for section, kind in (("providers", ProviderDoc), ("games", GameDoc)):
        entries = data.get(section, [])
        if not isinstance(entries, list):
            problems.append(f"{section}: a list of tables")
            continue
        for i, item in enumerate(entries):
            place = f"{section}[{i}]"
            try:
                doc = msgspec.convert(item, kind, strict=True)
            except msgspec.ValidationError as exc:
                text = str(exc)
                where = text.rpartition(" - at `$")[2].rstrip("`") if " - at `$" in text else ""
                problems.append(f"{place}{where}: {text.partition(' - at ')[0]}")
                continue
            if isinstance(doc, ProviderDoc):
                fields = provider_problems(
                    code=doc.code, name=doc.name, launch_url=doc.launch_url,
                    jurisdictions=doc.jurisdictions,
                )  # fmt: skip
                if not fields:
                    providers.append(provider_of(doc.code, doc))
            else:
                assert isinstance(doc, GameDoc)  # noqa: S101 - the two kinds above
                fields = game_problems(
                    provider=doc.provider, code=doc.code, name=doc.name,
                    category=doc.category, rtp=doc.rtp, jurisdictions=doc.jurisdictions,
                )  # fmt: skip
                if not fields:
                    games.append(game_of(doc.provider, doc.code, doc))
            problems += [f"{place}.{field}: {message}" for field, message in fields]
    for kind_name, codes in (
        ("provider", [p.code for p in providers]),
        ("game", [f"{g.provider}/{g.code}" for g in games]),
    ):
        problems += [
            f"{kind_name} {c!r} appears twice" for c in sorted(set(codes)) if codes.count(c) > 1
        ]
    if problems:
        raise InvalidRequest(
            f"catalogue has {len(problems)} problem(s): {'; '.join(problems[:5])}",
            problems=problems,
        )
    return providers, games


def provider_of(code: str, body: ProviderBody) -> CatalogueProvider:
    return build_provider(
        code=code, name=body.name, launch_url=body.launch_url,
        jurisdictions=body.jurisdictions, enabled=body.enabled,
    )  # fmt: skip


def game_of(provider: str, code: str, body: GameBody) -> Game:
    return build_game(
        provider=provider, code=code, name=body.name, category=body.category, rtp=body.rtp,
        jurisdictions=body.jurisdictions, enabled=body.enabled,
    )  # fmt: skip


# -- rendering -----------------------------------------------------------------------------


def _ts(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None


class Renderer:
    def __init__(self, currencies: CurrencyTable) -> None:
        self.currencies = currencies

    def amount(self, minor: int, currency: str) -> str:
        return format_decimal(minor, self.currencies[currency])

    def balances(self, b: Balances) -> dict[str, str]:
        return {
            "cash": self.amount(b.cash, b.currency),
            "bonus": self.amount(b.bonus, b.currency),
            "held": self.amount(b.held, b.currency),
        }

    def player(self, p: PlayerProfile, balances: Balances | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": p.id,
            "brand": p.brand,
            "external_ref": p.external_ref,
            "currency": p.currency,
            "status": p.status,
            "country": p.country,
            "subdivision": p.subdivision,
            "birth_date": p.birth_date.isoformat() if p.birth_date else None,
            "kyc_status": p.kyc_status.value,
            "created_at": _ts(p.created_at),
            "updated_at": _ts(p.updated_at),
        }
        if balances is not None:
            out["balance"] = self.balances(balances)
        return out

    def result(self, r: WalletResult) -> dict[str, Any]:
        return {
            "transaction_id": str(r.transaction_id),
            "reference": r.reference,
            "kind": r.kind.value,
            "replay": r.replay,
            "currency": r.balances.currency,
            "balance": self.balances(r.balances),
        }

    def tx(self, t: TxView) -> dict[str, Any]:
        known = t.currency in self.currencies
        return {
            "id": str(t.id),
            "scope": t.scope,
            "reference": t.reference,
            "kind": t.kind,
            "status": t.status,
            "player_id": t.player_id,
            "round_id": t.round_ref,
            "amount": self.amount(t.amount, t.currency) if known else str(t.amount),
            "currency": t.currency,
            "session_id": t.session_id,
            "correlation_id": t.correlation_id,
            "created_at": _ts(t.created_at),
            "error": self._refusal(t.result) if t.status == "refused" else None,
        }

    def _refusal(self, stored: dict[str, Any]) -> dict[str, Any]:
        details = stored.get("details")
        if not isinstance(details, dict):
            return stored
        return {**stored, "details": money_details(details, self.currencies)}

    def round(self, r: RoundView) -> dict[str, Any]:
        return {
            "id": str(r.id),
            "provider": r.scope.removeprefix("provider:"),
            "round_id": r.round_ref,
            "player_id": r.player_id,
            "game_code": r.game_code,
            "currency": r.currency,
            "status": r.status,
            "staked": self.amount(r.cash_staked + r.bonus_staked, r.currency),
            "won": self.amount(r.win_total, r.currency),
            "bets": r.bets_live,
            "bets_rolled_back": r.bets_rolled_back,
            "wins": r.win_count,
            "opened_at": _ts(r.opened_at),
            "closed_at": _ts(r.closed_at),
        }

    def launch(self, launch: Launch, currency: str | None) -> dict[str, Any]:
        rules = launch.rules
        return {
            "mode": launch.mode,
            "url": launch.url,
            "expires_at": _ts(launch.expires_at),
            "session_id": launch.session_id,
            "token": launch.token,
            "token_expires_at": _ts(launch.token_expires_at),
            "rules": None
            if rules is None
            else {
                "jurisdiction": rules.jurisdiction,
                "stake_cap": self.amount(rules.stake_cap, currency)
                if rules.stake_cap is not None and currency
                else None,
                "stake_cap_rule": rules.stake_cap_rule,
                "min_round_seconds": f"{rules.min_round_ms / 1000:g}"
                if rules.min_round_ms is not None
                else None,
                "min_round_rule": rules.min_round_rule,
                "autoplay": rules.autoplay,
            },
        }

    @staticmethod
    def exclusion(e: Exclusion) -> dict[str, Any]:
        return {
            "kind": e.kind,
            "starts_at": _ts(e.starts_at),
            "ends_at": _ts(e.ends_at),
            "indefinite": e.ends_at is None,
            "actor": e.actor,
            "reason": e.reason,
        }

    @staticmethod
    def provider(p: CatalogueProvider) -> dict[str, Any]:
        return {
            "code": p.code,
            "name": p.name,
            "enabled": p.enabled,
            "launch_url": p.launch_url,
            "jurisdictions": list(p.jurisdictions),
        }

    @staticmethod
    def game(g: Game) -> dict[str, Any]:
        return {
            "provider": g.provider,
            "code": g.code,
            "name": g.name,
            "category": g.category.value,
            "rtp": format_rtp(g.rtp_bp),
            "enabled": g.enabled,
            "jurisdictions": list(g.jurisdictions),
        }


# -- routes --------------------------------------------------------------------------------

Handler = Callable[[Request], Awaitable[tuple[int, Any] | Response]]


class OperatorApi:
    """The routes' handlers over the services; ``routes()`` for the app."""

    def __init__(
        self,
        *,
        keys: OperatorKeyService,
        players: PlayerService,
        catalogue: CatalogueService,
        wallet: WalletService,
        launcher: LaunchService,
        protection: ProtectionService,
        metrics: Metrics,
        max_body_bytes: int,
        stuck: StuckService | None = None,
        recon: ReconApi | None = None,
        delivery_body: Callable[[int], Awaitable[bytes | None]] | None = None,
    ) -> None:
        self.delivery_body = delivery_body
        """The inbox's raw body of a delivery, for ``POST /rounds/verify``; the route exists
        only with it."""
        self.recon = recon
        """Reconciliation's routes (``/recon/...``); they exist only with it."""
        if recon is not None:
            recon.read_body = self._body
        self.launcher = launcher
        self.stuck = stuck
        """The stuck-money report (``GET /stuck``); the route exists only with it."""
        self.protection = protection
        self.keys = keys
        self.players = players
        self.catalogue = catalogue
        self.wallet = wallet
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.render = Renderer(wallet.currencies)

    def routes(self) -> list[BaseRoute]:
        table: Sequence[tuple[str, str, str, Handler]] = [
            ("POST", "/players", "players:write", self.create_player),
            ("GET", "/players", "players:read", self.find_player),
            ("GET", "/players/{player_id}", "players:read", self.get_player),
            ("PATCH", "/players/{player_id}", "players:write", self.update_player),
            ("POST", "/players/{player_id}/block", "players:write", self.block),
            ("POST", "/players/{player_id}/unblock", "players:write", self.unblock),
            ("POST", "/players/{player_id}/deposits", "cashier", self.deposit),
            ("POST", "/players/{player_id}/withdrawals", "cashier", self.withdraw),
            ("GET", "/players/{player_id}/transactions", "history:read", self.player_txs),
            ("GET", "/players/{player_id}/rounds", "history:read", self.player_rounds),
            ("POST", "/players/{player_id}/exclusions", "protection", self.exclude),
            ("GET", "/players/{player_id}/limits", "players:read", self.limits),
            ("PUT", "/players/{player_id}/limits/{kind}", "protection", self.set_limit),
            ("GET", "/players/{player_id}/exclusions", "players:read", self.exclusions),
            ("POST", "/launch", "launch", self.launch),
            ("GET", "/alerts", "history:read", self.list_alerts),
            ("GET", "/sessions/{session_id}/transactions", "history:read", self.session_txs),
            ("GET", "/catalogue/providers", "catalogue:read", self.list_providers),
            ("GET", "/catalogue/providers/{provider}", "catalogue:read", self.get_provider),
            ("PUT", "/catalogue/providers/{provider}", "catalogue:write", self.put_provider),
            ("PATCH", "/catalogue/providers/{provider}", "catalogue:write", self.patch_provider),
            ("GET", "/catalogue/games", "catalogue:read", self.list_games),
            ("GET", "/catalogue/games/{provider}/{game}", "catalogue:read", self.get_game),
            ("PUT", "/catalogue/games/{provider}/{game}", "catalogue:write", self.put_game),
            ("PATCH", "/catalogue/games/{provider}/{game}", "catalogue:write", self.patch_game),
        ]
        if self.stuck is not None:
            table = [*table, ("GET", "/stuck", "history:read", self.stuck_report)]
        if self.delivery_body is not None:
            table = [*table, ("POST", "/rounds/verify", "history:read", self.verify_round)]
        if self.recon is not None:
            table = [*table, *self.recon.table()]
        by_path: dict[str, list[tuple[str, Callable[[Request], Awaitable[Response]]]]] = {}
        for method, route, scope, handler in table:
            by_path.setdefault(route, []).append((method, self._endpoint(scope, handler)))
        return [_route(PREFIX + route, handlers) for route, handlers in by_path.items()]

    def _endpoint(self, scope: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            correlation_id = correlation_id_of(request.headers.get(CORRELATION_HEADER))
            call_context.reset()
            call_context.bind(correlation_id=correlation_id)
            headers = {CORRELATION_HEADER: correlation_id}
            try:
                key = await self.keys.authenticate(request.headers.get("authorization"), scope)
                request.state.actor = f"operator:{key.key_id}"
                answer = await handler(request)
                if isinstance(answer, Response):  # a page for people (an HTML report)
                    return answer
                status, payload = answer
                body = orjson.dumps(payload)
            except CroupierError as error:
                status = error.http_status
                wire = error.to_dict()
                wire["details"] = money_details(wire["details"], self.wallet.currencies)
                body = orjson.dumps({"status": "ERROR", "error": wire})
            except Exception:  # a bug: a typed 500, logged and counted, never a stack trace
                self.metrics.internal_errors.inc()
                log.exception("unexpected error", extra={"path": request.url.path[:128]})
                status = 500
                body = error_body(CroupierError("unexpected error; the call may be sent again"))
            else:
                log.info(
                    "operator call",
                    extra={"path": request.url.path[:128], "status": status, "key": key.key_id},
                )
            return Response(body, status, headers, media_type="application/json")

        return run

    async def _body(self, request: Request, kind: type[S]) -> S:
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            raise UnsupportedMediaType("send Content-Type: application/json")
        raw = await read_limited(
            request.stream(), request.headers.get("content-length"), self.max_body_bytes
        )
        try:
            return msgspec.json.decode(raw, type=kind, strict=True)
        except msgspec.ValidationError as exc:
            raise InvalidRequest(f"body does not match: {exc}") from None
        except msgspec.DecodeError:
            raise InvalidRequest("body is not JSON") from None

    # -- players

    async def _player_out(self, player: PlayerProfile) -> dict[str, Any]:
        return self.render.player(player, await self.players.balances(player.id))

    async def create_player(self, request: Request) -> tuple[int, Any]:
        b = await self._body(request, PlayerCreateBody)
        player, created = await self.players.create(
            PlayerInput(
                brand=b.brand, external_ref=b.external_ref, currency=b.currency,
                country=b.country, subdivision=b.subdivision, birth_date=b.birth_date,
                kyc_status=b.kyc_status,
            )
        )  # fmt: skip
        return (201 if created else 200), await self._player_out(player)

    async def find_player(self, request: Request) -> tuple[int, Any]:
        q = request.query_params
        return 200, await self._player_out(
            await self.players.find(q.get("brand", ""), q.get("external_ref", ""))
        )

    async def get_player(self, request: Request) -> tuple[int, Any]:
        return 200, await self._player_out(await self.players.get(_path(request, "player_id")))

    async def update_player(self, request: Request) -> tuple[int, Any]:
        b = await self._body(request, PlayerUpdateBody)
        player = await self.players.update(
            _path(request, "player_id"),
            PlayerUpdate(
                brand=b.brand, country=b.country, subdivision=b.subdivision,
                birth_date=b.birth_date, kyc_status=b.kyc_status, currency=b.currency,
            ),
        )  # fmt: skip
        return 200, await self._player_out(player)

    async def block(self, request: Request) -> tuple[int, Any]:
        player = await self.players.set_blocked(_path(request, "player_id"), blocked=True)
        return 200, await self._player_out(player)

    async def unblock(self, request: Request) -> tuple[int, Any]:
        player = await self.players.set_blocked(_path(request, "player_id"), blocked=False)
        return 200, await self._player_out(player)

    # -- cashier

    async def _cashier_command(self, request: Request) -> tuple[str, int, CashierBody]:
        player_id = _path(request, "player_id")
        b = await self._body(request, CashierBody)
        amount = parse_decimal(b.amount, self.wallet.currencies.get_currency(b.currency))
        await self.players.get(player_id)
        return player_id, amount, b

    async def deposit(self, request: Request) -> tuple[int, Any]:
        player_id, amount, b = await self._cashier_command(request)
        result = await self.wallet.deposit(
            Deposit(player_id=player_id, amount=amount, currency=b.currency,
                    cashier_ref=b.reference)
        )  # fmt: skip
        return (200 if result.replay else 201), self.render.result(result)

    async def withdraw(self, request: Request) -> tuple[int, Any]:
        player_id, amount, b = await self._cashier_command(request)
        result = await self.wallet.withdraw(
            Withdrawal(player_id=player_id, amount=amount, currency=b.currency,
                       cashier_ref=b.reference)
        )  # fmt: skip
        return (200 if result.replay else 201), self.render.result(result)

    # -- launch and protection

    async def launch(self, request: Request) -> tuple[int, Any]:
        b = await self._body(request, LaunchBody)
        launch = await self.launcher.launch(
            player_id=b.player_id, provider=b.provider, game_code=b.game,
            demo=b.mode == "demo", language=b.language, actor=request.state.actor,
        )  # fmt: skip
        currency = (await self.players.get(b.player_id)).currency if b.player_id else None
        return 201, self.render.launch(launch, currency)

    async def exclude(self, request: Request) -> tuple[int, Any]:
        player = await self.players.get(_path(request, "player_id"))
        b = await self._body(request, ExclusionBody)
        exclusion = await self.protection.exclude(
            player.id, b.kind, days=b.days, actor=request.state.actor, reason=b.reason
        )
        return 201, self.render.exclusion(exclusion)

    def _limits_out(self, state: LimitState, currency: str) -> dict[str, Any]:
        def value(kind: str, amount: int | None) -> str | int | None:
            if amount is None or kind in TIME_LIMITS:
                return amount
            return self.render.amount(amount, currency)

        return {
            "currency": currency,
            "limits": {k: value(k, v) for k, v in sorted(state.limits.items())},
            "pending": {
                k: {"value": value(k, p.value), "effective_at": _ts(p.effective_at)}
                for k, p in sorted(state.pending.items())
            },
            "usage": {k: value(k, v) for k, v in sorted(state.usage.items())},
            "periods": state.anchors,
        }

    async def limits(self, request: Request) -> tuple[int, Any]:
        player = await self.players.get(_path(request, "player_id"))
        state = await self.protection.limits(player.id)
        events = await self.protection.events(player.id)

        def shown(event: dict[str, Any]) -> dict[str, Any]:
            out = {**event, "at": _ts(event["at"]) if isinstance(event["at"], datetime) else None}
            if event.get("limit") in MONEY_LIMITS:  # amounts as on the wire, like the limits
                for name in ("value", "previous"):
                    if isinstance(event.get(name), int):
                        out[name] = self.render.amount(event[name], player.currency)
            return out

        return 200, {
            **self._limits_out(state, player.currency),
            "history": [shown(e) for e in events],
        }

    async def set_limit(self, request: Request) -> tuple[int, Any]:
        player = await self.players.get(_path(request, "player_id"))
        kind = _path(request, "kind")
        if kind not in LIMIT_KINDS:
            raise InvalidRequest(
                f"unknown limit {kind!r}; known: {', '.join(LIMIT_KINDS)}", field="kind"
            )
        b = await self._body(request, LimitBody)
        if b.value is None:
            amount = None
        elif kind in TIME_LIMITS:
            if not isinstance(b.value, int) or isinstance(b.value, bool):  # minutes
                raise InvalidRequest(f"{kind} is a whole number of minutes", field="value")
            amount = b.value
        else:  # a JSON number is AMOUNT_INVALID, as for every amount
            amount = parse_decimal(b.value, self.wallet.currencies.get_currency(player.currency))
        state, effective = await self.protection.set_limit(
            player.id, kind, amount, actor=request.state.actor
        )
        return 200, {
            **self._limits_out(state, player.currency),
            "limit": kind,
            "effective_at": _ts(effective),
            "waiting": kind in state.pending,
        }

    async def exclusions(self, request: Request) -> tuple[int, Any]:
        player = await self.players.get(_path(request, "player_id"))
        history = await self.protection.history(player.id)
        current = await self.protection.current(player.id)
        return 200, {
            "current": self.render.exclusion(current) if current else None,
            "items": [self.render.exclusion(e) for e in history],
        }

    async def list_alerts(self, request: Request) -> tuple[int, Any]:
        before, limit = _page(request)
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidRequest(f"limit must be 1 to {MAX_PAGE}", field="limit")
        kind = request.query_params.get("kind")
        if kind is not None and kind not in {k.value for k in AlertKind}:
            raise InvalidRequest(
                f"kind is one of {', '.join(k.value for k in AlertKind)}", field="kind"
            )
        rows = await self.players.store.alerts(
            kind=kind, player_id=request.query_params.get("player_id"), before=before,
            limit=limit,
        )  # fmt: skip
        items = [
            {"id": str(i), "kind": a.kind.value, "at": _ts(a.at), "player_id": a.player_id,
             "provider": a.provider, "detail": a.detail}
            for i, a in rows
        ]  # fmt: skip
        more = len(rows) == limit
        return 200, {"items": items, "next_before": str(rows[-1][0]) if more and rows else None}

    # -- history

    async def stuck_report(self, request: Request) -> tuple[int, Any]:
        """What is stuck and since when: open holds, old open rounds, sessions in
        pending_settlement, dead webhooks; totals per currency. ``limit`` (1 to 1000,
        default 200): items listed per category."""
        assert self.stuck is not None  # noqa: S101 - the route exists only with it
        report = await self.stuck.report(limit=query_int(request, "limit", 200, 1, 1000))
        return 200, render_stuck(report, self.wallet.currencies)

    async def verify_round(self, request: Request) -> tuple[int, Any]:
        """Recompute a round from its fairness evidence (``croupier.domain.fairness``): a
        stored webhook delivery by id, or a document sent. The verdict, never an error for an
        unfair or unverifiable round: that is the answer."""
        assert self.delivery_body is not None  # noqa: S101 - the route exists only with it
        b = await self._body(request, VerifyBody)
        if (b.delivery is None) == (b.document is None):
            raise InvalidRequest("give delivery (a webhook delivery's id) or document, not both")
        document: object = b.document
        if b.delivery is not None:
            raw = await self.delivery_body(b.delivery)
            if raw is None:
                raise TransactionNotFound(f"no webhook delivery {b.delivery}")
            try:
                document = json.loads(raw)
            except (ValueError, RecursionError):
                document = None  # a delivery that is not JSON: verify says so
        return 200, fairness.verify_document(document, server_seed=b.server_seed).to_dict()

    async def player_txs(self, request: Request) -> tuple[int, Any]:
        before, limit = _page(request)
        rows = await self.players.transactions(
            _path(request, "player_id"), before=before, limit=limit
        )
        return 200, _paged([self.render.tx(t) for t in rows], rows, limit)

    async def player_rounds(self, request: Request) -> tuple[int, Any]:
        before, limit = _page(request)
        rows = await self.players.rounds(_path(request, "player_id"), before=before, limit=limit)
        return 200, _paged([self.render.round(r) for r in rows], rows, limit)

    async def session_txs(self, request: Request) -> tuple[int, Any]:
        before, limit = _page(request)
        rows = await self.players.session_transactions(
            _path(request, "session_id"), before=before, limit=limit
        )
        return 200, _paged([self.render.tx(t) for t in rows], rows, limit)

    # -- catalogue

    async def list_providers(self, _: Request) -> tuple[int, Any]:
        return 200, {"items": [self.render.provider(p) for p in await self.catalogue.providers()]}

    async def get_provider(self, request: Request) -> tuple[int, Any]:
        return 200, self.render.provider(await self.catalogue.provider(_path(request, "provider")))

    async def put_provider(self, request: Request) -> tuple[int, Any]:
        b = await self._body(request, ProviderBody)
        saved = await self.catalogue.put_provider(provider_of(_path(request, "provider"), b))
        return 200, self.render.provider(saved)

    async def patch_provider(self, request: Request) -> tuple[int, Any]:
        b = await self._body(request, EnabledBody)
        saved = await self.catalogue.set_provider_enabled(
            _path(request, "provider"), enabled=b.enabled
        )
        return 200, self.render.provider(saved)

    async def list_games(self, request: Request) -> tuple[int, Any]:
        games = await self.catalogue.games(request.query_params.get("provider"))
        return 200, {"items": [self.render.game(g) for g in games]}

    async def get_game(self, request: Request) -> tuple[int, Any]:
        game = await self.catalogue.game(_path(request, "provider"), _path(request, "game"))
        return 200, self.render.game(game)

    async def put_game(self, request: Request) -> tuple[int, Any]:
        b = await self._body(request, GameBody)
        saved = await self.catalogue.put_game(
            game_of(_path(request, "provider"), _path(request, "game"), b)
        )
        return 200, self.render.game(saved)

    async def patch_game(self, request: Request) -> tuple[int, Any]:
        b = await self._body(request, EnabledBody)
        saved = await self.catalogue.set_game_enabled(
            _path(request, "provider"), _path(request, "game"), enabled=b.enabled
        )
        return 200, self.render.game(saved)


def _path(request: Request, name: str) -> str:
    value: str = request.path_params[name]
    return value


def _page(request: Request) -> tuple[int | None, int]:
    """``before`` (an id; newest first when absent) and ``limit`` (default 50)."""
    out: dict[str, int | None] = {"before": None, "limit": 50}
    for name in out:
        value = request.query_params.get(name)
        if value is not None:
            if not (value.isascii() and value.isdigit() and len(value) <= 18):
                raise InvalidRequest(f"{name} must be a whole number", field=name)
            out[name] = int(value)
    return out["before"], out["limit"] or 0


def _route(
    path: str, handlers: list[tuple[str, Callable[[Request], Awaitable[Response]]]]
) -> Route:
    """One route per path, dispatching on the method (Starlette answers 405 for others)."""
    dispatch = dict(handlers)

    async def by_method(request: Request) -> Response:
        if request.method == "HEAD":  # Starlette routes HEAD to a GET route: answer as GET,
            full = await dispatch["GET"](request)  # without the body
            return Response(b"", full.status_code, headers=dict(full.headers))
        return await dispatch[request.method](request)

    return Route(path, by_method, methods=list(dispatch))


def _paged(items: list[Any], rows: Sequence[TxView | RoundView], limit: int) -> dict[str, Any]:
    """A page, newest first; ``next_before`` fetches the next (older) one, null at the end."""
    more = len(rows) == limit
    return {"items": items, "next_before": str(rows[-1].id) if more and rows else None}
