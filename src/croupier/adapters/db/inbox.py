"""The webhook inbox's tables on either database (SqlRunner)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import orjson

from croupier.adapters.db.runner import SqlRunner


class SqlInboxStore:
    """InboxStore over a store's SqlRunner."""

    def __init__(self, db: SqlRunner) -> None:
        self.db = db

    async def webhook_secrets(self, provider: str) -> Sequence[str]:
        rows = await self.db.fetch(
            "SELECT secret FROM webhook_secrets WHERE provider = $1 AND status = 'active' "
            "ORDER BY created_at DESC, secret_id",
            provider,
        )
        return [r[0] for r in rows]

    async def insert_webhook_secret(
        self, provider: str, secret_id: str, secret: str, now: datetime
    ) -> bool:
        changed = await self.db.execute(
            "INSERT INTO webhook_secrets (provider, secret_id, secret, status, created_at) "
            "VALUES ($1, $2, $3, 'active', $4) ON CONFLICT DO NOTHING",
            provider,
            secret_id,
            secret,
            now,
        )
        return changed == 1

    async def store_delivery(
        self,
        provider: str,
        delivery_id: str,
        headers: Mapping[str, str],
        body: bytes,
        now: datetime,
    ) -> tuple[int, bool]:
        async with self.db.unit() as unit:
            created = await unit.execute(
                "INSERT INTO webhook_deliveries (provider, delivery_id, received_at, headers, "
                "body, status, attempts, next_attempt_at) "
                "VALUES ($1, $2, $3, $4, $5, 'pending', 0, $3) ON CONFLICT DO NOTHING",
                provider,
                delivery_id,
                now,
                orjson.dumps(dict(headers)).decode(),
                body,
            )
            rows = await unit.fetch(
                "SELECT id FROM webhook_deliveries WHERE provider = $1 AND delivery_id = $2",
                provider,
                delivery_id,
            )
        return int(rows[0][0]), created == 1

    async def reject_delivery(
        self,
        provider: str,
        *,
        code: str,
        delivery_id: str | None,
        size: int,
        sha256: str,
        now: datetime,
    ) -> None:
        await self.db.execute(
            "INSERT INTO webhook_rejections (provider, received_at, code, delivery_id, "
            "body_size, body_sha256) VALUES ($1, $2, $3, $4, $5, $6)",
            provider,
            now,
            code,
            delivery_id,
            size,
            sha256,
        )
