"""The timeout job's tables on either database (SqlRunner): providers' policies, the
append-only record of every action, and the queries that find stuck rounds and sessions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from croupier.adapters.db.runner import Row, SqlRunner, as_datetime, in_list
from croupier.domain.timeouts import (
    JOB_ACTOR,
    OpenRound,
    TimeoutAction,
    TimeoutPolicy,
    TimeoutRecord,
)
from croupier.domain.wallet import provider_scope
from croupier.services.timeouts import StuckSession

ROUND_COLUMNS = (
    "substr(r.scope, 10), r.round_ref, r.player_id, r.currency, r.game_code, r.opened_at, "
    "r.bets_live, r.win_count"
)
RECORD_COLUMNS = "id, provider, round_ref, player_id, action, reason, actor, at, opened_at, tx_refs"


def _round(row: Row) -> OpenRound:
    return OpenRound(
        provider=row[0], round_ref=row[1], player_id=row[2], currency=row[3],
        game_code=row[4], opened_at=as_datetime(row[5]), bets_live=int(row[6]),
        win_count=int(row[7]),
    )  # fmt: skip


def _record(row: Row) -> TimeoutRecord:
    return TimeoutRecord(
        id=int(row[0]), provider=row[1], round_ref=row[2], player_id=row[3],
        action=TimeoutAction(row[4]), reason=row[5], actor=row[6], at=as_datetime(row[7]),
        opened_at=as_datetime(row[8]), tx_refs=tuple(orjson.loads(row[9])),
    )  # fmt: skip


class SqlTimeoutStore:
    """TimeoutStore over a store's SqlRunner."""

    def __init__(self, db: SqlRunner) -> None:
        self.db = db

    async def timeout_policies(self) -> Mapping[str, TimeoutPolicy]:
        rows = await self.db.fetch(
            "SELECT provider, after_seconds, action FROM round_timeout_policies ORDER BY provider"
        )
        return {r[0]: TimeoutPolicy(int(r[1]), TimeoutAction(r[2])) for r in rows}

    async def set_timeout_policy(
        self, provider: str, policy: TimeoutPolicy | None, now: datetime
    ) -> None:
        if policy is None:
            await self.db.execute(
                "DELETE FROM round_timeout_policies WHERE provider = $1", provider
            )
            return
        await self.db.execute(
            "INSERT INTO round_timeout_policies (provider, after_seconds, action, updated_at) "
            "VALUES ($1, $2, $3, $4) ON CONFLICT (provider) DO UPDATE SET "
            "after_seconds = excluded.after_seconds, action = excluded.action, "
            "updated_at = excluded.updated_at",
            provider,
            policy.after_seconds,
            policy.action.value,
            now,
        )

    async def open_rounds(
        self, *, before: datetime, providers: Sequence[str], others: bool, limit: int
    ) -> Sequence[OpenRound]:
        if not providers and not others:
            return []
        args: list[Any] = [before, limit]
        which = in_list("r.scope", [provider_scope(p) for p in providers], args, negate=others)
        rows = await self.db.fetch(
            f"SELECT {ROUND_COLUMNS} FROM rounds r "  # noqa: S608 - placeholders only
            "WHERE r.status = 'open' AND r.opened_at < $1 AND r.scope LIKE 'provider:%' "
            # A round holding no money is left alone, unless the job began an action on it
            # (a void that died before its close).
            "AND (r.bets_live > 0 OR r.win_count > 0 OR EXISTS (SELECT 1 FROM round_timeouts "
            "j WHERE j.provider = substr(r.scope, 10) AND j.round_ref = r.round_ref "
            "AND j.action <> 'flag')) "
            f"{which}"
            "AND NOT EXISTS (SELECT 1 FROM round_timeouts t WHERE t.provider = "
            "substr(r.scope, 10) AND t.round_ref = r.round_ref AND t.action = 'flag') "
            "ORDER BY r.opened_at, r.id LIMIT $2",
            *args,
        )
        return [_round(r) for r in rows]

    async def flagged_rounds(self, limit: int) -> Sequence[OpenRound]:
        rows = await self.db.fetch(
            f"SELECT {ROUND_COLUMNS} FROM rounds r "  # noqa: S608 - constant
            "WHERE r.status = 'open' AND r.scope LIKE 'provider:%' "
            "AND EXISTS (SELECT 1 FROM round_timeouts t WHERE t.provider = "
            "substr(r.scope, 10) AND t.round_ref = r.round_ref AND t.action = 'flag') "
            "ORDER BY r.opened_at, r.id LIMIT $1",
            limit,
        )
        return [_round(r) for r in rows]

    async def open_round(self, provider: str, round_ref: str) -> OpenRound | None:
        rows = await self.db.fetch(
            f"SELECT {ROUND_COLUMNS} FROM rounds r "  # noqa: S608 - constant
            "WHERE r.scope = $1 AND r.round_ref = $2 AND r.status = 'open'",
            provider_scope(provider),
            round_ref,
        )
        return _round(rows[0]) if rows else None

    async def live_bets(self, provider: str, round_ref: str, player_id: str) -> Sequence[str]:
        rows = await self.db.fetch(
            "SELECT reference FROM wallet_transactions WHERE player_id = $1 AND scope = $2 "
            "AND round_ref = $3 AND kind = 'bet' AND status = 'ok' ORDER BY id",
            player_id,
            provider_scope(provider),
            round_ref,
        )
        return [r[0] for r in rows]

    async def round_sessions(self, provider: str, round_ref: str, player_id: str) -> list[str]:
        rows = await self.db.fetch(
            "SELECT DISTINCT session_id FROM wallet_transactions WHERE player_id = $1 "
            "AND scope = $2 AND round_ref = $3 AND session_id IS NOT NULL ORDER BY session_id",
            player_id,
            provider_scope(provider),
            round_ref,
        )
        return [r[0] for r in rows]

    async def record_timeout(self, record: TimeoutRecord) -> bool:
        """The job's record of an action is unique per round and action (a partial index):
        a second replica's, or a rerun's, is not written again."""
        conflict = (
            "ON CONFLICT (provider, round_ref, action) WHERE actor = 'job:timeouts' DO NOTHING"
            if record.actor == JOB_ACTOR
            else ""
        )
        changed = await self.db.execute(
            "INSERT INTO round_timeouts (provider, round_ref, player_id, action, reason, "  # noqa: S608
            f"actor, at, opened_at, tx_refs) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
            f"{conflict}",
            record.provider,
            record.round_ref,
            record.player_id,
            record.action.value,
            record.reason,
            record.actor,
            record.at,
            record.opened_at,
            orjson.dumps(list(record.tx_refs)).decode(),
        )
        return changed == 1

    async def timeout_records(
        self, *, provider: str | None, round_ref: str | None, limit: int
    ) -> Sequence[TimeoutRecord]:
        rows = await self.db.fetch(
            f"SELECT {RECORD_COLUMNS} FROM round_timeouts "  # noqa: S608 - constant
            "WHERE ($1 = '' OR provider = $1) AND ($2 = '' OR round_ref = $2) "
            "ORDER BY id DESC LIMIT $3",
            provider or "",
            round_ref or "",
            limit,
        )
        return [_record(r) for r in rows]

    async def stuck_sessions(
        self, *, before: datetime, providers: Sequence[str], others: bool, limit: int
    ) -> Sequence[StuckSession]:
        if not providers and not others:
            return []
        args: list[Any] = [before, limit]
        which = in_list("provider", providers, args, negate=others)
        rows = await self.db.fetch(
            "SELECT id, provider, player_id, updated_at FROM game_sessions "  # noqa: S608
            f"WHERE state = 'pending_settlement' AND updated_at < $1 {which}"
            "ORDER BY updated_at LIMIT $2",
            *args,
        )
        return [StuckSession(r[0], r[1], r[2], as_datetime(r[3])) for r in rows]
