"""The gateway's tables (provider keys, request nonces, game sessions) on either database.

Cold and warm paths: a key lookup is cached by the key service, a nonce is one autocommit
insert (into an UNLOGGED table on PostgreSQL), a session lookup is one primary-key read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

import orjson

from croupier.adapters.db.runner import Row, SqlRunner, SqlUnit, as_datetime
from croupier.domain.sessions import GameSession, SessionEvent, SessionState
from croupier.services.gateway_ports import ProviderKey, SessionSummary

SESSION_COLUMNS = (
    "id, provider, player_id, currency, game_code, state, created_at, updated_at, version, "
    "jurisdiction, stake_cap, stake_cap_rule, min_round_ms, min_round_rule"
)
EVENT_COLUMNS = (
    "session_id, from_state, to_state, actor, reason, at, round_ref, tx_ids, correlation_id"
)


_SESSION_NAMES = tuple(c.strip() for c in SESSION_COLUMNS.split(","))
SESSION_LOOKUP_SQL = (
    f"SELECT {', '.join('s.' + c for c in _SESSION_NAMES)}, t.expires_at "  # noqa: S608
    "FROM session_tokens t JOIN game_sessions s ON s.id = t.session_id "
    "WHERE t.token_hash = $1"
)
SESSION_LOOKUP_NAMES = (*_SESSION_NAMES, "expires_at")


def session_found(row: Row) -> tuple[GameSession, datetime]:
    """A row of SESSION_LOOKUP_SQL: the session and its token's expiry."""
    return _session(row), as_datetime(row[len(_SESSION_NAMES)])


def _session(row: Row) -> GameSession:
    return GameSession(
        id=row[0],
        provider=row[1],
        player_id=row[2],
        currency=row[3],
        game_code=row[4],
        state=SessionState(row[5]),
        created_at=as_datetime(row[6]),
        updated_at=as_datetime(row[7]),
        version=row[8],
        jurisdiction=row[9],
        stake_cap=int(row[10]) if row[10] is not None else None,
        stake_cap_rule=row[11],
        min_round_ms=int(row[12]) if row[12] is not None else None,
        min_round_rule=row[13],
    )


def _event(row: Row) -> SessionEvent:
    return SessionEvent(
        session_id=row[0],
        from_state=SessionState(row[1]) if row[1] else None,
        to_state=SessionState(row[2]),
        actor=row[3],
        reason=row[4],
        at=as_datetime(row[5]),
        round_ref=row[6],
        tx_ids=tuple(orjson.loads(row[7])),
        correlation_id=row[8],
    )


INSERT_TOKEN_SQL = "INSERT INTO session_tokens VALUES ($1, $2, $3, $4)"  # noqa: S105 - SQL
"""Columns in table order: token_hash, session_id, issued_at, expires_at."""
INSERT_EVENT_SQL = (
    "INSERT INTO session_events (session_id, from_state, to_state, actor, reason, round_ref, "
    "tx_ids, correlation_id, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
)


def _event_args(event: SessionEvent) -> tuple[object, ...]:
    return (
        event.session_id,
        event.from_state.value if event.from_state else None,
        event.to_state.value,
        event.actor,
        event.reason,
        event.round_ref,
        orjson.dumps(list(event.tx_ids)).decode(),
        event.correlation_id,
        event.at,
    )


