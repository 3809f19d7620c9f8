"""Reconciliation runs and their cases.

``ReconService.run`` reads a provider's feed (through a FeedSource: the file adapter), reads
the ledger's rows of the period (and a margin either side, for late arrivals), sorts both by
key in bounded memory (a Sorter: the spill adapter), merges and classifies every difference
(domain/recon.py), and totals each currency. Unless it is a dry run, the run, its
differences and a case per difference are stored, cases whose difference went away are
auto-resolved, and an alert is raised when a currency passes the thresholds. The report
depends only on the inputs: the same feed, mapping and ledger give the same report (its
``report_sha256`` says so).

Cases are worked by people (``move``) and corrected through the wallet (``correct``: an
adjustment entry, never an edit of history), every step kept in the case's history.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol, TypeVar

from croupier.domain.errors import CaseNotFound, CaseTransition, FeedInvalid, InvalidRequest
from croupier.domain.money import CurrencyTable, format_decimal
from croupier.domain.recon import (
    AUTO_RESOLVABLE,
    CASE_MOVES,
    CaseStatus,
    CurrencyTotals,
    Difference,
    DiffKind,
    Pair,
    Period,
    Row,
    Status,
    Thresholds,
    breaches,
    classify,
    merge,
)
from croupier.domain.signals import Alert, AlertKind
from croupier.domain.wallet import Adjustment, check_ref
from croupier.services.ports import AlertSink
from croupier.services.wallet import WalletService

LOOKUP_BATCH = 500
T = TypeVar("T")
PAGE = 5000


class FeedSource(Protocol):
    """The feed's rows (in file order), then, once read: its malformed lines and digest."""

    def rows(self) -> Iterator[Row]: ...

    @property
    def error_count(self) -> int: ...

    @property
    def error_lines(self) -> list[dict[str, Any]]: ...

    @property
    def digest(self) -> str: ...

    @property
    def ignored(self) -> int: ...


class RowSpill(Protocol):
    """Rows added one by one, given back sorted by (key, line) in bounded memory."""

    def add(self, item: Row) -> None: ...

    def sorted(self) -> Iterator[Row]: ...

    def close(self) -> None:
        """Drop what was added, releasing any temporary file."""


@dataclass(frozen=True, slots=True)
class Case:
    id: int
    provider: str
    kind: DiffKind
    key: str
    currency: str
    player_id: str
    status: CaseStatus
    amount_difference: int
    first_run: int
    last_run: int
    opened_at: datetime
    updated_at: datetime
    corrected: bool = False
    """An adjustment was made for it (its history has the adjustment's id)."""


@dataclass(frozen=True, slots=True)
class CaseEvent:
    case_id: int
    at: datetime
    actor: str
    from_status: CaseStatus | None
    to_status: CaseStatus
    note: str
    run_id: int | None = None
    tx_ref: str | None = None


