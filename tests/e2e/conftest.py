"""The ASGI app on a fresh database of each kind, and a provider client that signs its calls.

Everything goes through HTTP (httpx's ASGI transport, no socket): signed request in, signed
response and ledger out. One FakeClock drives signature timestamps, token expiry and the
wallet, so a test can move time.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest

from croupier.adapters.db.gateway import SqlGatewayStore
from croupier.adapters.db.inbox import SqlInboxStore
from croupier.adapters.db.operator import SqlOperatorStore
from croupier.adapters.db.recon import SqlReconStore
from croupier.adapters.db.stuck import SqlStuckStore
from croupier.adapters.db.timeouts import SqlTimeoutStore
from croupier.adapters.providers.native import NativeV1
from croupier.adapters.rule_packs import load_rule_packs
from croupier.adapters.webhook_events import WebhookEventParser
from croupier.api.alerts import AlertRecorder
from croupier.api.app import create_app
from croupier.api.metrics import Metrics
from croupier.api.operator import OperatorApi
from croupier.api.recon import ReconApi
from croupier.api.webhooks import webhook_routes
from croupier.bootstrap import iso_countries, iso_subdivisions, row_spill
from croupier.domain import signing
from croupier.domain.signals import SignalRules
from croupier.domain.timeouts import TimeoutAction, TimeoutPolicy
from croupier.domain.wallet import Deposit
from croupier.services.catalogue import CatalogueService
from croupier.services.inbox import InboxService, InboxWorker, RetryPolicy
from croupier.services.keys import KeyService
from croupier.services.launch import LaunchService
from croupier.services.operator_keys import OperatorKeyService
from croupier.services.players import PlayerService
from croupier.services.ports import WalletStore
from croupier.services.protection import ProtectionService
from croupier.services.recon import ReconService
from croupier.services.sessions import SessionService
from croupier.services.stuck import StuckService
from croupier.services.timeouts import TimeoutService
from croupier.services.wallet import WalletService
from tests.conftest import FakeClock

PROVIDER = "acme"


@dataclass
class Api:
    """The app, its services and a signing client for provider ``acme``."""

    http: httpx.AsyncClient
    wallet: WalletService
    sessions: SessionService
    keys: KeyService
    gateway_store: SqlGatewayStore
    metrics: Metrics
    clock: FakeClock
    key_id: str = ""
    secret: str = ""
    provider: str = PROVIDER
    last_nonce: str = field(default="")
    players: PlayerService | None = None
    catalogue: CatalogueService | None = None
    operator_keys: OperatorKeyService | None = None
    launcher: LaunchService | None = None
    protection: ProtectionService | None = None
    operator_token: str = ""
    """An operator key with every scope."""
    inbox: InboxService | None = None
    inbox_worker: InboxWorker | None = None
    """Budget 3, backoff 2 s then 4 s (no jitter: the factor is 1), a lease of 60 s."""
    timeouts: TimeoutService | None = None
    """Default policy: flag rounds open beyond an hour."""
    alerts: AlertRecorder | None = None
    """Signals at test thresholds: 20 bets a minute, a EUR 40,000 win at 350 times the
    stake, 10 refusals a minute."""
    stuck: StuckService | None = None
    """Stuck money, over ``timeouts``' policies and the webhook event parser."""

    async def op(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | bytes | None = None,
        *,
        token: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """An operator API call (``/operator/v1`` + ``path``) with the all-scopes key, or
        ``token`` ("" sends no Authorization header)."""
        sent: dict[str, str] = {}
        key = self.operator_token if token is None else token
        if key:
            sent["authorization"] = f"Bearer {key}"
        if body is not None:
            sent["content-type"] = "application/json"
        sent |= headers or {}
        raw = body if isinstance(body, bytes) or body is None else orjson.dumps(body)
        return await self.http.request(method, f"/operator/v1{path}", content=raw, headers=sent)

    async def post(
        self,
        call: str,
        body: dict[str, Any] | bytes,
        *,
        provider: str | None = None,
        key_id: str | None = None,
        secret: str | None = None,
        nonce: str | None = None,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
        sign: bool = True,
        path: str | None = None,
    ) -> httpx.Response:
        """A signed native v1 call (unless ``sign=False``); extra ``headers`` win."""
        provider = provider or self.provider
        raw = body if isinstance(body, bytes) else orjson.dumps(body)
        path = path or f"/native/v1/{provider}/{call}"
        sent = {"content-type": "application/json"}
        self.last_nonce = nonce or secrets.token_urlsafe(18)
        if sign:
            sent |= signing.request_headers(
                key_id=key_id or self.key_id,
                secret=secret or self.secret,
                path=path,
                body=raw,
                timestamp=int(self.clock().timestamp()) if timestamp is None else timestamp,
                nonce=self.last_nonce,
            )
        sent |= headers or {}
        return await self.http.post(path, content=raw, headers=sent)

    def response_verified(self, response: httpx.Response, secret: str | None = None) -> bool:
        stamp = response.headers.get(signing.TIMESTAMP_HEADER)
        if stamp is None:
            return False
        canonical = signing.canonical_response(
            response.status_code, response.request.url.raw_path.decode(), int(stamp),
            self.last_nonce, response.content,
        )  # fmt: skip
        expected = signing.signature_header(secret or self.secret, canonical)
        return response.headers.get(signing.SIGNATURE_HEADER) == expected

    async def player(self, player_id: str, deposit: str = "100.00", currency: str = "EUR") -> None:
        await self.wallet.open_wallet(player_id, currency)
        exponent = self.wallet.currencies[currency].exponent
        whole, _, frac = deposit.partition(".")
        minor = int(whole) * 10**exponent + int(frac.ljust(exponent, "0") or "0")
        if minor:
            await self.wallet.deposit(
                Deposit(player_id=player_id, amount=minor, currency=currency,
                        cashier_ref=f"dep-{player_id}")
            )  # fmt: skip

    async def session(self, player_id: str, game: str = "dice") -> tuple[str, str]:
        """(session id, token) of a new session of ``player_id`` with provider acme."""
        session, token, _ = await self.sessions.open(
            provider=self.provider, player_id=player_id, game_code=game
        )
        return session.id, token


@pytest.fixture
async def api(store: WalletStore, wallet: WalletService, clock: FakeClock) -> AsyncIterator[Api]:
    gateway_store = SqlGatewayStore(store)  # type: ignore[arg-type]
    sessions = SessionService(gateway_store, wallet, token_seconds=900, clock=clock)
    keys = KeyService(gateway_store, cache_seconds=0, clock=clock)
    metrics = Metrics()
    native = NativeV1(
        wallet=wallet, sessions=sessions, keys=keys, nonces=gateway_store,
        currencies=wallet.currencies, window_seconds=30,
        wall_clock=lambda: clock().timestamp(),
    )  # fmt: skip
    operator_store = SqlOperatorStore(store)  # type: ignore[arg-type]
    players = PlayerService(
        operator_store, wallet, countries=iso_countries(), subdivisions=iso_subdivisions(),
        clock=clock,
    )  # fmt: skip
    catalogue = CatalogueService(operator_store, clock=clock)
    operator_keys = OperatorKeyService(operator_store, clock=clock)
    protection = ProtectionService(operator_store, sessions, clock=clock)
    launcher = LaunchService(
        players=players, catalogue=catalogue, sessions=sessions, keys=keys,
        protection=protection, packs=load_rule_packs(wallet.currencies), clock=clock,
    )  # fmt: skip
    recorder = AlertRecorder(
        operator_store, metrics,
        SignalRules(bets_per_minute=20, big_win_amounts={"EUR": 4_000_000},
                    big_win_multiple=350, refusals_per_minute=10),
        clock=clock,
    )  # fmt: skip
    wallet.signals, wallet.alerts = recorder.rules, recorder
    inbox = InboxService(
        SqlInboxStore(store), clock=clock, native_secret=keys.verifying_secret,  # type: ignore[arg-type]
        native_window_seconds=30,
    )  # fmt: skip
    inbox_worker = InboxWorker(
        inbox.store, wallet, WebhookEventParser(wallet.currencies), clock=clock,
        policy=RetryPolicy(budget=3, base_seconds=2, lease_seconds=60), jitter=lambda: 1.0,
    )  # fmt: skip
    timeouts = TimeoutService(
        SqlTimeoutStore(store), wallet,  # type: ignore[arg-type]
        default=TimeoutPolicy(3600, TimeoutAction.FLAG), clock=clock, alerts=recorder,
        observe=lambda r: metrics.observe_timeouts(r.actions, r.stuck_sessions),
    )  # fmt: skip
    stuck = StuckService(
        SqlStuckStore(store), timeouts, WebhookEventParser(wallet.currencies), clock,  # type: ignore[arg-type]
    )  # fmt: skip
    recon = ReconService(
        SqlReconStore(store), wallet, spill=row_spill, clock=clock, alerts=recorder,  # type: ignore[arg-type]
    )  # fmt: skip
    operator = OperatorApi(
        keys=operator_keys, players=players, catalogue=catalogue, wallet=wallet,
        launcher=launcher, protection=protection, metrics=metrics, max_body_bytes=65536,
        stuck=stuck, recon=ReconApi(recon, max_feed_bytes=4096),
        delivery_body=inbox.store.delivery_body,
    )  # fmt: skip
    app = create_app(
        [native], metrics=metrics, access_log=False, known_provider=keys.known,
        routes=[*operator.routes(), *webhook_routes(inbox, metrics, 65536)],
        on_refusal=recorder.refused,
    )  # fmt: skip
    key = await keys.add(PROVIDER, key_id="k1")
    _, operator_token = await operator_keys.add(["all"], "tests")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://croupier.test") as http:
        yield Api(http=http, wallet=wallet, sessions=sessions, keys=keys,
                  gateway_store=gateway_store, metrics=metrics, clock=clock,
                  key_id=key.key_id, secret=key.secret, players=players, catalogue=catalogue,
                  operator_keys=operator_keys, launcher=launcher, protection=protection,
                  operator_token=operator_token, alerts=recorder, inbox=inbox,
                  inbox_worker=inbox_worker, timeouts=timeouts, stuck=stuck)  # fmt: skip
