"""Reconciliation's tables and the ledger as reconciliation reads it, on either database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from croupier.adapters.db.runner import Row as DbRow
from croupier.adapters.db.runner import SqlRunner, as_datetime, in_list
from croupier.domain.recon import CaseStatus, Difference, DiffKind, Kind, Row, Status
from croupier.domain.wallet import provider_scope
from croupier.services.recon import Case, CaseEvent

TX_COLUMNS = (
    "t.id, t.reference, t.kind, t.status, t.amount, t.currency, t.created_at, t.player_id, "
    "t.round_ref, CASE WHEN t.kind = 'rollback' THEN t.result END, "
    "CASE WHEN t.kind = 'bet' THEN (SELECT count(*) FROM wallet_transactions rb "
    "WHERE rb.scope = t.scope AND rb.kind = 'rollback' AND rb.ref_tx = t.reference "
    "AND rb.status = 'ok') END"
)
TX_KINDS = "t.kind IN ('bet', 'win', 'rollback', 'credit', 'tombstone')"
ROUND_COLUMNS = (
    "r.id, r.round_ref, r.cash_staked + r.bonus_staked, r.win_total, r.currency, r.opened_at, "
    "r.player_id"
)
CASE_COLUMNS = (
    "id, provider, kind, key, currency, player_id, status, amount_difference, first_run, "
    "last_run, opened_at, updated_at, EXISTS (SELECT 1 FROM recon_case_events e "
    "WHERE e.case_id = recon_cases.id AND e.tx_ref IS NOT NULL)"
)
EVENT_COLUMNS = "case_id, at, actor, from_status, to_status, note, run_id, tx_ref"


def _tx_row(r: DbRow) -> Row:
    kind, status = str(r[2]), str(r[3])
    amount = int(r[4])
    if kind == "tombstone":  # a rollback came first: the bet was never accepted
        return Row(str(r[1]), Kind.BET, 0, r[5], as_datetime(r[6]), Status.FAILED,
                   r[7], r[8] or "")  # fmt: skip
    if kind == "rollback":
        result = orjson.loads(r[9]) if r[9] else {}
        amount = int(result.get("cash_amount", 0)) + int(result.get("bonus_amount", 0))
    state = Status.OK
    if status != "ok":
        state = Status.FAILED
    elif kind == "bet" and r[10]:
        state = Status.ROLLED_BACK
    return Row(str(r[1]), Kind(kind), amount, r[5], as_datetime(r[6]), state, r[7],
               r[8] or "")  # fmt: skip


def _round_row(r: DbRow) -> Row:
    return Row(str(r[1]), Kind.ROUND, int(r[2]), r[4], as_datetime(r[5]), Status.OK, r[6],
               str(r[1]), win=int(r[3]))  # fmt: skip


def _case(r: DbRow) -> Case:
    return Case(
        id=int(r[0]), provider=r[1], kind=DiffKind(r[2]), key=r[3], currency=r[4],
        player_id=r[5] or "", status=CaseStatus(r[6]), amount_difference=int(r[7]),
        first_run=int(r[8]), last_run=int(r[9]), opened_at=as_datetime(r[10]),
        updated_at=as_datetime(r[11]), corrected=bool(r[12]),
    )  # fmt: skip


def _event(r: DbRow) -> CaseEvent:
    return CaseEvent(
        case_id=int(r[0]), at=as_datetime(r[1]), actor=r[2],
        from_status=CaseStatus(r[3]) if r[3] else None, to_status=CaseStatus(r[4]),
        note=r[5], run_id=int(r[6]) if r[6] is not None else None, tx_ref=r[7],
    )  # fmt: skip


class SqlReconStore:
    """ReconStore over a store's SqlRunner."""

    def __init__(self, db: SqlRunner) -> None:
        self.db = db

    async def ledger_bounds(
        self, provider: str, start: datetime, end: datetime, *, rounds: bool
    ) -> tuple[int, int] | None:
        """The first and last ids of the period (through the time indexes), so that pages
        never walk the rest of history."""
        if rounds:
            rows = await self.db.fetch(
                "SELECT min(id), max(id) FROM rounds WHERE scope = $1 "
                "AND opened_at >= $2 AND opened_at < $3",
                provider_scope(provider), start, end,
            )  # fmt: skip
        else:
            rows = await self.db.fetch(
                "SELECT min(id), max(id) FROM wallet_transactions "
                "WHERE created_at >= $1 AND created_at < $2",
                start, end,
            )  # fmt: skip
        if not rows or rows[0][0] is None:
            return None
        return int(rows[0][0]), int(rows[0][1])

    async def ledger_page(
        self, provider: str, start: datetime, end: datetime, *, rounds: bool, after: int,
        upto: int, limit: int,
    ) -> Sequence[tuple[int, Row]]:  # fmt: skip
        # ``scope || ''`` keeps the planner off the (scope, reference) index: with it, SQLite
        # walked all of the provider's rows and sorted them for every page (quadratic in the
        # rows of the period: 366 s for 1,000,000 rows against 2 s by the id range).
        if rounds:
            rows = await self.db.fetch(
                f"SELECT {ROUND_COLUMNS} FROM rounds r WHERE (r.scope || '') = $1 "  # noqa: S608
                "AND r.opened_at >= $2 AND r.opened_at < $3 AND r.id > $4 AND r.id <= $5 "
                "ORDER BY r.id LIMIT $6",
                provider_scope(provider), start, end, after, upto, limit,
            )  # fmt: skip
            return [(int(r[0]), _round_row(r)) for r in rows]
        rows = await self.db.fetch(
            f"SELECT {TX_COLUMNS} FROM wallet_transactions t "  # noqa: S608 - constants
            f"WHERE (t.scope || '') = $1 AND t.id > $2 AND t.id <= $3 AND {TX_KINDS} "
            "AND t.created_at >= $4 AND t.created_at < $5 ORDER BY t.id LIMIT $6",
            provider_scope(provider), after, upto, start, end, limit,
        )  # fmt: skip
        return [(int(r[0]), _tx_row(r)) for r in rows]

    async def ledger_lookup(
        self, provider: str, keys: Sequence[str], *, rounds: bool
    ) -> Sequence[Row]:
        if not keys:
            return []
        args: list[Any] = [provider_scope(provider)]
        if rounds:
            rows = await self.db.fetch(
                f"SELECT {ROUND_COLUMNS} FROM rounds r WHERE r.scope = $1 "  # noqa: S608
                f"{in_list('r.round_ref', keys, args)}",
                *args,
            )
            return [_round_row(r) for r in rows]
        rows = await self.db.fetch(
            f"SELECT {TX_COLUMNS} FROM wallet_transactions t "  # noqa: S608 - placeholders only
            f"WHERE t.scope = $1 AND {TX_KINDS} {in_list('t.reference', keys, args)}",
            *args,
        )
        return [_tx_row(r) for r in rows]

    # -- runs -----------------------------------------------------------------------------

    async def save_run(
        self, run: dict[str, Any], differences: Sequence[Difference], now: datetime
    ) -> int:
        report = run["report"]
        async with self.db.unit() as unit:
            rows = await unit.fetch(
                "INSERT INTO recon_runs (provider, period_start, period_end, granularity, "
                "feed_name, feed_sha256, mapping_sha256, report_sha256, actor, created_at, "
                "report) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                run["provider"], run["period_start"], run["period_end"], run["granularity"],
                run["feed_name"][:256], run["feed_sha256"], run["mapping_sha256"],
                report["report_sha256"], run["actor"][:128], now,
                orjson.dumps(report).decode(),
            )  # fmt: skip
            run_id = int(rows[0][0])
            for d in differences:
                await unit.execute(
                    "INSERT INTO recon_differences (run_id, kind, key, currency, "
                    "amount_difference, detail) VALUES ($1, $2, $3, $4, $5, $6)",
                    run_id, d.kind.value, d.key[:128], d.currency, d.amount_difference,
                    orjson.dumps(d.to_dict(), default=str).decode(),
                )  # fmt: skip
        return run_id

    async def run_report(self, run_id: int) -> dict[str, Any] | None:
        rows = await self.db.fetch(
            "SELECT id, created_at, actor, report FROM recon_runs WHERE id = $1", run_id
        )
        if not rows:
            return None
        report: dict[str, Any] = orjson.loads(rows[0][3])
        return {"run_id": int(rows[0][0]), "created_at": as_datetime(rows[0][1]).isoformat(),
                "actor": rows[0][2], **report}  # fmt: skip

    async def runs(self, provider: str | None, limit: int) -> Sequence[dict[str, Any]]:
        rows = await self.db.fetch(
            "SELECT id, provider, period_start, period_end, granularity, feed_name, "
            "report_sha256, actor, created_at FROM recon_runs "
            "WHERE ($1 = '' OR provider = $1) ORDER BY id DESC LIMIT $2",
            provider or "", limit,
        )  # fmt: skip
        names = ("run_id", "provider", "period_start", "period_end", "granularity",
                 "feed_name", "report_sha256", "actor", "created_at")  # fmt: skip
        out = []
        for r in rows:
            row = dict(zip(names, r, strict=True))
            for key in ("period_start", "period_end", "created_at"):
                row[key] = as_datetime(row[key]).isoformat()
            out.append(row)
        return out

    # -- cases ----------------------------------------------------------------------------

    async def live_cases(self, provider: str) -> dict[tuple[str, str], Case]:
        rows = await self.db.fetch(
            f"SELECT {CASE_COLUMNS} FROM recon_cases "  # noqa: S608 - constant
            "WHERE provider = $1 AND status NOT IN ('auto_resolved', 'resolved')",
            provider,
        )
        return {(c.kind.value, c.key): c for c in map(_case, rows)}

    async def corrected_cases(self, provider: str) -> dict[str, Case]:
        rows = await self.db.fetch(
            f"SELECT {CASE_COLUMNS} FROM recon_cases "  # noqa: S608 - constant
            "WHERE provider = $1 AND status = 'resolved' AND kind = 'missing_in_ledger' "
            "AND EXISTS (SELECT 1 FROM recon_case_events e WHERE e.case_id = recon_cases.id "
            "AND e.tx_ref IS NOT NULL)",
            provider,
        )
        return {c.key: c for c in map(_case, rows)}

    async def matched_elsewhere(self, provider: str, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(keys), 500):
            args: list[Any] = [provider]
            rows = await self.db.fetch(
                "SELECT DISTINCT d.key FROM recon_differences d "  # noqa: S608 - placeholders
                "JOIN recon_runs r ON r.id = d.run_id WHERE r.provider = $1 "
                f"AND d.kind = 'outside_period' {in_list('d.key', keys[i : i + 500], args)}",
                *args,
            )
            found |= {r[0] for r in rows}
        return found

    async def find_case(self, provider: str, kind: str, key: str) -> Case | None:
        rows = await self.db.fetch(
            f"SELECT {CASE_COLUMNS} FROM recon_cases "  # noqa: S608 - constant
            "WHERE provider = $1 AND kind = $2 AND key = $3",
            provider, kind, key,
        )  # fmt: skip
        return _case(rows[0]) if rows else None

    async def insert_case(
        self,
        provider: str,
        difference: Difference,
        player_id: str,
        run_id: int,
        *,
        now: datetime,
        actor: str = "reconciliation",
    ) -> int | None:
        async with self.db.unit() as unit:
            rows = await unit.fetch(
                "INSERT INTO recon_cases (provider, kind, key, currency, player_id, status, "
                "amount_difference, first_run, last_run, opened_at, updated_at) "
                "VALUES ($1, $2, $3, $4, $5, 'open', $6, $7, $7, $8, $8) "
                "ON CONFLICT (provider, kind, key) DO NOTHING RETURNING id",
                provider, difference.kind.value, difference.key[:128], difference.currency,
                player_id or None, difference.amount_difference, run_id, now,
            )  # fmt: skip
            if not rows:  # another run opened it meanwhile
                return None
            case_id = int(rows[0][0])
            await self._event(unit, CaseEvent(
                case_id, now, actor, None, CaseStatus.OPEN,
                f"{difference.kind.value}: {difference.detail}", run_id,
            ))  # fmt: skip
        return case_id

    async def touch_case(self, case_id: int, run_id: int, amount: int, now: datetime) -> None:
        await self.db.execute(
            "UPDATE recon_cases SET last_run = $2, amount_difference = $3, updated_at = $4 "
            "WHERE id = $1",
            case_id, run_id, amount, now,
        )  # fmt: skip

    async def move_case(self, case_id: int, expected: CaseStatus, event: CaseEvent) -> bool:
        async with self.db.unit() as unit:
            rows = await unit.fetch(
                "UPDATE recon_cases SET status = $3, updated_at = $4 "
                "WHERE id = $1 AND status = $2 RETURNING id",
                case_id, expected.value, event.to_status.value, event.at,
            )  # fmt: skip
            if not rows:
                return False
            await self._event(unit, event)
        return True

    async def add_case_event(self, event: CaseEvent) -> None:
        async with self.db.unit() as unit:
            await self._event(unit, event)

    @staticmethod
    async def _event(unit: Any, e: CaseEvent) -> None:
        await unit.execute(
            f"INSERT INTO recon_case_events ({EVENT_COLUMNS}) "  # noqa: S608 - constant
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            e.case_id, e.at, e.actor[:128], e.from_status.value if e.from_status else None,
            e.to_status.value, e.note[:2000], e.run_id, e.tx_ref,
        )  # fmt: skip

    async def case(self, case_id: int) -> Case | None:
        rows = await self.db.fetch(
            f"SELECT {CASE_COLUMNS} FROM recon_cases WHERE id = $1",  # noqa: S608 - constant
            case_id,
        )
        return _case(rows[0]) if rows else None

    async def case_events(self, case_id: int) -> Sequence[CaseEvent]:
        rows = await self.db.fetch(
            f"SELECT {EVENT_COLUMNS} FROM recon_case_events "  # noqa: S608 - constant
            "WHERE case_id = $1 ORDER BY id",
            case_id,
        )
        return [_event(r) for r in rows]

    async def cases(
        self, *, provider: str | None, status: str | None, limit: int
    ) -> Sequence[Case]:
        rows = await self.db.fetch(
            f"SELECT {CASE_COLUMNS} FROM recon_cases "  # noqa: S608 - constant
            "WHERE ($1 = '' OR provider = $1) AND ($2 = '' OR status = $2) "
            "ORDER BY id DESC LIMIT $3",
            provider or "", status or "", limit,
        )  # fmt: skip
        return [_case(r) for r in rows]

    async def mapping(self, provider: str) -> dict[str, Any] | None:
        rows = await self.db.fetch(
            "SELECT mapping FROM recon_mappings WHERE provider = $1", provider
        )
        return orjson.loads(rows[0][0]) if rows else None

    async def set_mapping(self, provider: str, mapping: dict[str, Any], now: datetime) -> None:
        await self.db.execute(
            "INSERT INTO recon_mappings (provider, mapping, updated_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (provider) DO UPDATE SET mapping = excluded.mapping, "
            "updated_at = excluded.updated_at",
            provider, orjson.dumps(mapping).decode(), now,
        )  # fmt: skip
