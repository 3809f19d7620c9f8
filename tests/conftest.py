"""Shared fixtures: a migrated database of each kind, and a wallet service on it.

Every database test runs on SQLite and on PostgreSQL. PostgreSQL is found through
CROUPIER_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres, a server
on loopback); when it cannot be reached its tests are skipped, unless
CROUPIER_REQUIRE_POSTGRES=1 (set by .ci/run), where they fail instead.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import psycopg
import pytest
import redis.asyncio as aioredis
import redis.exceptions
from psycopg import sql

from croupier.adapters.db.migrate import make_engine, upgrade
from croupier.adapters.db.postgres import PostgresStore
from croupier.adapters.db.schema import metadata
from croupier.adapters.db.sqlite import SqliteStore
from croupier.adapters.db.verify import verify_ledger
from croupier.bootstrap import currency_table, sync_currencies
from croupier.config import Settings
from croupier.domain.errors import StorageUnavailable
from croupier.domain.wallet import BonusPolicy
from croupier.services.ports import WalletStore
from croupier.services.wallet import WalletService

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _admin_url() -> str:
    return os.environ.get("CROUPIER_TEST_POSTGRES_URL", DEFAULT_PG)


def _with_db(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database migrated to head for this test session, dropped at the end."""
    admin = _admin_url()
    try:
        conn = psycopg.connect(admin, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("CROUPIER_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL required but unreachable at {admin}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {admin} (set CROUPIER_TEST_POSTGRES_URL)")
    name = f"croupier_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = _with_db(admin, name)
    upgrade(url)
    yield url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """Redis database 15 on loopback (CROUPIER_TEST_REDIS_URL), emptied before and after.
    Unreachable: the test is skipped, or fails under CROUPIER_REQUIRE_REDIS=1 (.ci/run)."""
    url = os.environ.get("CROUPIER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    client = aioredis.Redis.from_url(url)
    try:
        await client.ping()
    except (redis.exceptions.RedisError, OSError) as exc:
        await client.aclose()
        if os.environ.get("CROUPIER_REQUIRE_REDIS") == "1":
            pytest.fail(f"Redis required but unreachable at {url}: {exc}")
        pytest.skip(f"Redis unreachable at {url} (set CROUPIER_TEST_REDIS_URL)")
    await client.flushdb()
    yield url
    await client.flushdb()
    await client.aclose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite database migrated to head; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "croupier.db"
    upgrade(f"sqlite:///{path}")
    return path


def assert_ledger_ok(url: str) -> None:
    """Every ledger invariant holds on this database (croupier ledger verify)."""
    engine = make_engine(url)
    try:
        report = verify_ledger(engine)
    finally:
        engine.dispose()
    assert report.ok, [c for c in report.checks if not c.ok]


def truncate_postgres(url: str) -> None:
    tables = ", ".join(t.name for t in metadata.sorted_tables)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated, empty database: SQLite (a copy of the template) or PostgreSQL (truncated)."""
    if request.param == "sqlite":
        path = tmp_path / "croupier.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    truncate_postgres(url)
    return url


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


StoreFactory = Callable[[], "AsyncIterator[WalletStore]"]


async def open_test_store(url: str, *, pool_size: int = 10) -> WalletStore:
    if url.startswith("postgresql"):
        return await PostgresStore.connect(url, min_size=1, max_size=pool_size)
    return SqliteStore(url)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[WalletStore]:
    s = await open_test_store(database_url)
    yield s
    await s.close()


@pytest.fixture
async def wallet(store: WalletStore, clock: FakeClock) -> WalletService:
    """A wallet service on a fresh database, with default settings and a fake clock."""
    table = currency_table(Settings())
    await sync_currencies(store, table)
    return WalletService(store=store, currencies=table, policy=BonusPolicy(), clock=clock)


async def assert_append_only(store: WalletStore, table: str, statements: tuple[str, ...]) -> None:
    """Each statement (an UPDATE or DELETE of ``table``) is refused by the database's
    append-only trigger: on SQLite also through the raw connection, and through the store as
    StorageUnavailable caused by the driver's own error naming the table."""
    if isinstance(store, SqliteStore):
        for sql in statements:
            with pytest.raises(sqlite3.IntegrityError, match=f"{table} is append-only"):
                store.raw().execute(sql)
    for sql in statements:
        with pytest.raises(StorageUnavailable) as caught:
            await store.execute(sql)  # type: ignore[attr-defined]
        cause = caught.value.__cause__
        expected = (
            sqlite3.IntegrityError
            if isinstance(store, SqliteStore)
            else asyncpg.exceptions.RestrictViolationError
        )
        assert isinstance(cause, expected), cause
        assert f"{table} is append-only" in str(cause)
