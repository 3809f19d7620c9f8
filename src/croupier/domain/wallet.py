"""Wallet commands, results and the pure rules of the money contract (WALLET_SEMANTICS.md).

Commands are canonical: every provider protocol maps its calls to these. The rules here
decide; the wallet service loads state, applies them and commits.
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass, field, fields
from typing import Any

from croupier.domain.errors import InsufficientFunds, InvalidRequest

MAX_REF_LENGTH = 128
"""Longest transaction, round, player or reference id accepted (bytes of UTF-8 text)."""

CASHIER_SCOPE = "cashier"
"""Idempotency scope of operator cashier moves; provider calls use ``provider:<code>``."""

MAX_SCOPE_LENGTH = 80
"""Longest idempotency scope (``provider:<code>``), in bytes: the width of its columns."""


class TxKind(enum.StrEnum):
    BET = "bet"
    WIN = "win"
    ROLLBACK = "rollback"
    END_ROUND = "end_round"
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    BONUS_GRANT = "bonus_grant"
    HOLD_RESERVE = "hold_reserve"
    TOMBSTONE = "tombstone"
    """Left by a rollback that arrived before its bet; the late bet is refused."""
    CREDIT = "credit"
    """A provider's payment that no bet of the player's earns: a jackpot, a promotion."""
    ADJUSTMENT = "adjustment"
    """A correction of reconciliation: money between the player and the provider's account."""


class TxStatus(enum.StrEnum):
    OK = "ok"
    REFUSED = "refused"
    TOMBSTONE = "tombstone"


class StakeOrder(enum.StrEnum):
    CASH_FIRST = "cash_first"
    BONUS_FIRST = "bonus_first"


class WinSplit(enum.StrEnum):
    PROPORTIONAL = "proportional"
    """A win returns to cash and bonus in the proportion the round's stakes took."""
    CASH = "cash"
    """Every win is cash."""


@dataclass(frozen=True, slots=True)
class BonusPolicy:
    stake_order: StakeOrder = StakeOrder.CASH_FIRST
    win_split: WinSplit = WinSplit.PROPORTIONAL


def provider_scope(provider: str) -> str:
    return f"provider:{provider}"


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(cls: type) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))
    return names


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_ref(name: str, value: object) -> str:
    """Ids from the wire: non-empty text without control characters, bounded in length."""
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"{name} must be a non-empty string", field=name)
    try:
        size = len(value.encode())
    except UnicodeEncodeError:  # a lone surrogate: valid in JSON, not text
        raise InvalidRequest(f"{name} is not valid Unicode text", field=name) from None
    if size > MAX_REF_LENGTH:
        raise InvalidRequest(f"{name} is longer than {MAX_REF_LENGTH} bytes", field=name)
    if _CONTROL.search(value):
        raise InvalidRequest(f"{name} has control characters", field=name)
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    """Fields every money command shares; ``reference`` is its idempotency key."""

    player_id: str
    amount: int
    currency: str

    @property
    def kind(self) -> TxKind:
        raise NotImplementedError

    @property
    def scope(self) -> str:
        return CASHIER_SCOPE

    @property
    def reference(self) -> str:
        raise NotImplementedError

    def fingerprint(self) -> str:
        """A digest of everything that must match for a repeat to count as a replay."""
        parts = [f"kind={self.kind}"]
        parts += [f"{name}={getattr(self, name)!r}" for name in _field_names(type(self))]
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderCommand(Command):
    provider: str
    tx_id: str

    @property
    def scope(self) -> str:
        return provider_scope(self.provider)

    @property
    def reference(self) -> str:
        return self.tx_id


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundCommand(ProviderCommand):
    round_id: str
    game_code: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Bet(RoundCommand):
    @property
    def kind(self) -> TxKind:
        return TxKind.BET


@dataclass(frozen=True, slots=True, kw_only=True)
class Win(RoundCommand):
    bet_tx_id: str | None = None
    """The bet this win pays, where the protocol names one; else any live bet of the round."""
    close_round: bool = False

    @property
    def kind(self) -> TxKind:
        return TxKind.WIN


@dataclass(frozen=True, slots=True, kw_only=True)
class Rollback(ProviderCommand):
    """Reverses one earlier bet, named by ``bet_tx_id``; ``amount`` is what the provider
    believes the bet was (0 where the protocol does not say)."""

    bet_tx_id: str
    round_id: str | None = None
    game_code: str | None = None
    """Where the protocol gives it, it must be the game of the bet's round."""

    @property
    def kind(self) -> TxKind:
        return TxKind.ROLLBACK


@dataclass(frozen=True, slots=True, kw_only=True)
class EndRound(RoundCommand):
    """Closes a round with no further money; ``amount`` is always 0."""

    amount: int = 0

    @property
    def kind(self) -> TxKind:
        return TxKind.END_ROUND


class CreditReason(enum.StrEnum):
    JACKPOT = "jackpot"
    PROMOTION = "promotion"


@dataclass(frozen=True, slots=True, kw_only=True)
class Credit(ProviderCommand):
    """A provider pays the player money no bet of this round earns: a jackpot (from the
    provider's pool, usually naming the round that triggered it) or a promotion (a
    tournament prize, a prize drop: no round). The provider funds it, as it funds wins."""

    reason: CreditReason
    source: str
    """The jackpot's or the campaign's id, as the provider names it."""
    round_id: str | None = None
    game_code: str | None = None
    to_bonus: bool = False
    """A promotion may pay bonus money (with the operator's wagering terms); a jackpot is cash."""

    @property
    def kind(self) -> TxKind:
        return TxKind.CREDIT


