"""Signed requests over HTTP, on both databases: refusals, nonces, key rotation, metrics and
correlation ids.

A request that cannot be proven to come from the provider is refused before its body is
read: nothing is written (no wallet transaction, no nonce) and a body that is not even JSON
gets the signature error, not INVALID_REQUEST. Valid requests get a signed response, signed
with the key the request used, through every step of a key rotation.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from croupier.domain import signing
from croupier.domain.errors import KeyStateError
from tests.e2e.conftest import Api

BROKEN_JSON = b'{"player_id": "p1", "amount": '


async def transactions(api: Api) -> int:
    rows = await api.wallet.store.fetch("SELECT count(*) FROM wallet_transactions")  # type: ignore[attr-defined]
    return int(rows[0][0])


async def nonces(api: Api) -> int:
    rows = await api.wallet.store.fetch("SELECT count(*) FROM request_nonces")  # type: ignore[attr-defined]
    return int(rows[0][0])


async def written(api: Api) -> tuple[int, int]:
    return await transactions(api), await nonces(api)


async def ready(api: Api, player: str = "p1") -> tuple[str, str]:
    """A player with 100.00 EUR and a game session of acme: (session id, token)."""
    await api.player(player, "100.00")
    return await api.session(player)


def bet(token: str, tx_id: str, amount: str = "1.00", player: str = "p1") -> dict[str, Any]:
    return {"player_id": player, "token": token, "tx_id": tx_id, "round_id": f"r-{tx_id}",
            "game_code": "dice", "amount": amount, "currency": "EUR"}  # fmt: skip


def now(api: Api) -> int:
    return int(api.clock().timestamp())


def signed_headers(
    api: Api,
    path: str,
    body: bytes,
    *,
    key_id: str | None = None,
    secret: str | None = None,
    nonce: str = "nonce-for-a-raw-request-1",
) -> dict[str, str]:
    return {"content-type": "application/json"} | signing.request_headers(
        key_id=key_id or api.key_id, secret=secret or api.secret, path=path, body=body,
        timestamp=now(api), nonce=nonce,
    )  # fmt: skip


def error_of(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json"), response.headers
    payload = response.json()
    assert payload["status"] == "ERROR", payload
    error: dict[str, Any] = payload["error"]
    assert set(error) == {"code", "message", "retry_class", "details"}, error
    return error


async def metric(api: Api, name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels``."""
    response = await api.http.get("/metrics")
    assert response.status_code == 200
    total = 0.0
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


async def metric_labels(api: Api, name: str) -> list[dict[str, str]]:
    response = await api.http.get("/metrics")
    return [
        dict(sample.labels)
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == name
    ]


# -- refused before anything is read ----------------------------------------------------

Send = Callable[[Api, bytes], Awaitable[httpx.Response]]
BET_PATH = "/native/v1/acme/bet"


async def _unsigned(api: Api, body: bytes) -> httpx.Response:
    return await api.post("bet", body, sign=False)


def _without(header: str) -> Send:
    async def send(api: Api, body: bytes) -> httpx.Response:
        headers = signed_headers(api, BET_PATH, body)
        del headers[header]
        return await api.http.post(BET_PATH, content=body, headers=headers)

    return send


def _override(header: str, value: str) -> Send:
    async def send(api: Api, body: bytes) -> httpx.Response:
        return await api.post("bet", body, headers={header: value})

    return send


async def _wrong_secret(api: Api, body: bytes) -> httpx.Response:
    return await api.post("bet", body, secret="csk_" + "x" * 40)


async def _mac_of_another_body(api: Api, body: bytes) -> httpx.Response:
    headers = signed_headers(api, BET_PATH, body + b" ")
    return await api.http.post(BET_PATH, content=body, headers=headers)


async def _mac_of_another_path(api: Api, body: bytes) -> httpx.Response:
    headers = signed_headers(api, "/native/v1/acme/balance", body)
    return await api.http.post(BET_PATH, content=body, headers=headers)


async def _mac_with_one_char_changed(api: Api, body: bytes) -> httpx.Response:
    headers = signed_headers(api, BET_PATH, body)
    mac = headers[signing.SIGNATURE_HEADER]
    headers[signing.SIGNATURE_HEADER] = mac[:-1] + ("0" if mac[-1] != "0" else "1")
    return await api.http.post(BET_PATH, content=body, headers=headers)


async def _unknown_key(api: Api, body: bytes) -> httpx.Response:
    return await api.post("bet", body, key_id="k9")


