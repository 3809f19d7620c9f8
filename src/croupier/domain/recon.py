"""Reconciliation: a provider's feed against the ledger, row by row, to zero.

Both sides become canonical rows (``Row``) keyed by the provider's transaction id (or its
round id, when the provider reports one line per round), are sorted by that key and merged.
Each pair, or each row alone, is compared and every difference classified (``DiffKind``).
Totals per currency on both sides give the net position (the provider's GGR: bets - wins -
rollbacks - credits) and the mismatch rate.

A feed row whose ledger row lies outside the period (a late arrival on either side) is a
match, reported as ``outside_period`` for information, never as missing.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from croupier.domain.errors import InvalidRequest


class Kind(enum.StrEnum):
    BET = "bet"
    WIN = "win"
    ROLLBACK = "rollback"
    CREDIT = "credit"
    ROUND = "round"
    """One line per round: ``amount`` is its stakes, ``win`` its wins."""


class Status(enum.StrEnum):
    OK = "ok"
    ROLLED_BACK = "rolled_back"
    """A bet cancelled afterwards (its stake refunded)."""
    FAILED = "failed"
    """Refused: no money moved."""


class DiffKind(enum.StrEnum):
    MISSING_IN_LEDGER = "missing_in_ledger"
    MISSING_IN_FEED = "missing_in_feed"
    AMOUNT_MISMATCH = "amount_mismatch"
    CURRENCY_MISMATCH = "currency_mismatch"
    STATUS_MISMATCH = "status_mismatch"
    TYPE_MISMATCH = "type_mismatch"
    DUPLICATE_IN_FEED = "duplicate_in_feed"
    OUTSIDE_PERIOD = "outside_period"
    """Informational: matched, but one side's time is outside the period."""

    @property
    def counts_as_mismatch(self) -> bool:
        return self is not DiffKind.OUTSIDE_PERIOD


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime
    """Exclusive."""

    def __contains__(self, at: datetime) -> bool:
        return self.start <= at < self.end


_DAY = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")


def period_of(day: str, days: int = 1) -> Period:
    """The UTC days from ``day`` (YYYY-MM-DD, years 2000 to 9000) on, 1 to 31 of them."""
    match = _DAY.fullmatch(day)
    if match is None or not 2000 <= int(match.group(1)) <= 9000:
        raise InvalidRequest("a date is YYYY-MM-DD, from 2000 to 9000", field="date")
    if not 1 <= days <= 31:
        raise InvalidRequest("days is 1 to 31", field="days")
    try:
        start = datetime(int(match.group(1)), int(match.group(2)), int(match.group(3)),
                         tzinfo=UTC)  # fmt: skip
    except ValueError:
        raise InvalidRequest(f"no such day: {day}", field="date") from None
    return Period(start, start + timedelta(days=days))


@dataclass(frozen=True, slots=True)
class Row:
    """One transaction (or round) as one side tells it. Amounts in minor units."""

    key: str
    """The provider's transaction id, or the round id for per-round feeds."""
    kind: Kind
    amount: int
    currency: str
    at: datetime
    status: Status
    player_id: str = ""
    round_id: str = ""
    win: int = 0
    """Per-round rows only: the round's wins."""
    line: int = 0
    """Feed rows: the line of the file (1 is the first data line)."""


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def pack_row(row: Row) -> tuple[Any, ...]:
    """A row as a plain tuple (time in whole microseconds since the epoch, exact)."""
    return (row.key, row.kind.value, row.amount, row.currency, (row.at - _EPOCH) // _MICROSECOND,
            row.status.value, row.player_id, row.round_id, row.win, row.line)  # fmt: skip


def unpack_row(t: tuple[Any, ...]) -> Row:
    return Row(t[0], Kind(t[1]), t[2], t[3], _EPOCH + t[4] * _MICROSECOND, Status(t[5]), t[6],
               t[7], t[8], t[9])  # fmt: skip


@dataclass(frozen=True, slots=True)
class Difference:
    kind: DiffKind
    key: str
    currency: str
    feed: Row | None
    ledger: Row | None
    detail: str = ""

    @property
    def amount_difference(self) -> int:
        """Feed minus ledger, in minor units, of the money the row moves: for a duplicate,
        all of the repeated line's money (what it adds to the feed); 0 when the two sides are
        not comparable (another currency, another type)."""
        if self.kind is DiffKind.DUPLICATE_IN_FEED:
            return _money(self.feed)
        if self.kind in (DiffKind.CURRENCY_MISMATCH, DiffKind.TYPE_MISMATCH):
            return 0
        return _money(self.feed) - _money(self.ledger)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value, "key": self.key, "currency": self.currency,
            "detail": self.detail,
            "feed": _row_dict(self.feed), "ledger": _row_dict(self.ledger),
        }  # fmt: skip