@dataclass(frozen=True, slots=True, kw_only=True)
class Adjustment(ProviderCommand):
    """A correction found by reconciliation: ``amount`` moves from the provider's clearing
    account to the player's cash (``credit``) or back (a debit, never below zero). A new
    entry of its own, never an edit of history."""

    credit: bool
    reason: str

    @property
    def kind(self) -> TxKind:
        return TxKind.ADJUSTMENT


@dataclass(frozen=True, slots=True, kw_only=True)
class CashierCommand(Command):
    cashier_ref: str

    @property
    def reference(self) -> str:
        return self.cashier_ref


@dataclass(frozen=True, slots=True, kw_only=True)
class Deposit(CashierCommand):
    @property
    def kind(self) -> TxKind:
        return TxKind.DEPOSIT


@dataclass(frozen=True, slots=True, kw_only=True)
class Withdrawal(CashierCommand):
    @property
    def kind(self) -> TxKind:
        return TxKind.WITHDRAWAL


@dataclass(frozen=True, slots=True, kw_only=True)
class BonusGrant(CashierCommand):
    @property
    def kind(self) -> TxKind:
        return TxKind.BONUS_GRANT


@dataclass(frozen=True, slots=True, kw_only=True)
class ReserveHold(CashierCommand):
    """Reserve money (cash to held) for a later post or void; ``cashier_ref`` names the hold."""

    expires_in_seconds: int

    @property
    def kind(self) -> TxKind:
        return TxKind.HOLD_RESERVE


@dataclass(frozen=True, slots=True)
class Balances:
    currency: str
    cash: int
    bonus: int
    held: int = 0

    @property
    def playable(self) -> int:
        return self.cash + self.bonus


@dataclass(frozen=True, slots=True)
class HoldResult:
    """What a hold post or void answers; stored on the hold and returned again on replay."""

    reference: str
    status: str
    amount: int
    posted_amount: int
    balances: Balances
    replay: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "status": self.status,
            "amount": self.amount,
            "posted_amount": self.posted_amount,
            "balances": _balances_dict(self.balances),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, replay: bool) -> HoldResult:
        values = dict(data)
        values["balances"] = Balances(**values["balances"])
        return cls(**values, replay=replay)


@dataclass(frozen=True, slots=True)
class WalletResult:
    """What a money call answers; stored with the transaction and returned again on replay."""

    transaction_id: int
    """Croupier's own id for the transaction (the provider gets it as its reference)."""
    kind: TxKind
    reference: str
    balances: Balances
    cash_amount: int = 0
    """The part of the amount that moved in or out of cash."""
    bonus_amount: int = 0
    round_closed: bool = False
    outcome: str = "applied"
    """``applied``; for a rollback also ``tombstone`` (its bet never arrived) or
    ``nothing_to_reverse`` (the bet was refused); for end round ``already_closed``."""
    replay: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The stored form: without Croupier's id (the row holds it) and the replay flag.

        Written out field by field: ``dataclasses.asdict`` deep-copies recursively and cost
        a tenth of a bet's CPU (measured in bench/)."""
        return {
            "kind": self.kind.value,
            "reference": self.reference,
            "balances": _balances_dict(self.balances),
            "cash_amount": self.cash_amount,
            "bonus_amount": self.bonus_amount,
            "round_closed": self.round_closed,
            "outcome": self.outcome,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, transaction_id: int, replay: bool) -> WalletResult:
        values = dict(data)
        values["kind"] = TxKind(values["kind"])
        values["balances"] = Balances(**values["balances"])
        return cls(transaction_id=transaction_id, **values, replay=replay)


def _balances_dict(balances: Balances) -> dict[str, Any]:
    return {
        "currency": balances.currency,
        "cash": balances.cash,
        "bonus": balances.bonus,
        "held": balances.held,
    }


def split_stake(amount: int, balances: Balances, policy: BonusPolicy) -> tuple[int, int]:
    """How much of a stake comes from cash and from bonus, or InsufficientFunds."""
    if amount > balances.playable:
        raise InsufficientFunds(
            f"stake of {amount} minor units exceeds the playable balance of {balances.playable}",
            currency=balances.currency,
            cash=balances.cash,
            bonus=balances.bonus,
        )
    if policy.stake_order is StakeOrder.CASH_FIRST:
        cash = min(amount, balances.cash)
        return cash, amount - cash
    bonus = min(amount, balances.bonus)
    return amount - bonus, bonus


def split_win(
    amount: int, *, cash_staked: int, bonus_staked: int, policy: BonusPolicy
) -> tuple[int, int]:
    """How much of a win goes to cash and to bonus.

    Proportional to the live stakes of the round; the remainder of the integer division goes
    to bonus, so rounding never makes bonus money withdrawable.
    """
    staked = cash_staked + bonus_staked
    if policy.win_split is WinSplit.CASH or staked == 0 or bonus_staked == 0:
        return amount, 0
    cash = amount * cash_staked // staked
    return cash, amount - cash