async def _revoked_key(api: Api, body: bytes) -> httpx.Response:
    await api.keys.add("acme", key_id="k2")
    await api.keys.promote("acme", "k2")
    await api.keys.revoke("acme", "k1")
    return await api.post("bet", body)  # signed with k1, now revoked


async def _other_providers_key(api: Api, body: bytes) -> httpx.Response:
    beta = await api.keys.add("beta", key_id="kb")
    return await api.post("bet", body, key_id=beta.key_id, secret=beta.secret)


async def _other_providers_key_same_id(api: Api, body: bytes) -> httpx.Response:
    beta = await api.keys.add("beta", key_id="k1")  # same id as acme's key, its own secret
    return await api.post("bet", body, key_id=beta.key_id, secret=beta.secret)


async def _expired(api: Api, body: bytes) -> httpx.Response:
    return await api.post("bet", body, timestamp=now(api) - 31)


async def _from_the_future(api: Api, body: bytes) -> httpx.Response:
    return await api.post("bet", body, timestamp=now(api) + 31)


REFUSALS: dict[str, tuple[Send, str]] = {
    "unsigned": (_unsigned, "SIGNATURE_INVALID"),
    **{
        f"missing-{h.removeprefix('x-croupier-')}": (_without(h), "SIGNATURE_INVALID")
        for h in (
            signing.KEY_HEADER,
            signing.TIMESTAMP_HEADER,
            signing.NONCE_HEADER,
            signing.SIGNATURE_HEADER,
        )
    },
    "empty-signature": (_override(signing.SIGNATURE_HEADER, ""), "SIGNATURE_INVALID"),
    "malformed-timestamp": (_override(signing.TIMESTAMP_HEADER, "soon"), "SIGNATURE_INVALID"),
    "short-nonce": (_override(signing.NONCE_HEADER, "abc"), "SIGNATURE_INVALID"),
    "wrong-secret": (_wrong_secret, "SIGNATURE_INVALID"),
    "mac-of-another-body": (_mac_of_another_body, "SIGNATURE_INVALID"),
    "mac-of-another-path": (_mac_of_another_path, "SIGNATURE_INVALID"),
    "mac-one-char-changed": (_mac_with_one_char_changed, "SIGNATURE_INVALID"),
    "unknown-key": (_unknown_key, "SIGNATURE_INVALID"),
    "revoked-key": (_revoked_key, "SIGNATURE_INVALID"),
    "other-providers-key": (_other_providers_key, "SIGNATURE_INVALID"),
    "other-providers-key-same-id": (_other_providers_key_same_id, "SIGNATURE_INVALID"),
    "31s-old": (_expired, "REQUEST_EXPIRED"),
    "31s-in-the-future": (_from_the_future, "REQUEST_EXPIRED"),
}


@pytest.mark.parametrize("broken_body", [False, True], ids=["valid-bet", "broken-json"])
@pytest.mark.parametrize("case", sorted(REFUSALS))
async def test_a_request_that_is_not_proven_is_refused_and_nothing_is_written(
    api: Api, case: str, broken_body: bool
) -> None:
    _, token = await ready(api)
    body = BROKEN_JSON if broken_body else orjson.dumps(bet(token, "b1"))
    before = await written(api)
    failures = await metric(api, "croupier_signature_failures_total")
    send, code = REFUSALS[case]

    response = await send(api, body)

    assert response.status_code == 401, response.text
    error = error_of(response)
    assert error["code"] == code  # never INVALID_REQUEST: the body was not parsed
    assert error["retry_class"] == "final"
    assert await written(api) == before
    assert await metric(api, "croupier_signature_failures_total") == failures + 1
    balance = await api.wallet.balance("p1")
    assert balance.cash == 100_00
    if code == "SIGNATURE_INVALID":
        # No key was proven: nothing to sign the answer with.
        assert signing.SIGNATURE_HEADER not in response.headers
    else:
        # The key was proven, only the clock disagrees: the answer is signed and says when.
        assert error["details"] == {"server_time": now(api)}
        assert api.response_verified(response)


async def test_the_window_is_30_seconds_either_way(api: Api) -> None:
    _, token = await ready(api)
    deposit = await transactions(api)
    r = await api.post("bet", bet(token, "b1"), timestamp=now(api) - 30)
    assert r.status_code == 200, r.text
    r = await api.post("bet", bet(token, "b2"), timestamp=now(api) + 30)
    assert r.status_code == 200, r.text
    for i, offset in enumerate((-31, 31, -3600, 3600)):
        r = await api.post("bet", bet(token, f"late{i}"), timestamp=now(api) + offset)
        assert r.status_code == 401
        assert error_of(r)["code"] == "REQUEST_EXPIRED"
    assert await transactions(api) == deposit + 2