def _money(row: Row | None) -> int:
    if row is None or row.status is not Status.OK:
        return 0
    return row.amount - row.win if row.kind is Kind.ROUND else row.amount


def _row_dict(row: Row | None) -> dict[str, Any] | None:
    if row is None:
        return None
    out: dict[str, Any] = {
        "kind": row.kind.value, "amount": row.amount, "currency": row.currency,
        "at": row.at.isoformat(), "status": row.status.value, "player_id": row.player_id,
        "round_id": row.round_id,
    }  # fmt: skip
    if row.kind is Kind.ROUND:
        out["win"] = row.win
    if row.line:
        out["line"] = row.line
    return out


def compare(feed: Row, ledger: Row, period: Period) -> list[Difference]:
    """The differences between two rows of one key (none when they agree)."""
    found: list[Difference] = []

    def diff(kind: DiffKind, detail: str) -> None:
        found.append(Difference(kind, feed.key, feed.currency, feed, ledger, detail))

    if feed.kind is not ledger.kind:
        diff(DiffKind.TYPE_MISMATCH, f"feed says {feed.kind}, ledger {ledger.kind}")
        return found
    if feed.currency != ledger.currency:  # the ledger's currency: the player's wallet
        detail = f"feed {feed.currency}, ledger {ledger.currency}"
        found.append(
            Difference(DiffKind.CURRENCY_MISMATCH, feed.key, ledger.currency, feed, ledger, detail)
        )
        return found
    if feed.status is not ledger.status:
        diff(DiffKind.STATUS_MISMATCH, f"feed {feed.status}, ledger {ledger.status}")
    elif feed.status is Status.OK and (feed.amount, feed.win) != (ledger.amount, ledger.win):
        what = "stakes and wins differ" if feed.kind is Kind.ROUND else "amount differs"
        diff(DiffKind.AMOUNT_MISMATCH, what)
    if feed.at not in period or ledger.at not in period:
        diff(DiffKind.OUTSIDE_PERIOD, "matched across the period's edge")
    return found


@dataclass(frozen=True, slots=True)
class Pair:
    """What the merge gives for one key: its feed rows (several: a duplicate), its ledger
    row (if any)."""

    key: str
    feed: list[Row]
    ledger: Row | None


def merge(feed: Iterable[Row], ledger: Iterable[Row]) -> Iterator[Pair]:
    """Both inputs sorted by key (feed rows of one key by line); one Pair per key."""
    feed_it, ledger_it = iter(feed), iter(ledger)
    f = next(feed_it, None)
    g = next(ledger_it, None)
    while f is not None or g is not None:
        if g is None or (f is not None and f.key < g.key):
            assert f is not None  # noqa: S101 - the branch's condition
            key, group = f.key, []
            while f is not None and f.key == key:
                group.append(f)
                f = next(feed_it, None)
            yield Pair(key, group, None)
        elif f is None or g.key < f.key:
            yield Pair(g.key, [], g)
            g = next(ledger_it, None)
        else:
            key, group = f.key, []
            while f is not None and f.key == key:
                group.append(f)
                f = next(feed_it, None)
            yield Pair(key, group, g)
            g = next(ledger_it, None)


def classify(pair: Pair, period: Period) -> list[Difference]:
    """Every difference of one key. A ledger row outside the period with no feed row is
    another day's, not a difference."""
    if not pair.feed:
        assert pair.ledger is not None  # noqa: S101 - a pair has one side at least
        if pair.ledger.at not in period or pair.ledger.status is Status.FAILED:
            return []  # another day's; or refused, which moved no money
        return [Difference(DiffKind.MISSING_IN_FEED, pair.key, pair.ledger.currency, None,
                           pair.ledger, "in the ledger, not in the feed")]  # fmt: skip
    first, *again = pair.feed
    found = [
        Difference(DiffKind.DUPLICATE_IN_FEED, pair.key, row.currency, row, pair.ledger,
                   f"line {row.line} repeats line {first.line}")
        for row in again
    ]  # fmt: skip
    if pair.ledger is None:
        if first.status is not Status.FAILED:  # a refusal on both sides is agreement
            found.append(Difference(DiffKind.MISSING_IN_LEDGER, pair.key, first.currency,
                                    first, None, "in the feed, not in the ledger"))  # fmt: skip
        return found
    return found + compare(first, pair.ledger, period)


