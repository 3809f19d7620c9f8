"""Responsible-gaming limits and what counts against them, per player: pure rules.

Limits: deposit, loss (net: stakes less wins and refunds) and wager (stakes), each per day,
week and month; session time (minutes a game session may take bets); a reality-check
interval (minutes). Periods are calendar periods in UTC: the day from 00:00, the ISO week
from Monday, the month from its first day.

A decrease (or a new limit) takes effect at once; an increase or a removal only after a
cooling period (24 hours by default, as UK and Malta licensing conditions require), and is
pending until then. Limits refuse bets (and deposits, for deposit limits); never a win or a
rollback. A bet is refused when its stake, lost in full, would take the period's loss or
wager past the limit: so a burst of bets cannot pass a limit by anything.

The state of a player (limits, pending changes, usage of the current periods, the last round,
the next reality check, the bet-rate window and any cool-off or self-exclusion in force) is
one value, stored as JSON in one row that every money call reads with the wallet's lock and
writes in the same transaction.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from croupier.domain.errors import (
    CoolingOff,
    DepositLimitReached,
    InvalidRequest,
    LossLimitReached,
    RoundTooSoon,
    SelfExcluded,
    SessionTimeLimitReached,
    WagerLimitReached,
)

DEFAULT_COOLING = timedelta(hours=24)


class Period(enum.StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"

    def start(self, day: date) -> date:
        if self is Period.DAY:
            return day
        if self is Period.WEEK:
            return day - timedelta(days=day.weekday())
        return day.replace(day=1)


class Metric(enum.StrEnum):
    DEPOSIT = "deposit"
    LOSS = "loss"
    WAGER = "wager"


MONEY_LIMITS = tuple(f"{m.value}_{p.value}" for m in Metric for p in Period)
"""``deposit_day`` ... ``wager_month``: amounts in the wallet's minor units."""
TIME_LIMITS = ("session_minutes", "reality_check_minutes")
LIMIT_KINDS = (*MONEY_LIMITS, *TIME_LIMITS)


@dataclass(frozen=True, slots=True)
class Pending:
    """A limit's increase or removal (``value`` None), waiting for its cooling period."""

    value: int | None
    effective_at: datetime


