"""The sandbox's chaos switches (croupier.sandbox.chaos) and its wallet client
(croupier.sandbox.client), with httpx.MockTransport standing in for the wallet.

Each wire switch does what it says to the request and to the wallet behind it (called or
not, how often); switches are validated, merged, cleared, counted and repeat with a seed. The
client retries what may be transient, signing each attempt afresh, stops at a definitive
answer, honours Retry-After and checks the signature of every answer.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from croupier.domain import signing, webhooks
from croupier.sandbox import chaos as chaos_module
from croupier.sandbox.chaos import (
    ENDPOINTS,
    Chaos,
    ChaosError,
    ChaosTransport,
    Switch,
    endpoint_of,
)
from croupier.sandbox.client import Backoff, Credentials, WalletClient

BET = "/native/v1/acme/bet"
CREDS = Credentials("acme", "k1", "csk_unit_secret_0123456789")
NO_WAIT = Backoff(attempts=3, base=0.0, cap=0.0)
OTHER_SECRET = "csk_another_secret_0000000"  # noqa: S105 - a test key
Handler = Callable[[httpx.Request], httpx.Response]


class Wallet:
    """A MockTransport wallet that records every request it is handed."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.handler = handler or (lambda _: httpx.Response(200, json={"status": "OK"}))
        self.transport = httpx.MockTransport(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


async def send(transport: httpx.AsyncBaseTransport, path: str = BET) -> httpx.Response:
    async with httpx.AsyncClient(transport=transport, base_url="http://wallet.test") as c:
        return await c.post(path, content=b"{}")


def wired(switches: dict[str, Switch], seed: int = 1) -> tuple[Wallet, Chaos, ChaosTransport]:
    wallet, chaos = Wallet(), Chaos(seed=seed)
    for endpoint, switch in switches.items():
        chaos.set(endpoint, switch)
    return wallet, chaos, ChaosTransport(wallet.transport, chaos)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every asyncio.sleep's seconds, recorded instead of waited."""
    slept: list[float] = []
    real = asyncio.sleep

    async def fake(seconds: float, *args: Any, **kwargs: Any) -> None:
        slept.append(seconds)
        await real(0)

    monkeypatch.setattr(asyncio, "sleep", fake)
    assert chaos_module.asyncio.sleep is fake  # the module sleeps through this attribute
    return slept


# -- the wire switches -------------------------------------------------------------------------


def test_endpoints_are_named_from_the_path() -> None:
    assert endpoint_of(BET) == "bet"
    assert endpoint_of("/native/v1/acme/end_round/") == "end_round"
    assert endpoint_of("/webhooks/acme") == "webhook"


async def test_latency_delays_the_request_then_passes_it(sleeps: list[float]) -> None:
    wallet, _, transport = wired({"bet": Switch(latency_ms=250)})
    r = await send(transport)
    assert r.status_code == 200
    assert sleeps == [0.25]
    assert len(wallet.requests) == 1
    await send(transport, "/native/v1/acme/win")  # another endpoint: no delay
    assert sleeps == [0.25]


async def test_latency_comes_before_a_timeout(sleeps: list[float]) -> None:
    wallet, _, transport = wired({"bet": Switch(latency_ms=40, timeout=1.0)})
    with pytest.raises(httpx.ConnectTimeout):
        await send(transport)
    assert (sleeps, wallet.requests) == ([0.04], [])


async def test_timeout_raises_connect_timeout_and_never_reaches_the_wallet() -> None:
    wallet, chaos, transport = wired({"bet": Switch(timeout=1.0)})
    for _ in range(3):
        with pytest.raises(httpx.ConnectTimeout):
            await send(transport)
    assert wallet.requests == []
    assert chaos.snapshot()["fired"] == {"bet": {"timeout": 3}}
    assert (await send(transport, "/native/v1/acme/win")).status_code == 200
    assert len(wallet.requests) == 1


async def test_lost_answer_reaches_the_wallet_and_raises_read_timeout() -> None:
    wallet, chaos, transport = wired({"bet": Switch(lost_answer=1.0)})
    for n in (1, 2):
        with pytest.raises(httpx.ReadTimeout):
            await send(transport)
        assert len(wallet.requests) == n  # the wallet got it every time
    assert chaos.snapshot()["fired"] == {"bet": {"lost_answer": 2}}


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
async def test_error_rate_answers_its_status_without_calling_the_wallet(status: int) -> None:
    wallet, chaos, transport = wired({"bet": Switch(error_rate=1.0, error_status=status)})
    r = await send(transport)
    assert r.status_code == status
    assert wallet.requests == []
    assert chaos.snapshot()["fired"] == {"bet": {"error_rate": 1}}
    if status in (429, 503):
        assert r.headers["retry-after"] == "0"
    else:
        assert "retry-after" not in r.headers


async def test_a_burst_of_n_gives_exactly_n_errors_then_passes() -> None:
    wallet, chaos, transport = wired({"bet": Switch(burst=3, error_status=502)})
    statuses = []
    for _ in range(5):
        statuses.append((await send(transport)).status_code)
        if len(statuses) == 1:
            assert chaos.snapshot()["burst_left"] == {"bet": 2}
    assert statuses == [502, 502, 502, 200, 200]
    assert len(wallet.requests) == 2
    snap = chaos.snapshot()
    assert (snap["burst_left"], snap["fired"]) == ({}, {"bet": {"burst": 3}})
    assert snap["switches"]["bet"]["burst"] == 3  # the switch as set, for the record


async def test_a_quiet_chaos_transport_passes_everything_through() -> None:
    wallet, chaos, transport = wired({})
    for path in (BET, "/webhooks/acme"):
        assert (await send(transport, path)).status_code == 200
    assert len(wallet.requests) == 2
    assert chaos.snapshot() == {"switches": {}, "burst_left": {}, "fired": {}}


# -- switches: validation, update, clear, counts, seeds ---------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        {"timeout": 1.5}, {"lost_answer": -0.1}, {"error_rate": float("nan")},
        {"duplicate": True}, {"reorder": "0.5"}, {"drop": None},
        {"latency_ms": 1.5}, {"latency_ms": -1}, {"latency_ms": 60_001}, {"latency_ms": False},
        {"burst": True}, {"burst": 100_001}, {"burst": "3"},
        {"error_status": 404}, {"error_status": 200}, {"error_status": 503.0},
        {"error_status": "503"}, {"error_status": True},
        {"nope": 1}, {"timeout": 0.5, "latency": 10},
    ],
)  # fmt: skip
def test_a_bad_switch_is_refused(data: dict[str, Any]) -> None:
    with pytest.raises(ChaosError):
        Switch.from_dict(data)
    chaos = Chaos()
    chaos.update("bet", {"timeout": 0.25})
    with pytest.raises(ChaosError):
        chaos.update("bet", data)
    assert chaos.get("bet") == Switch(timeout=0.25)  # a refused update changes nothing


