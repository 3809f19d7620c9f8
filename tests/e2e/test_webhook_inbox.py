"""The webhook inbox's door, on SQLite and PostgreSQL: a delivery signed the Standard Webhooks
way is stored raw and committed before its 200; the same delivery again, even a storm of a
hundred at once, is one record; every refusal is typed and leaves only a rejection record."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from croupier.domain import signing, webhooks
from croupier.services.inbox import RejectionLimiter
from tests.conftest import assert_append_only
from tests.e2e.conftest import Api

VECTOR: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "vectors" / "standard-webhooks.json").read_text()
)


async def count(api: Api, table: str) -> int:
    rows = await api.wallet.store.fetch(f"SELECT count(*) FROM {table}")  # type: ignore[attr-defined]  # noqa: S608
    return int(rows[0][0])


async def secret_of(api: Api, provider: str = "acme") -> str:
    assert api.inbox is not None
    _, secret = await api.inbox.add_secret(provider)
    return secret


def signed(secret: str, msg_id: str, body: bytes, at: datetime) -> dict[str, str]:
    stamp = int(at.timestamp())
    return {
        "webhook-id": msg_id, "webhook-timestamp": str(stamp),
        "webhook-signature": webhooks.sign(secret, msg_id, stamp, body),
        "content-type": "application/json",
    }  # fmt: skip


async def deliver(
    api: Api, body: bytes, headers: dict[str, str], provider: str = "acme"
) -> httpx.Response:
    return await api.http.post(f"/webhooks/{provider}", content=body, headers=headers)


async def test_a_signed_delivery_is_stored_raw_then_acknowledged(api: Api) -> None:
    secret = await secret_of(api)
    body = b'{"event": "round", "id": "e1",  "spaces kept": true}'
    r = await deliver(api, body, signed(secret, "msg_1", body, api.clock()))
    assert r.status_code == 200, r.text
    assert (r.json()["delivery_id"], r.json()["duplicate"]) == ("msg_1", False)
    rows = await api.wallet.store.fetch(  # type: ignore[attr-defined]
        "SELECT provider, delivery_id, body, headers, status FROM webhook_deliveries"
    )
    assert len(rows) == 1
    provider, delivery_id, stored, headers, status = rows[0]
    assert (provider, delivery_id, bytes(stored), status) == ("acme", "msg_1", body, "pending")
    assert json.loads(headers)["webhook-signature"].startswith("v1,")


async def test_the_public_vector_is_accepted_through_http(api: Api) -> None:
    assert api.inbox is not None
    await api.inbox.store.insert_webhook_secret("acme", "vector", VECTOR["secret"], api.clock())
    api.clock.now = datetime.fromtimestamp(VECTOR["webhook_timestamp"], UTC)
    headers = {"webhook-id": VECTOR["webhook_id"],
               "webhook-timestamp": str(VECTOR["webhook_timestamp"]),
               "webhook-signature": VECTOR["valid_signature"]}  # fmt: skip
    r = await deliver(api, VECTOR["raw_body"].encode(), headers)
    assert r.status_code == 200, r.text
    headers["webhook-signature"] = VECTOR["invalid_signature"]
    headers["webhook-id"] = "msg_other"
    r = await deliver(api, VECTOR["raw_body"].encode(), headers)
    assert (r.status_code, r.json()["error"]["code"]) == (401, "SIGNATURE_INVALID")


async def test_a_storm_of_the_same_delivery_is_one_record(api: Api) -> None:
    secret = await secret_of(api)
    body = b'{"event": "round", "id": "e2"}'
    headers = signed(secret, "msg_storm", body, api.clock())
    answers = await asyncio.gather(*(deliver(api, body, headers) for _ in range(100)))
    assert {a.status_code for a in answers} == {200}
    assert sum(not a.json()["duplicate"] for a in answers) == 1
    assert len({a.json()["id"] for a in answers}) == 1
    assert await count(api, "webhook_deliveries") == 1


async def test_rotation_accepts_either_secret(api: Api) -> None:
    old, new = await secret_of(api), await secret_of(api)
    for n, secret in enumerate((old, new)):
        body = f'{{"n": {n}}}'.encode()
        r = await deliver(api, body, signed(secret, f"msg_rot_{n}", body, api.clock()))
        assert r.status_code == 200, r.text


@pytest.mark.parametrize(("case", "status", "code"), [
    ("bad signature", 401, "SIGNATURE_INVALID"),
    ("stale", 401, "REQUEST_EXPIRED"),
    ("future", 401, "REQUEST_EXPIRED"),
    ("no headers", 401, "AUTHENTICATION_FAILED"),
    ("unknown provider", 401, "SIGNATURE_INVALID"),
    ("provider without a secret", 401, "SIGNATURE_INVALID"),
    ("too large", 413, "PAYLOAD_TOO_LARGE"),
])  # fmt: skip
async def test_refusals_are_typed_and_leave_only_a_rejection_record(
    api: Api, case: str, status: int, code: str
) -> None:
    secret = await secret_of(api)
    body = b'{"event": "round"}'
    provider = "acme"
    headers = signed(secret, "msg_bad", body, api.clock())
    if case == "bad signature":
        headers["webhook-signature"] = "v1," + "A" * 43 + "="
    elif case in {"stale", "future"}:
        api.clock.advance(301 if case == "stale" else -301)
    elif case == "no headers":
        headers = {"content-type": "application/json"}
    elif case == "unknown provider":
        provider = "x" * 65
    elif case == "provider without a secret":
        provider = "beta"
    elif case == "too large":
        body = b"x" * 65537
    r = await deliver(api, body, headers, provider)
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    assert await count(api, "webhook_deliveries") == 0
    rows = await api.wallet.store.fetch(  # type: ignore[attr-defined]
        "SELECT code, body_size FROM webhook_rejections"
    )
    assert [(c, int(s)) for c, s in rows] == [(code, len(body))]


async def test_rejection_records_are_append_only(api: Api) -> None:
    await deliver(api, b"{}", {"content-type": "application/json"})
    await assert_append_only(api.wallet.store, "webhook_rejections", (
        "UPDATE webhook_rejections SET code = 'x'", "DELETE FROM webhook_rejections",
    ))  # fmt: skip


def native_headers(api: Api, body: bytes, *, nonce: str, msg_id: str | None = None,
                   secret: str | None = None, skew: int = 0) -> dict[str, str]:  # fmt: skip
    sent = signing.request_headers(
        key_id=api.key_id, secret=secret or api.secret, path="/webhooks/acme", body=body,
        timestamp=int(api.clock().timestamp()) + skew, nonce=nonce,
    )  # fmt: skip
    return sent | ({"webhook-id": msg_id} if msg_id else {})


async def test_the_wallet_apis_own_signature_is_accepted_too(api: Api) -> None:
    """A provider that signs its wallet calls may sign its webhooks the same way, with the
    same keys. The delivery id is the nonce (signed): the same request again is a duplicate;
    a retry signed afresh is a new delivery; an unsigned webhook-id changes nothing."""
    body = b'{"event": "round", "id": "e9"}'
    for _ in range(2):
        r = await deliver(api, body, native_headers(api, body, nonce="n" * 20, msg_id="mine"))
        assert (r.status_code, r.json()["delivery_id"]) == (200, "n" * 20), r.text
    assert r.json()["duplicate"] is True
    r = await deliver(api, body, native_headers(api, body, nonce="o" * 20, msg_id="mine"))
    assert (r.status_code, r.json()["duplicate"]) == (200, False)
    assert await count(api, "webhook_deliveries") == 2


@pytest.mark.parametrize(("case", "code"), [
    ("wrong secret", "SIGNATURE_INVALID"), ("expired", "REQUEST_EXPIRED"),
])  # fmt: skip
async def test_a_bad_native_signature_is_refused(api: Api, case: str, code: str) -> None:
    body = b'{"event": "round"}'
    headers = native_headers(
        api, body, nonce="p" * 20, secret="x" * 40 if case == "wrong secret" else None,
        skew=-31 if case == "expired" else 0,
    )  # fmt: skip
    r = await deliver(api, body, headers)
    assert (r.status_code, r.json()["error"]["code"]) == (401, code), r.text
    assert await count(api, "webhook_deliveries") == 0
    assert await count(api, "webhook_rejections") == 1


async def test_hostile_headers_get_typed_refusals_never_a_500(api: Api) -> None:
    secret = await secret_of(api)
    body = b'{"event": "round"}'
    good = signed(secret, "msg_h", body, api.clock())
    repeated = [(k, v) for k, v in good.items()] + [("webhook-signature", "v1,AAAA")]
    r = await api.http.post("/webhooks/acme", content=body, headers=repeated)
    assert (r.status_code, r.json()["error"]["code"]) == (401, "AUTHENTICATION_FAILED")
    raw = [(k.encode(), v.encode()) for k, v in good.items() if k != "webhook-signature"]
    raw.append((b"webhook-signature", "v1,é".encode()))  # not ASCII: once a 500
    r = await api.http.post("/webhooks/acme", content=body, headers=raw)
    assert (r.status_code, r.json()["error"]["code"]) == (401, "SIGNATURE_INVALID")
    r = await deliver(api, b"x", good | {"content-length": "9" * 30})
    assert r.status_code in {400, 413}, r.text  # refused, typed, whatever the client does
    r = await deliver(api, body, good, provider="a%00b")
    assert (r.status_code, r.json()["error"]["code"]) == (401, "SIGNATURE_INVALID")
    assert await count(api, "webhook_deliveries") == 0


async def test_a_flood_of_bad_deliveries_writes_a_bounded_number_of_records(api: Api) -> None:
    """Every refusal is answered and counted; rejection records stop at the limiter's burst
    (50 per provider, then 10 a second), so a flood cannot turn into as many writes."""
    await secret_of(api)
    assert api.inbox is not None
    api.inbox.limiter = RejectionLimiter(monotonic=lambda: 0.0)  # the flood takes no time
    answers = [
        await deliver(
            api,
            b"{}",
            {"webhook-id": f"m{i}", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"},
        )
        for i in range(80)
    ]
    assert {r.status_code for r in answers} == {401}
    assert await count(api, "webhook_rejections") == 50
    assert (
        api.metrics.registry.get_sample_value(
            "croupier_webhooks_total", {"outcome": "REQUEST_EXPIRED"}
        )
        == 80
    )