async def test_a_refusal_does_not_consume_the_nonce(api: Api) -> None:
    _, token = await ready(api)
    body = bet(token, "b1")
    r = await api.post("bet", body, nonce="nonce-tried-with-bad-mac", secret="s" * 40)
    assert error_of(r)["code"] == "SIGNATURE_INVALID"
    r = await api.post("bet", body, nonce="nonce-tried-too-late-001", timestamp=now(api) - 60)
    assert error_of(r)["code"] == "REQUEST_EXPIRED"
    assert await written(api) == (1, 0)  # the deposit only
    r = await api.post("bet", body, nonce="nonce-tried-with-bad-mac")
    assert r.status_code == 200, r.text
    r = await api.post("bet", bet(token, "b2"), nonce="nonce-tried-too-late-001")
    assert r.status_code == 200, r.text
    assert await written(api) == (3, 2)


async def test_a_replayed_nonce_is_refused_and_nothing_is_written(api: Api) -> None:
    _, token = await ready(api)
    nonce = "the-one-and-only-nonce"
    body = orjson.dumps(bet(token, "b1"))
    headers = signed_headers(api, BET_PATH, body, nonce=nonce)
    first = await api.http.post(BET_PATH, content=body, headers=headers)
    assert first.status_code == 200, first.text
    before = await written(api)
    assert before == (2, 1)  # the deposit and the bet; the nonce

    # The very same request again (a captured request replayed byte for byte) ...
    again = await api.http.post(BET_PATH, content=body, headers=headers)
    # ... signed afresh a little later with the same nonce ...
    api.clock.advance(5)
    fresh = await api.post("bet", body, nonce=nonce)
    # ... for another transaction, and with a body that is not even JSON.
    other = await api.post("bet", bet(token, "b2"), nonce=nonce)
    broken = await api.post("bet", BROKEN_JSON, nonce=nonce)

    for response in (again, fresh, other, broken):
        assert response.status_code == 409, response.text
        error = error_of(response)
        assert error["code"] == "NONCE_REPLAYED"
        assert error["retry_class"] == "final"
        # Unsigned: a copy of an answered request gets no answer the provider could trust.
        assert "x-croupier-signature" not in response.headers
    assert await written(api) == before
    assert (await api.wallet.balance("p1")).cash == 99_00


async def test_responses_to_valid_requests_are_signed(api: Api) -> None:
    _, token = await ready(api)
    r = await api.post("authenticate", {"token": token})
    assert r.status_code == 200, r.text
    assert api.response_verified(r)
    assert not api.response_verified(r, secret="csk_" + "z" * 40)
    assert r.headers[signing.TIMESTAMP_HEADER] == str(now(api))
    r = await api.post("bet", bet(token, "b1", amount="1000.00"))
    assert r.status_code == 402  # a refusal after the signature checked out is signed too
    assert error_of(r)["code"] == "INSUFFICIENT_FUNDS"
    assert api.response_verified(r)
    # A response's signature covers its nonce: it does not verify as another request's answer.
    answer = await api.post("balance", {"player_id": "p1", "token": token})
    assert api.response_verified(answer)
    await api.post("balance", {"player_id": "p1", "token": token})
    assert not api.response_verified(answer)


# -- key rotation -----------------------------------------------------------------------


