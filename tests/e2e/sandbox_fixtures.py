"""The sandbox provider wired to the in-process Croupier of ``tests/e2e/conftest.py``.

``sandbox(api)`` gives a ``Sandbox``: the provider (its wallet client signs with the
fixture's key for ``acme`` and reads the fixture's FakeClock), its chaos switches in front
of the wallet, an HTTP client on the sandbox's own app and an operator client. Every piece
talks to Croupier over HTTP (httpx's ASGI transport, no socket), as a real provider would.
Backoff waits are zero so that retries cost no time.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from croupier.domain import fairness as fair
from croupier.sandbox.app import create_app
from croupier.sandbox.chaos import Chaos, ChaosTransport
from croupier.sandbox.client import Backoff, Credentials, WalletClient
from croupier.sandbox.journal import Journal
from croupier.sandbox.operator import OperatorClient
from croupier.sandbox.players import CATEGORIES
from croupier.sandbox.provider import Provider
from tests.e2e.conftest import Api

WALLET_URL = "http://croupier.test"
SANDBOX_URL = "http://sandbox.test"
LAUNCH_URL = "https://sandbox.test/launch"
NO_WAIT = Backoff(attempts=3, base=0.0, cap=0.0)
"""Three attempts, no wait between them."""


def wallet_transport(api: Api) -> httpx.ASGITransport:
    """A new ASGI transport on the fixture's Croupier app (the one ``api.http`` uses)."""
    transport = api.http._transport  # the fixture does not expose its app
    assert isinstance(transport, httpx.ASGITransport)
    return httpx.ASGITransport(app=transport.app)


@dataclass
class Sandbox:
    api: Api
    provider: Provider
    chaos: Chaos
    client: WalletClient
    http: httpx.AsyncClient
    """The sandbox's own app (``croupier.sandbox.app``)."""
    operator: OperatorClient
    webhook_secret: str | None

    def timestamp(self) -> float:
        return self.api.clock().timestamp()

    async def cash(self, player_id: str) -> int:
        """The player's cash balance in minor units, as the wallet keeps it."""
        return (await self.api.wallet.balance(player_id)).cash

    async def catalogue(self, games: dict[str, str] | None = None) -> None:
        """Provider ``acme`` and the sandbox's games in Croupier's catalogue."""
        await self.operator.put_catalogue(
            self.api.provider, LAUNCH_URL, games if games is not None else CATEGORIES
        )

    async def launch_url(self, ref: str, *, game: str = "dice", deposit: str = "100.00") -> str:
        """A player (made through the operator API, funded once) launched into ``game``: the
        launch URL Croupier signed."""
        player_id = await self.operator.player(ref, "EUR", deposit)
        out = await self.operator.launch(player_id, self.api.provider, game)
        return str(out["url"])

    async def launch(self, ref: str, *, game: str = "dice", deposit: str = "100.00") -> Any:
        """The sandbox's answer to ``GET /launch`` with a fresh launch URL's query (a 2xx)."""
        query = urlsplit(await self.launch_url(ref, game=game, deposit=deposit)).query
        r = await self.http.get(f"/launch?{query}")
        assert r.is_success, (r.status_code, r.text)  # 201 or 200: the app decides
        return r.json()

    async def open(self, player_id: str, *, deposit: str = "100.00", game: str = "dice") -> str:
        """A funded wallet, a Croupier session and a sandbox session of ``player_id`` (the
        short way: through the wallet service, no catalogue or launch); its sandbox id."""
        await self.api.player(player_id, deposit)
        _, token = await self.api.session(player_id, game)
        opened = await self.provider.open_session(token, game)
        return str(opened["session_id"])

    def fix_seed(
        self, player_id: str, server_seed: str, client_seed: str = "sandbox-tests"
    ) -> None:
        """The player's next round is played from ``server_seed`` at nonce 0."""
        self.provider.seeds[player_id] = fair.SeedPair(server_seed, client_seed)


def seed_where(
    pays: bool, game: str = "dice", params: dict[str, str] | None = None, stake: int = 100
) -> str:
    """The first of a fixed list of server seeds whose round at nonce 0 pays (or does not)."""
    params = params if params is not None else {"target": "50.00", "direction": "under"}
    for n in range(10_000):
        seed = hashlib.sha256(f"sandbox-test-seed-{n}".encode()).hexdigest()
        outcome = fair.play(game, server_seed=seed, client_seed="sandbox-tests", nonce=0,
                            stake=stake, params=params)  # fmt: skip
        if bool(outcome.payout) is pays:
            return seed
    raise AssertionError("no seed found")  # pragma: no cover


@asynccontextmanager
async def sandbox(
    api: Api, *, webhook: bool = False, seed: int = 7, backoff: Backoff = NO_WAIT,
    journal: Journal | None = None,
) -> AsyncIterator[Sandbox]:  # fmt: skip
    """The sandbox provider for ``api``'s provider, with a webhook secret if ``webhook``."""
    webhook_secret = None
    if webhook:
        assert api.inbox is not None
        _, webhook_secret = await api.inbox.add_secret(api.provider)
    chaos = Chaos(seed=seed)
    client = WalletClient(
        WALLET_URL, Credentials(api.provider, api.key_id, api.secret),
        transport=ChaosTransport(wallet_transport(api), chaos), backoff=backoff,
        clock=lambda: api.clock().timestamp(), webhook_secret=webhook_secret, seed=seed,
    )  # fmt: skip
    provider = Provider(
        client, chaos=chaos, clock=lambda: api.clock().timestamp(), prefix=f"sbx{seed}",
        journal=journal,
    )  # fmt: skip
    operator = OperatorClient(WALLET_URL, api.operator_token, transport=wallet_transport(api))
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(provider)), base_url=SANDBOX_URL
    )
    try:
        yield Sandbox(api, provider, chaos, client, http, operator, webhook_secret)
    finally:
        await http.aclose()
        await operator.aclose()
        await client.aclose()
        if journal is not None:
            journal.close()
