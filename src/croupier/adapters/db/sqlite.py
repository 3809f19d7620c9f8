"""The embedded store: plain sqlite3 in WAL mode, every write in BEGIN IMMEDIATE.

SQLite has one writer at a time; BEGIN IMMEDIATE takes the write lock up front so that a
read-then-write call can never be overtaken between its read and its write. Calls are
synchronous and fast (no thread hop, which costs more than the statement); an asyncio lock
keeps one unit at a time on the store's connection. Units that are ready together commit
together (group commit, see ``SqliteStore``): the disk's fsync rate bounds batches per
second, not calls per second.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson

from croupier.adapters.db.gateway import SESSION_LOOKUP_SQL, session_found
from croupier.adapters.db.rows import (
    balance_deltas,
    hold_from_row,
    limits_from_row,
    round_from_row,
    tx_from_row,
    wallet_from_rows,
)
from croupier.adapters.db.runner import Row, to_sqlite
from croupier.domain.errors import StorageUnavailable
from croupier.domain.ledger import PLAYER_ACCOUNT_TYPES, AccountType
from croupier.domain.limits import LimitState
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
WHERE p.id = ? AND a.type IN ('player_cash', 'player_bonus', 'player_held')
"""
TX_COLUMNS = (
    "id, scope, reference, kind, status, player_id, round_ref, ref_tx, amount, currency, "
    "fingerprint, result, entry_id, created_at"
)
ROUND_COLUMNS = (
    "scope, round_ref, player_id, currency, game_code, status, cash_staked, bonus_staked, "
    "bets_live, bets_rolled_back, win_count, win_total, version"
)
HOLD_COLUMNS = (
    "id, reference, player_id, currency, amount, posted_amount, status, "
    "destination_account_id, expires_at, result"
)


