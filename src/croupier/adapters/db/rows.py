"""Rows from either driver into the service's state objects; the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from croupier.adapters.db.runner import as_datetime
from croupier.domain.ledger import JournalEntry
from croupier.domain.limits import LimitState
from croupier.domain.wallet import Balances, TxKind, TxStatus
from croupier.services.ports import HoldState, PlayerWallet, RoundState, StoredTx


def wallet_from_rows(player_id: str, rows: Sequence[Sequence[Any]]) -> PlayerWallet | None:
    """(status, currency, account type, account id, balance) rows of one player's accounts."""
    if not rows:
        return None
    ids: dict[str, int] = {}
    bal: dict[str, int] = {}
    for _status, _currency, acc_type, acc_id, balance in rows:
        ids[acc_type] = int(acc_id)
        bal[acc_type] = int(balance)
    status, currency = str(rows[0][0]), str(rows[0][1])
    return PlayerWallet(
        player_id=player_id,
        currency=currency,
        status=status,
        cash_account=ids["player_cash"],
        bonus_account=ids["player_bonus"],
        held_account=ids["player_held"],
        balances=Balances(currency, bal["player_cash"], bal["player_bonus"], bal["player_held"]),
    )


def limits_from_row(row: Sequence[Any]) -> LimitState:
    """(state, version) of a player_limits row."""
    return LimitState.from_json(row[0], int(row[1]))


def tx_from_row(row: Sequence[Any]) -> StoredTx:
    return StoredTx(
        id=int(row[0]),
        scope=row[1],
        reference=row[2],
        kind=TxKind(row[3]),
        status=TxStatus(row[4]),
        player_id=row[5],
        round_ref=row[6],
        ref_tx=row[7],
        amount=int(row[8]),
        currency=row[9],
        fingerprint=row[10],
        result=orjson.loads(row[11]),
        entry_id=row[12],
        created_at=as_datetime(row[13]) if len(row) > 13 and row[13] is not None else None,
    )


def round_from_row(row: Sequence[Any]) -> RoundState:
    return RoundState(*row)


def hold_from_row(row: Sequence[Any], expires_at: datetime) -> HoldState:
    return HoldState(
        id=int(row[0]),
        reference=row[1],
        player_id=row[2],
        currency=row[3],
        amount=int(row[4]),
        posted_amount=int(row[5]),
        status=row[6],
        destination_account=int(row[7]),
        expires_at=expires_at,
        result=orjson.loads(row[9]),
    )


def balance_deltas(entry: JournalEntry) -> dict[int, int]:
    """Net change per account of one entry; each account's cached balance moves once."""
    deltas: dict[int, int] = defaultdict(int)
    for posting in entry.postings:
        deltas[posting.account_id] += posting.amount
    return dict(deltas)
