"""Plain SQL on either database, for the gateway's tables (keys, nonces, sessions).

Statements are written once, in PostgreSQL's ``$n`` style and in the SQL both databases
share (no casts, ``RETURNING``, ``ON CONFLICT``); the SQLite runner rewrites ``$n`` to ``?n``
and stores timestamps as the ISO text its ledger tables use. Timestamps read back are
``datetime`` on PostgreSQL and text on SQLite: ``as_datetime`` takes either.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, date, datetime
from typing import Any, Protocol

Row = tuple[Any, ...]

_PARAM = re.compile(r"\$(\d+)")


class SqlUnit(Protocol):
    """Statements inside one transaction."""

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; the number of rows it changed."""


class SqlRunner(SqlUnit, Protocol):
    """Single statements, each its own transaction, and ``unit()`` for several in one."""

    row_lock: str
    """Appended to a SELECT inside ``unit()`` to lock its rows: `` FOR UPDATE`` on
    PostgreSQL; empty on SQLite, whose units hold the database's write lock already."""

    async def execute(self, sql: str, *args: Any, durable: bool = True) -> int:
        """``durable=False``: the commit need not survive a power cut (request nonces)."""

    def unit(self) -> AbstractAsyncContextManager[SqlUnit]: ...


_SQLITE_TEXT: dict[str, str] = {}


def to_sqlite(sql: str) -> str:
    """``$n`` to ``?n``, once per statement text (statements are constants)."""
    text = _SQLITE_TEXT.get(sql)
    if text is None:
        text = _SQLITE_TEXT[sql] = _PARAM.sub(r"?\1", sql)
    return text


def in_list(column: str, values: Sequence[Any], args: list[Any], *, negate: bool = False) -> str:
    """``AND column [NOT] IN ($n, ...)`` for ``values``, appended to ``args`` (numbered after
    the arguments already there); empty when there are none."""
    if not values:
        return ""
    first = len(args) + 1
    args.extend(values)
    marks = ", ".join(f"${n}" for n in range(first, first + len(values)))
    return f"AND {column} {'NOT IN' if negate else 'IN'} ({marks}) "


def as_datetime(value: datetime | str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(value)


def as_date(value: date | str | None) -> date | None:
    """A DATE column: ``date`` on PostgreSQL, ISO text on SQLite."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)