@pytest.mark.parametrize("data", [[], "timeout", None, 1])
def test_a_switch_is_a_json_object(data: object) -> None:
    with pytest.raises(ChaosError, match="JSON object"):
        Switch.from_dict(data)


def test_the_edges_of_each_range_are_accepted() -> None:
    top = Switch(latency_ms=60_000, timeout=1, lost_answer=1.0, error_rate=0, burst=100_000,
                 duplicate=0.0, reorder=1, drop=1.0, error_status=429)  # fmt: skip
    assert Switch.from_dict(json.loads(json.dumps(top.__dict__))) == top
    assert Switch().quiet
    assert Switch(error_status=500).quiet
    assert not Switch(drop=0.1).quiet


def test_an_unknown_endpoint_is_refused() -> None:
    chaos = Chaos()
    for bad in ("spin", "", "Bet"):
        with pytest.raises(ChaosError, match="unknown endpoint"):
            chaos.set(bad, Switch(timeout=1.0))
    assert chaos.switches == {}


def test_update_merges_over_the_existing_switch() -> None:
    chaos = Chaos()
    chaos.update("bet", {"timeout": 0.5, "error_status": 429})
    merged = chaos.update("bet", {"latency_ms": 10})
    assert merged == Switch(timeout=0.5, error_status=429, latency_ms=10)
    assert chaos.get("bet") == merged
    assert chaos.update("bet", {"timeout": 0}) == Switch(error_status=429, latency_ms=10)
    assert chaos.get("win") == Switch()  # other endpoints untouched


async def test_updating_another_key_does_not_arm_a_spent_burst_again() -> None:
    wallet, chaos, transport = wired({})
    chaos.update("bet", {"burst": 2})
    assert [(await send(transport)).status_code for _ in range(3)] == [503, 503, 200]
    chaos.update("bet", {"latency_ms": 1})
    assert (await send(transport)).status_code == 200
    chaos.update("bet", {"burst": 2})  # setting burst arms it again
    assert chaos.snapshot()["burst_left"] == {"bet": 2}
    assert [(await send(transport)).status_code for _ in range(3)] == [503, 503, 200]
    assert len(wallet.requests) == 3