@dataclass(frozen=True, slots=True)
class LimitState:
    limits: dict[str, int] = field(default_factory=dict)
    pending: dict[str, Pending] = field(default_factory=dict)
    anchors: dict[str, str] = field(default_factory=dict)
    """Period -> ISO date of the period the usage counts in."""
    usage: dict[str, int] = field(default_factory=dict)
    """``loss_day`` ... -> amount so far in the anchored period (loss may be negative)."""
    last_round_at: datetime | None = None
    reality_next_at: datetime | None = None
    minute_start: datetime | None = None
    """Start of the current one-minute window of the bet-rate signal."""
    minute_bets: int = 0
    self_excluded_until: datetime | None = None
    self_excluded_forever: bool = False
    cool_off_until: datetime | None = None
    version: int = 0
    """The stored row's version (0: no row yet)."""

    # -- time -------------------------------------------------------------------------

    def at(self, now: datetime) -> LimitState:
        """Pending changes that are due applied, and usage of past periods dropped."""
        limits, pending = dict(self.limits), {}
        for kind, change in self.pending.items():
            if change.effective_at <= now:
                if change.value is None:
                    limits.pop(kind, None)
                else:
                    limits[kind] = change.value
            else:
                pending[kind] = change
        today = now.date()
        anchors, usage = dict(self.anchors), dict(self.usage)
        for period in Period:
            start = period.start(today).isoformat()
            # Forward only: a replica whose clock is a little behind never resets a period.
            if anchors.get(period.value) is None or anchors[period.value] < start:
                anchors[period.value] = start
                for metric in Metric:
                    usage.pop(f"{metric.value}_{period.value}", None)
        return replace(self, limits=limits, pending=pending, anchors=anchors, usage=usage)

    # -- changes by the operator ----------------------------------------------------------

    def set_limit(
        self, kind: str, value: int | None, now: datetime, cooling: timedelta = DEFAULT_COOLING
    ) -> tuple[LimitState, datetime]:
        """A new value (None: remove). Stricter takes effect now; looser after ``cooling``.
        Returns the state and when the change takes effect."""
        if kind not in LIMIT_KINDS:
            raise InvalidRequest(f"unknown limit {kind!r}; known: {', '.join(LIMIT_KINDS)}")
        if value is not None and value <= 0:
            raise InvalidRequest("a limit is a positive amount; send null to remove it")
        state = self.at(now)
        current = state.limits.get(kind)
        pending = dict(state.pending)
        limits = dict(state.limits)
        if value is None and current is None:  # nothing to remove: a pending rise goes too
            pending.pop(kind, None)
            return replace(state, pending=pending), now
        stricter = value is not None and (current is None or value <= current)
        if not stricter:
            pending[kind] = Pending(value, now + cooling)
            return replace(state, pending=pending), now + cooling
        limits[kind] = value  # type: ignore[assignment]
        pending.pop(kind, None)  # a decrease also cancels a pending increase
        state = replace(state, limits=limits, pending=pending)
        if kind == "reality_check_minutes" and state.reality_next_at is not None:
            # A shorter interval holds from now: the next check is due no later than it says.
            sooner = now + timedelta(minutes=value)  # type: ignore[arg-type]
            state = replace(state, reality_next_at=min(state.reality_next_at, sooner))
        return state, now

    # -- checks and counts of money calls -------------------------------------------------

    def _over(self, metric: Metric, amount: int) -> tuple[str, int, int] | None:
        for period in Period:
            kind = f"{metric.value}_{period.value}"
            limit = self.limits.get(kind)
            used = self.usage.get(kind, 0)
            if limit is not None and used + amount > limit:
                return kind, limit, used
        return None

    def _add(self, metric: Metric, amount: int) -> dict[str, int]:
        usage = dict(self.usage)
        for period in Period:
            kind = f"{metric.value}_{period.value}"
            usage[kind] = usage.get(kind, 0) + amount
        return usage

    def exclude(self, kind: str, until: datetime | None) -> LimitState:
        """A cool-off or self-exclusion (``until`` None: indefinite, self-exclusion only):
        it only ever extends what is in force."""
        if kind == "self_exclusion":
            if until is None:
                return replace(self, self_excluded_forever=True)
            current = self.self_excluded_until
            return replace(self, self_excluded_until=max(current, until) if current else until)
        current = self.cool_off_until
        return replace(self, cool_off_until=max(current, until) if current and until else until)

    def check_excluded(self, now: datetime) -> None:
        """Refuse play during a self-exclusion, then a cool-off."""
        until = self.self_excluded_until
        if self.self_excluded_forever or (until is not None and now < until):
            end = None if self.self_excluded_forever else until
            raise SelfExcluded(
                "player is in a self-exclusion "
                + (f"until {end.isoformat(timespec='seconds')}" if end else "(indefinite)"),
                rule="protection.self_exclusion",
                until=end.isoformat(timespec="seconds") if end else None,
            )
        if self.cool_off_until is not None and now < self.cool_off_until:
            end = self.cool_off_until
            raise CoolingOff(
                f"player is in a cool-off until {end.isoformat(timespec='seconds')}",
                rule="protection.cool_off",
                until=end.isoformat(timespec="seconds"),
            )

    def check_bet(
        self,
        stake: int,
        now: datetime,
        *,
        new_round: bool,
        session_started: datetime | None = None,
        min_round_ms: int | None = None,
        pace_rule: str | None = None,
    ) -> None:
        """Refuse a bet of an excluded player or over a limit (the state must be
        ``at(now)``)."""
        self.check_excluded(now)
        minutes = self.limits.get("session_minutes")
        if (
            minutes is not None
            and session_started is not None
            and now - session_started >= timedelta(minutes=minutes)
        ):
            raise SessionTimeLimitReached(
                f"the session has lasted {minutes} minutes, the player's limit",
                limit="session_minutes", limit_value=minutes,
            )  # fmt: skip
        if new_round and min_round_ms is not None and self.last_round_at is not None:
            waited = now - self.last_round_at
            if waited < timedelta(milliseconds=min_round_ms):
                raise RoundTooSoon(
                    f"a new round {int(waited.total_seconds() * 1000)} ms after the last one; "
                    f"{min_round_ms} ms at least ({pace_rule})",
                    limit="min_round", rule=pace_rule, min_round_ms=min_round_ms,
                )  # fmt: skip
        for metric, error in ((Metric.LOSS, LossLimitReached), (Metric.WAGER, WagerLimitReached)):
            over = self._over(metric, stake)
            if over is not None:
                kind, limit, used = over
                raise error(
                    f"a stake of {stake} would take {kind} to {used + stake}, over the "
                    f"limit of {limit}",
                    limit=kind, limit_amount=limit, used=used,
                )  # fmt: skip

    def after_bet(self, stake: int, now: datetime, *, new_round: bool) -> tuple[LimitState, bool]:
        """The state after an accepted bet, and whether a reality check is now due."""
        wagered = replace(self, usage=self._add(Metric.WAGER, stake))
        state = replace(wagered, usage=wagered._add(Metric.LOSS, stake))
        if new_round:
            state = replace(state, last_round_at=now)
        if self.minute_start is None or now - self.minute_start >= timedelta(minutes=1):
            state = replace(state, minute_start=now, minute_bets=1)
        else:
            state = replace(state, minute_bets=self.minute_bets + 1)
        return state.reality(now)

    def reality(self, now: datetime) -> tuple[LimitState, bool]:
        minutes = self.limits.get("reality_check_minutes")
        if minutes is None:
            return replace(self, reality_next_at=None), False
        every = timedelta(minutes=minutes)
        if self.reality_next_at is None:
            return replace(self, reality_next_at=now + every), False
        if now >= self.reality_next_at:
            return replace(self, reality_next_at=now + every), True
        return self, False

    def after_credit(self, amount: int) -> LimitState:
        """A win or a refund of a stake: the net loss goes down (wager does not)."""
        return replace(self, usage=self._add(Metric.LOSS, -amount))

    def after_refund(self, stake: int, bet_at: datetime | None = None) -> LimitState:
        """A rolled-back bet: it counts neither as wagered nor as lost, in the periods that
        counted it (``bet_at``); a period that began after the bet never counted it."""
        usage = dict(self.usage)
        for period in Period:
            if bet_at is not None and (
                period.start(bet_at.date()).isoformat() != self.anchors.get(period.value)
            ):
                continue
            for metric in (Metric.WAGER, Metric.LOSS):
                kind = f"{metric.value}_{period.value}"
                usage[kind] = usage.get(kind, 0) - stake
        return replace(self, usage=usage)

    def check_deposit(self, amount: int, now: datetime | None = None) -> None:
        if now is not None:
            self.check_excluded(now)
        over = self._over(Metric.DEPOSIT, amount)
        if over is not None:
            kind, limit, used = over
            raise DepositLimitReached(
                f"a deposit of {amount} would take {kind} to {used + amount}, over the "
                f"limit of {limit}",
                limit=kind, limit_amount=limit, used=used,
            )  # fmt: skip

    def after_deposit(self, amount: int) -> LimitState:
        return replace(self, usage=self._add(Metric.DEPOSIT, amount))

    # -- storage ------------------------------------------------------------------------

    def to_json(self) -> str:
        return json.dumps(
            {
                "limits": self.limits,
                "pending": {
                    k: {"value": p.value, "at": p.effective_at.isoformat()}
                    for k, p in self.pending.items()
                },
                "anchors": self.anchors,
                "usage": {k: v for k, v in self.usage.items() if v},
                "last_round_at": self.last_round_at.isoformat() if self.last_round_at else None,
                "reality_next_at": (
                    self.reality_next_at.isoformat() if self.reality_next_at else None
                ),
                "minute_start": self.minute_start.isoformat() if self.minute_start else None,
                "minute_bets": self.minute_bets,
                "self_excluded_until": (
                    self.self_excluded_until.isoformat() if self.self_excluded_until else None
                ),
                "self_excluded_forever": self.self_excluded_forever,
                "cool_off_until": self.cool_off_until.isoformat() if self.cool_off_until else None,
            },
            separators=(",", ":"),
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str, version: int) -> LimitState:
        data: dict[str, Any] = json.loads(text)
        moment = datetime.fromisoformat
        return cls(
            limits={k: int(v) for k, v in data.get("limits", {}).items()},
            pending={
                k: Pending(None if p["value"] is None else int(p["value"]), moment(p["at"]))
                for k, p in data.get("pending", {}).items()
            },
            anchors=dict(data.get("anchors", {})),
            usage={k: int(v) for k, v in data.get("usage", {}).items()},
            last_round_at=moment(data["last_round_at"]) if data.get("last_round_at") else None,
            reality_next_at=(
                moment(data["reality_next_at"]) if data.get("reality_next_at") else None
            ),
            minute_start=moment(data["minute_start"]) if data.get("minute_start") else None,
            minute_bets=int(data.get("minute_bets", 0)),
            self_excluded_until=(
                moment(data["self_excluded_until"]) if data.get("self_excluded_until") else None
            ),
            self_excluded_forever=bool(data.get("self_excluded_forever", False)),
            cool_off_until=moment(data["cool_off_until"]) if data.get("cool_off_until") else None,
            version=version,
        )
