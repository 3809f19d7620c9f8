"""A provider's side of the native wallet protocol and of the webhook inbox, as a careful
provider writes it: every request signed afresh (a retry is a new nonce over the same body),
every answer's signature checked, retries with capped exponential backoff and jitter on what
may be transient (a timeout, a refused connection, 5xx, 429, 503, a ``retryable`` error),
``Retry-After`` honoured, and a clear verdict when retries run out: ``Uncertain``, the call
may or may not have been applied (the caller then rolls back a bet, or resends a win).
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from croupier.domain import signing, webhooks

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Credentials:
    """A provider's code and one of its signing keys (``croupier keys add``)."""

    provider: str
    key_id: str
    secret: str


@dataclass(frozen=True)
class Backoff:
    """Attempts and waits: ``base * 2**n`` seconds, capped, with full jitter."""

    attempts: int = 5
    base: float = 0.05
    cap: float = 2.0

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.cap)
        return rng.uniform(0, min(self.cap, self.base * 2**attempt))


@dataclass
class Answer:
    """The last answer of a call (after retries), or why there was none."""

    call: str
    status: int | None
    body: dict[str, Any]
    verified: bool
    attempts: int
    seconds: float
    transport_error: str | None = None
    retry_after: float | None = None
    """The answer's ``Retry-After`` in seconds, when it gave one."""

    @property
    def ok(self) -> bool:
        """Applied, and the answer is the wallet's: its signature checked out. An OK whose
        signature does not verify may be forged: it decides nothing."""
        return self.status == 200 and self.body.get("status") == "OK" and self.verified

    @property
    def code(self) -> str | None:
        """The error code of a refusal; ``TIMEOUT`` or ``HTTP_<status>`` when there was no
        wallet answer at all."""
        if self.ok:
            return None
        if self.status == 200 and self.body.get("status") == "OK":
            return "RESPONSE_UNVERIFIED"
        error = self.body.get("error")
        if isinstance(error, dict) and isinstance(error.get("code"), str):
            return str(error["code"])
        if self.transport_error is not None:
            return "TIMEOUT"
        return f"HTTP_{self.status}"

    @property
    def definitive(self) -> bool:
        """The wallet decided (applied, or refused for good), and said so itself: its answer
        is signed for this request. An unsigned refusal (an auth proxy's 401, a 404 during a
        deploy, a key revoked mid-round) proves nothing about the call: sent again, and for a
        bet the provider rolls back."""
        if self.ok:
            return True
        if self.status is None or self.status in RETRYABLE_STATUSES or not self.verified:
            return False
        error = self.body.get("error")
        retry_class = error.get("retry_class") if isinstance(error, dict) else None
        return isinstance(error, dict) and retry_class != "retryable"

    @property
    def transaction(self) -> dict[str, Any]:
        tx = self.body.get("transaction")
        return tx if isinstance(tx, dict) else {}

    def balance(self) -> tuple[str, str] | None:
        b = self.body.get("balance")
        if isinstance(b, dict) and isinstance(b.get("cash"), str):
            return str(b["cash"]), str(b.get("bonus", "0"))
        return None


@dataclass
class CallLog:
    """Every attempt's latency and outcome, for summaries."""

    latencies: list[float] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)

    def add(self, seconds: float, outcome: str) -> None:
        self.latencies.append(seconds)
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