def ts(moment: datetime) -> str:
    """One text form for every timestamp, so that SQLite compares them in time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def connect(path: str) -> sqlite3.Connection:
    """A connection set up for the ledger: WAL, full fsync, foreign keys, manual transactions."""
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)  # noqa: TID251
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: a committed bet survives power loss, not only a process crash.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def sqlite_path(url: str) -> str:
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise ValueError(f"not a SQLite URL: {url!r}")
    return url.removeprefix(prefix) or ":memory:"


class SqliteTransaction:
    def __init__(
        self,
        conn: sqlite3.Connection,
        house_cache: dict[tuple[str, str, str], int],
        batch_house: dict[tuple[str, str, str], int],
    ):
        self._conn = conn
        self._house = house_cache
        self._batch_house = batch_house
        self.new_house: dict[tuple[str, str, str], int] = {}
        """House accounts first seen here: shared with the batch's later units when this one
        is released, with every transaction once the batch commits."""

    async def lock_wallet(self, player_id: str) -> PlayerWallet | None:
        rows = self._conn.execute(WALLET_SQL, (player_id,)).fetchall()
        wallet = wallet_from_rows(player_id, rows)
        if wallet is None:
            return None
        limits = self._conn.execute(
            "SELECT state, version FROM player_limits WHERE player_id = ?", (player_id,)
        ).fetchone()
        return replace(wallet, limits=limits_from_row(limits)) if limits else wallet

    async def load(
        self,
        player_id: str,
        scope: str,
        reference: str,
        round_ref: str | None,  # noqa: ARG002 - read when needed: no round trip to save
        token_hash: str | None = None,
        *,
        fresh: bool = False,  # noqa: ARG002 - BEGIN IMMEDIATE: every read here is fresh
    ) -> Loaded:
        # BEGIN IMMEDIATE already holds the write lock: plain reads, no round trips to save.
        session = None
        if token_hash is not None:
            row = self._conn.execute(to_sqlite(SESSION_LOOKUP_SQL), (token_hash,)).fetchone()
            session = session_found(row) if row else None
        return Loaded(
            await self.lock_wallet(player_id), await self.find_tx(scope, reference), session
        )

    async def find_tx(self, scope: str, reference: str) -> StoredTx | None:
        row = self._conn.execute(
            f"SELECT {TX_COLUMNS} FROM wallet_transactions WHERE scope = ? AND reference = ?",  # noqa: S608
            (scope, reference),
        ).fetchone()
        return tx_from_row(row) if row else None

    async def find_rollback_of(self, scope: str, bet_ref: str) -> StoredTx | None:
        row = self._conn.execute(
            f"SELECT {TX_COLUMNS} FROM wallet_transactions "  # noqa: S608
            "WHERE scope = ? AND ref_tx = ? AND kind = 'rollback'",
            (scope, bet_ref),
        ).fetchone()
        return tx_from_row(row) if row else None

    async def find_round(self, scope: str, round_ref: str) -> RoundState | None:
        row = self._conn.execute(
            f"SELECT {ROUND_COLUMNS} FROM rounds WHERE scope = ? AND round_ref = ?",  # noqa: S608
            (scope, round_ref),
        ).fetchone()
        return round_from_row(row) if row else None

    async def lock_hold(self, reference: str) -> HoldState | None:
        row = self._conn.execute(
            f"SELECT {HOLD_COLUMNS} FROM holds WHERE reference = ?",  # noqa: S608
            (reference,),
        ).fetchone()
        if row is None:
            return None
        return hold_from_row(row, datetime.fromisoformat(row[8]))

    async def expired_holds(self, now: datetime, limit: int) -> Sequence[tuple[str, str]]:
        return self._conn.execute(
            "SELECT reference, player_id FROM holds WHERE status = 'pending' AND expires_at <= ? "
            "ORDER BY expires_at LIMIT ?",
            (ts(now), limit),
        ).fetchall()

    async def house_account(self, account_type: AccountType, owner: str, currency: str) -> int:
        key = (account_type.value, owner, currency)
        known = self._house.get(key) or self._batch_house.get(key) or self.new_house.get(key)
        if known is None:
            self._conn.execute(
                "INSERT INTO accounts (type, owner, currency, created_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (*key, ts(datetime.now(UTC))),
            )
            row = self._conn.execute(
                "SELECT id FROM accounts WHERE type = ? AND owner = ? AND currency = ?", key
            ).fetchone()
            known = self.new_house[key] = int(row[0])
        return known

    async def write(self, write: Write, *, now: datetime) -> tuple[int | None, int | None]:
        conn, at = self._conn, ts(now)
        try:
            if (change := write.round) is not None:
                if change.expected_version == 0:
                    conn.execute(
                        f"INSERT INTO rounds ({ROUND_COLUMNS}, opened_at, closed_at) "  # noqa: S608
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
                        (
                            change.scope, change.round_ref, change.player_id, change.currency,
                            change.game_code, "closed" if change.close else "open",
                            change.cash_staked, change.bonus_staked, change.bets_live,
                            change.bets_rolled_back, change.win_count, change.win_total,
                            at, at if change.close else None,
                        ),
                    )  # fmt: skip
                else:
                    cur = conn.execute(
                        "UPDATE rounds SET cash_staked = cash_staked + ?, "
                        "bonus_staked = bonus_staked + ?, bets_live = bets_live + ?, "
                        "bets_rolled_back = bets_rolled_back + ?, win_count = win_count + ?, "
                        "win_total = win_total + ?, "
                        "status = CASE WHEN ? THEN 'closed' ELSE status END, "
                        "closed_at = CASE WHEN ? THEN ? ELSE closed_at END, "
                        "version = version + 1 "
                        "WHERE scope = ? AND round_ref = ? AND version = ?",
                        (
                            change.cash_staked, change.bonus_staked, change.bets_live,
                            change.bets_rolled_back, change.win_count, change.win_total,
                            change.close, change.close, at,
                            change.scope, change.round_ref, change.expected_version,
                        ),
                    )  # fmt: skip
                    if cur.rowcount != 1:
                        raise WriteConflict
            entry_id = None
            if (entry := write.entry) is not None:
                cur = conn.execute(
                    "INSERT INTO journal_entries (kind, created_at, reverses_entry_id) "
                    "VALUES (?, ?, ?)",
                    (entry.kind.value, at, entry.reverses_entry_id),
                )
                entry_id = cur.lastrowid
                conn.executemany(
                    "INSERT INTO postings (entry_id, account_id, currency, amount) "
                    "VALUES (?, ?, ?, ?)",
                    [(entry_id, p.account_id, p.currency, p.amount) for p in entry.postings],
                )
                conn.executemany(
                    "UPDATE accounts SET balance = balance + ? "
                    "WHERE id = ? AND balance IS NOT NULL",
                    [(delta, account) for account, delta in balance_deltas(entry).items()],
                )
            tx_id = None
            for record, entry_ref in ((write.tx, entry_id), (write.tombstone, None)):
                if record is None:
                    continue
                cur = conn.execute(
                    "INSERT INTO wallet_transactions (scope, reference, kind, status, player_id, "
                    "round_ref, ref_tx, amount, currency, fingerprint, result, entry_id, "
                    "created_at, session_id, correlation_id) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        record.scope, record.reference, record.kind.value, record.status.value,
                        record.player_id, record.round_ref, record.ref_tx, record.amount,
                        record.currency, record.fingerprint, orjson.dumps(record.result).decode(),
                        entry_ref, at, record.session_id, record.correlation_id,
                    ),
                )  # fmt: skip
                if record is write.tx:
                    tx_id = cur.lastrowid
            if (limits := write.limits) is not None:
                self._write_limits(write.limits_player or "", limits, at)
            if (hold := write.new_hold) is not None:
                conn.execute(
                    "INSERT INTO holds (reference, player_id, currency, amount, posted_amount, "
                    "status, destination_account_id, result, created_at, expires_at) "
                    "VALUES (?, ?, ?, ?, 0, 'pending', ?, '{}', ?, ?)",
                    (
                        hold.reference, hold.player_id, hold.currency, hold.amount,
                        hold.destination_account, at, ts(hold.expires_at),
                    ),
                )  # fmt: skip
            if (res := write.hold_resolution) is not None:
                cur = conn.execute(
                    "UPDATE holds SET status = ?, posted_amount = ?, result = ?, resolved_at = ? "
                    "WHERE id = ? AND status = 'pending'",
                    (res.status, res.posted_amount, orjson.dumps(res.result).decode(), at,
                     res.hold_id),
                )  # fmt: skip
                if cur.rowcount != 1:
                    raise WriteConflict
        except sqlite3.IntegrityError as exc:
            if "UNIQUE" in str(exc):
                raise WriteConflict from exc
            raise
        return tx_id, entry_id

    def _write_limits(self, player_id: str, limits: LimitState, at: str) -> None:
        """The new state if the row is still at the version read (0: no row), else
        WriteConflict: the call runs again on what is there now."""
        if limits.version == 0:
            self._conn.execute(
                "INSERT INTO player_limits (player_id, state, version, updated_at) "
                "VALUES (?, ?, 1, ?)",
                (player_id, limits.to_json(), at),
            )  # a row made meanwhile: IntegrityError, WriteConflict below
            return
        cur = self._conn.execute(
            "UPDATE player_limits SET state = ?, version = version + 1, updated_at = ? "
            "WHERE player_id = ? AND version = ?",
            (limits.to_json(), at, player_id, limits.version),
        )
        if cur.rowcount != 1:
            raise WriteConflict

    async def create_wallet(self, player_id: str, currency: str, *, now: datetime) -> None:
        at = ts(now)
        try:
            self._conn.execute(
                "INSERT INTO players (id, currency, status, created_at) VALUES (?, ?, 'active', ?)",
                (player_id, currency, at),
            )
        except sqlite3.IntegrityError as exc:
            raise WriteConflict from exc
        self._conn.executemany(
            "INSERT INTO accounts (type, owner, currency, balance, floor, created_at) "
            "VALUES (?, ?, ?, 0, 0, ?)",
            [(t.value, player_id, currency, at) for t in sorted(PLAYER_ACCOUNT_TYPES)],
        )

    async def set_player_status(self, player_id: str, status: str) -> bool:
        cur = self._conn.execute("UPDATE players SET status = ? WHERE id = ?", (status, player_id))
        return cur.rowcount == 1

    async def ensure_currencies(self, rows: Sequence[tuple[str, int, str]]) -> dict[str, int]:
        self._conn.executemany(
            "INSERT INTO currencies (code, exponent, kind) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            rows,
        )
        return dict(self._conn.execute("SELECT code, exponent FROM currencies").fetchall())


class SqliteUnit:
    """SqlUnit on the store's connection, inside a transaction the store opened."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @staticmethod
    def _args(args: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(
            ts(a) if isinstance(a, datetime) else a.isoformat() if isinstance(a, date) else a
            for a in args
        )

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return self._conn.execute(to_sqlite(sql), self._args(args)).fetchall()

    async def execute(self, sql: str, *args: Any) -> int:
        return self._conn.execute(to_sqlite(sql), self._args(args)).rowcount


class _Batch:
    """The units of one outer transaction: they commit together, with one fsync."""

    __slots__ = ("committed", "new_house", "units")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.committed: asyncio.Future[None] = loop.create_future()
        self.new_house: dict[tuple[str, str, str], int] = {}
        self.units = 0

    def fail(self, exc: BaseException) -> None:
        self.committed.set_exception(StorageUnavailable(f"SQLite failed: {exc}"))
        self.committed.exception()  # retrieved: no "never retrieved" warning when no one waits


class SqliteStore:
    """WalletStore on one sqlite3 connection, with group commit.

    Each transaction the services open is a *unit*: a ``SAVEPOINT`` inside a batch, an outer
    ``BEGIN IMMEDIATE`` transaction that the store commits once the event loop has run every
    unit that was ready. A unit's caller gets its result only after the batch's ``COMMIT``
    (one fsync for all of them) succeeded, so acknowledged still means committed, and a crash
    before the commit loses only calls nobody was answered for. A unit that fails is rolled
    back to its savepoint and leaves the others alone; a failed ``COMMIT`` fails every unit of
    the batch with ``StorageUnavailable`` and writes nothing.
    """

    row_lock = ""  # a unit is BEGIN IMMEDIATE: the whole database is locked for writing

    def __init__(self, url: str) -> None:
        self._conn = connect(sqlite_path(url))
        self._lock = asyncio.Lock()
        self._house: dict[tuple[str, str, str], int] = {}
        self._batch: _Batch | None = None
        self._commit_soon: asyncio.Handle | None = None
        self.commits = 0
        """Batches committed: with ``units``, how well group commit groups (tests, bench)."""
        self.units = 0

    @asynccontextmanager
    async def transaction(self, *, durable: bool = True) -> AsyncIterator[SqliteTransaction]:
        """A unit; ``durable=False`` (request nonces) returns without waiting for the commit:
        the unit commits with its batch, which the same request's money call joins."""
        # sqlite3 calls never suspend: yield once so that concurrent tasks take turns.
        await asyncio.sleep(0)
        batch: _Batch | None = None
        try:
            async with self._lock:
                batch = self._begin()
                async with self._unit(batch) as tx:
                    yield tx
        except Exception as exc:
            self._schedule_commit()
            # A refusal may rest on another unit's writes in this batch: answer it only once
            # they are committed (if the commit fails, that failure is the answer).
            if durable and batch is not None and self._batch is batch and batch.units:
                try:
                    await asyncio.shield(batch.committed)
                except StorageUnavailable as failed:
                    raise failed from exc
            raise
        self._schedule_commit()
        if durable and batch is not None:
            await asyncio.shield(batch.committed)

    def _begin(self) -> _Batch:
        if (batch := self._batch) is None:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StorageUnavailable(f"SQLite is busy or unavailable: {exc}") from exc
            batch = self._batch = _Batch(asyncio.get_running_loop())
        return batch

    @asynccontextmanager
    async def _unit(self, batch: _Batch) -> AsyncIterator[SqliteTransaction]:
        """SAVEPOINT ... RELEASE inside the open batch; the caller holds the lock."""
        conn = self._conn
        conn.execute("SAVEPOINT unit")
        tx = SqliteTransaction(conn, self._house, batch.new_house)
        try:
            yield tx
            conn.execute("RELEASE unit")
        except BaseException as exc:
            self._undo(batch, exc)
            if isinstance(exc, sqlite3.Error):  # disk full, I/O error: nothing committed
                raise StorageUnavailable(f"SQLite failed: {exc}") from exc
            raise
        batch.new_house.update(tx.new_house)
        batch.units += 1

    def _undo(self, batch: _Batch, exc: BaseException) -> None:
        """Roll one unit back; if SQLite already rolled the whole batch back (some I/O errors
        do), or the savepoint cannot be undone, the batch fails."""
        conn = self._conn
        if conn.in_transaction:
            try:
                conn.execute("ROLLBACK TO unit")
                conn.execute("RELEASE unit")
            except sqlite3.Error as undo_exc:
                exc = undo_exc
            else:
                return
        self._abort(batch, exc)

    def _abort(self, batch: _Batch, exc: BaseException) -> None:
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error:  # the next BEGIN IMMEDIATE fails, typed, if it stays broken
            pass
        finally:
            self._batch = None
            batch.fail(exc)

    def _schedule_commit(self) -> None:
        """Commit after the units that are ready now have run (they join the batch)."""
        if self._batch is not None and self._commit_soon is None:
            self._commit_soon = asyncio.get_running_loop().call_soon(self._commit)

    def _commit(self) -> None:
        self._commit_soon = None
        batch = self._batch
        if batch is None or self._lock.locked():  # the holder schedules again on release
            return
        try:
            self._execute_commit()
        except sqlite3.Error as exc:
            self._abort(batch, exc)
            return
        self._batch = None
        self.commits += 1
        self.units += batch.units
        self._house.update(batch.new_house)
        batch.committed.set_result(None)

    def _execute_commit(self) -> None:
        self._conn.execute("COMMIT")

    async def _read(self, sql: str, args: tuple[Any, ...]) -> list[Row]:
        """A read; if a batch is open it reads the batch's writes too, so it answers only
        once they are committed."""
        await asyncio.sleep(0)
        async with self._lock:
            batch = self._batch
            try:
                rows = self._conn.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise StorageUnavailable(f"SQLite failed: {exc}") from exc
        if batch is not None:
            self._schedule_commit()
            await asyncio.shield(batch.committed)
        return rows

    async def read_balances(self, player_id: str) -> PlayerWallet | None:
        return wallet_from_rows(player_id, await self._read(WALLET_SQL, (player_id,)))

    async def close(self) -> None:
        if self._commit_soon is not None:
            self._commit_soon.cancel()
            self._commit_soon = None
        async with self._lock:  # no unit in flight: commit what non-durable units left
            batch = self._batch
            if batch is not None:
                try:
                    self._execute_commit()
                except sqlite3.Error as exc:
                    self._abort(batch, exc)
                else:
                    self._batch = None
                    batch.committed.set_result(None)
            self._conn.close()

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        """One read, outside any write lock if no batch is open."""
        return await self._read(to_sqlite(sql), SqliteUnit._args(args))

    async def execute(self, sql: str, *args: Any, durable: bool = True) -> int:
        """One statement in its own unit. ``durable=False`` (request nonces): answer before
        the batch commits; the request's money call, if any, waits for that same commit."""
        async with self.unit(durable=durable) as unit:
            return await unit.execute(sql, *args)

    @asynccontextmanager
    async def unit(self, *, durable: bool = True) -> AsyncIterator[SqliteUnit]:
        """Gateway statements (keys, nonces, sessions) in one unit of a batch."""
        async with self.transaction(durable=durable):
            yield SqliteUnit(self._conn)

    def raw(self) -> sqlite3.Connection:
        """The connection, for tests that must break things on purpose."""
        return self._conn
