"""The webhook inbox's tables on either database (SqlRunner)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import orjson

from croupier.adapters.db.runner import SqlRunner, as_datetime
from croupier.services.inbox import Delivery


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

    # -- the queue ------------------------------------------------------------------------

    async def claim_deliveries(
        self, now: datetime, lease_until: datetime, limit: int
    ) -> Sequence[Delivery]:
        """Pending deliveries that are due, and processing ones whose lease ran out (their
        worker died), marked processing until ``lease_until``; on PostgreSQL concurrent
        workers skip each other's rows (SKIP LOCKED)."""
        due = await self.db.fetch(
            "SELECT 1 FROM webhook_deliveries WHERE status IN ('pending', 'processing') "
            "AND next_attempt_at <= $1 LIMIT 1",
            now,
        )
        if not due:  # an idle poll reads only: no write lock, no commit to sync
            return []
        skip = f"{self.db.row_lock} SKIP LOCKED" if self.db.row_lock else ""
        async with self.db.unit() as unit:
            rows = await unit.fetch(
                "UPDATE webhook_deliveries SET status = 'processing', "  # noqa: S608 - constant
                "attempts = attempts + 1, next_attempt_at = $2 WHERE id IN ("
                "SELECT id FROM webhook_deliveries "
                "WHERE status IN ('pending', 'processing') AND next_attempt_at <= $1 "
                f"ORDER BY next_attempt_at, id LIMIT $3{skip}) "
                "RETURNING id, provider, delivery_id, body, attempts",
                now,
                lease_until,
                limit,
            )
        return [Delivery(int(r[0]), r[1], r[2], bytes(r[3]), int(r[4])) for r in rows]

    async def finish_delivery(
        self, delivery: int, *, status: str, error: str | None, now: datetime,
        attempts: int, next_attempt_at: datetime | None = None,
    ) -> bool:  # fmt: skip
        changed = await self.db.execute(
            "UPDATE webhook_deliveries SET status = $2, last_error = $3, "
            "next_attempt_at = COALESCE($4, next_attempt_at), "
            "processed_at = COALESCE($5, processed_at) "
            "WHERE id = $1 AND status = 'processing' AND attempts = $6",
            delivery,
            status,
            error,
            next_attempt_at,
            now if status in {"applied", "held", "dead"} else None,
            attempts,
        )
        return changed == 1

    async def deliveries(
        self, *, status: str | None, provider: str | None, limit: int
    ) -> Sequence[dict[str, object]]:
        rows = await self.db.fetch(
            "SELECT id, provider, delivery_id, received_at, status, attempts, next_attempt_at, "
            "last_error, processed_at FROM webhook_deliveries "
            "WHERE ($1 = '' OR status = $1) AND ($2 = '' OR provider = $2) "
            "ORDER BY id DESC LIMIT $3",
            status or "",
            provider or "",
            limit,
        )
        names = ("id", "provider", "delivery_id", "received_at", "status", "attempts",
                 "next_attempt_at", "last_error", "processed_at")  # fmt: skip
        out = []
        for r in rows:
            row = dict(zip(names, r, strict=True))
            for key in ("received_at", "next_attempt_at", "processed_at"):
                value = row[key]
                row[key] = as_datetime(value) if value is not None else None
            out.append(row)
        return out

    async def delivery_body(self, delivery: int) -> bytes | None:
        rows = await self.db.fetch("SELECT body FROM webhook_deliveries WHERE id = $1", delivery)
        return bytes(rows[0][0]) if rows else None

    async def requeue(
        self, *, ids: Sequence[int] = (), start: datetime | None = None,
        end: datetime | None = None, provider: str | None = None, now: datetime,
    ) -> int:  # fmt: skip
        """Back to pending, now, with a fresh retry budget: the given deliveries, or those
        received in [start, end) (of one provider). Applying again is a replay."""
        if ids:
            total = 0
            for delivery in ids:
                total += await self.db.execute(
                    "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, "
                    "next_attempt_at = $2, last_error = NULL WHERE id = $1 "
                    "AND status <> 'processing'",
                    delivery,
                    now,
                )
            return total
        return await self.db.execute(
            "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, "
            "next_attempt_at = $3, last_error = NULL "
            "WHERE received_at >= $1 AND received_at < $2 AND status <> 'processing' "
            "AND ($4 = '' OR provider = $4)",
            start,
            end,
            now,
            provider or "",
        )
