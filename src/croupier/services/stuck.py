"""Stuck money: what is reserved or in limbo, and since when (``croupier stuck``,
``GET /operator/v1/stuck``).

Four categories, each listed oldest first (at most ``limit`` items) with exact totals per
currency over everything stuck, listed or not:

- ``holds``: holds reserved and neither posted nor voided (status ``pending``). Each says
  when it expires; a pending hold past its expiry means the hold sweeper is not running
  (``croupier run`` releases them, ``croupier hold expire`` by hand). Amount: what the
  hold reserves (``amount - posted_amount``; nothing is posted while it is pending).
- ``rounds``: open rounds with a live bet and no win, opened longer ago than their
  provider's round timeout (its policy, or the default). Flagged ones (waiting for a
  person: ``croupier rounds resolve``) are included and say so. Amount: the round's stake
  (cash and bonus).
- ``sessions``: sessions in ``pending_settlement`` beyond their provider's threshold (as the
  timeout job counts them). Amount: the stakes of the open rounds the session bet in, each
  round whole (a round shared by two sessions counts in both).
- ``dead_webhooks``: webhook deliveries in the dead letters. With a parser, each body is
  read for its currency and money (a round: its bet; a rollback, jackpot or promotion: its
  amount); a body that does not parse has no currency and is counted under ``"?"`` with no
  amount.

Categories overlap: an old open round is also what keeps its session in
pending_settlement, so totals are per category and must not be added across categories.
The report is read in several statements, not one snapshot: money moving while it is read
can make a list and its total disagree by that much. Amounts are integers in minor units;
the edges (API, CLI) format them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from croupier.domain.errors import InvalidRequest
from croupier.domain.timeouts import TimeoutPolicy
from croupier.domain.webhook_events import CreditEvent, RollbackEvent, RoundEvent, WebhookEvent
from croupier.services.timeouts import TimeoutService

log = logging.getLogger("croupier.stuck")

UNKNOWN_CURRENCY = "?"
"""The totals' currency of dead deliveries whose body does not parse."""
CATEGORIES = ("holds", "rounds", "sessions", "dead_webhooks")
DEAD_PAGE = 200
"""Dead deliveries read (and parsed) per statement."""


@dataclass(frozen=True, slots=True)
class StuckHold:
    reference: str
    player_id: str
    currency: str
    amount: int
    """Reserved, minor units."""
    since: datetime
    """When it was reserved."""
    expires_at: datetime
    expired: bool = False
    """Past its expiry and still pending: the hold sweeper is not running."""


@dataclass(frozen=True, slots=True)
class StuckRound:
    provider: str
    round_ref: str
    player_id: str
    currency: str
    game_code: str
    amount: int
    """Staked (cash and bonus), minor units."""
    since: datetime
    """When it opened."""
    bets_live: int
    flagged: bool
    """Flagged by the timeout job: waiting for a person."""
    threshold_seconds: int = 0
    """The provider's round timeout it is beyond."""


@dataclass(frozen=True, slots=True)
class SessionMoney:
    currency: str
    game_code: str
    open_rounds: int
    staked: int


@dataclass(frozen=True, slots=True)
class StuckSessionItem:
    id: str
    provider: str
    player_id: str
    currency: str
    game_code: str
    amount: int
    """The stakes of the open rounds it bet in, minor units."""
    open_rounds: int
    since: datetime
    """When it entered pending_settlement (its last change)."""


@dataclass(frozen=True, slots=True)
class DeadDelivery:
    """A dead delivery as stored."""

    id: int
    provider: str
    delivery_id: str
    received_at: datetime
    attempts: int
    last_error: str | None
    body: bytes


@dataclass(frozen=True, slots=True)
class DeadWebhook:
    id: int
    provider: str
    delivery_id: str
    since: datetime
    """When it was received."""
    attempts: int
    last_error: str | None
    event_type: str | None = None
    """round, rollback, jackpot or promotion; None when the body does not parse."""
    event_id: str | None = None
    player_id: str | None = None
    currency: str | None = None
    amount: int = 0
    """The event's money, minor units (0 when unknown)."""