def test_clear_one_endpoint_or_all() -> None:
    chaos = Chaos()
    chaos.set("bet", Switch(burst=2))
    chaos.set("win", Switch(timeout=1.0))
    chaos.set("webhook", Switch(drop=0.5))
    chaos.clear("bet")
    assert (chaos.get("bet"), sorted(chaos.switches)) == (Switch(), ["webhook", "win"])
    assert chaos.snapshot()["burst_left"] == {}
    assert not chaos.take_burst("bet")
    chaos.clear()
    assert chaos.switches == {}
    assert not chaos.roll("win", "timeout")


def test_snapshot_counts_what_fired() -> None:
    chaos = Chaos(seed=3)
    chaos.set("bet", Switch(timeout=1.0, duplicate=0.0, burst=1))
    chaos.set("webhook", Switch(drop=1.0))
    assert chaos.roll("bet", "timeout")
    assert chaos.roll("bet", "timeout")
    assert not chaos.roll("bet", "duplicate")
    assert chaos.take_burst("bet")
    assert not chaos.take_burst("bet")
    assert chaos.roll("webhook", "drop")
    snap = chaos.snapshot()
    assert snap["fired"] == {"bet": {"burst": 1, "timeout": 2}, "webhook": {"drop": 1}}
    assert snap["switches"]["webhook"]["drop"] == 1.0
    json.dumps(snap)  # it is served as JSON


def fired(seed: int, rounds: int = 200) -> list[tuple[str, str]]:
    chaos = Chaos(seed=seed)
    chaos.set("bet", Switch(timeout=0.2, error_rate=0.3, duplicate=0.5))
    chaos.set("webhook", Switch(drop=0.4))
    out = []
    for n in range(rounds):
        for endpoint, name in (("bet", "timeout"), ("bet", "error_rate"), ("bet", "duplicate"),
                               ("webhook", "drop")):  # fmt: skip
            if chaos.roll(endpoint, name):
                out.append((f"{n}", f"{endpoint}.{name}"))
    return out


def test_the_same_seed_fires_the_same_switches() -> None:
    first = fired(42)
    assert first == fired(42)
    assert first != fired(43)
    # and the rates are roughly what was asked
    drops = sum(1 for _, what in first if what == "webhook.drop")
    assert 50 < drops < 110


def test_every_endpoint_takes_a_switch() -> None:
    chaos = Chaos()
    for endpoint in ENDPOINTS:
        chaos.set(endpoint, Switch(latency_ms=1))
    assert sorted(chaos.snapshot()["switches"]) == sorted(ENDPOINTS)


# -- the wallet client ---------------------------------------------------------------------------


def signed_answer(request: httpx.Request, status: int, body: dict[str, Any],
                  *, secret: str = CREDS.secret, nonce: str | None = None,
                  headers: dict[str, str] | None = None) -> httpx.Response:  # fmt: skip
    """An answer signed as Croupier signs it (over the request's nonce unless ``nonce``)."""
    raw = json.dumps(body).encode()
    stamp = 1_767_268_801
    canonical = signing.canonical_response(
        status, request.url.raw_path.decode(), stamp,
        nonce or request.headers[signing.NONCE_HEADER], raw,
    )  # fmt: skip
    sent = {signing.TIMESTAMP_HEADER: str(stamp),
            signing.SIGNATURE_HEADER: signing.signature_header(secret, canonical),
            "content-type": "application/json"} | (headers or {})  # fmt: skip
    return httpx.Response(status, content=raw, headers=sent)


OK_BET = {"status": "OK", "transaction": {"id": "7", "outcome": "applied", "replay": False}}


def refusal(code: str, retry_class: str) -> dict[str, Any]:
    return {"status": "ERROR",
            "error": {"code": code, "message": "no", "retry_class": retry_class}}  # fmt: skip


def answers(*script: tuple[int, dict[str, Any]] | type[Exception]) -> Wallet:
    """A wallet answering the script in order (the last one again and again)."""
    calls = iter(range(1_000_000))

    def handler(request: httpx.Request) -> httpx.Response:
        step = script[min(next(calls), len(script) - 1)]
        if isinstance(step, type):
            raise step("down", request=request)  # type: ignore[call-arg]
        return signed_answer(request, *step)

    return Wallet(handler)


def client(wallet: Wallet, backoff: Backoff = NO_WAIT, **kw: Any) -> WalletClient:
    return WalletClient("http://wallet.test", CREDS, transport=wallet.transport,
                        backoff=backoff, clock=lambda: 1_767_268_800.0, seed=5, **kw)  # fmt: skip


