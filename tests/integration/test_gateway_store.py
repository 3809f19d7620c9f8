"""The gateway's storage on both databases: request nonces, and what their writes cost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from croupier.adapters.db.gateway import SqlGatewayStore
from croupier.adapters.db.sqlite import SqliteStore
from croupier.services.ports import WalletStore

FULL = 2
"""PRAGMA synchronous=FULL, the ledger's setting."""


async def test_a_nonce_is_remembered_once_and_forgotten_after_its_window(
    store: WalletStore,
) -> None:
    gateway = SqlGatewayStore(store)  # type: ignore[arg-type]
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert await gateway.remember("acme", "n" * 16, now + timedelta(seconds=31))
    assert not await gateway.remember("acme", "n" * 16, now + timedelta(seconds=31))
    assert await gateway.remember("beta", "n" * 16, now + timedelta(seconds=31))  # per provider
    assert await gateway.prune(now) == 0
    assert await gateway.prune(now + timedelta(seconds=32)) == 2
    assert await gateway.remember("acme", "n" * 16, now + timedelta(seconds=90))


async def test_a_nonce_commit_leaves_the_ledger_fully_synchronous(store: WalletStore) -> None:
    """Nonces ride in the group-commit batch on SQLite: no PRAGMA switched, every commit
    keeps synchronous=FULL."""
    gateway = SqlGatewayStore(store)  # type: ignore[arg-type]
    await gateway.remember("acme", "m" * 16, datetime.now(UTC) + timedelta(seconds=31))
    if isinstance(store, SqliteStore):
        assert store.raw().execute("PRAGMA synchronous").fetchone()[0] == FULL
    rows = await store.fetch("SELECT count(*) FROM request_nonces")  # type: ignore[attr-defined]
    assert rows[0][0] == 1
