"""`croupier ledger verify`: prove the ledger's invariants on a database, at any time.

Each check is one query that returns the offending rows (none when the invariant holds):

* every journal entry has at least two postings and sums to zero in each currency;
* every posting is in its account's currency;
* every cached balance equals the sum of its account's postings;
* no balance is below its account's floor (cached or derived);
* each player's held balance equals the sum of the player's pending holds;
* every applied money call that moved money points to an entry, and no refusal does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, Subquery, and_, func, literal, or_, select

from croupier.adapters.db.schema import accounts, holds, journal_entries, postings
from croupier.adapters.db.schema import wallet_transactions as txs

MAX_SHOWN = 20
"""Offending rows kept per check: enough to start an investigation, bounded in size."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    description: str
    violations: int
    examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.violations == 0


@dataclass(frozen=True, slots=True)
class VerifyReport:
    checks: list[CheckResult]
    counts: dict[str, int]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "counts": self.counts,
            "checks": [
                {
                    "name": c.name,
                    "description": c.description,
                    "ok": c.ok,
                    "violations": c.violations,
                    "examples": c.examples,
                }
                for c in self.checks
            ],
        }


def _sums() -> Subquery:
    return (
        select(postings.c.account_id, func.sum(postings.c.amount).label("total"))
        .group_by(postings.c.account_id)
        .subquery("sums")
    )


def _checks() -> list[tuple[str, str, Any]]:
    per_entry_currency = (
        select(
            postings.c.entry_id,
            postings.c.currency,
            func.sum(postings.c.amount).label("total"),
        )
        .group_by(postings.c.entry_id, postings.c.currency)
        .having(func.sum(postings.c.amount) != 0)
    )
    posting_count = (
        select(postings.c.entry_id, func.count().label("n"))
        .group_by(postings.c.entry_id)
        .subquery("counts")
    )
    n_postings = func.coalesce(posting_count.c.n, 0)
    short_entries = (
        select(journal_entries.c.id.label("entry_id"), n_postings.label("postings"))
        .select_from(
            journal_entries.outerjoin(
                posting_count, posting_count.c.entry_id == journal_entries.c.id
            )
        )
        .where(n_postings < 2)
    )
    wrong_currency = (
        select(postings.c.id.label("posting_id"), postings.c.currency,
               accounts.c.currency.label("account_currency"))
        .select_from(postings.join(accounts, accounts.c.id == postings.c.account_id))
        .where(postings.c.currency != accounts.c.currency)
    )  # fmt: skip
    sums = _sums()
    derived = func.coalesce(sums.c.total, 0)
    cached_drift = (
        select(accounts.c.id.label("account_id"), accounts.c.type, accounts.c.owner,
               accounts.c.balance.label("cached"), derived.label("sum_of_postings"))
        .select_from(accounts.outerjoin(sums, sums.c.account_id == accounts.c.id))
        .where(accounts.c.balance.is_not(None), accounts.c.balance != derived)
    )  # fmt: skip
    below_floor = (
        select(accounts.c.id.label("account_id"), accounts.c.type, accounts.c.owner,
               accounts.c.floor, derived.label("balance"))
        .select_from(accounts.outerjoin(sums, sums.c.account_id == accounts.c.id))
        .where(accounts.c.floor.is_not(None),
               or_(derived < accounts.c.floor, accounts.c.balance < accounts.c.floor))
    )  # fmt: skip
    pending = (
        select(holds.c.player_id, holds.c.currency, func.sum(holds.c.amount).label("total"))
        .where(holds.c.status == "pending")
        .group_by(holds.c.player_id, holds.c.currency)
        .subquery("pending")
    )
    held_mismatch = (
        select(accounts.c.owner.label("player_id"), accounts.c.balance.label("held"),
               func.coalesce(pending.c.total, 0).label("pending_holds"))
        .select_from(accounts.outerjoin(pending, and_(pending.c.player_id == accounts.c.owner,
                                                      pending.c.currency == accounts.c.currency)))
        .where(accounts.c.type == "player_held",
               accounts.c.balance != func.coalesce(pending.c.total, 0))
    )  # fmt: skip
    moving = and_(
        txs.c.status == "ok",
        txs.c.kind.in_(
            ["deposit", "withdrawal", "bonus_grant", "bet", "win", "hold_reserve", "credit"]
        ),
        txs.c.amount > 0,
    )
    missing_entry = select(
        txs.c.id.label("transaction_id"), txs.c.kind, txs.c.reference, txs.c.amount
    ).where(moving, txs.c.entry_id.is_(None))
    entry_of_refusal = select(
        txs.c.id.label("transaction_id"), txs.c.kind, txs.c.status, txs.c.entry_id
    ).where(txs.c.status != "ok", txs.c.entry_id.is_not(None))
    return [
        ("entries_balance", "every entry sums to zero in each currency", per_entry_currency),
        ("entries_have_two_postings", "every entry has at least two postings", short_entries),
        ("posting_currency", "every posting is in its account's currency", wrong_currency),
        ("cached_balances", "every cached balance equals the sum of its postings", cached_drift),
        ("floors", "no balance is below its account's floor", below_floor),
        ("held_equals_pending_holds", "held balances equal pending holds", held_mismatch),
        ("transactions_have_entries", "every applied money call wrote an entry", missing_entry),
        ("refusals_move_nothing", "no refused or tombstone record moved money", entry_of_refusal),
    ]


def verify_ledger(engine: Engine) -> VerifyReport:
    """Run every check in one read-only snapshot and report the violations."""
    results: list[CheckResult] = []
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        for name, description, query in _checks():
            sub = query.subquery()
            count = conn.execute(select(func.count()).select_from(sub)).scalar_one()
            rows = conn.execute(select(sub).limit(MAX_SHOWN)).mappings().all() if count else []
            results.append(CheckResult(name, description, count, [dict(r) for r in rows]))
        counts = {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (accounts, journal_entries, postings, txs, holds)
        }
    return VerifyReport(results, counts)


def house_balances(engine: Engine) -> list[dict[str, Any]]:
    """Every account with its balance derived from postings (house accounts have no cache)."""
    sums = _sums()
    query = (
        select(accounts.c.id, accounts.c.type, accounts.c.owner, accounts.c.currency,
               func.coalesce(sums.c.total, literal(0)).label("balance"))
        .select_from(accounts.outerjoin(sums, sums.c.account_id == accounts.c.id))
        .where(accounts.c.balance.is_(None))
        .order_by(accounts.c.currency, accounts.c.type, accounts.c.owner)
    )  # fmt: skip
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]