def check_request_signature(request: httpx.Request) -> None:
    canonical = signing.canonical_request(
        "POST", request.url.raw_path.decode(), int(request.headers[signing.TIMESTAMP_HEADER]),
        request.headers[signing.NONCE_HEADER], request.content,
    )  # fmt: skip
    assert request.headers[signing.SIGNATURE_HEADER] == signing.signature_header(
        CREDS.secret, canonical
    )
    assert request.headers[signing.KEY_HEADER] == CREDS.key_id


async def test_a_503_burst_is_retried_with_a_new_nonce_each_time(sleeps: list[float]) -> None:
    wallet = answers((503, refusal("STORAGE_UNAVAILABLE", "retryable")),
                     (503, refusal("STORAGE_UNAVAILABLE", "retryable")), (200, OK_BET))  # fmt: skip
    c = client(wallet, Backoff(attempts=5, base=0.0, cap=0.0))
    answer = await c.call("bet", {"tx_id": "b1", "amount": "1.00"})
    await c.aclose()
    assert (answer.ok, answer.definitive, answer.attempts, answer.verified) == (True, True, 3, True)
    assert answer.transaction["id"] == "7"
    assert len(wallet.requests) == 3
    nonces = [r.headers[signing.NONCE_HEADER] for r in wallet.requests]
    assert len(set(nonces)) == 3
    assert {r.content for r in wallet.requests} == {b'{"tx_id":"b1","amount":"1.00"}'}
    for request in wallet.requests:
        check_request_signature(request)
    assert len(sleeps) == 2  # one wait between two attempts
    assert c.log.outcomes == {"STORAGE_UNAVAILABLE": 2, "OK": 1}


@pytest.mark.parametrize(
    ("step", "code"),
    [((503, {}), "HTTP_503"), ((500, refusal("INTERNAL", "final")), "INTERNAL"),
     (httpx.ConnectError, "TIMEOUT"), (httpx.ReadTimeout, "TIMEOUT")],
)  # fmt: skip
async def test_retries_run_out_undecided(
    step: tuple[int, dict[str, Any]] | type[Exception], code: str
) -> None:
    wallet = answers(step)
    c = client(wallet)
    answer = await c.call("bet", {"tx_id": "b1"})
    await c.aclose()
    assert (answer.ok, answer.definitive, answer.code, answer.attempts) == (False, False, code, 3)
    assert len(wallet.requests) == 3
    assert len({r.headers[signing.NONCE_HEADER] for r in wallet.requests}) == 3
    more = client(answers(step))
    assert (await more.call("bet", {"tx_id": "b1"}, attempts=5)).attempts == 5
    await more.aclose()


async def test_a_definitive_refusal_is_not_sent_again() -> None:
    wallet = answers((402, refusal("INSUFFICIENT_FUNDS", "final")), (200, OK_BET))
    c = client(wallet)
    answer = await c.call("bet", {"tx_id": "b1"})
    await c.aclose()
    assert (answer.ok, answer.definitive, answer.code) == (False, True, "INSUFFICIENT_FUNDS")
    assert (answer.attempts, len(wallet.requests), answer.status) == (1, 1, 402)


async def test_a_retryable_refusal_is_sent_again_whatever_its_status() -> None:
    wallet = answers((409, refusal("ROUND_BUSY", "retryable")), (200, OK_BET))
    c = client(wallet)
    first = await c.send_once("bet", b"{}")
    assert (first.status, first.definitive, first.code) == (409, False, "ROUND_BUSY")
    wallet.requests.clear()
    answer = await c.call("bet", {"tx_id": "b1"})
    await c.aclose()
    assert (answer.ok, answer.attempts, len(wallet.requests)) == (True, 1, 1)
    again = answers((409, refusal("ROUND_BUSY", "retryable")), (200, OK_BET))
    c = client(again)
    answer = await c.call("bet", {"tx_id": "b1"})
    await c.aclose()
    assert (answer.ok, answer.attempts, len(again.requests)) == (True, 2, 2)