class WalletClient:
    """Signed calls to ``{base_url}/native/v1/{provider}/{call}`` and signed webhook
    deliveries to ``{base_url}/webhooks/{provider}``."""

    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        backoff: Backoff | None = None,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
        webhook_secret: str | None = None,
        seed: int | None = None,
    ) -> None:
        self.credentials = credentials
        self.backoff = backoff or Backoff()
        self.clock = clock
        self.webhook_secret = webhook_secret
        self.rng = random.Random(seed)  # noqa: S311 - backoff jitter, not cryptography
        self.log = CallLog()
        self.http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), transport=transport, timeout=timeout
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    def path(self, call: str) -> str:
        return f"/native/v1/{self.credentials.provider}/{call}"

    async def call(
        self, call: str, payload: dict[str, Any] | bytes, *, attempts: int | None = None
    ) -> Answer:
        """Send ``call`` until the wallet decides or the attempts run out."""
        body = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        return await self._retrying(lambda: self.send_once(call, body), attempts)

    async def _retrying(
        self, attempt_once: Callable[[], Awaitable[Answer]], attempts: int | None = None
    ) -> Answer:
        """``attempt_once`` until an answer is definitive or the attempts run out, waiting
        the backoff (or ``Retry-After``) between them; the last answer, with its attempts and
        the whole time taken."""
        tries = max(1, attempts or self.backoff.attempts)
        started = time.perf_counter()
        for attempt in range(tries):
            answer = await attempt_once()
            answer.attempts = attempt + 1
            if answer.definitive or attempt + 1 == tries:
                break
            await asyncio.sleep(self.backoff.delay(attempt, self.rng, self._retry_after(answer)))
        answer.seconds = time.perf_counter() - started
        return answer

    async def _post(
        self, call: str, path: str, body: bytes, headers: dict[str, str],
        verified: Callable[[httpx.Response], bool],
    ) -> Answer:  # fmt: skip
        """One POST, timed and counted; never raises for the network."""
        began = time.perf_counter()
        try:
            response = await self.http.post(path, content=body, headers=headers)
        except httpx.TransportError as exc:
            self.log.add(time.perf_counter() - began, "TIMEOUT")
            return Answer(call, None, {}, verified=False, attempts=1, seconds=0.0,
                          transport_error=type(exc).__name__)  # fmt: skip
        try:
            parsed = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            parsed = None
        answer = Answer(
            call, response.status_code, parsed if isinstance(parsed, dict) else {},
            verified=verified(response), attempts=1, seconds=0.0,
            retry_after=retry_after(response),
        )  # fmt: skip
        self.log.add(time.perf_counter() - began, answer.code or "OK")
        return answer

    async def send_once(
        self, call: str, body: bytes, *, sign: bool = True, nonce: str | None = None,
        timestamp: int | None = None, secret: str | None = None,
    ) -> Answer:  # fmt: skip
        """One attempt, signed afresh (or with the ``nonce``, ``timestamp`` or ``secret``
        given, to test a wallet's refusals); never raises for the network."""
        path = self.path(call)
        sent_nonce = nonce or secrets.token_urlsafe(18)
        headers = {"content-type": "application/json"}
        if sign:
            headers |= signing.request_headers(
                key_id=self.credentials.key_id, secret=secret or self.credentials.secret,
                path=path, body=body, nonce=sent_nonce,
                timestamp=int(self.clock()) if timestamp is None else timestamp,
            )  # fmt: skip
        return await self._post(
            call, path, body, headers, lambda r: self.verified(r, path, sent_nonce)
        )

    def verified(self, response: httpx.Response, path: str, nonce: str) -> bool:
        stamp = response.headers.get(signing.TIMESTAMP_HEADER, "")
        given = response.headers.get(signing.SIGNATURE_HEADER, "")
        if not stamp.isdigit() or not given:
            return False
        canonical = signing.canonical_response(
            response.status_code, path, int(stamp), nonce, response.content
        )
        # As bytes: a header that is not ASCII is a wrong signature, not a TypeError.
        return secrets.compare_digest(
            signing.signature_header(self.credentials.secret, canonical).encode(),
            given.encode(),
        )

    @staticmethod
    def _retry_after(answer: Answer) -> float | None:
        return answer.retry_after if answer.status in (429, 503) else None

    async def deliver(self, event: dict[str, Any], *, msg_id: str) -> Answer:
        """One webhook delivery (Standard Webhooks), retried like a call; the same
        ``msg_id`` on every retry, as the standard asks, signed at each attempt's time. The
        inbox does not sign its answers: they count as the wallet's."""
        secret = self.webhook_secret
        if secret is None:
            raise ValueError("no webhook secret: deliveries cannot be signed")
        body = orjson.dumps(event)
        path = f"/webhooks/{self.credentials.provider}"

        async def once() -> Answer:
            stamp = int(self.clock())
            headers = {
                "content-type": "application/json",
                webhooks.ID_HEADER: msg_id,
                webhooks.TIMESTAMP_HEADER: str(stamp),
                webhooks.SIGNATURE_HEADER: webhooks.sign(secret, msg_id, stamp, body),
            }
            return await self._post("webhook", path, body, headers, lambda _: True)

        return await self._retrying(once)


def retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds, when it is a number of seconds (not a date)."""
    value = response.headers.get("retry-after", "").strip()
    return float(value) if value.isascii() and value.isdigit() else None
