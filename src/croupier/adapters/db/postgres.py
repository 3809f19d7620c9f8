"""The production store: asyncpg with a connection pool, prepared statements, few round trips.

Concurrency: every money call first locks its player's account rows (SELECT ... FOR UPDATE),
so calls of one player run one at a time and calls of different players share no lock.
House accounts are never updated per call (no hot row). Races that the lock cannot see are
caught by the database and turned into WriteConflict, upon which the service retries:
a transaction id taken meanwhile (unique key), a round changed since it was read (version).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from croupier.adapters.db.gateway import (
    SESSION_LOOKUP_NAMES,
    SESSION_LOOKUP_SQL,
    session_found,
)
from croupier.adapters.db.rows import (
    balance_deltas,
    hold_from_row,
    limits_from_row,
    round_from_row,
    tx_from_row,
    wallet_from_rows,
)
from croupier.adapters.db.runner import Row
from croupier.domain.errors import StorageUnavailable
from croupier.domain.ledger import PLAYER_ACCOUNT_TYPES, AccountType
from croupier.services.ports import (
    HoldState,
    Loaded,
    PlayerWallet,
    RoundState,
    StoredTx,
    Write,
    WriteConflict,
)

WALLET_SQL = """
SELECT p.status, p.currency, a.type, a.id, a.balance
FROM players p JOIN accounts a ON a.owner = p.id AND a.currency = p.currency
WHERE p.id = $1 AND a.type IN ('player_cash', 'player_bonus', 'player_held')
"""
LOCK_WALLET_SQL = WALLET_SQL + " ORDER BY a.id FOR UPDATE OF a"
LIMITS_SQL = "SELECT state, version FROM player_limits WHERE player_id = $1 FOR UPDATE"
"""The player's responsible-gaming state, locked after the accounts (the same order as in
LOAD_SQL): locked, it is read as last committed."""
TX_COLUMNS = (
    "id, scope, reference, kind, status, player_id, round_ref, ref_tx, amount, currency, "
    "fingerprint, result, entry_id, created_at"
)
FIND_TX_SQL = f"SELECT {TX_COLUMNS} FROM wallet_transactions WHERE scope = $1 AND reference = $2"  # noqa: S608
FIND_ROLLBACK_SQL = (
    f"SELECT {TX_COLUMNS} FROM wallet_transactions "  # noqa: S608
    "WHERE scope = $1 AND ref_tx = $2 AND kind = 'rollback'"
)
ROUND_COLUMNS = (
    "scope, round_ref, player_id, currency, game_code, status, cash_staked, bonus_staked, "
    "bets_live, bets_rolled_back, win_count, win_total, version"
)
FIND_ROUND_SQL = f"SELECT {ROUND_COLUMNS} FROM rounds WHERE scope = $1 AND round_ref = $2"  # noqa: S608

SESSION_SHARE_SQL = SESSION_LOOKUP_SQL + " FOR SHARE OF s"
"""The session of a token, share-locked: read as last committed, and held against a close."""

# What a money call reads, in one round trip: the player's account rows (locked), the
# transaction already stored under the call's id, and the call's round. The two lookups read
# the statement's snapshot, taken before the lock wait: a duplicate committed meanwhile is
# not seen here, so the write then hits the unique key (or the round's version guard), and
# the service runs the call again, which then finds it. Correct, and one retry only in the
# rare case of a concurrent duplicate; every other call saves two round trips.
LOAD_SQL = f"""
WITH w AS (
    SELECT p.status, p.currency, a.type, a.id, a.balance
    FROM players p JOIN accounts a ON a.owner = p.id AND a.currency = p.currency
    WHERE p.id = $1 AND a.type IN ('player_cash', 'player_bonus', 'player_held')
    ORDER BY a.id FOR UPDATE OF a
)
SELECT 0, w.status, w.currency, w.type, w.id, w.balance, NULL::text FROM w
UNION ALL
SELECT 1, NULL, NULL, NULL, NULL, NULL, row_to_json(t)::text
FROM (SELECT {TX_COLUMNS} FROM wallet_transactions WHERE scope = $2 AND reference = $3) t
UNION ALL
SELECT 2, NULL, NULL, NULL, NULL, NULL, row_to_json(r)::text
FROM (SELECT {ROUND_COLUMNS} FROM rounds WHERE scope = $2 AND round_ref = $4) r
UNION ALL
SELECT 3, NULL, NULL, NULL, NULL, NULL, row_to_json(s)::text
FROM ({SESSION_SHARE_SQL.replace("$1", "$5")}) s
UNION ALL
SELECT 4, NULL, NULL, NULL, NULL, NULL, row_to_json(l)::text FROM ({LIMITS_SQL}) l
"""  # noqa: S608
# The session row is share-locked (and so read as last committed, not from the snapshot):
# closing a session locks it for update, so a close waits for the bets in flight and the
# bets after it see the session closed.
_TX_NAMES = [c.strip() for c in TX_COLUMNS.split(",")]
_ROUND_NAMES = [c.strip() for c in ROUND_COLUMNS.split(",")]

# One statement for everything a money call writes: the round (guarded by its version), the
# journal entry, its postings, the cached player balances and the idempotency record. If the
# round guard fails nothing is written and no row comes back: the service retries.
# PostgreSQL checks CHECK constraints on the proposed INSERT row before it detects the
# conflict, so the negative stake deltas of a rollback must not appear in that row: it gets
# them clamped at zero (a new round only ever has non-negative stakes) and the update adds
# the parameters themselves, not EXCLUDED.
WRITE_SQL = """
WITH r AS (
    INSERT INTO rounds AS r0 (scope, round_ref, player_id, currency, game_code, status,
        cash_staked, bonus_staked, bets_live, bets_rolled_back, win_count, win_total,
        version, opened_at, closed_at)
    SELECT $1::text, $2::text, $3::text, $4::text, $5::text,
        CASE WHEN $12::bool THEN 'closed' ELSE 'open' END,
        GREATEST($6::bigint, 0), GREATEST($7::bigint, 0), $8::int, $9::int, $10::int,
        $11::bigint, 1, $14::timestamptz, CASE WHEN $12::bool THEN $14::timestamptz END
    WHERE $1::text IS NOT NULL
    ON CONFLICT (scope, round_ref) DO UPDATE SET
        cash_staked = r0.cash_staked + $6::bigint,
        bonus_staked = r0.bonus_staked + $7::bigint,
        bets_live = r0.bets_live + EXCLUDED.bets_live,
        bets_rolled_back = r0.bets_rolled_back + EXCLUDED.bets_rolled_back,
        win_count = r0.win_count + EXCLUDED.win_count,
        win_total = r0.win_total + EXCLUDED.win_total,
        status = CASE WHEN $12::bool THEN 'closed' ELSE r0.status END,
        closed_at = CASE WHEN $12::bool THEN $14::timestamptz ELSE r0.closed_at END,
        version = r0.version + 1
    WHERE r0.version = $13::int
    RETURNING 1
), go AS (
    SELECT 1 WHERE $1::text IS NULL OR EXISTS (SELECT 1 FROM r)
), lim AS (
    INSERT INTO player_limits AS l0 (player_id, state, version, updated_at)
    SELECT $35::text, $36::text, 1, $14::timestamptz FROM go WHERE $35::text IS NOT NULL
    ON CONFLICT (player_id) DO UPDATE SET state = EXCLUDED.state,
        version = l0.version + 1, updated_at = EXCLUDED.updated_at
    WHERE l0.version = $37::int
    RETURNING 1
), ok AS (
    SELECT 1 FROM go WHERE $35::text IS NULL OR EXISTS (SELECT 1 FROM lim)
), e AS (
    INSERT INTO journal_entries (kind, created_at, reverses_entry_id)
    SELECT $15::text, $14::timestamptz, $16::bigint FROM ok WHERE $15::text IS NOT NULL
    RETURNING id
), p AS (
    INSERT INTO postings (entry_id, account_id, currency, amount)
    SELECT e.id, x.a, $17::text, x.m FROM e, unnest($18::bigint[], $19::bigint[]) AS x(a, m)
), u AS (
    UPDATE accounts SET balance = accounts.balance + x.m
    FROM unnest($20::bigint[], $21::bigint[]) AS x(a, m)
    WHERE accounts.id = x.a AND accounts.balance IS NOT NULL AND EXISTS (SELECT 1 FROM ok)
)
INSERT INTO wallet_transactions (scope, reference, kind, status, player_id, round_ref, ref_tx,
    amount, currency, fingerprint, result, entry_id, created_at, session_id, correlation_id)