async def test_key_rotation_without_a_failed_request(api: Api) -> None:
    _, token = await ready(api)
    deposit = await transactions(api)
    k1 = (api.key_id, api.secret)
    sent = 0

    async def bet_with(key: tuple[str, str]) -> httpx.Response:
        nonlocal sent
        sent += 1
        r = await api.post("bet", bet(token, f"b{sent}"), key_id=key[0], secret=key[1])
        assert r.status_code == 200, (key[0], r.text)
        assert r.json()["transaction"]["replay"] is False
        # Signed with the key that signed the request, and only with that one.
        assert api.response_verified(r, secret=key[1])
        others = {api.secret, *(s for _, s in keys)} - {key[1]}
        assert not any(api.response_verified(r, secret=s) for s in others)
        return r

    keys = [k1]
    for _ in range(2):
        await bet_with(k1)

    added = await api.keys.add("acme", key_id="k2")
    assert added.status == "active"
    k2 = (added.key_id, added.secret)
    keys.append(k2)
    for key in (k1, k2, k1, k2):
        await bet_with(key)

    with pytest.raises(KeyStateError) as refused:
        await api.keys.revoke("acme", "k1")  # still the primary key
    assert refused.value.code == "KEY_STATE"
    assert refused.value.http_status == 409
    await bet_with(k1)

    promoted = await api.keys.promote("acme", "k2")
    assert promoted.status == "primary"
    statuses = {k.key_id: k.status for k in await api.keys.list("acme")}
    assert statuses == {"k1": "active", "k2": "primary"}
    for key in (k1, k2, k2, k1):
        await bet_with(key)

    with pytest.raises(KeyStateError) as refused:
        await api.keys.revoke("acme", "k2")  # the primary key now
    assert refused.value.code == "KEY_STATE"
    await bet_with(k2)

    revoked = await api.keys.revoke("acme", "k1")
    assert revoked.status == "revoked"
    await bet_with(k2)
    before = await written(api)
    r = await api.post("bet", bet(token, "after-revoke"), key_id=k1[0], secret=k1[1])
    assert r.status_code == 401
    assert error_of(r)["code"] == "SIGNATURE_INVALID"
    assert await written(api) == before
    await bet_with(k2)

    assert await transactions(api) == deposit + sent
    assert (await api.wallet.balance("p1")).cash == (100 - sent) * 100


# -- metrics ----------------------------------------------------------------------------


async def test_metrics_count_signature_failures_replays_mismatches_and_latency(api: Api) -> None:
    _, token = await ready(api)
    r = await api.post("balance", {"player_id": "p1", "token": token})
    assert r.status_code == 200, r.text
    assert await metric(api, "croupier_signature_failures_total") == 0

    await api.post("bet", bet(token, "x1"), sign=False)
    await api.post("bet", bet(token, "x2"), secret="s" * 40)
    await api.post("bet", bet(token, "x3"), timestamp=now(api) - 31)
    await api.post("bet", bet(token, "x4"), nonce="nonce-used-twice-here")
    await api.post("bet", bet(token, "x5"), nonce="nonce-used-twice-here")
    name = "croupier_signature_failures_total"
    assert await metric(api, name, provider="acme", code="SIGNATURE_INVALID") == 2
    assert await metric(api, name, provider="acme", code="REQUEST_EXPIRED") == 1
    assert await metric(api, name, provider="acme", code="NONCE_REPLAYED") == 1

    # A provider segment nobody configured does not become a label value.
    r = await api.post("bet", bet(token, "x6"), provider="made-up-provider")
    assert error_of(r)["code"] == "SIGNATURE_INVALID"
    assert await metric(api, name, provider="unknown", code="SIGNATURE_INVALID") == 1
    assert all(
        labels["provider"] != "made-up-provider" for labels in await metric_labels(api, name)
    )

    body = bet(token, "b1")
    assert (await api.post("bet", body)).status_code == 200
    assert await metric(api, "croupier_wallet_replays_total", provider="acme", call="bet") == 0
    r = await api.post("bet", body)
    assert r.json()["transaction"]["replay"] is True
    assert await metric(api, "croupier_wallet_replays_total", provider="acme", call="bet") == 1

    mismatches = "croupier_wallet_idempotency_mismatches_total"
    assert await metric(api, mismatches) == 0
    r = await api.post("bet", body | {"amount": "2.00"})
    assert r.status_code == 409
    assert error_of(r)["code"] == "IDEMPOTENCY_MISMATCH"
    assert await metric(api, mismatches, provider="acme", call="bet") == 1
    assert await metric(api, "croupier_wallet_replays_total") == 1

    seconds = "croupier_wallet_call_seconds_count"
    # x4 (the first use of its nonce), b1 and b1's replay
    assert await metric(api, seconds, provider="acme", call="bet", outcome="OK") == 3
    assert await metric(api, seconds, provider="acme", call="balance", outcome="OK") == 1
    assert await metric(api, seconds, call="bet", outcome="IDEMPOTENCY_MISMATCH") == 1
    assert await metric(api, seconds, call="bet", outcome="SIGNATURE_INVALID") == 3
    assert await metric(api, seconds, call="bet", outcome="REQUEST_EXPIRED") == 1
    assert await metric(api, seconds, call="bet", outcome="NONCE_REPLAYED") == 1
    buckets = await metric_labels(api, "croupier_wallet_call_seconds_bucket")
    assert {"provider": "acme", "call": "bet", "outcome": "OK", "le": "+Inf"} in buckets
    assert await metric(api, "croupier_wallet_call_seconds_sum", call="bet", outcome="OK") > 0
    assert await metric(api, "croupier_internal_errors_total") == 0


# -- correlation id ---------------------------------------------------------------------


async def _row(api: Api, reference: str) -> tuple[Any, ...]:
    rows = await api.wallet.store.fetch(  # type: ignore[attr-defined]
        "SELECT correlation_id, session_id FROM wallet_transactions WHERE reference = $1",
        reference,
    )
    assert len(rows) == 1, rows
    return tuple(rows[0])


async def test_the_correlation_id_is_echoed_and_stored_with_the_session(api: Api) -> None:
    session_id, token = await ready(api)
    r = await api.post("bet", bet(token, "b1"), headers={"x-request-id": "corr-123"})
    assert r.status_code == 200, r.text
    assert r.headers["x-request-id"] == "corr-123"
    assert await _row(api, "b1") == ("corr-123", session_id)

    # Without one, the call gets a fresh id, answered and stored alike.
    r = await api.post("bet", bet(token, "b2"))
    generated = r.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{24}", generated)
    assert await _row(api, "b2") == (generated, session_id)

    # One that is not a safe token is replaced, not stored.
    for i, bad in enumerate(("corr 123", "x" * 129, "corr;123", "corr/../1")):
        r = await api.post("bet", bet(token, f"c{i}"), headers={"x-request-id": bad})
        assert r.status_code == 200, r.text
        replaced = r.headers["x-request-id"]
        assert replaced != bad
        assert re.fullmatch(r"[0-9a-f]{24}", replaced)
        assert await _row(api, f"c{i}") == (replaced, session_id)

    # The context is per call: a win without a token names no session, and its own id.
    win = {"player_id": "p1", "tx_id": "w1", "round_id": "r-b1", "game_code": "dice",
           "amount": "2.00", "currency": "EUR", "close_round": True}  # fmt: skip
    r = await api.post("win", win, headers={"x-request-id": "corr-456"})
    assert r.status_code == 200, r.text
    assert await _row(api, "w1") == ("corr-456", None)
    win2 = win | {"tx_id": "w2", "round_id": "r-b2"}
    r = await api.post("win", win2)
    assert await _row(api, "w2") == (r.headers["x-request-id"], None)


async def test_refusals_echo_the_correlation_id(api: Api) -> None:
    _, token = await ready(api)
    r = await api.post("bet", bet(token, "b1"), sign=False, headers={"x-request-id": "corr-1"})
    assert r.status_code == 401
    assert r.headers["x-request-id"] == "corr-1"
    r = await api.post("bet", b" " * 70_000, headers={"x-request-id": "corr-2"})
    assert r.status_code == 413
    assert error_of(r)["code"] == "PAYLOAD_TOO_LARGE"
    assert r.headers["x-request-id"] == "corr-2"
    r = await api.post("bet", BROKEN_JSON, headers={"x-request-id": "corr-3"})
    assert error_of(r)["code"] == "INVALID_REQUEST"
    assert r.headers["x-request-id"] == "corr-3"
    assert await transactions(api) == 1  # the deposit


async def test_unknown_calls_share_one_metric_label(api: Api) -> None:
    """Whatever a caller puts in the path, the metric labels do not grow with it."""
    for n in range(5):
        r = await api.post(f"x{n}", {}, sign=False)
        assert r.status_code == 404
    metrics = (await api.http.get("/metrics")).text
    assert 'call="unknown"' in metrics
    assert 'call="x0"' not in metrics


async def test_a_signature_header_sent_twice_is_refused(api: Api) -> None:
    """Which copy a proxy checked is unknowable: neither is used, and the request fails."""
    await api.player("p1", "10.00")
    _, token = await api.session("p1")
    body = orjson.dumps({"player_id": "p1", "token": token})
    path = "/native/v1/acme/balance"
    headers = signing.request_headers(
        key_id=api.key_id, secret=api.secret, path=path, body=body,
        timestamp=int(api.clock().timestamp()), nonce=secrets.token_urlsafe(18),
    )  # fmt: skip
    raw = [(k, v) for k, v in headers.items()] + [
        ("x-croupier-key", "other"),
        ("content-type", "application/json"),
    ]
    r = await api.http.post(path, content=body, headers=raw)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "SIGNATURE_INVALID"
