"""Double-entry ledger: typed accounts, postings and journal entries that sum to zero.

An account's balance is the sum of its postings. Player accounts hold money owed to the
player, so their balance is positive and has a floor of zero; house accounts (operator cash,
provider clearing, bonus funding) are the other side and may be negative. Entries are
append-only: a mistake is corrected by a reversing entry, never by an edit.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from dataclasses import dataclass

from croupier.domain.errors import UnbalancedEntry


class AccountType(enum.StrEnum):
    PLAYER_CASH = "player_cash"
    """Withdrawable money of a player."""
    PLAYER_BONUS = "player_bonus"
    """Bonus money of a player: stakeable, not withdrawable until wagering completes."""
    PLAYER_HELD = "player_held"
    """Money reserved by a pending hold (a withdrawal in flight); not available to bet."""
    OPERATOR_CASH = "operator_cash"
    """The operator's side of deposits and withdrawals, per currency."""
    PROVIDER_CLEARING = "provider_clearing"
    """Stakes and wins in play with one provider, per currency: its balance is the GGR."""
    BONUS_FUNDING = "bonus_funding"
    """The operator's side of bonus grants, per currency."""

    @property
    def is_player(self) -> bool:
        return self in PLAYER_ACCOUNT_TYPES


PLAYER_ACCOUNT_TYPES = frozenset(
    {AccountType.PLAYER_CASH, AccountType.PLAYER_BONUS, AccountType.PLAYER_HELD}
)
"""Player accounts keep a cached balance updated in the posting transaction, floor zero.

House accounts keep none: updating one row per bet would cap the casino at that row's lock
rate. Their balance is the sum of their postings.
"""

OPERATOR_OWNER = "operator"
"""Owner of operator-wide house accounts (operator cash, bonus funding)."""


class EntryKind(enum.StrEnum):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    BONUS_GRANT = "bonus_grant"
    BET = "bet"
    WIN = "win"
    ROLLBACK = "rollback"
    CREDIT = "credit"
    ADJUSTMENT = "adjustment"
    HOLD_RESERVE = "hold_reserve"
    HOLD_POST = "hold_post"
    HOLD_VOID = "hold_void"
    HOLD_EXPIRE = "hold_expire"


@dataclass(frozen=True, slots=True)
class Posting:
    account_id: int
    currency: str
    amount: int
    """Signed minor units: positive raises the account's balance, negative lowers it."""


@dataclass(frozen=True, slots=True)
class JournalEntry:
    kind: EntryKind
    postings: tuple[Posting, ...]
    reverses_entry_id: int | None = None

    def __post_init__(self) -> None:
        if len(self.postings) < 2:
            raise UnbalancedEntry(f"{self.kind} entry needs at least two postings")
        sums: dict[str, int] = defaultdict(int)
        for posting in self.postings:
            if posting.amount == 0:
                raise UnbalancedEntry(f"{self.kind} entry has a zero posting")
            sums[posting.currency] += posting.amount
        off = {cur: total for cur, total in sums.items() if total}
        if off:
            raise UnbalancedEntry(f"{self.kind} entry does not balance: {off}")


def transfer(
    kind: EntryKind,
    *,
    currency: str,
    debits: dict[int, int],
    credits: dict[int, int],  # noqa: A002 - the accounting word, not the builtin
    reverses_entry_id: int | None = None,
) -> JournalEntry | None:
    """An entry moving money out of ``debits`` accounts into ``credits`` accounts.

    Amounts are non-negative; zero legs are dropped. Returns None when nothing moves (a zero
    stake is a legal bet, and writes no entry).
    """
    postings = [Posting(acc, currency, -amt) for acc, amt in debits.items() if amt] + [
        Posting(acc, currency, amt) for acc, amt in credits.items() if amt
    ]
    if not postings:
        return None
    return JournalEntry(kind, tuple(postings), reverses_entry_id)