async def test_retry_after_is_honoured_up_to_the_cap(sleeps: list[float]) -> None:
    busy = refusal("STORAGE_UNAVAILABLE", "retryable")

    def handler_for(retry_after: str | None) -> Handler:
        count = iter(range(100))

        def handler(request: httpx.Request) -> httpx.Response:
            if next(count) == 0:
                extra = {"retry-after": retry_after} if retry_after is not None else {}
                return signed_answer(request, 503, busy, headers=extra)
            return signed_answer(request, 200, OK_BET)

        return handler

    backoff = Backoff(attempts=3, base=0.25, cap=2.0)
    for header, expected in (("1", 1.0), ("30", 2.0), ("0", 0.0)):
        sleeps.clear()
        c = client(Wallet(handler_for(header)), backoff)
        assert (await c.call("bet", {})).ok
        await c.aclose()
        assert sleeps == [expected], header
    # No Retry-After (or a date): the backoff's own jittered wait, up to base * 2**0.
    for header in (None, "Wed, 21 Oct 2026 07:28:00 GMT"):
        sleeps.clear()
        c = client(Wallet(handler_for(header)), backoff)
        assert (await c.call("bet", {})).ok
        await c.aclose()
        [waited] = sleeps
        assert 0 <= waited <= 0.25


async def test_an_answer_signed_with_the_key_over_the_nonce_is_verified() -> None:
    c = client(Wallet(lambda r: signed_answer(r, 200, OK_BET)))
    assert (await c.call("bet", {})).verified
    await c.aclose()


@pytest.mark.parametrize(
    "forge",
    [
        lambda r: signed_answer(r, 200, OK_BET, secret=OTHER_SECRET),
        lambda r: signed_answer(r, 200, OK_BET, nonce="another-nonce-0000000001"),
        lambda _: httpx.Response(200, json=OK_BET),
        lambda r: signed_answer(r, 200, OK_BET, headers={signing.TIMESTAMP_HEADER: "1767268802"}),
        lambda r: signed_answer(r, 200, OK_BET, headers={signing.TIMESTAMP_HEADER: "-1"}),
        lambda r: signed_answer(r, 200, OK_BET, headers={signing.SIGNATURE_HEADER: "v1=zz"}),
        lambda _: httpx.Response(
            200, json=OK_BET,
            headers=[(b"x-croupier-timestamp", b"1767268801"),
                     (b"x-croupier-signature", b"v1=\xff\xfe")],
        ),
    ],
    ids=["other-key", "other-nonce", "unsigned", "other-timestamp", "bad-timestamp",
         "garbled", "not-ascii"],
)  # fmt: skip
async def test_an_answer_not_signed_for_this_request_is_not_verified(forge: Handler) -> None:
    c = client(Wallet(forge))
    answer = await c.call("bet", {})
    await c.aclose()
    assert not answer.verified
    # An OK not proven the wallet's decides nothing: not ok, not definitive, sent again.
    assert (answer.ok, answer.code, answer.definitive) == (False, "RESPONSE_UNVERIFIED", False)
    assert answer.attempts == 3


async def test_a_proxy_page_instead_of_an_answer_is_retried() -> None:
    c = client(Wallet(lambda _: httpx.Response(502, text="<html>bad gateway</html>")))
    answer = await c.call("bet", {})
    assert (answer.code, answer.definitive, answer.attempts) == ("HTTP_502", False, 3)
    await c.aclose()


async def test_a_webhook_delivery_keeps_its_id_across_retries_and_is_signed() -> None:
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123").decode()
    count = iter(range(100))
    wallet = Wallet(lambda _: httpx.Response(503) if next(count) == 0 else httpx.Response(
        200, json={"status": "OK", "duplicate": False}
    ))  # fmt: skip
    c = client(wallet, webhook_secret=secret)
    answer = await c.deliver({"event_id": "e1"}, msg_id="msg_e1")
    await c.aclose()
    assert (answer.ok, answer.attempts) == (True, 2)
    for request in wallet.requests:
        headers = dict(request.headers)
        assert headers[webhooks.ID_HEADER] == "msg_e1"
        assert webhooks.verify([secret], headers, request.content, now=1_767_268_800) == "msg_e1"
    unsigned = client(Wallet())
    with pytest.raises(ValueError, match="no webhook secret"):
        await unsigned.deliver({}, msg_id="m")
    await unsigned.aclose()


@pytest.mark.parametrize(
    ("endpoint", "switch"),
    [("win", {"reorder": 0.5}), ("rollback", {"reorder": 0.1}), ("bet", {"drop": 0.5}),
     ("win", {"drop": 1.0})],
)  # fmt: skip
def test_a_switch_only_where_it_means_something(endpoint: str, switch: dict[str, float]) -> None:
    chaos = Chaos(seed=1)
    with pytest.raises(ChaosError):
        chaos.update(endpoint, switch)
    assert chaos.get(endpoint) == Switch()
    chaos.update("bet", {"reorder": 0.5})
    chaos.update("webhook", {"drop": 0.5})
    assert chaos.get("bet").reorder == 0.5
    assert chaos.get("webhook").drop == 0.5