@dataclass
class Side:
    """Counts and sums of one side, one currency."""

    rows: int = 0
    bets: int = 0
    wins: int = 0
    rollbacks: int = 0
    credits: int = 0

    def add(self, row: Row) -> None:
        self.rows += 1
        if row.status is Status.FAILED:
            return
        if row.kind is Kind.ROUND:
            self.bets += row.amount
            self.wins += row.win
        elif row.kind is Kind.BET:
            self.bets += row.amount
            if row.status is Status.ROLLED_BACK:
                self.rollbacks += row.amount
        elif row.kind is Kind.WIN:
            self.wins += row.amount
        elif row.kind is Kind.ROLLBACK:
            self.rollbacks += row.amount
        else:
            self.credits += row.amount

    @property
    def net(self) -> int:
        """Bets - wins - rollbacks - credits: what the provider's games kept (its GGR)."""
        return self.bets - self.wins - self.rollbacks - self.credits

    def to_dict(self) -> dict[str, int]:
        return {"rows": self.rows, "bets": self.bets, "wins": self.wins,
                "rollbacks": self.rollbacks, "credits": self.credits, "net": self.net}  # fmt: skip


@dataclass
class CurrencyTotals:
    feed: Side = field(default_factory=Side)
    ledger: Side = field(default_factory=Side)
    differences: dict[str, int] = field(default_factory=dict)

    @property
    def mismatches(self) -> int:
        return sum(n for k, n in self.differences.items() if DiffKind(k).counts_as_mismatch)

    @property
    def mismatch_rate(self) -> float:
        """Mismatches over the keys seen on either side (the feed's rows and the ledger's
        rows it lacks): at most 1. A ratio for people, never money."""
        keys = self.feed.rows + self.differences.get(DiffKind.MISSING_IN_FEED.value, 0)
        return min(1.0, self.mismatches / max(keys, 1))

    @property
    def net_difference(self) -> int:
        return self.feed.net - self.ledger.net


@dataclass(frozen=True, slots=True)
class Thresholds:
    rate: float = 0.001
    """Mismatches over rows (0.1%)."""
    net_share: float = 0.001
    """|feed net - ledger net| over the ledger's bets (0.1%)."""


def breaches(
    totals: CurrencyTotals, thresholds: Thresholds, money: Callable[[int], str] = str
) -> list[str]:
    """Why this currency's result calls for an alert (empty: it does not); ``money``
    writes an amount of minor units for people (default: the integer)."""
    why = []
    if totals.mismatch_rate > thresholds.rate:
        why.append(f"mismatch rate {totals.mismatch_rate:.4%} over {thresholds.rate:.4%}")
    if abs(totals.net_difference) > thresholds.net_share * max(totals.ledger.bets, 1):
        why.append(f"net difference {money(totals.net_difference)} over "
                   f"{thresholds.net_share:.4%} of the ledger's bets")  # fmt: skip
    return why


class CaseStatus(enum.StrEnum):
    OPEN = "open"
    AUTO_RESOLVED = "auto_resolved"
    IN_REVIEW = "in_review"
    ESCALATED = "escalated"
    RESOLVED = "resolved"

    @property
    def is_closed(self) -> bool:
        return self in (CaseStatus.AUTO_RESOLVED, CaseStatus.RESOLVED)


CASE_MOVES: dict[CaseStatus, frozenset[CaseStatus]] = {
    CaseStatus.OPEN: frozenset(
        {CaseStatus.IN_REVIEW, CaseStatus.ESCALATED, CaseStatus.RESOLVED, CaseStatus.AUTO_RESOLVED}
    ),
    CaseStatus.IN_REVIEW: frozenset(
        {CaseStatus.ESCALATED, CaseStatus.RESOLVED, CaseStatus.AUTO_RESOLVED, CaseStatus.OPEN}
    ),
    CaseStatus.ESCALATED: frozenset(
        {CaseStatus.IN_REVIEW, CaseStatus.RESOLVED, CaseStatus.AUTO_RESOLVED}
    ),
    CaseStatus.AUTO_RESOLVED: frozenset({CaseStatus.OPEN}),
    CaseStatus.RESOLVED: frozenset({CaseStatus.OPEN}),
}
"""Allowed moves. A case auto_resolved whose difference comes back is reopened (``open``)
by the run; one a person resolved stays resolved (the run is noted in its history)."""

AUTO_RESOLVABLE = frozenset(
    {DiffKind.MISSING_IN_LEDGER, DiffKind.MISSING_IN_FEED, DiffKind.STATUS_MISMATCH}
)
"""Differences that can resolve themselves (a late event arrived, a rollback came): closed
as auto_resolved when a later run matches the key without a difference."""
