"""The webhook inbox, ingestion: a delivery is verified before any business field is read,
stored raw (headers and body, byte for byte) and committed before it is acknowledged;
the same delivery id again is acknowledged without a second record. A refused delivery
leaves a rejection record (code, size, SHA-256 of the body), never its content.

The worker (``InboxWorker``) takes due deliveries from the queue, applies each event (a
round: its bet, then its win; a rollback; a jackpot or promotion credit) through the wallet
service under the provider's scope (calls that already arrived through the wallet API are
replays), and marks it applied; a tentative event is held (no money moves); a delivery that
cannot apply (not an event of the schema, a bad checksum,
a refusal of the wallet) goes to the dead letters at once; a transient failure is retried
with exponential backoff and jitter up to a budget, then dead. A worker that dies leaves its
claims to expire (a lease) and be taken again.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from croupier.domain import signing, webhooks
from croupier.domain.catalogue import check_code, check_provider
from croupier.domain.errors import (
    CroupierError,
    IdempotencyMismatch,
    InvalidRequest,
    KeyStateError,
    RetryClass,
    SignatureInvalid,
    TransactionRolledBack,
)
from croupier.domain.wallet import (
    MAX_REF_LENGTH,
    Bet,
    Credit,
    EndRound,
    Rollback,
    TxStatus,
    Win,
    provider_scope,
)
from croupier.domain.webhook_events import CreditEvent, RollbackEvent, RoundEvent, WebhookEvent
from croupier.services.wallet import WalletService

log = logging.getLogger("croupier.inbox")


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    provider: str
    delivery_id: str
    body: bytes
    attempts: int


@dataclass(frozen=True, slots=True)
class Received:
    id: int
    delivery_id: str
    duplicate: bool


class InboxStore(Protocol):
    async def webhook_secrets(self, provider: str) -> Sequence[str]:
        """The provider's active whsec_ secrets."""

    async def insert_webhook_secret(
        self, provider: str, secret_id: str, secret: str, now: datetime
    ) -> bool: ...

    async def store_delivery(
        self, provider: str, delivery_id: str, headers: Mapping[str, str], body: bytes,
        now: datetime,
    ) -> tuple[int, bool]:  # fmt: skip
        """(id, created): committed durably before it returns; an existing (provider,
        delivery id) is returned as it is, not stored again."""

    async def reject_delivery(
        self, provider: str, *, code: str, delivery_id: str | None, size: int, sha256: str,
        now: datetime,
    ) -> None: ...  # fmt: skip

    async def claim_deliveries(
        self, now: datetime, lease_until: datetime, limit: int
    ) -> Sequence[Delivery]: ...

    async def finish_delivery(
        self, delivery: int, *, status: str, error: str | None, now: datetime,
        attempts: int, next_attempt_at: datetime | None = None,
    ) -> bool:  # fmt: skip
        """Only if the delivery is still this claim's (processing, at ``attempts``): a
        worker whose lease ran out does not overwrite the one that took it after."""

    async def deliveries(
        self, *, status: str | None, provider: str | None, limit: int
    ) -> Sequence[dict[str, object]]: ...

    async def delivery_body(self, delivery: int) -> bytes | None:
        """The raw body of delivery ``delivery`` (our id), as received; None if unknown."""

    async def requeue(
        self, *, ids: Sequence[int] = (), start: datetime | None = None,
        end: datetime | None = None, provider: str | None = None, now: datetime,
    ) -> int: ...  # fmt: skip