class SqlGatewayStore:
    """KeyStore, NonceStore and SessionStore over a store's SqlRunner."""

    def __init__(self, db: SqlRunner) -> None:
        self.db = db

    # -- keys ---------------------------------------------------------------------------

    async def keys(self, provider: str | None) -> Sequence[ProviderKey]:
        rows = await self.db.fetch(
            "SELECT provider, key_id, status, created_at, updated_at, secret FROM provider_keys "
            "WHERE $1 = '' OR provider = $1 ORDER BY provider, created_at, key_id",
            provider or "",
        )
        return [
            ProviderKey(r[0], r[1], r[2], as_datetime(r[3]), as_datetime(r[4]), secret=r[5])
            for r in rows
        ]

    async def insert_key(self, key: ProviderKey) -> bool:
        changed = await self.db.execute(
            "INSERT INTO provider_keys (provider, key_id, secret, status, created_at, updated_at) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            key.provider,
            key.key_id,
            key.secret,
            key.status,
            key.created_at,
            key.updated_at,
        )
        return changed == 1

    async def set_key_status(self, provider: str, key_id: str, status: str, now: datetime) -> None:
        async with self.db.unit() as unit:
            if status == "primary":
                await unit.execute(
                    "UPDATE provider_keys SET status = 'active', updated_at = $2 "
                    "WHERE provider = $1 AND status = 'primary'",
                    provider,
                    now,
                )
            await unit.execute(
                "UPDATE provider_keys SET status = $3, updated_at = $4 "
                "WHERE provider = $1 AND key_id = $2",
                provider,
                key_id,
                status,
                now,
            )

    # -- nonces -------------------------------------------------------------------------

    async def remember(self, provider: str, nonce: str, expires_at: datetime) -> bool:
        changed = await self.db.execute(
            "INSERT INTO request_nonces (provider, nonce, expires_at) VALUES ($1, $2, $3) "
            "ON CONFLICT DO NOTHING",
            provider,
            nonce,
            expires_at,
            durable=False,  # losing a nonce to a crash only reopens its replay window
        )
        return changed == 1

    async def prune(self, now: datetime) -> int:
        return await self.db.execute("DELETE FROM request_nonces WHERE expires_at < $1", now)

    # -- sessions -----------------------------------------------------------------------

    async def create_session(
        self, session: GameSession, token_hash: str, expires_at: datetime, event: SessionEvent
    ) -> None:
        async with self.db.unit() as unit:
            await unit.execute(
                "INSERT INTO game_sessions (id, provider, player_id, currency, game_code, state, "
                "version, created_at, updated_at, expires_at, jurisdiction, stake_cap, "
                "stake_cap_rule, min_round_ms, min_round_rule) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                session.id,
                session.provider,
                session.player_id,
                session.currency,
                session.game_code,
                session.state.value,
                session.version,
                session.created_at,
                session.updated_at,
                expires_at,
                session.jurisdiction,
                session.stake_cap,
                session.stake_cap_rule,
                session.min_round_ms,
                session.min_round_rule,
            )
            await unit.execute(
                INSERT_TOKEN_SQL,
                token_hash,
                session.id,
                session.created_at,
                expires_at,
            )
            await unit.execute(INSERT_EVENT_SQL, *_event_args(event))

    async def get_session(self, session_id: str) -> GameSession | None:
        rows = await self.db.fetch(
            f"SELECT {SESSION_COLUMNS} FROM game_sessions WHERE id = $1",  # noqa: S608
            session_id,
        )
        return _session(rows[0]) if rows else None

    async def session_by_token(self, token_hash: str) -> tuple[GameSession, datetime] | None:
        rows = await self.db.fetch(SESSION_LOOKUP_SQL, token_hash)
        return session_found(rows[0]) if rows else None

    async def add_token(
        self, session_id: str, token_hash: str, issued_at: datetime, expires_at: datetime
    ) -> None:
        async with self.db.unit() as unit:
            await unit.execute(
                INSERT_TOKEN_SQL,
                token_hash,
                session_id,
                issued_at,
                expires_at,
            )
            await unit.execute(
                "UPDATE game_sessions SET expires_at = $2 WHERE id = $1 AND expires_at < $2",
                session_id,
                expires_at,
            )

    async def transition(self, session: GameSession, event: SessionEvent) -> bool:
        async with self.db.unit() as unit:
            moved = await unit.execute(
                "UPDATE game_sessions SET state = $2, version = version + 1, updated_at = $3 "
                "WHERE id = $1 AND version = $4",
                session.id,
                event.to_state.value,
                event.at,
                session.version,
            )
            if moved != 1:
                return False
            await unit.execute(INSERT_EVENT_SQL, *_event_args(event))
            return True

    async def events(self, session_id: str) -> Sequence[SessionEvent]:
        rows = await self.db.fetch(
            f"SELECT {EVENT_COLUMNS} FROM session_events WHERE session_id = $1 ORDER BY id",  # noqa: S608
            session_id,
        )
        return [_event(r) for r in rows]

    async def due_sessions(
        self, states: Sequence[SessionState], expired_before: datetime, limit: int
    ) -> Sequence[GameSession]:
        found: list[GameSession] = []
        for state in states:  # one indexed range per state, no array parameter (SQLite)
            rows = await self.db.fetch(
                f"SELECT {SESSION_COLUMNS} FROM game_sessions "  # noqa: S608
                "WHERE state = $1 AND expires_at < $2 ORDER BY expires_at LIMIT $3",
                state.value,
                expired_before,
                limit,
            )
            found += [_session(r) for r in rows]
        return found[:limit]

    async def live_sessions(self, player_id: str) -> Sequence[GameSession]:
        rows = await self.db.fetch(
            f"SELECT {SESSION_COLUMNS} FROM game_sessions "  # noqa: S608
            "WHERE player_id = $1 AND state IN ('created', 'launched', 'active') ORDER BY id",
            player_id,
        )
        return [_session(r) for r in rows]

    async def settleable_sessions(self, limit: int) -> Sequence[GameSession]:
        rows = await self.db.fetch(
            f"SELECT {SESSION_COLUMNS} FROM game_sessions s "  # noqa: S608
            "WHERE s.state = 'pending_settlement' AND NOT EXISTS ("
            "  SELECT 1 FROM wallet_transactions b JOIN rounds r "
            "  ON r.scope = b.scope AND r.round_ref = b.round_ref "
            "  WHERE b.session_id = s.id AND b.kind = 'bet' AND b.status = 'ok' "
            "  AND r.status = 'open' AND r.bets_live > 0) "
            "ORDER BY s.updated_at LIMIT $1",
            limit,
        )
        return [_session(r) for r in rows]

    async def close_session(
        self,
        session_id: str,
        plan: Callable[[GameSession, SessionSummary, Sequence[int]], Sequence[SessionEvent]],
    ) -> GameSession | None:
        async with self.db.unit() as unit:
            rows = await unit.fetch(
                f"SELECT {SESSION_COLUMNS} FROM game_sessions WHERE id = $1{self.db.row_lock}",  # noqa: S608
                session_id,
            )
            if not rows:
                return None
            session = _session(rows[0])
            # After the lock: every bet that share-locked the session has committed.
            summary = await self._summary(unit, session)
            ids = await unit.fetch(
                "SELECT id FROM wallet_transactions WHERE session_id = $1 ORDER BY id", session.id
            )
            for event in plan(session, summary, [r[0] for r in ids]):
                await unit.execute(
                    "UPDATE game_sessions SET state = $2, version = version + 1, updated_at = $3 "
                    "WHERE id = $1",
                    session.id,
                    event.to_state.value,
                    event.at,
                )
                await unit.execute(INSERT_EVENT_SQL, *_event_args(event))
                session = replace(
                    session, state=event.to_state, version=session.version + 1, updated_at=event.at
                )
            return session

    @staticmethod
    async def _summary(unit: SqlUnit, session: GameSession) -> SessionSummary:
        scope = f"provider:{session.provider}"
        rows = await unit.fetch(
            "SELECT count(*), "
            "count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM wallet_transactions rb "
            "  WHERE rb.scope = b.scope AND rb.ref_tx = b.reference AND rb.kind = 'rollback' "
            "  AND rb.status = 'ok')), "
            "count(DISTINCT r.round_ref) FILTER (WHERE r.status = 'open' AND r.bets_live > 0) "
            "FROM wallet_transactions b "
            "LEFT JOIN rounds r ON r.scope = b.scope AND r.round_ref = b.round_ref "
            "WHERE b.session_id = $1 AND b.scope = $2 AND b.kind = 'bet' AND b.status = 'ok'",
            session.id,
            scope,
        )
        bets, live, open_rounds = rows[0]
        return SessionSummary(bets=bets, live_bets=live, open_rounds=open_rounds)