SELECT $22::text, $23::text, $24::text, $25::text, $26::text, $27::text, $28::text,
    $29::bigint, $30::text, $31::text, $32::text, (SELECT id FROM e), $14::timestamptz,
    $33::text, $34::text
FROM ok
RETURNING id, entry_id
"""

LIMITS_WRITE_SQL = """
INSERT INTO player_limits AS l0 (player_id, state, version, updated_at)
VALUES ($1, $2, 1, $4)
ON CONFLICT (player_id) DO UPDATE SET state = EXCLUDED.state,
    version = l0.version + 1, updated_at = EXCLUDED.updated_at
WHERE l0.version = $3
RETURNING 1
"""
"""A limits change on its own (the operator's): the same version guard as in WRITE_SQL."""

INSERT_TX_SQL = """
INSERT INTO wallet_transactions (scope, reference, kind, status, player_id, round_ref, ref_tx,
    amount, currency, fingerprint, result, entry_id, created_at, session_id, correlation_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, $12, $13, $14)
"""

# Anything else the server or the connection throws (too many clients, shutdown, timeouts,
# a lost socket): nothing was committed, and the caller may send the call again.
_UNAVAILABLE = (OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresError)

# Errors that mean "another writer won": retry the whole unit of work.
_CONFLICTS = (
    asyncpg.UniqueViolationError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
)


HouseCache = dict[tuple[str, str, str], int]
"""House account ids by (type, owner, currency): they never change once committed."""


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Pool release without asyncpg's reset query (a round trip on every call).

    Croupier sets no session state (no SET, LISTEN, advisory locks or cursors), and asyncpg
    still rolls back any transaction left open before calling this.
    """


class PostgresTransaction:
    def __init__(self, conn: asyncpg.Connection, house_cache: HouseCache) -> None:
        self._conn = conn
        self._house = house_cache
        self.new_house: HouseCache = {}
        """House accounts this transaction created or first saw; shared only after commit."""
        self._rounds: dict[tuple[str, str], RoundState | None] = {}

    async def lock_wallet(self, player_id: str) -> PlayerWallet | None:
        rows = await self._conn.fetch(LOCK_WALLET_SQL, player_id)
        wallet = wallet_from_rows(player_id, [tuple(r) for r in rows])
        if wallet is None:
            return None
        limits = await self._conn.fetchrow(LIMITS_SQL, player_id)
        return replace(wallet, limits=limits_from_row(limits)) if limits else wallet

    async def load(
        self,
        player_id: str,
        scope: str,
        reference: str,
        round_ref: str | None,
        token_hash: str | None = None,
        *,
        fresh: bool = False,
    ) -> Loaded:
        if fresh:  # the lock is held: statements from now on see every committed call
            self._rounds.clear()
            wallet = await self.lock_wallet(player_id)
            existing = await self.find_tx(scope, reference)
            found = None
            if token_hash is not None:
                row = await self._conn.fetchrow(SESSION_SHARE_SQL, token_hash)
                found = session_found(tuple(row)) if row else None
            return Loaded(wallet, existing, found)
        rows = await self._conn.fetch(LOAD_SQL, player_id, scope, reference, round_ref, token_hash)
        accounts = [tuple(r[1:6]) for r in rows if r[0] == 0]
        existing = session = limits = None
        if round_ref is not None:
            self._rounds[(scope, round_ref)] = None
        for part, *_, doc in rows:
            if part == 1:
                data = orjson.loads(doc)
                existing = tx_from_row(tuple(data[name] for name in _TX_NAMES))
            elif part == 2:
                data = orjson.loads(doc)
                self._rounds[(scope, data["round_ref"])] = round_from_row(
                    tuple(data[name] for name in _ROUND_NAMES)
                )
            elif part == 3:
                data = orjson.loads(doc)
                session = session_found(tuple(data[name] for name in SESSION_LOOKUP_NAMES))
            elif part == 4:
                data = orjson.loads(doc)
                limits = limits_from_row((data["state"], data["version"]))
        wallet = wallet_from_rows(player_id, accounts)
        if wallet is not None and limits is not None:
            wallet = replace(wallet, limits=limits)
        return Loaded(wallet, existing, session)

    async def find_tx(self, scope: str, reference: str) -> StoredTx | None:
        row = await self._conn.fetchrow(FIND_TX_SQL, scope, reference)
        return tx_from_row(tuple(row)) if row else None

    async def find_rollback_of(self, scope: str, bet_ref: str) -> StoredTx | None:
        row = await self._conn.fetchrow(FIND_ROLLBACK_SQL, scope, bet_ref)
        return tx_from_row(tuple(row)) if row else None

    async def find_round(self, scope: str, round_ref: str) -> RoundState | None:
        cached = self._rounds.pop((scope, round_ref), None)
        if cached is not None:  # read by load(); a miss there may be stale, so read again
            return cached
        row = await self._conn.fetchrow(FIND_ROUND_SQL, scope, round_ref)
        return round_from_row(tuple(row)) if row else None

    async def lock_hold(self, reference: str) -> HoldState | None:
        row = await self._conn.fetchrow(
            "SELECT id, reference, player_id, currency, amount, posted_amount, status, "
            "destination_account_id, expires_at, result FROM holds WHERE reference = $1 "
            "FOR UPDATE",
            reference,
        )
        return hold_from_row(tuple(row), row["expires_at"]) if row else None

    async def expired_holds(self, now: datetime, limit: int) -> Sequence[tuple[str, str]]:
        rows = await self._conn.fetch(
            "SELECT reference, player_id FROM holds WHERE status = 'pending' "
            "AND expires_at <= $1 ORDER BY expires_at LIMIT $2",
            now,
            limit,
        )
        return [(r[0], r[1]) for r in rows]

    async def house_account(self, account_type: AccountType, owner: str, currency: str) -> int:
        key = (account_type.value, owner, currency)
        known = self._house.get(key) or self.new_house.get(key)
        if known is None:
            # Created inside this transaction: its id may be shared with other transactions
            # only once it commits (the store does that), or their postings would name a row
            # they cannot see. ON CONFLICT makes concurrent first uses converge on one row;
            # the loser sees nothing in its snapshot and retries, then finds it.
            account_id = await self._conn.fetchval(
                "WITH ins AS (INSERT INTO accounts (type, owner, currency, created_at) "
                "VALUES ($1, $2, $3, now()) ON CONFLICT DO NOTHING RETURNING id) "
                "SELECT id FROM ins UNION ALL SELECT id FROM accounts "
                "WHERE type = $1 AND owner = $2 AND currency = $3 LIMIT 1",
                *key,
            )
            if account_id is None:  # inserted concurrently and not yet visible: retry
                raise WriteConflict
            known = self.new_house[key] = int(account_id)
        return known

    async def write(self, write: Write, *, now: datetime) -> tuple[int | None, int | None]:
        try:
            return await self._write(write, now)
        except _CONFLICTS as exc:
            raise WriteConflict from exc

    async def _write(self, write: Write, now: datetime) -> tuple[int | None, int | None]:
        conn = self._conn
        tx_id = entry_id = None
        if write.tx is not None:
            change, entry, rec = write.round, write.entry, write.tx
            deltas = balance_deltas(entry) if entry else {}
            row = await conn.fetchrow(
                WRITE_SQL,
                change.scope if change else None,
                change.round_ref if change else None,
                change.player_id if change else None,
                change.currency if change else None,
                change.game_code if change else None,
                change.cash_staked if change else 0,
                change.bonus_staked if change else 0,
                change.bets_live if change else 0,
                change.bets_rolled_back if change else 0,
                change.win_count if change else 0,
                change.win_total if change else 0,
                change.close if change else False,
                change.expected_version if change else 0,
                now,
                entry.kind.value if entry else None,
                entry.reverses_entry_id if entry else None,
                entry.postings[0].currency if entry else None,
                [p.account_id for p in entry.postings] if entry else [],
                [p.amount for p in entry.postings] if entry else [],
                list(deltas),
                list(deltas.values()),
                rec.scope,
                rec.reference,
                rec.kind.value,
                rec.status.value,
                rec.player_id,
                rec.round_ref,
                rec.ref_tx,
                rec.amount,
                rec.currency,
                rec.fingerprint,
                orjson.dumps(rec.result).decode(),
                rec.session_id,
                rec.correlation_id,
                write.limits_player if write.limits else None,
                write.limits.to_json() if write.limits else None,
                write.limits.version if write.limits else 0,
            )
            if row is None:
                raise WriteConflict
            tx_id, entry_id = row[0], row[1]
        elif write.entry is not None:
            entry_id = await self._insert_entry(write, now)
        if write.tx is None and write.limits is not None:
            done = await conn.fetchval(
                LIMITS_WRITE_SQL, write.limits_player, write.limits.to_json(),
                write.limits.version, now,
            )  # fmt: skip
            if done is None:
                raise WriteConflict
        if (stone := write.tombstone) is not None:
            await conn.execute(
                INSERT_TX_SQL,
                stone.scope, stone.reference, stone.kind.value, stone.status.value,
                stone.player_id, stone.round_ref, stone.ref_tx, stone.amount, stone.currency,
                stone.fingerprint, orjson.dumps(stone.result).decode(), now,
                stone.session_id, stone.correlation_id,
            )  # fmt: skip
        if (hold := write.new_hold) is not None:
            await conn.execute(
                "INSERT INTO holds (reference, player_id, currency, amount, posted_amount, "
                "status, destination_account_id, result, created_at, expires_at) "
                "VALUES ($1, $2, $3, $4, 0, 'pending', $5, '{}', $6, $7)",
                hold.reference, hold.player_id, hold.currency, hold.amount,
                hold.destination_account, now, hold.expires_at,
            )  # fmt: skip
        if (res := write.hold_resolution) is not None:
            status = await conn.execute(
                "UPDATE holds SET status = $1, posted_amount = $2, result = $3, resolved_at = $4 "
                "WHERE id = $5 AND status = 'pending'",
                res.status, res.posted_amount, orjson.dumps(res.result).decode(), now,
                res.hold_id,
            )  # fmt: skip
            if status != "UPDATE 1":
                raise WriteConflict
        return tx_id, entry_id

    async def _insert_entry(self, write: Write, now: datetime) -> int:
        """An entry with no idempotency record of its own (hold post, void, expiry)."""
        entry = write.entry
        assert entry is not None  # noqa: S101
        entry_id = await self._conn.fetchval(
            "INSERT INTO journal_entries (kind, created_at, reverses_entry_id) "
            "VALUES ($1, $2, $3) RETURNING id",
            entry.kind.value,
            now,
            entry.reverses_entry_id,
        )
        await self._conn.executemany(
            "INSERT INTO postings (entry_id, account_id, currency, amount) VALUES ($1, $2, $3, $4)",
            [(entry_id, p.account_id, p.currency, p.amount) for p in entry.postings],
        )
        await self._conn.executemany(
            "UPDATE accounts SET balance = balance + $1 WHERE id = $2 AND balance IS NOT NULL",
            [(delta, account) for account, delta in balance_deltas(entry).items()],
        )
        return int(entry_id)

    async def create_wallet(self, player_id: str, currency: str, *, now: datetime) -> None:
        try:
            await self._conn.execute(
                "INSERT INTO players (id, currency, status, created_at) "
                "VALUES ($1, $2, 'active', $3)",
                player_id,
                currency,
                now,
            )
        except asyncpg.UniqueViolationError as exc:
            raise WriteConflict from exc
        await self._conn.executemany(
            "INSERT INTO accounts (type, owner, currency, balance, floor, created_at) "
            "VALUES ($1, $2, $3, 0, 0, $4)",
            [(t.value, player_id, currency, now) for t in sorted(PLAYER_ACCOUNT_TYPES)],
        )

    async def set_player_status(self, player_id: str, status: str) -> bool:
        result = await self._conn.execute(
            "UPDATE players SET status = $1 WHERE id = $2", status, player_id
        )
        return bool(result == "UPDATE 1")

    async def ensure_currencies(self, rows: Sequence[tuple[str, int, str]]) -> dict[str, int]:
        await self._conn.executemany(
            "INSERT INTO currencies (code, exponent, kind) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING",
            rows,
        )
        stored = await self._conn.fetch("SELECT code, exponent FROM currencies")
        return {r[0]: r[1] for r in stored}


def _rowcount(status: str) -> int:
    """The row count of a command tag such as ``UPDATE 1`` or ``INSERT 0 1``."""
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class PostgresUnit:
    """SqlUnit on one pooled connection, inside a transaction."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [tuple(r) for r in await self._conn.fetch(sql, *args)]

    async def execute(self, sql: str, *args: Any) -> int:
        return _rowcount(await self._conn.execute(sql, *args))


class PostgresStore:
    """WalletStore on an asyncpg pool."""

    row_lock = " FOR UPDATE"

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._house: HouseCache = {}

    @classmethod
    async def connect(cls, url: str, *, min_size: int = 2, max_size: int = 10) -> PostgresStore:
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=min_size,
                max_size=max_size,
                command_timeout=30,
                reset=_keep_session,
                server_settings={
                    # WRITE_SQL takes its postings as arrays; a custom plan per call would
                    # re-plan it on every bet (measured: ~19% of the backend's CPU). The
                    # generic plans of these key lookups and writes are the custom ones.
                    "plan_cache_mode": "force_generic_plan",
                },
            )
        except (OSError, asyncpg.PostgresError) as exc:
            raise StorageUnavailable(f"PostgreSQL is unreachable: {exc}") from exc
        return cls(pool)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresTransaction]:
        try:
            async with self._pool.acquire() as conn:
                async with conn.transaction():
                    tx = PostgresTransaction(conn, self._house)
                    yield tx
                self._house.update(tx.new_house)  # committed: now every transaction sees them
        except (asyncpg.SerializationError, asyncpg.DeadlockDetectedError) as exc:
            raise WriteConflict from exc
        except _UNAVAILABLE as exc:
            raise StorageUnavailable(f"PostgreSQL failed: {type(exc).__name__}") from exc

    async def read_balances(self, player_id: str) -> PlayerWallet | None:
        try:
            async with self._pool.acquire() as conn:
                rows = await conn.fetch(WALLET_SQL, player_id)
        except _UNAVAILABLE as exc:
            raise StorageUnavailable(f"PostgreSQL failed: {type(exc).__name__}") from exc
        return wallet_from_rows(player_id, [tuple(r) for r in rows])

    async def close(self) -> None:
        await self._pool.close()

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        try:
            async with self._pool.acquire() as conn:
                return [tuple(r) for r in await conn.fetch(sql, *args)]
        except _UNAVAILABLE as exc:
            raise StorageUnavailable(f"PostgreSQL failed: {type(exc).__name__}") from exc

    async def execute(self, sql: str, *args: Any, durable: bool = True) -> int:  # noqa: ARG002
        # ``durable=False`` needs nothing here: the nonce table is UNLOGGED, so its commits
        # never wait for a WAL flush.
        try:
            async with self._pool.acquire() as conn:
                return _rowcount(await conn.execute(sql, *args))
        except _UNAVAILABLE as exc:
            raise StorageUnavailable(f"PostgreSQL failed: {type(exc).__name__}") from exc

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[PostgresUnit]:
        """Gateway statements (keys, nonces, sessions) in one transaction."""
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                yield PostgresUnit(conn)
        except _UNAVAILABLE as exc:
            raise StorageUnavailable(f"PostgreSQL failed: {type(exc).__name__}") from exc

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool
