"""The operator side's tables (operator keys, player profiles, catalogue) and the history
support reads, on either database. Cold paths: plain SQL through the store's SqlRunner."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import orjson

from croupier.adapters.db.runner import Row, SqlRunner, SqlUnit, as_date, as_datetime
from croupier.domain.catalogue import CatalogueProvider, Game, GameCategory
from croupier.domain.ledger import PLAYER_ACCOUNT_TYPES
from croupier.domain.players import KycStatus, PlayerProfile
from croupier.domain.signals import Alert, AlertKind
from croupier.services.operator_ports import (
    Exclusion,
    NewPlayer,
    OperatorKey,
    ProfileChange,
    RoundView,
    TxView,
)
from croupier.services.ports import WriteConflict

PLAYER_COLUMNS = (
    "id, currency, status, brand, external_ref, country, subdivision, birth_date, kyc_status, "
    "created_at, updated_at"
)
PLAYER_TYPES = ", ".join(f"'{t.value}'" for t in sorted(PLAYER_ACCOUNT_TYPES))
TX_VIEW_COLUMNS = (
    "id, scope, reference, kind, status, player_id, round_ref, amount, currency, session_id, "
    "correlation_id, created_at, result"
)
ROUND_VIEW_COLUMNS = (
    "id, scope, round_ref, player_id, currency, game_code, status, cash_staked, bonus_staked, "
    "bets_live, bets_rolled_back, win_count, win_total, opened_at, closed_at"
)
NEWEST = 2**63 - 1
USED_WALLET_SQL = (
    "SELECT 1 FROM wallet_transactions WHERE player_id = $1 "  # noqa: S608 - constant types
    "UNION ALL SELECT 1 FROM holds WHERE player_id = $1 "
    "UNION ALL SELECT 1 FROM player_limits WHERE player_id = $1 "
    "UNION ALL SELECT 1 FROM game_sessions WHERE player_id = $1 "
    "UNION ALL SELECT 1 FROM postings p JOIN accounts a ON a.id = p.account_id "
    f"WHERE a.owner = $1 AND a.type IN ({PLAYER_TYPES}) LIMIT 1"
)
"""Any trace of use (money, holds, limits in minor units, sessions with caps in minor
units): then the wallet's currency can no longer change."""


def _profile(row: Row) -> PlayerProfile:
    return PlayerProfile(
        id=row[0],
        currency=row[1],
        status=row[2],
        brand=row[3],
        external_ref=row[4],
        country=row[5],
        subdivision=row[6],
        birth_date=as_date(row[7]),
        kyc_status=KycStatus(row[8]),
        created_at=as_datetime(row[9]),
        updated_at=as_datetime(row[10]) if row[10] is not None else None,
    )


def _key(row: Row) -> OperatorKey:
    return OperatorKey(
        key_id=row[0],
        scopes=frozenset(row[1].split()),
        label=row[2],
        status=row[3],
        created_at=as_datetime(row[4]),
        revoked_at=as_datetime(row[5]) if row[5] is not None else None,
    )


def _provider(row: Row) -> CatalogueProvider:
    return CatalogueProvider(
        code=row[0],
        name=row[1],
        enabled=bool(row[2]),
        launch_url=row[3],
        jurisdictions=tuple(orjson.loads(row[4])),
    )


def _game(row: Row) -> Game:
    return Game(
        provider=row[0],
        code=row[1],
        name=row[2],
        category=GameCategory(row[3]),
        rtp_bp=int(row[4]),
        enabled=bool(row[5]),
        jurisdictions=tuple(orjson.loads(row[6])),
    )


class SqlOperatorStore:
    """OperatorStore over a store's SqlRunner."""

    def __init__(self, db: SqlRunner) -> None:
        self.db = db

    # -- operator API keys --------------------------------------------------------------

    async def insert_operator_key(self, key: OperatorKey, secret_hash: str) -> bool:
        changed = await self.db.execute(
            "INSERT INTO operator_keys (key_id, secret_hash, scopes, label, status, created_at) "
            "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
            key.key_id,
            secret_hash,
            " ".join(sorted(key.scopes)),
            key.label,
            key.status,
            key.created_at,
        )
        return changed == 1

    async def operator_key(self, key_id: str) -> tuple[OperatorKey, str] | None:
        rows = await self.db.fetch(
            "SELECT key_id, scopes, label, status, created_at, revoked_at, secret_hash "
            "FROM operator_keys WHERE key_id = $1",
            key_id,
        )
        return (_key(rows[0]), rows[0][6]) if rows else None

    async def operator_keys(self) -> Sequence[OperatorKey]:
        rows = await self.db.fetch(
            "SELECT key_id, scopes, label, status, created_at, revoked_at FROM operator_keys "
            "ORDER BY created_at, key_id"
        )
        return [_key(r) for r in rows]

    async def revoke_operator_key(self, key_id: str, now: datetime) -> bool:
        changed = await self.db.execute(
            "UPDATE operator_keys SET status = 'revoked', revoked_at = $2 "
            "WHERE key_id = $1 AND status = 'active'",
            key_id,
            now,
        )
        return changed == 1

    # -- players --------------------------------------------------------------------------

    async def create_player(self, player: NewPlayer, now: datetime) -> bool:
        async with self.db.unit() as unit:
            created = await unit.execute(
                f"INSERT INTO players ({PLAYER_COLUMNS}) "  # noqa: S608 - constant columns
                "VALUES ($1, $2, 'active', $3, $4, $5, $6, $7, $8, $9, $9) "
                "ON CONFLICT DO NOTHING",
                player.id,
                player.currency,
                player.brand,
                player.external_ref,
                player.country,
                player.subdivision,
                player.birth_date,
                player.kyc_status.value,
                now,
            )
            if created != 1:
                return False
            for account_type in sorted(PLAYER_ACCOUNT_TYPES):
                await unit.execute(
                    "INSERT INTO accounts (type, owner, currency, balance, floor, created_at) "
                    "VALUES ($1, $2, $3, 0, 0, $4)",
                    account_type.value,
                    player.id,
                    player.currency,
                    now,
                )
        return True

    async def player(self, player_id: str) -> PlayerProfile | None:
        rows = await self.db.fetch(
            f"SELECT {PLAYER_COLUMNS} FROM players WHERE id = $1",  # noqa: S608
            player_id,
        )
        return _profile(rows[0]) if rows else None

    async def player_by_ref(self, brand: str, external_ref: str) -> PlayerProfile | None:
        rows = await self.db.fetch(
            f"SELECT {PLAYER_COLUMNS} FROM players "  # noqa: S608
            "WHERE brand = $1 AND external_ref = $2",
            brand,
            external_ref,
        )
        return _profile(rows[0]) if rows else None

    async def update_player(
        self, player_id: str, change: ProfileChange, now: datetime, currency: str | None = None
    ) -> PlayerProfile | str | None:
        sets: list[str] = []
        args: list[object] = [player_id, now]
        for column, value in (
            ("brand", change.brand),
            ("country", change.country),
            ("subdivision", change.subdivision),
            ("birth_date", change.birth_date),
            ("kyc_status", change.kyc_status.value if change.kyc_status else None),
        ):
            if value is not None:
                args.append(value)
                sets.append(f"{column} = ${len(args)}")
        if change.clear_subdivision:
            sets.append("subdivision = NULL")
        sql = (
            f"UPDATE players SET {', '.join([*sets, 'updated_at = $2'])} "  # noqa: S608 - fixed names
            f"WHERE id = $1 RETURNING {PLAYER_COLUMNS}"
        )
        try:
            async with self.db.unit() as unit:
                if currency is not None:
                    outcome = await self._change_currency(unit, player_id, currency)
                    if outcome != "ok":
                        return outcome
                rows = await unit.fetch(sql, *args)
        except Exception as exc:
            if _is_unique_violation(exc):
                raise WriteConflict from exc
            raise
        return _profile(rows[0]) if rows else None

    async def _change_currency(self, unit: SqlUnit, player_id: str, currency: str) -> str:
        # The wallet's accounts first, then the player: the order money calls lock in (their
        # writes check the player's key), so neither can wait on the other in a circle.
        lock = self.db.row_lock
        await unit.fetch(
            f"SELECT id FROM accounts WHERE owner = $1 AND type IN ({PLAYER_TYPES}) "  # noqa: S608
            f"ORDER BY id{lock}",
            player_id,
        )
        player = await unit.fetch(
            f"SELECT currency FROM players WHERE id = $1{lock}",  # noqa: S608 - constant
            player_id,
        )
        if not player:
            return "missing"
        if await unit.fetch(USED_WALLET_SQL, player_id):
            return "locked"
        await unit.execute(
            f"UPDATE accounts SET currency = $2 WHERE owner = $1 AND type IN ({PLAYER_TYPES})",  # noqa: S608
            player_id,
            currency,
        )
        await unit.execute("UPDATE players SET currency = $2 WHERE id = $1", player_id, currency)
        return "ok"

    # -- player protection ----------------------------------------------------------------

    async def insert_exclusion(self, exclusion: Exclusion) -> None:
        await self.db.execute(
            "INSERT INTO player_exclusions (player_id, kind, starts_at, ends_at, actor, reason, "
            "created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            exclusion.player_id,
            exclusion.kind,
            exclusion.starts_at,
            exclusion.ends_at,
            exclusion.actor,
            exclusion.reason,
            exclusion.created_at,
        )

    async def exclusions(self, player_id: str) -> Sequence[Exclusion]:
        rows = await self.db.fetch(
            "SELECT player_id, kind, starts_at, ends_at, actor, reason, created_at "
            "FROM player_exclusions WHERE player_id = $1 ORDER BY id",
            player_id,
        )
        return [
            Exclusion(
                player_id=r[0],
                kind=r[1],
                starts_at=as_datetime(r[2]),
                ends_at=as_datetime(r[3]) if r[3] is not None else None,
                actor=r[4],
                reason=r[5],
                created_at=as_datetime(r[6]),
            )
            for r in rows
        ]

    async def insert_protection_event(
        self, player_id: str, kind: str, detail: dict[str, object], actor: str, at: datetime
    ) -> None:
        await self.db.execute(
            "INSERT INTO protection_events (player_id, kind, detail, actor, at) "
            "VALUES ($1, $2, $3, $4, $5)",
            player_id,
            kind,
            orjson.dumps(detail).decode(),
            actor,
            at,
        )

    async def protection_events(self, player_id: str) -> Sequence[dict[str, object]]:
        rows = await self.db.fetch(
            "SELECT kind, detail, actor, at FROM protection_events WHERE player_id = $1 "
            "ORDER BY id",
            player_id,
        )
        return [
            {"kind": r[0], **orjson.loads(r[1]), "actor": r[2], "at": as_datetime(r[3])}
            for r in rows
        ]

    # -- signals --------------------------------------------------------------------------

    async def insert_alert(self, alert: Alert) -> None:
        await self.db.execute(
            "INSERT INTO alerts (kind, player_id, provider, detail, at) "
            "VALUES ($1, $2, $3, $4, $5)",
            alert.kind.value,
            alert.player_id,
            alert.provider,
            orjson.dumps(alert.detail).decode(),
            alert.at,
        )

    async def alerts(
        self, *, kind: str | None, player_id: str | None, before: int | None, limit: int
    ) -> Sequence[tuple[int, Alert]]:
        rows = await self.db.fetch(
            "SELECT id, kind, player_id, provider, detail, at FROM alerts "
            "WHERE id < $1 AND ($2 = '' OR kind = $2) AND ($3 = '' OR player_id = $3) "
            "ORDER BY id DESC LIMIT $4",
            before if before is not None else NEWEST,
            kind or "",
            player_id or "",
            limit,
        )
        return [
            (
                int(r[0]),
                Alert(AlertKind(r[1]), as_datetime(r[5]), r[2], r[3], orjson.loads(r[4])),
            )
            for r in rows
        ]

    # -- catalogue ------------------------------------------------------------------------

    async def upsert_catalogue(
        self, providers: Sequence[CatalogueProvider], games: Sequence[Game], now: datetime
    ) -> None:
        async with self.db.unit() as unit:
            for p in providers:
                await unit.execute(
                    "INSERT INTO catalogue_providers "
                    "(code, name, enabled, launch_url, jurisdictions, updated_at) "
                    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (code) DO UPDATE SET "
                    "name = excluded.name, enabled = excluded.enabled, "
                    "launch_url = excluded.launch_url, jurisdictions = excluded.jurisdictions, "
                    "updated_at = excluded.updated_at",
                    p.code,
                    p.name,
                    p.enabled,
                    p.launch_url,
                    orjson.dumps(list(p.jurisdictions)).decode(),
                    now,
                )
            for g in games:
                await unit.execute(
                    "INSERT INTO games "
                    "(provider, code, name, category, rtp_bp, enabled, jurisdictions, updated_at) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (provider, code) "
                    "DO UPDATE SET name = excluded.name, category = excluded.category, "
                    "rtp_bp = excluded.rtp_bp, enabled = excluded.enabled, "
                    "jurisdictions = excluded.jurisdictions, updated_at = excluded.updated_at",
                    g.provider,
                    g.code,
                    g.name,
                    g.category.value,
                    g.rtp_bp,
                    g.enabled,
                    orjson.dumps(list(g.jurisdictions)).decode(),
                    now,
                )

    async def catalogue_providers(self) -> Sequence[CatalogueProvider]:
        rows = await self.db.fetch(
            "SELECT code, name, enabled, launch_url, jurisdictions FROM catalogue_providers "
            "ORDER BY code"
        )
        return [_provider(r) for r in rows]

    async def catalogue_provider(self, code: str) -> CatalogueProvider | None:
        rows = await self.db.fetch(
            "SELECT code, name, enabled, launch_url, jurisdictions FROM catalogue_providers "
            "WHERE code = $1",
            code,
        )
        return _provider(rows[0]) if rows else None

    async def games(self, provider: str | None) -> Sequence[Game]:
        rows = await self.db.fetch(
            "SELECT provider, code, name, category, rtp_bp, enabled, jurisdictions FROM games "
            "WHERE $1 = '' OR provider = $1 ORDER BY provider, code",
            provider or "",
        )
        return [_game(r) for r in rows]

    async def game(self, provider: str, code: str) -> Game | None:
        rows = await self.db.fetch(
            "SELECT provider, code, name, category, rtp_bp, enabled, jurisdictions FROM games "
            "WHERE provider = $1 AND code = $2",
            provider,
            code,
        )
        return _game(rows[0]) if rows else None

    async def set_game_enabled(
        self, provider: str, code: str, enabled: bool, now: datetime
    ) -> bool:
        changed = await self.db.execute(
            "UPDATE games SET enabled = $3, updated_at = $4 WHERE provider = $1 AND code = $2",
            provider,
            code,
            enabled,
            now,
        )
        return changed == 1

    async def set_provider_enabled(self, code: str, enabled: bool, now: datetime) -> bool:
        changed = await self.db.execute(
            "UPDATE catalogue_providers SET enabled = $2, updated_at = $3 WHERE code = $1",
            code,
            enabled,
            now,
        )
        return changed == 1

    # -- history --------------------------------------------------------------------------

    async def transactions(
        self, *, player_id: str | None, session_id: str | None, before: int | None, limit: int
    ) -> Sequence[TxView]:
        column, value = (
            ("player_id", player_id) if player_id is not None else ("session_id", session_id)
        )
        rows = await self.db.fetch(
            f"SELECT {TX_VIEW_COLUMNS} FROM wallet_transactions "  # noqa: S608 - fixed names
            f"WHERE {column} = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
            value,
            before if before is not None else NEWEST,
            limit,
        )
        return [
            TxView(
                id=int(r[0]),
                scope=r[1],
                reference=r[2],
                kind=r[3],
                status=r[4],
                player_id=r[5],
                round_ref=r[6],
                amount=int(r[7]),
                currency=r[8],
                session_id=r[9],
                correlation_id=r[10],
                created_at=as_datetime(r[11]),
                result=orjson.loads(r[12]),
            )
            for r in rows
        ]

    async def rounds(self, player_id: str, before: int | None, limit: int) -> Sequence[RoundView]:
        rows = await self.db.fetch(
            f"SELECT {ROUND_VIEW_COLUMNS} FROM rounds "  # noqa: S608 - fixed names
            "WHERE player_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
            player_id,
            before if before is not None else NEWEST,
            limit,
        )
        return [
            RoundView(
                id=int(r[0]),
                scope=r[1],
                round_ref=r[2],
                player_id=r[3],
                currency=r[4],
                game_code=r[5],
                status=r[6],
                cash_staked=int(r[7]),
                bonus_staked=int(r[8]),
                bets_live=int(r[9]),
                bets_rolled_back=int(r[10]),
                win_count=int(r[11]),
                win_total=int(r[12]),
                opened_at=as_datetime(r[13]),
                closed_at=as_datetime(r[14]) if r[14] is not None else None,
            )
            for r in rows
        ]


def _is_unique_violation(exc: BaseException) -> bool:
    """asyncpg's UniqueViolationError, or SQLite's IntegrityError on a UNIQUE index, seen
    through the store's StorageUnavailable wrapper."""
    for err in (exc, exc.__cause__):
        if err is not None and (
            type(err).__name__ == "UniqueViolationError" or "UNIQUE constraint" in str(err)
        ):
            return True
    return False