class ReconStore(Protocol):
    async def ledger_bounds(
        self, provider: str, start: datetime, end: datetime, *, rounds: bool
    ) -> tuple[int, int] | None:
        """The first and last row ids of [start, end) (None: no row)."""

    async def ledger_page(
        self, provider: str, start: datetime, end: datetime, *, rounds: bool, after: int,
        upto: int, limit: int,
    ) -> Sequence[tuple[int, Row]]:  # fmt: skip
        """The ledger's rows of the provider created (rounds: opened) in [start, end), by
        id in (after, upto]: bets (status rolled_back once a rollback names them; failed
        when refused or left by a tombstone), wins, rollbacks (the amount refunded),
        credits; or rounds (stakes and wins)."""

    async def ledger_lookup(
        self, provider: str, keys: Sequence[str], *, rounds: bool
    ) -> Sequence[Row]: ...

    async def save_run(
        self, run: dict[str, Any], differences: Sequence[Difference], now: datetime
    ) -> int:
        """The run and its differences, in one transaction: all stored, or none."""

    async def run_report(self, run_id: int) -> dict[str, Any] | None: ...

    async def runs(self, provider: str | None, limit: int) -> Sequence[dict[str, Any]]: ...

    async def live_cases(self, provider: str) -> dict[tuple[str, str], Case]:
        """The provider's cases not closed, by (kind, key)."""

    async def corrected_cases(self, provider: str) -> dict[str, Case]:
        """Resolved missing-in-ledger cases that a correction settled, by key: if their
        original transaction turns up, the player may be paid twice."""

    async def matched_elsewhere(self, provider: str, keys: Sequence[str]) -> set[str]:
        """Of ``keys``, those a stored run matched across its period's edge (outside_period)."""

    async def find_case(self, provider: str, kind: str, key: str) -> Case | None: ...

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
        """A new open case, its opening event by ``actor`` (who ran the run); None when
        the case exists already (another run opened it meanwhile)."""

    async def touch_case(self, case_id: int, run_id: int, amount: int, now: datetime) -> None: ...

    async def move_case(self, case_id: int, expected: CaseStatus, event: CaseEvent) -> bool:
        """Move a case from ``expected`` (compare-and-set) and append the event."""

    async def add_case_event(self, event: CaseEvent) -> None: ...

    async def case(self, case_id: int) -> Case | None: ...

    async def case_events(self, case_id: int) -> Sequence[CaseEvent]: ...

    async def cases(
        self, *, provider: str | None, status: str | None, limit: int
    ) -> Sequence[Case]: ...

    async def mapping(self, provider: str) -> dict[str, Any] | None: ...

    async def set_mapping(self, provider: str, mapping: dict[str, Any], now: datetime) -> None: ...


@dataclass
class _Matched:
    totals: dict[str, CurrencyTotals]
    differences: list[Difference]
    cleared: list[Case]
    reopened: list[Case]


@dataclass
class RunResult:
    report: dict[str, Any]
    run_id: int | None
    differences: list[Difference]
    alerts: list[str] = field(default_factory=list)


Progress = Callable[[str, int], None]


def _quiet(stage: str, count: int) -> None:  # noqa: ARG001 - the no-op Progress
    return


