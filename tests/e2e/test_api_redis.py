"""Request nonces in Redis across replicas: a signed request replayed to another app instance
is refused. Redis: the ``redis_url`` fixture of tests/conftest.py."""

from __future__ import annotations

import secrets

import httpx
import orjson

from croupier.adapters.providers.native import NativeV1
from croupier.adapters.redis_nonces import RedisNonceStore
from croupier.api.app import create_app
from croupier.api.metrics import Metrics
from croupier.domain import signing
from tests.e2e.conftest import Api


async def test_redis_refuses_a_nonce_replayed_to_another_replica(api: Api, redis_url: str) -> None:
    """Two app instances (two replicas) with their own Redis clients: a request replayed to
    the second is refused, and nothing is written by it."""
    await api.player("p1", "10.00")
    _, token = await api.session("p1")
    apps, stores = [], [RedisNonceStore(redis_url, clock=api.clock) for _ in range(2)]
    for nonces in stores:
        native = NativeV1(
            wallet=api.wallet, sessions=api.sessions, keys=api.keys,
            nonces=nonces, currencies=api.wallet.currencies,
            wall_clock=lambda: api.clock().timestamp(),
        )  # fmt: skip
        apps.append(create_app([native], metrics=Metrics(), access_log=False))
    body = orjson.dumps(
        {"player_id": "p1", "token": token, "tx_id": "b1", "round_id": "r1",
         "game_code": "dice", "amount": "1.00", "currency": "EUR"}
    )  # fmt: skip
    path = "/native/v1/acme/bet"
    headers = signing.request_headers(
        key_id=api.key_id, secret=api.secret, path=path, body=body,
        timestamp=int(api.clock().timestamp()), nonce=secrets.token_urlsafe(18),
    ) | {"content-type": "application/json"}  # fmt: skip
    answers = []
    for app in apps:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://replica") as http:
            answers.append(await http.post(path, content=body, headers=headers))
    for nonces in stores:
        await nonces.close()
    assert answers[0].status_code == 200, answers[0].text
    assert answers[1].status_code == 409
    assert answers[1].json()["error"]["code"] == "NONCE_REPLAYED"
    rows = await api.wallet.store.fetch("SELECT count(*) FROM wallet_transactions")  # type: ignore[attr-defined]
    assert rows[0][0] == 2  # the deposit and the one bet