@dataclass(frozen=True, slots=True)
class Total:
    count: int
    amount: int
    """Minor units of the currency it is filed under."""


Totals = dict[str, dict[str, Total]]
"""Category, then currency."""


@dataclass
class StuckReport:
    as_of: datetime
    limit: int
    holds: list[StuckHold] = field(default_factory=list)
    rounds: list[StuckRound] = field(default_factory=list)
    sessions: list[StuckSessionItem] = field(default_factory=list)
    dead_webhooks: list[DeadWebhook] = field(default_factory=list)
    totals: Totals = field(default_factory=lambda: {c: {} for c in CATEGORIES})
    expired_holds: int = 0
    """Pending holds past their expiry (all of them, listed or not)."""

    def count(self, category: str) -> int:
        return sum(t.count for t in self.totals[category].values())

    def truncated(self, category: str) -> bool:
        """More are stuck than listed (``limit``)."""
        listed: Sequence[object] = getattr(self, category)
        return self.count(category) > len(listed)

    @property
    def empty(self) -> bool:
        return not any(self.totals[c] for c in CATEGORIES)


CurrencySums = Sequence[tuple[str, int, int]]
"""(currency, count, amount) rows."""


class StuckStore(Protocol):
    async def pending_holds(self, limit: int) -> Sequence[StuckHold]:
        """Pending holds, oldest first (``expired`` left False: the service sets it)."""

    async def pending_hold_totals(self, now: datetime) -> tuple[CurrencySums, int]:
        """Per currency: pending holds and what they reserve; and how many are past their
        expiry at ``now``."""

    async def stuck_rounds(
        self, *, before: datetime, providers: Sequence[str], others: bool, limit: int
    ) -> Sequence[StuckRound]:
        """Open rounds with a live bet and no win, opened before ``before``: of
        ``providers``, or, with ``others``, of every provider but those; oldest first."""

    async def stuck_round_totals(
        self, *, before: datetime, providers: Sequence[str], others: bool
    ) -> CurrencySums:
        """The same rounds, counted and their stakes summed per currency."""

    async def session_money(self, session_ids: Sequence[str]) -> Mapping[str, SessionMoney]:
        """Each session's currency and game, and its open rounds with live bets (how many,
        their stakes)."""

    async def stuck_session_totals(
        self, *, before: datetime, providers: Sequence[str], others: bool
    ) -> CurrencySums:
        """Sessions in pending_settlement unchanged since before ``before`` (of
        ``providers``, or of all others), counted and their open rounds' stakes summed per
        currency."""

    async def dead_deliveries(self, *, after_id: int, limit: int) -> Sequence[DeadDelivery]:
        """Dead deliveries with an id above ``after_id``, in id (arrival) order."""


