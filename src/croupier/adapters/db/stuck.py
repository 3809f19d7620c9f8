"""Stuck money on either database (SqlRunner): pending holds, old open rounds, sessions in
pending_settlement with their open rounds' stakes, dead webhook deliveries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from croupier.adapters.db.runner import SqlRunner, as_datetime, in_list
from croupier.domain.wallet import provider_scope
from croupier.services.stuck import (
    CurrencySums,
    DeadDelivery,
    SessionMoney,
    StuckHold,
    StuckRound,
)

# The open rounds (with a live bet) each of the ``stuck`` sessions bet in, once per
# session and round; ``stuck`` is a CTE the caller puts first.
_SESSION_ROUNDS = (
    "bets AS (SELECT DISTINCT b.session_id, b.scope, b.round_ref FROM wallet_transactions b "
    "JOIN stuck ON stuck.id = b.session_id WHERE b.kind = 'bet' AND b.status = 'ok') "
    "SELECT {columns} FROM stuck LEFT JOIN bets ON bets.session_id = stuck.id "
    "LEFT JOIN rounds r ON r.scope = bets.scope AND r.round_ref = bets.round_ref "
    "AND r.status = 'open' AND r.bets_live > 0 "
)
_STUCK_ROUNDS = (
    "FROM rounds r WHERE r.status = 'open' AND r.bets_live > 0 AND r.win_count = 0 "
    "AND r.opened_at < $1 AND r.scope LIKE 'provider:%' "
)


def _sums(rows: Sequence[tuple[Any, ...]]) -> CurrencySums:
    return [(r[0], int(r[1]), int(r[2] or 0)) for r in rows]


class SqlStuckStore:
    """StuckStore over a store's SqlRunner."""

    def __init__(self, db: SqlRunner) -> None:
        self.db = db

    async def pending_holds(self, limit: int) -> Sequence[StuckHold]:
        rows = await self.db.fetch(
            "SELECT reference, player_id, currency, amount - posted_amount, created_at, "
            "expires_at FROM holds WHERE status = 'pending' ORDER BY created_at, id LIMIT $1",
            limit,
        )
        return [
            StuckHold(reference=r[0], player_id=r[1], currency=r[2], amount=int(r[3]),
                      since=as_datetime(r[4]), expires_at=as_datetime(r[5]))
            for r in rows
        ]  # fmt: skip

    async def pending_hold_totals(self, now: datetime) -> tuple[CurrencySums, int]:
        rows = await self.db.fetch(
            "SELECT currency, count(*), sum(amount - posted_amount) FROM holds "
            "WHERE status = 'pending' GROUP BY currency ORDER BY currency"
        )
        expired = await self.db.fetch(
            "SELECT count(*) FROM holds WHERE status = 'pending' AND expires_at <= $1", now
        )
        return _sums(rows), int(expired[0][0])

    async def stuck_rounds(
        self, *, before: datetime, providers: Sequence[str], others: bool, limit: int
    ) -> Sequence[StuckRound]:
        if not providers and not others:
            return []
        args: list[Any] = [before, limit]
        which = in_list("r.scope", [provider_scope(p) for p in providers], args, negate=others)
        rows = await self.db.fetch(
            "SELECT substr(r.scope, 10), r.round_ref, r.player_id, r.currency, r.game_code, "  # noqa: S608 - placeholders only
            "r.cash_staked + r.bonus_staked, r.opened_at, r.bets_live, "
            "EXISTS (SELECT 1 FROM round_timeouts t WHERE t.provider = substr(r.scope, 10) "
            "AND t.round_ref = r.round_ref AND t.action = 'flag') "
            f"{_STUCK_ROUNDS}{which}ORDER BY r.opened_at, r.id LIMIT $2",
            *args,
        )
        return [
            StuckRound(provider=r[0], round_ref=r[1], player_id=r[2], currency=r[3],
                       game_code=r[4], amount=int(r[5]), since=as_datetime(r[6]),
                       bets_live=int(r[7]), flagged=bool(r[8]))
            for r in rows
        ]  # fmt: skip

    async def stuck_round_totals(
        self, *, before: datetime, providers: Sequence[str], others: bool
    ) -> CurrencySums:
        if not providers and not others:
            return []
        args: list[Any] = [before]
        which = in_list("r.scope", [provider_scope(p) for p in providers], args, negate=others)
        rows = await self.db.fetch(
            "SELECT r.currency, count(*), sum(r.cash_staked + r.bonus_staked) "
            f"{_STUCK_ROUNDS}{which}GROUP BY r.currency ORDER BY r.currency",
            *args,
        )
        return _sums(rows)

    async def session_money(self, session_ids: Sequence[str]) -> Mapping[str, SessionMoney]:
        if not session_ids:
            return {}
        marks = ", ".join(f"${i}" for i in range(1, len(session_ids) + 1))
        rows = await self.db.fetch(
            "WITH stuck AS (SELECT id, currency, game_code FROM game_sessions "  # noqa: S608 - placeholders only
            f"WHERE id IN ({marks})), "
            + _SESSION_ROUNDS.format(
                columns="stuck.id, stuck.currency, stuck.game_code, count(r.id), "
                "sum(r.cash_staked + r.bonus_staked)"
            )
            + "GROUP BY stuck.id, stuck.currency, stuck.game_code",
            *session_ids,
        )
        return {
            r[0]: SessionMoney(currency=r[1], game_code=r[2], open_rounds=int(r[3]),
                               staked=int(r[4] or 0))
            for r in rows
        }  # fmt: skip

    async def stuck_session_totals(
        self, *, before: datetime, providers: Sequence[str], others: bool
    ) -> CurrencySums:
        if not providers and not others:
            return []
        args: list[Any] = [before]
        which = in_list("provider", providers, args, negate=others)
        rows = await self.db.fetch(
            "WITH stuck AS (SELECT id, currency FROM game_sessions "  # noqa: S608 - placeholders only
            f"WHERE state = 'pending_settlement' AND updated_at < $1 {which}), "
            + _SESSION_ROUNDS.format(
                columns="stuck.currency, count(DISTINCT stuck.id), "
                "sum(r.cash_staked + r.bonus_staked)"
            )
            + "GROUP BY stuck.currency ORDER BY stuck.currency",
            *args,
        )
        return _sums(rows)

    async def dead_deliveries(self, *, after_id: int, limit: int) -> Sequence[DeadDelivery]:
        rows = await self.db.fetch(
            "SELECT id, provider, delivery_id, received_at, attempts, last_error, body "
            "FROM webhook_deliveries WHERE status = 'dead' AND id > $1 ORDER BY id LIMIT $2",
            after_id,
            limit,
        )
        return [
            DeadDelivery(id=int(r[0]), provider=r[1], delivery_id=r[2],
                         received_at=as_datetime(r[3]), attempts=int(r[4]), last_error=r[5],
                         body=bytes(r[6]))
            for r in rows
        ]  # fmt: skip