class ReconService:
    def __init__(
        self,
        store: ReconStore,
        wallet: WalletService,
        *,
        spill: Callable[[], RowSpill],
        clock: Callable[[], datetime],
        alerts: AlertSink | None = None,
        thresholds: Thresholds | None = None,
        margin: timedelta = timedelta(hours=24),
    ) -> None:
        self.store = store
        self.wallet = wallet
        self.spill = spill
        self.clock = clock
        self.alerts = alerts
        self.thresholds = thresholds or Thresholds()
        self.margin = margin
        """Ledger rows this far outside the period are read too: late arrivals match."""

    @property
    def currencies(self) -> CurrencyTable:
        return self.wallet.currencies

    async def run(
        self,
        provider: str,
        period: Period,
        feed: FeedSource,
        *,
        granularity: str,
        rollbacks: str,
        feed_name: str,
        mapping_sha256: str,
        dry_run: bool = False,
        actor: str = "cli",
        progress: Progress = _quiet,
    ) -> RunResult:
        """Reconcile one period of one provider; FeedInvalid (nothing stored) when a line
        of the feed is malformed."""
        rounds = granularity == "round"
        # The feed is read whole (sorted, spilled) before anything else: a malformed line
        # refuses it before a single row is used.
        feed_spill = self.spill()
        for row in _counted(feed.rows(), "feed", progress):
            feed_spill.add(_style(row, rollbacks))
        if feed.error_count:
            feed_spill.close()
            raise FeedInvalid(
                f"the feed has {feed.error_count} malformed lines; nothing was used",
                lines=feed.error_lines, count=feed.error_count,
            )  # fmt: skip
        matched = await self._match(provider, period, feed_spill, rounds=rounds,
                                    rollbacks=rollbacks, progress=progress)  # fmt: skip
        totals, differences = matched.totals, matched.differences

        def side(currency: str) -> CurrencyTotals:
            return totals.setdefault(currency, CurrencyTotals())

        for difference in differences:
            currencies = {difference.currency}
            if difference.feed is not None:  # a currency mismatch counts on both sides
                currencies.add(difference.feed.currency)
            for currency in currencies:
                counts = side(currency).differences
                counts[difference.kind.value] = counts.get(difference.kind.value, 0) + 1
        differences.sort(key=_order)
        report = self._report(provider, period, granularity=granularity, feed=feed,
                              feed_name=feed_name, mapping_sha256=mapping_sha256,
                              totals=totals, differences=differences)  # fmt: skip
        result = RunResult(report, None, differences, [
            f"{cur}: {why}" for cur, t in report["currencies"].items() for why in t["alerts"]
        ])  # fmt: skip
        if dry_run:
            return result
        progress("store", len(differences))
        now = self.clock()
        run_id = await self.store.save_run(
            {"provider": provider, "period_start": period.start, "period_end": period.end,
             "granularity": granularity, "feed_name": feed_name, "feed_sha256": feed.digest,
             "mapping_sha256": mapping_sha256, "actor": actor, "report": report,
             "dry_run": False},
            differences, now,
        )  # fmt: skip
        await self._cases(provider, run_id, differences=differences, cleared=matched.cleared,
                          reopened=matched.reopened, actor=actor, now=now)  # fmt: skip
        result.run_id = run_id
        if result.alerts and self.alerts is not None:
            await self.alerts.record([Alert(
                AlertKind.RECON_MISMATCH, now, None, provider,
                {"run_id": run_id, "period_start": period.start.isoformat(),
                 "reasons": result.alerts},
            )])  # fmt: skip
        return result

    async def _match(
        self, provider: str, period: Period, feed_spill: RowSpill, *, rounds: bool,
        rollbacks: str, progress: Progress,
    ) -> _Matched:  # fmt: skip
        """Merge, look up and classify: the totals, differences and cases to act on."""
        ledger = await self._ledger(provider, period, rounds, rollbacks, progress)
        totals: dict[str, CurrencyTotals] = {}
        differences: list[Difference] = []
        unmatched: list[Pair] = []
        orphans: list[Row] = []
        # Read even by a dry run: what earlier runs found shapes the report, which must be
        # the same dry or stored. Only a stored run acts on the cases.
        live = await self.store.live_cases(provider)
        corrected = await self.store.corrected_cases(provider)
        cleared: list[Case] = []
        reopened: list[Case] = []
        feed_count = 0

        def side(currency: str) -> CurrencyTotals:
            return totals.setdefault(currency, CurrencyTotals())

        for pair in merge(feed_spill.sorted(), ledger):
            for row in pair.feed:
                side(row.currency).feed.add(row)
                feed_count += 1
                if feed_count % 5_000 == 0:
                    await asyncio.sleep(0)  # a long run never holds the event loop
                    if feed_count % 50_000 == 0:
                        progress("match", feed_count)
            if pair.ledger is None:
                unmatched.append(pair)  # looked up by key below: maybe another day's
                continue
            found = classify(pair, period)
            if not pair.feed:
                if found:  # missing in the feed: unless another day's feed had it (below)
                    orphans.append(pair.ledger)
                elif pair.ledger.at in period:
                    side(pair.ledger.currency).ledger.add(pair.ledger)
                continue
            side(pair.ledger.currency).ledger.add(pair.ledger)
            differences += found
            self._clear(live, pair.key, found, cleared)
            case = corrected.get(pair.key)
            if case is not None and not any(d.kind.counts_as_mismatch for d in found):
                reopened.append(case)  # corrected, and now the original arrived too
        # Feed rows the merge left alone may match a ledger row of another day: by id.
        for pair, ledger_row in await self._lookup(provider, unmatched, rounds, rollbacks):
            if ledger_row is not None:
                side(ledger_row.currency).ledger.add(ledger_row)
            found = classify(Pair(pair.key, pair.feed, ledger_row), period)
            differences += found
            self._clear(live, pair.key, found, cleared)
        # Ledger rows no feed of this run has: matched on another day (a stored run found
        # it across its period's edge), or reported late by a feed whose own run found it
        # missing in the ledger (its case now resolves): neither is missing, nor this day's.
        elsewhere = await self.store.matched_elsewhere(provider, [r.key for r in orphans])
        for row in orphans:
            waiting = live.get((DiffKind.MISSING_IN_LEDGER.value, row.key))
            if waiting is not None:
                cleared.append(waiting)
            elif row.key not in elsewhere:
                side(row.currency).ledger.add(row)
                differences += classify(Pair(row.key, [], row), period)
        return _Matched(totals, differences, cleared, reopened)

    async def _lookup(
        self, provider: str, pairs: Sequence[Pair], rounds: bool, rollbacks: str
    ) -> list[tuple[Pair, Row | None]]:
        found: list[tuple[Pair, Row | None]] = []
        for batch in _batches(pairs, LOOKUP_BATCH):
            rows = await self.store.ledger_lookup(provider, [p.key for p in batch], rounds=rounds)
            known = {r.key: _style(r, rollbacks) for r in rows if _kept(r, rollbacks)}
            found += [(pair, known.get(pair.key)) for pair in batch]
        return found

    async def _ledger(
        self, provider: str, period: Period, rounds: bool, rollbacks: str, progress: Progress
    ) -> Iterator[Row]:
        """The ledger's rows of the period and its margins, sorted by key."""
        start, end = period.start - self.margin, period.end + self.margin
        spill = self.spill()
        bounds = await self.store.ledger_bounds(provider, start, end, rounds=rounds)
        if bounds is None:
            return spill.sorted()
        after, upto, count = bounds[0] - 1, bounds[1], 0
        while True:
            page = await self.store.ledger_page(
                provider, start, end, rounds=rounds, after=after, upto=upto, limit=PAGE
            )
            if not page:
                break
            after = page[-1][0]
            count += len(page)
            progress("ledger", count)
            for _, row in page:
                if _kept(row, rollbacks):
                    spill.add(_style(row, rollbacks))
        return spill.sorted()

    @staticmethod
    def _clear(
        live: Mapping[tuple[str, str], Case], key: str, found: Sequence[Difference],
        cleared: list[Case],
    ) -> None:  # fmt: skip
        """A live case of this key whose difference is gone resolves itself."""
        if not live:
            return
        kinds = {d.kind.value for d in found}
        for kind in AUTO_RESOLVABLE:
            case = live.get((kind.value, key))
            # A corrected case reopened (its original came too) waits for a person.
            if case is not None and kind.value not in kinds and not case.corrected:
                cleared.append(case)

    async def _cases(
        self, provider: str, run_id: int, *, differences: Sequence[Difference],
        cleared: Sequence[Case], reopened: Sequence[Case], actor: str, now: datetime,
    ) -> None:  # fmt: skip
        for difference in differences:
            if not difference.kind.counts_as_mismatch:
                continue
            case = await self.store.find_case(provider, difference.kind.value, difference.key)
            player = (difference.ledger or difference.feed).player_id  # type: ignore[union-attr]
            if case is None:
                opened = await self.store.insert_case(provider, difference, player, run_id,
                                                      now=now, actor=actor)  # fmt: skip
                if opened is not None:
                    continue
                case = await self.store.find_case(provider, difference.kind.value,
                                                  difference.key)  # fmt: skip
                assert case is not None  # noqa: S101 - the conflict was this case

            await self.store.touch_case(case.id, run_id, difference.amount_difference, now)
            # A self-resolution that did not hold is reopened; a person's decision (resolved,
            # a correction made) stands, and the run is noted in its history.
            if case.status is CaseStatus.AUTO_RESOLVED:
                await self.store.move_case(case.id, case.status, CaseEvent(
                    case.id, now, actor, case.status, CaseStatus.OPEN,
                    f"found again in run {run_id}", run_id,
                ))  # fmt: skip
            elif case.status is CaseStatus.RESOLVED:
                await self.store.add_case_event(CaseEvent(
                    case.id, now, actor, case.status, case.status,
                    f"found again in run {run_id}; resolved by a person, it stands", run_id,
                ))  # fmt: skip
        for case in reopened:
            await self.store.move_case(case.id, case.status, CaseEvent(
                case.id, now, f"{actor} (auto)", case.status, CaseStatus.OPEN,
                f"the original transaction arrived after this case was corrected, in run "
                f"{run_id}: the player may have been paid twice; review the adjustment",
                run_id,
            ))  # fmt: skip
        for case in cleared:
            await self.store.move_case(case.id, case.status, CaseEvent(
                case.id, now, f"{actor} (auto)", case.status, CaseStatus.AUTO_RESOLVED,
                f"matched without this difference in run {run_id}", run_id,
            ))  # fmt: skip

    def _report(
        self, provider: str, period: Period, *, granularity: str, feed: FeedSource,
        feed_name: str, mapping_sha256: str, totals: Mapping[str, CurrencyTotals],
        differences: Sequence[Difference],
    ) -> dict[str, Any]:  # fmt: skip
        money = self._money
        currencies = {}
        for cur, t in sorted(totals.items()):
            currencies[cur] = {
                "feed": {k: (v if k == "rows" else money(v, cur))
                         for k, v in t.feed.to_dict().items()},
                "ledger": {k: (v if k == "rows" else money(v, cur))
                           for k, v in t.ledger.to_dict().items()},
                "differences": dict(sorted(t.differences.items())),
                "mismatches": t.mismatches,
                "mismatch_rate": f"{t.mismatch_rate:.6f}",
                "net_difference": money(t.net_difference, cur),
                "alerts": breaches(t, self.thresholds, partial(self._money, currency=cur)),
            }  # fmt: skip
        body: dict[str, Any] = {
            "provider": provider,
            "period": {"start": period.start.isoformat(), "end": period.end.isoformat()},
            "granularity": granularity,
            "feed": {"sha256": feed.digest, "ignored_lines": feed.ignored},
            "mapping_sha256": mapping_sha256,
            "currencies": currencies,
            "differences": [self._diff_dict(d) for d in differences],
        }
        text = json.dumps(body, sort_keys=True, separators=(",", ":"))
        body["report_sha256"] = hashlib.sha256(text.encode()).hexdigest()
        body["feed"]["name"] = feed_name  # what the file was called is not an input
        return body

    def _money(self, minor: int, currency: str) -> str:
        try:
            return format_decimal(minor, self.currencies.get_currency(currency))
        except InvalidRequest:
            return str(minor)

    def _diff_dict(self, d: Difference) -> dict[str, Any]:
        out = d.to_dict()
        for side_name in ("feed", "ledger"):
            row = out[side_name]
            if row is not None:
                cur = row["currency"]
                row["amount"] = self._money(row["amount"], cur)
                if "win" in row:
                    row["win"] = self._money(row["win"], cur)
        out["amount_difference"] = self._money(d.amount_difference, d.currency)
        return out

    # -- cases ----------------------------------------------------------------------------

    async def get_case(self, case_id: int) -> tuple[Case, Sequence[CaseEvent]]:
        case = await self.store.case(case_id)
        if case is None:
            raise CaseNotFound(f"no reconciliation case {case_id}", case_id=case_id)
        return case, await self.store.case_events(case_id)

    async def move(self, case_id: int, to: CaseStatus, *, actor: str, note: str) -> Case:
        """A person moves a case (in review, escalated, resolved); the note is kept."""
        check_ref("actor", actor)
        if not note.strip() or len(note) > 1000:
            raise InvalidRequest("a note of 1 to 1000 characters is required", field="note")
        case, _ = await self.get_case(case_id)
        if to is CaseStatus.AUTO_RESOLVED or to not in CASE_MOVES[case.status]:
            raise CaseTransition(
                f"case {case_id} cannot go from {case.status} to {to}",
                case_id=case_id, status=case.status.value, target=to.value,
            )  # fmt: skip
        event = CaseEvent(case_id, self.clock(), actor, case.status, to, note)
        if not await self.store.move_case(case_id, case.status, event):
            raise CaseTransition(f"case {case_id} changed meanwhile; look again",
                                 case_id=case_id)  # fmt: skip
        moved, _ = await self.get_case(case_id)
        return moved

    async def correct(
        self, case_id: int, *, amount: int, credit: bool, actor: str, note: str
    ) -> Case:
        """Correct the ledger for a case: an adjustment between the player's cash and the
        provider's clearing account, through the wallet (idempotent per case), then the case
        resolved with the adjustment's id in its history."""
        case, events = await self.get_case(case_id)
        if not note.strip() or len(note) > 1000:
            raise InvalidRequest("a note of 1 to 1000 characters is required", field="note")
        ref = f"recon:case:{case_id}:adjustment"
        adjustment = Adjustment(
            tx_id=ref, provider=case.provider, player_id=case.player_id,
            currency=case.currency, amount=amount, credit=credit,
            reason=f"reconciliation case {case_id}",
        )  # fmt: skip
        if case.status.is_closed:
            if any(e.tx_ref == ref for e in events):
                # Corrected already (a retry after a timeout): the same adjustment replays,
                # another amount or direction is IDEMPOTENCY_MISMATCH; the case stays as is.
                await self.wallet.adjust(adjustment)
                return case
            raise CaseTransition(f"case {case_id} is {case.status}; reopen it first",
                                 case_id=case_id)  # fmt: skip
        if not case.player_id:
            raise CaseTransition(f"case {case_id} names no player to adjust", case_id=case_id)
        await self.wallet.adjust(adjustment)
        money = self._money(amount, case.currency)
        event = CaseEvent(case_id, self.clock(), actor, case.status, CaseStatus.RESOLVED,
                          f"corrected: {'credit' if credit else 'debit'} {money} "
                          f"{case.currency}: {note}", tx_ref=ref)  # fmt: skip
        if not await self.store.move_case(case_id, case.status, event):
            raise CaseTransition(f"case {case_id} changed meanwhile; the adjustment {ref} "
                                 "stands (a retry replays it)", case_id=case_id)  # fmt: skip
        moved, _ = await self.get_case(case_id)
        return moved


def _counted(rows: Iterator[Row], stage: str, progress: Progress) -> Iterator[Row]:
    n = 0
    for n, row in enumerate(rows, 1):
        if n % 50_000 == 0:
            progress(stage, n)
        yield row
    progress(stage, n)


def _kept(row: Row, rollbacks: str) -> bool:
    """With rollbacks told by the bet's status, the ledger's rollback rows are that status."""
    return not (rollbacks == "status" and row.kind.value == "rollback")


def _style(row: Row, rollbacks: str) -> Row:
    """With rollbacks as rows of their own, a rolled-back bet is still an accepted bet (on
    either side: its refund is counted once, as its rollback row)."""
    if rollbacks == "rows" and row.status is Status.ROLLED_BACK:
        return Row(row.key, row.kind, row.amount, row.currency, row.at, Status.OK,
                   row.player_id, row.round_id, row.win, row.line)  # fmt: skip
    return row


def _batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _order(d: Difference) -> tuple[str, str, int]:
    return d.kind.value, d.key, d.feed.line if d.feed else 0
