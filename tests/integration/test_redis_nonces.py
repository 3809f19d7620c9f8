"""Request nonces in Redis (CROUPIER_REDIS_URL): shared by every replica, expiring by themselves.

Redis: the ``redis_url`` fixture of tests/conftest.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis

from croupier.adapters.redis_nonces import RedisNonceStore


async def test_redis_remembers_a_nonce_once_per_provider_until_its_window_ends(
    redis_url: str,
) -> None:
    store = RedisNonceStore(redis_url, prefix="croupier-test:")
    try:
        keep_until = datetime.now(UTC) + timedelta(seconds=31)
        assert await store.remember("acme", "n" * 16, keep_until)
        assert not await store.remember("acme", "n" * 16, keep_until)
        assert await store.remember("beta", "n" * 16, keep_until)
        client = aioredis.Redis.from_url(redis_url)
        ttl_ms = await client.pttl("croupier-test:acme:" + "n" * 16)
        await client.aclose()
        assert 29_000 < ttl_ms <= 31_000  # Redis forgets it when the window has passed
        assert await store.prune(datetime.now(UTC)) == 0
    finally:
        await store.close()
