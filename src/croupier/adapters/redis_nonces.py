"""Request nonces in Redis (``CROUPIER_REDIS_URL``): shared by every replica, no database write.

``SET key 1 NX PX ttl``: the first writer of a nonce wins, later ones see a replay; Redis
expires the key when the request's timestamp has left the window.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import redis.asyncio as aioredis
import redis.exceptions

from croupier.domain.errors import StorageUnavailable


class RedisNonceStore:
    def __init__(
        self,
        url: str,
        *,
        prefix: str = "croupier:nonce:",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._redis = aioredis.Redis.from_url(url)
        self._prefix = prefix
        self._clock = clock
        """The clock ``expires_at`` is on (the gateway's), to turn it into Redis' TTL."""

    async def remember(self, provider: str, nonce: str, expires_at: datetime) -> bool:
        ttl_ms = max(1, int((expires_at - self._clock()).total_seconds() * 1000))
        try:
            stored = await self._redis.set(
                f"{self._prefix}{provider}:{nonce}", b"1", nx=True, px=ttl_ms
            )
        except (redis.exceptions.RedisError, OSError) as exc:
            raise StorageUnavailable(f"Redis failed: {type(exc).__name__}") from exc
        return bool(stored)

    async def prune(self, now: datetime) -> int:  # noqa: ARG002 - the NonceStore signature
        return 0  # Redis expires the keys itself

    async def close(self) -> None:
        await self._redis.aclose()