class RejectionLimiter:
    """Token buckets for the rejection records a flood of bad deliveries may write (each is
    a database write; the refusals themselves are always answered and counted): one per
    provider named in the path, and one for all of them together, since a flood may name a
    new provider each time. Per process; the per-provider table is cleared past
    ``max_keys`` names (the shared bucket still bounds the writes)."""

    def __init__(
        self,
        per_second: float = 10.0,
        burst: int = 50,
        *,
        total_per_second: float = 50.0,
        total_burst: int = 200,
        monotonic: Callable[[], float] = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        self.per_second, self.burst, self.monotonic = per_second, burst, monotonic
        self.total_per_second, self.total_burst = total_per_second, total_burst
        self.max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        self._total = (float(total_burst), monotonic())
        self._last_warning = float("-inf")
        self.suppressed = 0
        """Rejection records not written since the process started."""

    @staticmethod
    def _take(
        bucket: tuple[float, float], now: float, rate: float, burst: int
    ) -> tuple[float, float, bool]:
        tokens = min(float(burst), bucket[0] + (now - bucket[1]) * rate)
        if tokens < 1:
            return tokens, now, False
        return tokens - 1, now, True

    def allow(self, key: str) -> bool:
        now = self.monotonic()
        if len(self._buckets) >= self.max_keys and key not in self._buckets:
            self._buckets.clear()
        tokens, last, mine = self._take(
            self._buckets.get(key, (float(self.burst), now)), now, self.per_second, self.burst
        )
        self._buckets[key] = (tokens, last)
        allowed = mine
        if mine:
            total, total_last, allowed = self._take(
                self._total, now, self.total_per_second, self.total_burst
            )
            self._total = (total, total_last)
        if not allowed:
            self.suppressed += 1
        return allowed

    def should_warn(self) -> bool:
        """At most one warning every 10 seconds about records suppressed."""
        now = self.monotonic()
        if now - self._last_warning < 10:
            return False
        self._last_warning = now
        return True


class InboxService:
    def __init__(
        self,
        store: InboxStore,
        *,
        clock: Callable[[], datetime],
        native_secret: Callable[[str, str], Awaitable[str]] | None = None,
        native_window_seconds: int = 30,
        limiter: RejectionLimiter | None = None,
    ) -> None:
        self.store = store
        self.limiter = limiter or RejectionLimiter()
        self.clock = clock
        self.native_secret = native_secret
        """(provider, key id) -> the secret of a provider key that may verify now (the
        wallet API's keys): for deliveries signed the native way."""
        self.native_window_seconds = native_window_seconds

    async def add_secret(self, provider: str, secret_id: str | None = None) -> tuple[str, str]:
        """A new active whsec_ secret for ``provider``: (its id, the secret, shown once)."""
        check_provider(provider)
        sid = check_code(
            "secret_id", secret_id or f"ws{self.clock():%Y%m%d}-{secrets.token_hex(3)}"
        )
        secret = webhooks.SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
        if not await self.store.insert_webhook_secret(provider, sid, secret, self.clock()):
            raise KeyStateError(f"provider {provider!r} has a webhook secret {sid!r} already")
        return sid, secret

    async def receive(
        self, provider: str, headers: Mapping[str, str], body: bytes, path: str = ""
    ) -> Received:
        """Verify (Standard Webhooks, or the wallet API's own HMAC scheme over ``path``),
        then store; a refusal is recorded, then raised."""
        now = self.clock()
        try:
            try:
                check_provider(provider)
            except InvalidRequest:
                raise SignatureInvalid("unknown provider") from None
            if signing.SIGNATURE_HEADER in headers and webhooks.SIGNATURE_HEADER not in headers:
                delivery_id = await self._verify_native(provider, headers, body, path, now)
            else:
                active = await self.store.webhook_secrets(provider)
                if not active:
                    raise SignatureInvalid("no webhook secret for this provider")
                delivery_id = webhooks.verify(active, headers, body, now=int(now.timestamp()))
        except CroupierError as refusal:
            await self.reject(provider, refusal.code, headers.get(webhooks.ID_HEADER), body)
            raise
        row_id, created = await self.store.store_delivery(provider, delivery_id, headers, body, now)
        return Received(row_id, delivery_id, duplicate=not created)

    async def _verify_native(
        self, provider: str, headers: Mapping[str, str], body: bytes, path: str, now: datetime
    ) -> str:
        """The wallet API's scheme (docs/protocol.md, Signing) over this path: a provider
        key's HMAC of POST, path, timestamp, nonce and the body's SHA-256."""
        if self.native_secret is None:
            raise SignatureInvalid("native signatures are not accepted here")
        signed = signing.parse_headers(dict(headers))
        secret = await self.native_secret(provider, signed.key_id)
        canonical = signing.canonical_request("POST", path, signed.timestamp, signed.nonce, body)
        signing.verify(secret, canonical, signed.mac)
        signing.check_timestamp(signed.timestamp, now.timestamp(), self.native_window_seconds)
        # The delivery id is the nonce, which the signature covers (an unsigned webhook-id
        # could be claimed in advance by anyone who saw a request): the same signed request
        # again is a duplicate; a retry signed afresh is a new delivery, applied as a replay.
        return signed.nonce

    async def reject(
        self,
        provider: str,
        code: str,
        delivery_id: str | None,
        body: bytes,
        size: int | None = None,
    ) -> None:
        """Record a refusal (the code answered, the claimed id, size and hash of the body),
        unless this provider's refusals come faster than the limiter lets records be written
        (a flood: answered and counted all the same, logged once it starts)."""
        shown = provider if webhooks.valid_id(provider) and len(provider) <= 64 else "?"
        if not self.limiter.allow(shown):
            if self.limiter.should_warn():
                log.warning(
                    "webhook rejections come too fast; records suppressed",
                    extra={"provider": shown, "suppressed": self.limiter.suppressed},
                )
            return
        claimed = (
            delivery_id[:128] if delivery_id and webhooks.valid_id(delivery_id[:128]) else None
        )
        await self.store.reject_delivery(
            shown, code=code, delivery_id=claimed,
            size=size if size is not None else len(body),
            sha256=hashlib.sha256(body).hexdigest(), now=self.clock(),
        )  # fmt: skip


def _end_ref(event_id: str) -> str:
    """The id of the end-round call of a round event, within 128 bytes."""
    ref = f"inbox:{event_id}:end"
    if len(ref.encode()) <= MAX_REF_LENGTH:
        return ref
    return f"inbox:sha256:{hashlib.sha256(event_id.encode()).hexdigest()}:end"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    budget: int = 8
    """Attempts, the first included, before a delivery goes to the dead letters."""
    base_seconds: float = 2.0
    max_seconds: float = 600.0
    lease_seconds: float = 60.0
    """How long a claim lasts: a delivery whose worker died is taken again after it."""

    def delay(self, attempts: int, jitter: float) -> timedelta:
        """Exponential from ``base_seconds``, capped, times a jitter in [0.5, 1)."""
        raw = min(self.max_seconds, self.base_seconds * 2 ** (attempts - 1))
        return timedelta(seconds=raw * (0.5 + jitter / 2))


class InboxWorker:
    def __init__(
        self,
        store: InboxStore,
        wallet: WalletService,
        parse: Callable[[bytes], WebhookEvent],
        *,
        clock: Callable[[], datetime],
        policy: RetryPolicy | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.store = store
        self.wallet = wallet
        self.parse = parse
        self.clock = clock
        self.policy = policy or RetryPolicy()
        self.jitter = jitter

    async def run_once(self, limit: int = 100) -> dict[str, int]:
        """One pass over the due deliveries: how many ended in each state."""
        now = self.clock()
        lease = now + timedelta(seconds=self.policy.lease_seconds)
        outcomes: dict[str, int] = {}
        for delivery in await self.store.claim_deliveries(now, lease, limit):
            try:
                status = await self._process(delivery)
            except CroupierError as error:
                if error.retry_class is not RetryClass.RETRYABLE:
                    raise
                # Its outcome could not be written (the database went away): the claim's
                # lease runs out and the delivery is taken again; the next ones may fare better.
                log.warning("inbox delivery left to its lease: %s", error.code,
                            extra={"delivery": delivery.id})  # fmt: skip
                status = "interrupted"
            outcomes[status] = outcomes.get(status, 0) + 1
        return outcomes

    async def _process(self, delivery: Delivery) -> str:
        if delivery.attempts > self.policy.budget:  # its worker kept dying on it
            return await self._finish(delivery, "dead", "retry budget spent (claims)")
        try:
            event = self.parse(delivery.body)
        except CroupierError as never:
            return await self._finish(delivery, "dead", f"{never.code}: {never.message}")
        except Exception as bug:  # the parser's bug: this body will never apply either
            log.exception("inbox delivery could not be parsed", extra={"delivery": delivery.id})
            return await self._finish(delivery, "dead", f"{type(bug).__name__}: {bug}"[:500])
        if not event.finalized:
            return await self._finish(delivery, "held", "tentative: no money moved")
        try:
            note = await self._apply(event, delivery.provider)
        except CroupierError as error:
            if error.retry_class is not RetryClass.RETRYABLE:  # the answer will not change
                return await self._finish(delivery, "dead", f"{error.code}: {error.message}")
            return await self._retry(delivery, f"{error.code}: {error.message}")
        except Exception as bug:
            log.exception("inbox delivery failed", extra={"delivery": delivery.id})
            return await self._retry(delivery, f"{type(bug).__name__}: {bug}"[:500])
        return await self._finish(delivery, "applied", note)

    async def _apply(self, event: WebhookEvent, provider: str) -> str | None:
        """Each event as wallet calls under the provider's scope, so one that already
        arrived through the wallet API is a replay. Returns a note for the record."""
        if isinstance(event, RoundEvent):
            return await self._apply_round(event, provider)
        if isinstance(event, RollbackEvent):
            await self._call(Rollback(
                tx_id=event.tx_id, amount=event.amount, bet_tx_id=event.bet_tx_id,
                player_id=event.player_id, currency=event.currency, provider=provider,
                round_id=event.round_id, game_code=event.game_code,
            ))  # fmt: skip
            return None
        assert isinstance(event, CreditEvent)  # noqa: S101 - the parser makes no other kind
        await self._call(Credit(
            tx_id=event.tx_id, amount=event.amount, reason=event.reason, source=event.source,
            player_id=event.player_id, currency=event.currency, provider=provider,
            round_id=event.round_id, game_code=event.game_code, to_bonus=event.to_bonus,
        ))  # fmt: skip
        return None

    async def _apply_round(self, event: RoundEvent, provider: str) -> str | None:
        """The bet, the win, then the round closed. Every call is checked before the first
        is made, so an event that cannot apply whole moves nothing. A bet rolled back
        already (a rollback event, or the wallet API's, that came first) leaves nothing to
        settle."""
        player, currency, round_id, game = (
            event.player_id, event.currency, event.round_id, event.game_code
        )  # fmt: skip
        bet = Bet(
            tx_id=event.bet_tx_id, amount=event.bet_amount, player_id=player, currency=currency,
            provider=provider, round_id=round_id, game_code=game,
        )  # fmt: skip
        win = None
        if event.win_tx_id is not None:
            win = Win(
                tx_id=event.win_tx_id, amount=event.win_amount, player_id=player,
                currency=currency, provider=provider, round_id=round_id, game_code=game,
            )  # fmt: skip
        end = EndRound(
            tx_id=_end_ref(event.event_id), player_id=player, currency=currency,
            provider=provider, round_id=round_id, game_code=game,
        )  # fmt: skip
        calls: list[Bet | Win | EndRound] = [bet, *([win] if win else []), end]
        for cmd in calls:
            self.wallet.validate(cmd)
        if len({cmd.tx_id for cmd in calls}) != len(calls):
            raise InvalidRequest("the event's bet and win have the same transaction id")
        try:
            await self._call(bet)
            if win is not None:
                await self._call(win)
        except TransactionRolledBack as gone:
            return f"{gone.code}: {gone.message}; nothing settled"
        note = None
        if win is None:  # a win would have been refused: say so here
            round_ = await self.wallet.round_state(provider_scope(provider), round_id)
            if round_ is not None and round_.bets_rolled_back and not round_.bets_live:
                note = "every bet of the round was rolled back; nothing settled"
        await self._call(end)
        return note

    async def _call(self, cmd: Bet | Win | EndRound | Rollback | Credit) -> None:
        """One wallet call. The same round call made synchronously may have carried options
        an event does not know (a win naming its bet, or closing the round): a stored call of
        the same kind, player, round, amount and currency is the same money, a replay. A
        rollback made synchronously is the same if it names the same bet (the event may not
        give the amount). A credit has no synchronous form: another content is a mismatch."""
        try:
            if isinstance(cmd, Bet):
                await self.wallet.place_bet(cmd)
            elif isinstance(cmd, Win):
                await self.wallet.settle_win(cmd)
            elif isinstance(cmd, Rollback):
                await self.wallet.rollback(cmd)
            elif isinstance(cmd, Credit):
                await self.wallet.credit(cmd)
            else:
                await self.wallet.end_round(cmd)
        except IdempotencyMismatch:
            if isinstance(cmd, Credit):
                raise
            stored = await self.wallet.recorded(cmd)
            if stored is None or (
                stored.status, stored.kind, stored.player_id, stored.currency
            ) != (TxStatus.OK, cmd.kind, cmd.player_id, cmd.currency):  # fmt: skip
                raise
            if isinstance(cmd, Rollback):
                same = stored.ref_tx == cmd.bet_tx_id and (
                    cmd.amount == 0 or stored.amount in (0, cmd.amount)
                )
            else:
                same = (stored.round_ref, stored.amount) == (cmd.round_id, cmd.amount)
            if not same:
                raise

    async def _retry(self, delivery: Delivery, error: str) -> str:
        if delivery.attempts >= self.policy.budget:
            return await self._finish(delivery, "dead", f"retry budget spent: {error}")
        later = self.clock() + self.policy.delay(delivery.attempts, self.jitter())
        kept = await self.store.finish_delivery(
            delivery.id, status="pending", error=error, now=self.clock(), next_attempt_at=later,
            attempts=delivery.attempts,
        )  # fmt: skip
        return "retry" if kept else "superseded"

    async def _finish(self, delivery: Delivery, status: str, error: str | None) -> str:
        kept = await self.store.finish_delivery(
            delivery.id, status=status, error=error, now=self.clock(), attempts=delivery.attempts
        )
        # Not kept: the lease ran out and another worker took the delivery (its outcome
        # stands; the money is the same, the wallet replays).
        return status if kept else "superseded"