class StuckService:
    """Reads what is stuck; moves nothing."""

    def __init__(
        self,
        store: StuckStore,
        timeouts: TimeoutService,
        parse: Callable[[bytes], WebhookEvent] | None,
        clock: Callable[[], datetime],
    ) -> None:
        self.store = store
        self.timeouts = timeouts
        self.parse = parse
        """The webhook event parser, to read dead deliveries' currency and money."""
        self.clock = clock

    async def report(self, *, limit: int = 200) -> StuckReport:
        """Everything stuck now: at most ``limit`` items per category, exact totals."""
        if limit < 1:
            raise InvalidRequest("limit must be at least 1", field="limit")
        now = self.clock()
        report = StuckReport(as_of=now, limit=limit)
        await self._holds(report, now)
        policies = await self.timeouts.policies()
        groups = self._groups(policies)
        await self._rounds(report, now, groups)
        await self._sessions(report, now, policies, groups)
        await self._dead_webhooks(report)
        return report

    def _groups(
        self, policies: Mapping[str, TimeoutPolicy]
    ) -> list[tuple[list[str], bool, TimeoutPolicy]]:
        """(providers, all others instead, policy), as the timeout job groups them: each
        provider with a policy of its own, then everyone else under the default."""
        groups = [([p], False, policy) for p, policy in sorted(policies.items())]
        groups.append((sorted(policies), True, self.timeouts.default))
        return groups

    async def _holds(self, report: StuckReport, now: datetime) -> None:
        report.holds = [
            replace(h, expired=h.expires_at <= now)
            for h in await self.store.pending_holds(report.limit)
        ]
        sums, report.expired_holds = await self.store.pending_hold_totals(now)
        _add(report.totals["holds"], sums)

    async def _rounds(
        self, report: StuckReport, now: datetime,
        groups: list[tuple[list[str], bool, TimeoutPolicy]],
    ) -> None:  # fmt: skip
        found: list[StuckRound] = []
        for providers, others, policy in groups:
            before = now - timedelta(seconds=policy.after_seconds)
            found += [
                replace(r, threshold_seconds=policy.after_seconds)
                for r in await self.store.stuck_rounds(
                    before=before, providers=providers, others=others, limit=report.limit
                )
            ]
            _add(report.totals["rounds"], await self.store.stuck_round_totals(
                before=before, providers=providers, others=others))  # fmt: skip
        found.sort(key=lambda r: r.since)
        report.rounds = found[: report.limit]

    async def _sessions(
        self, report: StuckReport, now: datetime, policies: Mapping[str, TimeoutPolicy],
        groups: list[tuple[list[str], bool, TimeoutPolicy]],
    ) -> None:  # fmt: skip
        found = sorted(
            await self.timeouts.stuck_sessions(policies, limit=report.limit),
            key=lambda s: s.since,
        )[: report.limit]
        money = await self.store.session_money([s.id for s in found])
        for s in found:
            m = money.get(s.id)
            if m is None:  # settled or gone between the two reads
                continue
            report.sessions.append(StuckSessionItem(
                id=s.id, provider=s.provider, player_id=s.player_id, currency=m.currency,
                game_code=m.game_code, amount=m.staked, open_rounds=m.open_rounds,
                since=s.since,
            ))  # fmt: skip
        for providers, others, policy in groups:
            _add(report.totals["sessions"], await self.store.stuck_session_totals(
                before=now - timedelta(seconds=policy.after_seconds),
                providers=providers, others=others,
            ))  # fmt: skip

    async def _dead_webhooks(self, report: StuckReport) -> None:
        """Every dead delivery is read (page by page) for the totals; the first ``limit``
        are listed."""
        totals = report.totals["dead_webhooks"]
        after = 0
        while True:
            page = await self.store.dead_deliveries(after_id=after, limit=DEAD_PAGE)
            for delivery in page:
                item = self._dead(delivery)
                if len(report.dead_webhooks) < report.limit:
                    report.dead_webhooks.append(item)
                currency = item.currency or UNKNOWN_CURRENCY
                was = totals.get(currency, Total(0, 0))
                totals[currency] = Total(was.count + 1, was.amount + item.amount)
            if len(page) < DEAD_PAGE:
                return
            after = page[-1].id

    def _dead(self, d: DeadDelivery) -> DeadWebhook:
        item = DeadWebhook(
            id=d.id, provider=d.provider, delivery_id=d.delivery_id, since=d.received_at,
            attempts=d.attempts, last_error=d.last_error,
        )  # fmt: skip
        if self.parse is None:
            return item
        try:
            event = self.parse(d.body)
        except Exception:  # noqa: BLE001 - a body that trips the parser is unparseable, never a failed report
            return item
        if isinstance(event, RoundEvent):
            kind, amount = "round", event.bet_amount
        elif isinstance(event, RollbackEvent):
            kind, amount = "rollback", event.amount
        elif isinstance(event, CreditEvent):
            kind, amount = event.reason.value, event.amount
        else:  # pragma: no cover - a new kind of event: its currency, no amount
            kind, amount = type(event).__name__, 0
        return replace(
            item, event_type=kind, event_id=event.event_id, player_id=event.player_id,
            currency=event.currency, amount=amount,
        )  # fmt: skip


def _add(totals: dict[str, Total], sums: CurrencySums) -> None:
    for currency, count, amount in sums:
        if not count:
            continue
        was = totals.get(currency, Total(0, 0))
        totals[currency] = Total(was.count + int(count), was.amount + int(amount))
