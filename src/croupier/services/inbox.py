"""The webhook inbox, ingestion: a delivery is verified before any business field is read,
stored raw (headers and body, byte for byte) and committed before it is acknowledged;
the same delivery id again is acknowledged without a second record. A refused delivery
leaves a rejection record (code, size, SHA-256 of the body), never its content.

Processing the stored deliveries (the queue worker, retries, dead letters, replay) comes
with the rest of issue 5.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from croupier.domain import webhooks
from croupier.domain.catalogue import check_code
from croupier.domain.errors import CroupierError, InvalidRequest, KeyStateError, SignatureInvalid


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


class InboxService:
    def __init__(self, store: InboxStore, *, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.clock = clock

    async def add_secret(self, provider: str, secret_id: str | None = None) -> tuple[str, str]:
        """A new active whsec_ secret for ``provider``: (its id, the secret, shown once)."""
        check_code("provider", provider)
        sid = check_code(
            "secret_id", secret_id or f"ws{self.clock():%Y%m%d}-{secrets.token_hex(3)}"
        )
        secret = webhooks.SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
        if not await self.store.insert_webhook_secret(provider, sid, secret, self.clock()):
            raise KeyStateError(f"provider {provider!r} has a webhook secret {sid!r} already")
        return sid, secret

    async def receive(self, provider: str, headers: Mapping[str, str], body: bytes) -> Received:
        """Verify, then store; a refusal is recorded, then raised."""
        now = self.clock()
        try:
            try:
                check_code("provider", provider)
            except InvalidRequest:
                raise SignatureInvalid("unknown provider") from None
            active = await self.store.webhook_secrets(provider)
            if not active:
                raise SignatureInvalid("no webhook secret for this provider")
            delivery_id = webhooks.verify(active, headers, body, now=int(now.timestamp()))
        except CroupierError as refusal:
            await self.reject(provider, refusal.code, headers.get(webhooks.ID_HEADER), body)
            raise
        row_id, created = await self.store.store_delivery(provider, delivery_id, headers, body, now)
        return Received(row_id, delivery_id, duplicate=not created)

    async def reject(
        self,
        provider: str,
        code: str,
        delivery_id: str | None,
        body: bytes,
        size: int | None = None,
    ) -> None:
        """Record a refusal (the code answered, the claimed id, size and hash of the body)."""
        claimed = delivery_id[:128] if delivery_id else None
        await self.store.reject_delivery(
            provider[:64], code=code, delivery_id=claimed,
            size=size if size is not None else len(body),
            sha256=hashlib.sha256(body).hexdigest(), now=self.clock(),
        )  # fmt: skip
