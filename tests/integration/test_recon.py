"""ReconService on SQLite and PostgreSQL: a provider's feed against the ledger the wallet
wrote.

A synthetic day of traffic (several players and currencies, bets, wins, rollbacks, a
tombstone, credits, refused bets) is played through WalletService while the provider's side
of it is written as a CSV feed; that feed reconciles to zero, and each kind of difference
injected into it alone is found exactly once and classified exactly. Then late arrivals
across two days, per-round feeds, repeatability, dry runs, malformed feeds, and cases:
moved by people, corrected through WalletService.adjust, auto-resolved by later runs.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pytest
import sqlalchemy as sa

from croupier.adapters.db.migrate import make_engine
from croupier.adapters.db.recon import SqlReconStore
from croupier.adapters.db.runner import SqlRunner
from croupier.adapters.recon_feeds import FileFeed, mapping_from_dict
from croupier.adapters.spill import Spill
from croupier.domain.errors import (
    CaseNotFound,
    CaseTransition,
    CroupierError,
    FeedInvalid,
    IdempotencyMismatch,
    InsufficientFunds,
    InvalidRequest,
)
from croupier.domain.money import format_decimal
from croupier.domain.recon import CaseStatus, DiffKind, Period, Row, Thresholds
from croupier.domain.signals import Alert, AlertKind
from croupier.domain.wallet import Bet, Credit, CreditReason, EndRound, Rollback, Win
from croupier.services.ports import WalletStore
from croupier.services.recon import ReconService, RunResult
from croupier.services.wallet import WalletService
from tests.conftest import FakeClock, assert_ledger_ok
from tests.integration.test_wallet_rules import funded

PROVIDER = "acme"
DAY = datetime(2026, 1, 1, tzinfo=UTC)
PERIOD = Period(DAY, DAY + timedelta(days=1))
DAY2 = Period(PERIOD.end, PERIOD.end + timedelta(days=1))
HEADER = ("TransactionId", "RoundId", "PlayerId", "Type", "Amount", "Currency", "Status", "Time")
MAPPING: dict[str, Any] = {
    "fields": {"tx_id": "TransactionId", "round_id": "RoundId", "player_id": "PlayerId",
               "kind": "Type", "amount": "Amount", "currency": "Currency",
               "status": "Status", "at": "Time"},
    "kinds": {"BET": "bet", "WIN": "win", "REFUND": "rollback", "JACKPOT": "credit",
              "NOTE": "ignore"},
    "statuses": {"OK": "ok", "CANCELLED": "rolled_back", "FAILED": "failed"},
}  # fmt: skip
STATUS_MAPPING = {**MAPPING, "rollbacks": "status"}
ROUND_MAPPING: dict[str, Any] = {
    "granularity": "round",
    "fields": {"round_id": "RoundId", "player_id": "PlayerId", "currency": "Currency",
               "at": "Time", "bet": "Bet", "win": "Win"},
}  # fmt: skip
RECON_TABLES = ("recon_runs", "recon_differences", "recon_cases", "recon_case_events")


class Alerts:
    """An AlertSink that keeps what it is given."""

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    async def record(self, alerts: Sequence[Alert]) -> None:
        self.alerts.extend(alerts)


def small_spill() -> Spill[Row]:
    """The production key, with chunks small enough that every run spills to disk."""
    return Spill(key=lambda r: (r.key, r.line), chunk=4)


@pytest.fixture
def alerts() -> Alerts:
    return Alerts()


@pytest.fixture
def recon(
    wallet: WalletService, store: WalletStore, clock: FakeClock, alerts: Alerts
) -> ReconService:
    return ReconService(
        SqlReconStore(cast(SqlRunner, store)), wallet, spill=small_spill, clock=clock,
        alerts=alerts, thresholds=Thresholds(), margin=timedelta(hours=24),
    )  # fmt: skip


def counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return {
                t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()  # noqa: S608
                for t in (*RECON_TABLES, "wallet_transactions")
            }
    finally:
        engine.dispose()


def adjustments(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(
                "SELECT count(*) FROM wallet_transactions WHERE kind = 'adjustment'"
            )).scalar_one())  # fmt: skip
    finally:
        engine.dispose()


# -- a day of traffic, and the provider's feed of it ------------------------------------------


@dataclass
class Day:
    """Wallet calls at set times, and the feed lines the provider writes for them."""

    wallet: WalletService
    clock: FakeClock
    lines: list[dict[str, str]] = field(default_factory=list)
    rounds: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per round, as the provider reports it: player, currency, time, stakes, wins."""

    def at(self, hour: int, minute: int = 0, second: int = 0, *, day: datetime = DAY) -> None:
        self.clock.now = day.replace(hour=hour, minute=minute, second=second)

    def money(self, minor: int, currency: str) -> str:
        return format_decimal(minor, self.wallet.currencies.get_currency(currency))

    def line(
        self, tx: str, kind: str, amount: int, *, player: str, currency: str = "EUR",
        round_id: str = "", status: str = "OK", at: datetime | None = None,
    ) -> None:  # fmt: skip
        when = at or self.clock.now
        self.lines.append({
            "TransactionId": tx, "RoundId": round_id, "PlayerId": player, "Type": kind,
            "Amount": self.money(amount, currency), "Currency": currency, "Status": status,
            "Time": when.isoformat(),
        })  # fmt: skip

    def _round(
        self, round_id: str, player: str, currency: str, *, bet: int = 0, win: int = 0
    ) -> None:
        new = {"player": player, "currency": currency, "at": self.clock.now, "bet": 0, "win": 0}
        r = self.rounds.setdefault(round_id, new)
        r["bet"] += bet
        r["win"] += win

    async def bet(
        self, tx: str, amount: int, *, player: str, round_id: str, currency: str = "EUR"
    ) -> None:
        await self.wallet.place_bet(Bet(
            player_id=player, amount=amount, currency=currency, provider=PROVIDER, tx_id=tx,
            round_id=round_id, game_code="g1",
        ))  # fmt: skip
        self.line(tx, "BET", amount, player=player, currency=currency, round_id=round_id)
        self._round(round_id, player, currency, bet=amount)

    async def refused_bet(
        self, tx: str, amount: int, *, player: str, round_id: str, currency: str = "EUR"
    ) -> None:
        with pytest.raises(CroupierError):
            await self.wallet.place_bet(Bet(
                player_id=player, amount=amount, currency=currency, provider=PROVIDER, tx_id=tx,
                round_id=round_id, game_code="g1",
            ))  # fmt: skip
        self.line(tx, "BET", amount, player=player, currency=currency, round_id=round_id,
                  status="FAILED")  # fmt: skip

    async def win(
        self, tx: str, amount: int, *, player: str, round_id: str, currency: str = "EUR",
        close: bool = True,
    ) -> None:  # fmt: skip
        await self.wallet.settle_win(Win(
            player_id=player, amount=amount, currency=currency, provider=PROVIDER, tx_id=tx,
            round_id=round_id, game_code="g1", close_round=close,
        ))  # fmt: skip
        self.line(tx, "WIN", amount, player=player, currency=currency, round_id=round_id)
        self._round(round_id, player, currency, win=amount)

    async def rollback(
        self, tx: str, bet_tx: str, refunded: int, *, player: str, round_id: str = "",
        currency: str = "EUR",
    ) -> None:  # fmt: skip
        await self.wallet.rollback(Rollback(
            player_id=player, amount=0, currency=currency, provider=PROVIDER, tx_id=tx,
            bet_tx_id=bet_tx,
        ))  # fmt: skip
        self.line(tx, "REFUND", refunded, player=player, currency=currency)
        if round_id in self.rounds:
            self.rounds[round_id]["bet"] -= refunded

    async def credit(self, tx: str, amount: int, *, player: str, currency: str = "EUR") -> None:
        await self.wallet.credit(Credit(
            player_id=player, amount=amount, currency=currency, provider=PROVIDER, tx_id=tx,
            reason=CreditReason.JACKPOT, source="mega",
        ))  # fmt: skip
        self.line(tx, "JACKPOT", amount, player=player, currency=currency)

    def set(self, tx: str, **changes: str) -> None:
        """Change a feed line (the provider's story differs from what happened)."""
        [target] = [ln for ln in self.lines if ln["TransactionId"] == tx]
        target.update(changes)

    def drop(self, tx: str) -> None:
        self.lines = [ln for ln in self.lines if ln["TransactionId"] != tx]

    def as_status_feed(self) -> list[dict[str, str]]:
        """The same day told the other way: rollbacks as the status of their bets."""
        cancelled = {"b2"}
        out = []
        for ln in self.lines:
            if ln["Type"] == "REFUND":
                continue
            out.append({**ln, "Status": "CANCELLED"} if ln["TransactionId"] in cancelled else ln)
        return out


async def synthetic_day(wallet: WalletService, clock: FakeClock) -> Day:
    """Five players (four EUR, one USD): bets, wins, a rollback, a rollback that came before
    its bet (a tombstone, the late bet refused), a jackpot, a bet refused for lack of funds,
    a round of two bets, a round ended without a win. Funding is the cashier's (not the
    provider's) and is not reconciled."""
    day = Day(wallet, clock)
    day.at(0, 10)
    for player, cash in (("p1", 10_000), ("p2", 5_000), ("p3", 2_000), ("p5", 100)):
        await funded(wallet, player, cash=cash)
    await funded(wallet, "p4", cash=3_000, currency="USD")
    day.line("n0", "NOTE", 0, player="p1")  # a line of a kind the mapping ignores
    day.at(1)
    await day.bet("b1", 200, player="p1", round_id="r1")
    day.at(1, 1)
    await day.win("w1", 500, player="p1", round_id="r1")
    day.at(2)
    await day.bet("b2", 150, player="p2", round_id="r2")
    day.at(2, 5)
    await day.rollback("rb2", "b2", 150, player="p2", round_id="r2")
    day.at(3)
    await day.rollback("rb3", "b3", 0, player="p3")  # before its bet: a tombstone
    day.at(3, 1)
    await day.refused_bet("b3", 100, player="p3", round_id="r3")
    day.at(4)
    await day.credit("c1", 1_000, player="p1")
    day.at(5)
    await day.refused_bet("b5", 500, player="p5", round_id="r5")  # more than p5 has
    day.at(6)
    await day.bet("b4", 300, player="p4", round_id="r4", currency="USD")
    day.at(6, 30)
    await day.win("w4", 125, player="p4", round_id="r4", currency="USD")
    day.at(7)
    await day.bet("b6a", 100, player="p1", round_id="r6")
    await day.bet("b6b", 50, player="p1", round_id="r6")
    day.at(7, 2)
    await day.win("w6", 200, player="p1", round_id="r6")
    day.at(8)
    await day.bet("b7", 10, player="p2", round_id="r7")
    await wallet.end_round(EndRound(player_id="p2", currency="EUR", provider=PROVIDER,
                                    tx_id="e7", round_id="r7", game_code="g1"))  # fmt: skip
    day.at(12)
    return day


def write_feed(path: Path, lines: Sequence[dict[str, str]], header: Sequence[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(header))
        writer.writeheader()
        writer.writerows(lines)
    return path


def round_lines(day: Day) -> list[dict[str, str]]:
    return [
        {"RoundId": rid, "PlayerId": r["player"], "Currency": r["currency"],
         "Time": r["at"].isoformat(), "Bet": day.money(r["bet"], r["currency"]),
         "Win": day.money(r["win"], r["currency"])}
        for rid, r in day.rounds.items()
    ]  # fmt: skip


ROUND_HEADER = ("RoundId", "PlayerId", "Currency", "Time", "Bet", "Win")


async def reconcile(
    recon: ReconService, path: Path, mapping: dict[str, Any] = MAPPING, *,
    period: Period = PERIOD, dry_run: bool = False,
) -> RunResult:  # fmt: skip
    m = mapping_from_dict(mapping)
    return await recon.run(
        PROVIDER, period, FileFeed(path, m, recon.currencies), granularity=m.granularity,
        rollbacks=m.rollbacks, feed_name=path.name, mapping_sha256=m.digest(), dry_run=dry_run,
    )  # fmt: skip


def assert_zero(result: RunResult) -> None:
    assert result.differences == []
    assert result.alerts == []
    assert result.report["differences"] == []
    for cur, t in result.report["currencies"].items():
        assert t["feed"]["net"] == t["ledger"]["net"], cur
        assert t["net_difference"] in ("0.00", "0"), cur
        assert t["mismatches"] == 0
        assert t["differences"] == {}


def only(result: RunResult) -> Any:
    assert len(result.differences) == 1, [(d.kind, d.key) for d in result.differences]
    return result.differences[0]


# -- to zero -----------------------------------------------------------------------------------


async def test_a_day_of_traffic_reconciles_to_zero(
    wallet: WalletService, clock: FakeClock, recon: ReconService, alerts: Alerts,
    tmp_path: Path, *, database_url: str,
) -> None:  # fmt: skip
    day = await synthetic_day(wallet, clock)
    result = await reconcile(recon, write_feed(tmp_path / "acme-2026-01-01.csv", day.lines))

    assert_zero(result)
    eur, usd = result.report["currencies"]["EUR"], result.report["currencies"]["USD"]
    assert eur["feed"] == eur["ledger"] == {
        "rows": 12, "bets": "5.10", "wins": "7.00", "rollbacks": "1.50", "credits": "10.00",
        "net": "-13.40",
    }  # fmt: skip
    assert usd["feed"] == usd["ledger"] == {
        "rows": 2, "bets": "3.00", "wins": "1.25", "rollbacks": "0.00", "credits": "0.00",
        "net": "1.75",
    }  # fmt: skip
    assert result.report["feed"]["ignored_lines"] == 1
    assert result.report["provider"] == PROVIDER
    assert result.run_id is not None
    assert alerts.alerts == []
    stored = counts(database_url)
    assert (stored["recon_runs"], stored["recon_differences"], stored["recon_cases"]) == (1, 0, 0)
    report = await recon.store.run_report(result.run_id)
    assert report is not None
    assert report["report_sha256"] == result.report["report_sha256"]
    assert report["run_id"] == result.run_id
    assert_ledger_ok(database_url)


async def test_rollbacks_told_by_the_bet_s_status_reconcile_to_zero(
    wallet: WalletService, clock: FakeClock, recon: ReconService, tmp_path: Path
) -> None:
    day = await synthetic_day(wallet, clock)
    result = await reconcile(recon, write_feed(tmp_path / "f.csv", day.as_status_feed()),
                             STATUS_MAPPING)  # fmt: skip
    assert_zero(result)
    eur = result.report["currencies"]["EUR"]
    assert eur["feed"] == eur["ledger"]
    assert (eur["feed"]["rows"], eur["feed"]["rollbacks"], eur["feed"]["net"]) == (
        10, "1.50", "-13.40",
    )  # fmt: skip


async def test_refused_bets_the_feed_leaves_out_are_no_difference(
    wallet: WalletService, clock: FakeClock, recon: ReconService, tmp_path: Path
) -> None:
    day = await synthetic_day(wallet, clock)
    day.drop("b3")  # the tombstone's refused bet
    day.drop("b5")  # refused for lack of funds
    result = await reconcile(recon, write_feed(tmp_path / "f.csv", day.lines))
    assert_zero(result)
    eur = result.report["currencies"]["EUR"]
    assert (eur["feed"]["rows"], eur["ledger"]["rows"]) == (10, 12)


# -- one difference at a time ------------------------------------------------------------------

INJECTED: dict[str, tuple[DiffKind, str, int, str]] = {
    # name: (kind, key, amount difference feed - ledger in minor units, currency)
    "missing_in_ledger": (DiffKind.MISSING_IN_LEDGER, "w-ghost", 400, "EUR"),
    "missing_in_feed": (DiffKind.MISSING_IN_FEED, "b6b", -50, "EUR"),
    "amount_mismatch": (DiffKind.AMOUNT_MISMATCH, "w6", 50, "EUR"),
    "currency_mismatch": (DiffKind.CURRENCY_MISMATCH, "b4", 0, "USD"),
    "status_mismatch": (DiffKind.STATUS_MISMATCH, "b1", -200, "EUR"),
    "failed_only_in_ledger": (DiffKind.STATUS_MISMATCH, "b5", 500, "EUR"),
    "type_mismatch": (DiffKind.TYPE_MISMATCH, "c1", 0, "EUR"),
    "duplicate_in_feed": (DiffKind.DUPLICATE_IN_FEED, "w1", 500, "EUR"),
}


def inject(day: Day, name: str) -> None:
    if name == "missing_in_ledger":
        day.line("w-ghost", "WIN", 400, player="p1", round_id="r1")
    elif name == "missing_in_feed":
        day.drop("b6b")
    elif name == "amount_mismatch":
        day.set("w6", Amount="2.50")
    elif name == "currency_mismatch":
        day.set("b4", Currency="EUR")
    elif name == "status_mismatch":
        day.set("b1", Status="FAILED")
    elif name == "failed_only_in_ledger":
        day.set("b5", Status="OK")
    elif name == "type_mismatch":
        day.set("c1", Type="WIN")
    else:
        assert name == "duplicate_in_feed"
        day.lines.append(dict(next(ln for ln in day.lines if ln["TransactionId"] == "w1")))


async def test_each_difference_alone_is_found_once_and_classified(
    wallet: WalletService, clock: FakeClock, recon: ReconService, alerts: Alerts,
    tmp_path: Path, *, database_url: str,
) -> None:  # fmt: skip
    """One day of traffic; then, one at a time, a feed with one difference injected. Each run
    finds that difference alone, raises an alert (one mismatch in a dozen rows passes the
    0.1% rate) and opens a case for it naming the player."""
    day = await synthetic_day(wallet, clock)
    told = list(day.lines)
    for n, (name, (kind, key, amount, currency)) in enumerate(INJECTED.items(), 1):
        day.lines = [dict(ln) for ln in told]
        inject(day, name)

        result = await reconcile(recon, write_feed(tmp_path / f"{name}.csv", day.lines))

        d = only(result)
        assert (d.kind, d.key, d.currency, d.amount_difference) == (
            kind, key, currency, amount,
        ), name  # fmt: skip
        [reported] = result.report["differences"]
        assert (reported["kind"], reported["key"]) == (kind.value, key)
        assert result.report["currencies"][currency]["differences"] == {kind.value: 1}, name
        assert result.report["currencies"][currency]["mismatches"] == 1
        assert result.alerts, name
        assert [a.kind for a in alerts.alerts] == [AlertKind.RECON_MISMATCH] * n
        case = await recon.store.find_case(PROVIDER, kind.value, key)
        assert case is not None, name
        assert (case.status, case.currency, case.first_run) == (
            CaseStatus.OPEN, currency, result.run_id,
        ), name  # fmt: skip
        assert case.amount_difference == amount
        assert case.player_id == {"b4": "p4", "b5": "p5"}.get(key, "p1")
        stored = counts(database_url)
        assert (stored["recon_runs"], stored["recon_differences"], stored["recon_cases"]) == (
            n, n, n,
        )  # fmt: skip


async def test_a_rollback_told_by_one_side_only_is_a_status_mismatch(
    wallet: WalletService, clock: FakeClock, recon: ReconService, tmp_path: Path
) -> None:
    """Rollbacks told by status: b2 was rolled back in the ledger but the feed says ok; b1
    was not, but the feed says cancelled."""
    day = await synthetic_day(wallet, clock)
    for feed_status, key, amount in (("OK", "b2", 150), ("CANCELLED", "b1", -200)):
        lines = day.as_status_feed()
        [target] = [ln for ln in lines if ln["TransactionId"] == key]
        target["Status"] = feed_status

        result = await reconcile(recon, write_feed(tmp_path / "f.csv", lines), STATUS_MAPPING,
                                 dry_run=True)  # fmt: skip

        d = only(result)
        assert (d.kind, d.key, d.amount_difference) == (DiffKind.STATUS_MISMATCH, key, amount)
        assert d.feed is not None
        assert d.ledger is not None
        assert {d.feed.status.value, d.ledger.status.value} == {"ok", "rolled_back"}


async def test_a_feed_row_whose_ledger_tx_is_another_day_s_is_outside_period_only(
    wallet: WalletService, clock: FakeClock, recon: ReconService, alerts: Alerts,
    tmp_path: Path, *, database_url: str,
) -> None:  # fmt: skip
    """The provider logs two bets at 23:59:30; they reached the ledger the next day: one
    within the margin (read with the day's pages), one three days later, beyond it (found by
    the point lookup of unmatched feed rows). Matches, reported for information: no
    mismatch, no case, no alert."""
    day = await synthetic_day(wallet, clock)
    late = {"b-near": timedelta(minutes=30), "b-far": timedelta(days=3)}
    for key, after in late.items():
        clock.now = PERIOD.end + after
        await day.bet(key, 100, player="p1", round_id=f"r-{key}")
        day.set(key, Time=(PERIOD.end - timedelta(seconds=30)).isoformat())

    result = await reconcile(recon, write_feed(tmp_path / "f.csv", day.lines))

    assert [(d.kind, d.key, d.amount_difference) for d in result.differences] == [
        (DiffKind.OUTSIDE_PERIOD, "b-far", 0), (DiffKind.OUTSIDE_PERIOD, "b-near", 0),
    ]  # fmt: skip
    for d in result.differences:
        assert d.ledger is not None
        assert d.ledger.at == PERIOD.end + late[d.key]
        assert d.feed is not None
        assert d.feed.at in PERIOD
    eur = result.report["currencies"]["EUR"]
    assert eur["mismatches"] == 0
    assert eur["differences"] == {"outside_period": 2}
    assert eur["feed"] == eur["ledger"]  # matched: counted on both sides
    assert eur["feed"]["rows"] == 14
    assert result.alerts == []
    assert alerts.alerts == []
    stored = counts(database_url)
    assert (stored["recon_differences"], stored["recon_cases"]) == (2, 0)


async def test_a_feed_row_for_a_ledger_tx_of_the_day_before_is_outside_period(
    wallet: WalletService, clock: FakeClock, recon: ReconService, tmp_path: Path
) -> None:
    day = await synthetic_day(wallet, clock)
    clock.now = DAY2.start + timedelta(hours=1)
    feed = Day(wallet, clock)
    await feed.bet("d2-b1", 100, player="p1", round_id="d2-r1")
    b1 = next(ln for ln in day.lines if ln["TransactionId"] == "b1")
    result = await reconcile(recon, write_feed(tmp_path / "f.csv", [*feed.lines, b1]),
                             period=DAY2)  # fmt: skip
    d = only(result)
    assert (d.kind, d.key) == (DiffKind.OUTSIDE_PERIOD, "b1")


# -- late arrivals across two days -------------------------------------------------------------


async def late_arrival(wallet: WalletService, clock: FakeClock) -> tuple[Day, Day]:
    """Day 1's traffic ends with a bet at 23:59:59 that the provider logs on day 2."""
    day1 = await synthetic_day(wallet, clock)
    clock.now = PERIOD.end - timedelta(seconds=1)
    await day1.bet("b-edge", 100, player="p1", round_id="r-edge")
    day1.drop("b-edge")
    day2 = Day(wallet, clock)
    day2.at(0, 0, 2, day=DAY2.start)
    day2.line("b-edge", "BET", 100, player="p1", round_id="r-edge")
    day2.at(9, day=DAY2.start)
    await day2.bet("d2-b", 300, player="p2", round_id="d2-r")
    await day2.win("d2-w", 600, player="p2", round_id="d2-r")
    return day1, day2


async def test_a_late_arrival_is_missing_in_feed_then_auto_resolved_by_the_next_day(
    wallet: WalletService, clock: FakeClock, recon: ReconService, tmp_path: Path
) -> None:
    day1, day2 = await late_arrival(wallet, clock)

    clock.now = DAY2.start + timedelta(hours=10)
    first = await reconcile(recon, write_feed(tmp_path / "d1.csv", day1.lines))
    d = only(first)
    assert (d.kind, d.key, d.amount_difference) == (DiffKind.MISSING_IN_FEED, "b-edge", -100)
    [case] = await recon.store.cases(provider=PROVIDER, status="open", limit=10)
    assert (case.kind, case.key, case.player_id) == (DiffKind.MISSING_IN_FEED, "b-edge", "p1")

    clock.now = DAY2.end + timedelta(hours=10)
    second = await reconcile(recon, write_feed(tmp_path / "d2.csv", day2.lines), period=DAY2)

    d = only(second)
    assert (d.kind, d.key) == (DiffKind.OUTSIDE_PERIOD, "b-edge")
    assert second.report["currencies"]["EUR"]["mismatches"] == 0
    resolved, history = await recon.get_case(case.id)
    assert resolved.status is CaseStatus.AUTO_RESOLVED
    assert [(e.from_status, e.to_status, e.run_id) for e in history] == [
        (None, CaseStatus.OPEN, first.run_id),
        (CaseStatus.OPEN, CaseStatus.AUTO_RESOLVED, second.run_id),
    ]  # fmt: skip
    assert history[1].actor == "cli (auto)"
    assert history[1].at == clock.now

    # day 1 run again with its own feed: day 2's run matched the bet across its edge, so it
    # is not missing (nor counted on day 1), and the case stays resolved
    third = await reconcile(recon, write_feed(tmp_path / "d1.csv", day1.lines))
    assert third.differences == []
    again, _ = await recon.get_case(case.id)
    assert again.status is CaseStatus.AUTO_RESOLVED
    assert third.report["currencies"]["EUR"]["ledger"]["rows"] == (
        first.report["currencies"]["EUR"]["ledger"]["rows"] - 1
    )
    assert len(await recon.store.cases(provider=PROVIDER, status=None, limit=10)) == 1


async def test_a_case_is_not_auto_resolved_by_a_run_whose_feed_does_not_have_its_key(
    wallet: WalletService, clock: FakeClock, recon: ReconService, tmp_path: Path
) -> None:
    day1, day2 = await late_arrival(wallet, clock)
    day2.drop("b-edge")  # the provider never reports it
    await reconcile(recon, write_feed(tmp_path / "d1.csv", day1.lines))
    [case] = await recon.store.cases(provider=PROVIDER, status="open", limit=10)

    second = await reconcile(recon, write_feed(tmp_path / "d2.csv", day2.lines), period=DAY2)

    assert second.differences == []  # right: day 1's bet is not day 2's difference
    after, _ = await recon.get_case(case.id)
    assert after.status is CaseStatus.OPEN


# -- per round ---------------------------------------------------------------------------------


async def test_a_per_round_feed_reconciles_to_zero(
    wallet: WalletService, clock: FakeClock, recon: ReconService, tmp_path: Path
) -> None:
    day = await synthetic_day(wallet, clock)
    lines = round_lines(day)
    assert {ln["RoundId"] for ln in lines} == {"r1", "r2", "r4", "r6", "r7"}

    result = await reconcile(recon, write_feed(tmp_path / "rounds.csv", lines, ROUND_HEADER),
                             ROUND_MAPPING)  # fmt: skip

    assert_zero(result)
    assert result.report["granularity"] == "round"
    eur = result.report["currencies"]["EUR"]
    assert eur["feed"] == eur["ledger"] == {
        "rows": 4, "bets": "3.60", "wins": "7.00", "rollbacks": "0.00", "credits": "0.00",
        "net": "-3.40",
    }  # fmt: skip


async def test_a_per_round_stake_mismatch(
    wallet: WalletService, clock: FakeClock, recon: ReconService, tmp_path: Path
) -> None:
    day = await synthetic_day(wallet, clock)
    lines = round_lines(day)
    [r6] = [ln for ln in lines if ln["RoundId"] == "r6"]
    r6["Bet"] = "1.00"  # the ledger took 1.50 in two bets

    result = await reconcile(recon, write_feed(tmp_path / "rounds.csv", lines, ROUND_HEADER),
                             ROUND_MAPPING)  # fmt: skip

    d = only(result)
    assert (d.kind, d.key, d.amount_difference) == (DiffKind.AMOUNT_MISMATCH, "r6", -50)
    assert d.detail == "stakes and wins differ"
    assert (d.ledger.amount, d.ledger.win, d.feed.amount) == (150, 200, 100)
    [case] = await recon.store.cases(provider=PROVIDER, status=None, limit=10)
    assert (case.key, case.player_id) == ("r6", "p1")


async def test_a_round_missing_from_a_per_round_feed(
    wallet: WalletService, clock: FakeClock, recon: ReconService, tmp_path: Path
) -> None:
    day = await synthetic_day(wallet, clock)
    lines = [ln for ln in round_lines(day) if ln["RoundId"] != "r1"]
    result = await reconcile(recon, write_feed(tmp_path / "rounds.csv", lines, ROUND_HEADER),
                             ROUND_MAPPING)  # fmt: skip
    d = only(result)
    assert (d.kind, d.key, d.amount_difference) == (DiffKind.MISSING_IN_FEED, "r1", 300)


# -- repeatability, dry runs, malformed feeds --------------------------------------------------


async def test_the_same_inputs_give_the_same_report(
    wallet: WalletService, clock: FakeClock, recon: ReconService, tmp_path: Path
) -> None:
    day = await synthetic_day(wallet, clock)
    inject(day, "amount_mismatch")
    inject(day, "missing_in_ledger")
    path = write_feed(tmp_path / "f.csv", day.lines)

    first = await reconcile(recon, path)
    clock.advance(3600)
    second = await reconcile(recon, path)
    dry = await reconcile(recon, path, dry_run=True)

    assert first.run_id != second.run_id
    assert len(first.differences) == 2
    assert first.report == second.report == dry.report
    assert first.report["report_sha256"] == second.report["report_sha256"]
    runs = await recon.store.runs(PROVIDER, 10)
    assert [r["report_sha256"] for r in runs] == [first.report["report_sha256"]] * 2
    # the cases were found again, not opened twice
    assert len(await recon.store.cases(provider=PROVIDER, status=None, limit=10)) == 2


async def test_a_feed_under_another_name_gives_the_same_report(
    wallet: WalletService, clock: FakeClock, recon: ReconService, tmp_path: Path
) -> None:
    day = await synthetic_day(wallet, clock)
    first = await reconcile(recon, write_feed(tmp_path / "f.csv", day.lines), dry_run=True)
    renamed = await reconcile(recon, write_feed(tmp_path / "g.csv", day.lines), dry_run=True)
    assert first.report["feed"]["sha256"] == renamed.report["feed"]["sha256"]
    assert first.report["report_sha256"] == renamed.report["report_sha256"]  # a name is no input
    assert (first.report["feed"]["name"], renamed.report["feed"]["name"]) == ("f.csv", "g.csv")


async def test_a_dry_run_stores_no_run_difference_case_or_alert(
    wallet: WalletService, clock: FakeClock, recon: ReconService, alerts: Alerts,
    tmp_path: Path, *, database_url: str,
) -> None:  # fmt: skip
    day = await synthetic_day(wallet, clock)
    inject(day, "missing_in_feed")
    inject(day, "missing_in_ledger")
    before = counts(database_url)

    result = await reconcile(recon, write_feed(tmp_path / "f.csv", day.lines), dry_run=True)

    assert result.run_id is None
    assert len(result.differences) == 2
    assert result.alerts  # reported, not raised
    assert alerts.alerts == []
    assert counts(database_url) == before
    assert all(before[t] == 0 for t in RECON_TABLES)


async def test_a_dry_run_leaves_live_cases_alone(
    wallet: WalletService, clock: FakeClock, recon: ReconService, tmp_path: Path,
    database_url: str,
) -> None:  # fmt: skip
    day = await synthetic_day(wallet, clock)
    day.drop("b6b")
    await reconcile(recon, write_feed(tmp_path / "f.csv", day.lines))
    day2 = synthetic_day_lines_again(day)
    before = counts(database_url)
    await reconcile(recon, write_feed(tmp_path / "g.csv", day2), dry_run=True)
    assert counts(database_url) == before
    [case] = await recon.store.cases(provider=PROVIDER, status=None, limit=10)
    assert case.status is CaseStatus.OPEN


def synthetic_day_lines_again(day: Day) -> list[dict[str, str]]:
    """The day's feed with b6b back in it (a feed that would auto-resolve its case)."""
    lines = list(day.lines)
    lines.append({**next(ln for ln in lines if ln["TransactionId"] == "b6a"),
                  "TransactionId": "b6b", "Amount": "0.50"})  # fmt: skip
    return lines


class Spills:
    """A spill factory that remembers what it made (to see its temporary files)."""

    def __init__(self) -> None:
        self.made: list[Spill[Row]] = []

    def __call__(self) -> Spill[Row]:
        spill = small_spill()
        self.made.append(spill)
        return spill

    def open_files(self) -> int:
        return sum(not f.closed for s in self.made for f in s._files)

    def close(self) -> None:
        for s in self.made:
            for f in s._files:
                f.close()


@pytest.fixture
def spills() -> Any:
    made = Spills()
    yield made
    made.close()


def tracked(recon: ReconService, spills: Spills) -> ReconService:
    return ReconService(recon.store, recon.wallet, spill=spills, clock=recon.clock,
                        alerts=recon.alerts, thresholds=recon.thresholds,
                        margin=recon.margin)  # fmt: skip


async def test_a_malformed_feed_is_refused_whole_and_stores_nothing(
    wallet: WalletService, clock: FakeClock, recon: ReconService, alerts: Alerts,
    tmp_path: Path, *, database_url: str, spills: Spills,
) -> None:  # fmt: skip
    day = await synthetic_day(wallet, clock)
    inject(day, "missing_in_feed")  # a difference it would have found
    day.set("w1", Amount="5.001")
    day.set("c1", Type="MYSTERY")
    before = counts(database_url)

    with pytest.raises(FeedInvalid) as caught:
        await reconcile(tracked(recon, spills), write_feed(tmp_path / "f.csv", day.lines))

    error = caught.value
    assert error.code == "FEED_INVALID"
    lines = [n for n, ln in enumerate(day.lines, 1) if ln["TransactionId"] in ("w1", "c1")]
    assert [e["line"] for e in error.details["lines"]] == lines
    assert error.details["count"] == 2
    assert "2 malformed lines" in error.message
    assert counts(database_url) == before
    assert alerts.alerts == []


async def test_a_refused_feed_leaves_no_temporary_file_open(
    wallet: WalletService, clock: FakeClock, recon: ReconService, tmp_path: Path,
    spills: Spills,
) -> None:  # fmt: skip
    day = await synthetic_day(wallet, clock)
    day.set("w1", Amount="5.001")
    with pytest.raises(FeedInvalid):
        await reconcile(tracked(recon, spills), write_feed(tmp_path / "f.csv", day.lines))
    assert spills.made  # the feed was spilled (chunks of 4 rows)
    assert spills.open_files() == 0


# -- cases: moved by people --------------------------------------------------------------------


async def open_case(
    wallet: WalletService, clock: FakeClock, recon: ReconService, tmp_path: Path,
) -> tuple[int, Day]:  # fmt: skip
    """A small day (one bet) and a feed with a win of 4.00 to p1 the ledger never saw."""
    day = Day(wallet, clock)
    day.at(0, 10)
    await funded(wallet, "p1", cash=10_000)
    day.at(1)
    await day.bet("b1", 200, player="p1", round_id="r1")
    inject(day, "missing_in_ledger")
    await reconcile(recon, write_feed(tmp_path / "f.csv", day.lines))
    [case] = await recon.store.cases(provider=PROVIDER, status="open", limit=10)
    return case.id, day


async def test_a_case_moves_through_its_statuses_with_notes_and_history(
    wallet: WalletService, clock: FakeClock, recon: ReconService, tmp_path: Path
) -> None:
    case_id, _ = await open_case(wallet, clock, recon, tmp_path)
    moves = [
        (CaseStatus.IN_REVIEW, "ann", "looking at the provider's log"),
        (CaseStatus.ESCALATED, "bob", "asked the provider"),
        (CaseStatus.IN_REVIEW, "ann", "the provider answered"),
        (CaseStatus.RESOLVED, "ann", "the provider will void it"),
        (CaseStatus.OPEN, "bob", "it was not voided"),
    ]
    for to, actor, note in moves:
        clock.advance(60)
        moved = await recon.move(case_id, to, actor=actor, note=note)
        assert moved.status is to
        assert moved.updated_at == clock.now

    case, history = await recon.get_case(case_id)
    assert case.status is CaseStatus.OPEN
    assert [(e.from_status, e.to_status, e.actor, e.note) for e in history[1:]] == [
        (CaseStatus.OPEN, CaseStatus.IN_REVIEW, "ann", "looking at the provider's log"),
        (CaseStatus.IN_REVIEW, CaseStatus.ESCALATED, "bob", "asked the provider"),
        (CaseStatus.ESCALATED, CaseStatus.IN_REVIEW, "ann", "the provider answered"),
        (CaseStatus.IN_REVIEW, CaseStatus.RESOLVED, "ann", "the provider will void it"),
        (CaseStatus.RESOLVED, CaseStatus.OPEN, "bob", "it was not voided"),
    ]  # fmt: skip
    assert (history[0].from_status, history[0].to_status, history[0].actor) == (
        None, CaseStatus.OPEN, "cli",
    )  # fmt: skip
    assert history[0].note.startswith("missing_in_ledger: ")
    assert all(e.tx_ref is None for e in history)


async def test_illegal_moves_are_refused_and_change_nothing(
    wallet: WalletService, clock: FakeClock, recon: ReconService, tmp_path: Path
) -> None:
    case_id, _ = await open_case(wallet, clock, recon, tmp_path)
    # (moves to make first, then the moves that must be refused from there)
    walk = [
        ([], [CaseStatus.OPEN, CaseStatus.AUTO_RESOLVED]),
        ([CaseStatus.IN_REVIEW], [CaseStatus.IN_REVIEW, CaseStatus.AUTO_RESOLVED]),
        ([CaseStatus.ESCALATED], [CaseStatus.OPEN, CaseStatus.ESCALATED]),
        ([CaseStatus.RESOLVED], [CaseStatus.IN_REVIEW, CaseStatus.ESCALATED,
                                 CaseStatus.RESOLVED, CaseStatus.AUTO_RESOLVED]),
    ]  # fmt: skip
    for path, refused in walk:
        for step in path:
            await recon.move(case_id, step, actor="ann", note="step")
        before = await recon.get_case(case_id)
        for to in refused:
            with pytest.raises(CaseTransition) as caught:
                await recon.move(case_id, to, actor="ann", note="not allowed")
            assert caught.value.code == "RECON_CASE_TRANSITION"
            assert caught.value.details == {
                "case_id": case_id, "status": before[0].status.value, "target": to.value,
            }  # fmt: skip
            assert await recon.get_case(case_id) == before


async def test_a_move_needs_a_note_and_an_actor(
    wallet: WalletService, clock: FakeClock, recon: ReconService, tmp_path: Path
) -> None:
    case_id, _ = await open_case(wallet, clock, recon, tmp_path)
    for actor, note in (("ann", ""), ("ann", "   "), ("ann", "x" * 1001), ("", "why"),
                        ("a\nb", "why")):  # fmt: skip
        with pytest.raises(InvalidRequest):
            await recon.move(case_id, CaseStatus.IN_REVIEW, actor=actor, note=note)
    case, history = await recon.get_case(case_id)
    assert (case.status, len(history)) == (CaseStatus.OPEN, 1)


async def test_an_unknown_case_is_not_found(recon: ReconService) -> None:
    for call in (
        recon.get_case(999),
        recon.move(999, CaseStatus.IN_REVIEW, actor="ann", note="n"),
        recon.correct(999, amount=100, credit=True, actor="ann", note="n"),
    ):
        with pytest.raises(CaseNotFound) as caught:
            await call
        assert caught.value.code == "RECON_CASE_NOT_FOUND"
        assert caught.value.details["case_id"] == 999


# -- cases: corrected through the wallet -------------------------------------------------------


async def test_a_credit_correction_pays_the_player_once_and_resolves_the_case(
    wallet: WalletService, clock: FakeClock, recon: ReconService, tmp_path: Path,
    database_url: str,
) -> None:  # fmt: skip
    case_id, _ = await open_case(wallet, clock, recon, tmp_path)  # the provider paid w-ghost
    cash = (await wallet.balance("p1")).cash

    case = await recon.correct(case_id, amount=400, credit=True, actor="ann", note="w-ghost")

    assert case.status is CaseStatus.RESOLVED
    assert (await wallet.balance("p1")).cash == cash + 400
    _, history = await recon.get_case(case_id)
    last = history[-1]
    assert (last.from_status, last.to_status, last.actor) == (
        CaseStatus.OPEN, CaseStatus.RESOLVED, "ann",
    )  # fmt: skip
    assert last.tx_ref == f"recon:case:{case_id}:adjustment"
    assert last.note == "corrected: credit 4.00 EUR: w-ghost"
    assert adjustments(database_url) == 1
    assert_ledger_ok(database_url)

    # once resolved, the same correction again (a retry) replays: nothing moves, the case is
    # as it was; another amount is a mismatch
    again = await recon.correct(case_id, amount=400, credit=True, actor="ann", note="again")
    assert (again.status, (await wallet.balance("p1")).cash) == (CaseStatus.RESOLVED, cash + 400)
    with pytest.raises(IdempotencyMismatch):
        await recon.correct(case_id, amount=500, credit=True, actor="ann", note="more")
    assert (await wallet.balance("p1")).cash == cash + 400

    # reopened, the same correction replays the adjustment: the case resolves, no money moves
    await recon.move(case_id, CaseStatus.OPEN, actor="bob", note="recheck")
    case = await recon.correct(case_id, amount=400, credit=True, actor="bob", note="again")
    assert case.status is CaseStatus.RESOLVED
    assert (await wallet.balance("p1")).cash == cash + 400
    assert adjustments(database_url) == 1
    _, history = await recon.get_case(case_id)
    assert [e.tx_ref for e in history].count(f"recon:case:{case_id}:adjustment") == 2
    assert_ledger_ok(database_url)


async def test_a_correction_interrupted_after_the_adjustment_is_replayed_by_a_retry(
    wallet: WalletService, clock: FakeClock, recon: ReconService, tmp_path: Path,
    *, database_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    case_id, _ = await open_case(wallet, clock, recon, tmp_path)
    cash = (await wallet.balance("p1")).cash
    real = recon.store.move_case
    calls = []

    async def changed_meanwhile(*args: Any) -> bool:
        calls.append(args)
        return False

    monkeypatch.setattr(recon.store, "move_case", changed_meanwhile)
    with pytest.raises(CaseTransition, match="a retry replays it"):
        await recon.correct(case_id, amount=400, credit=True, actor="ann", note="first")
    assert (await wallet.balance("p1")).cash == cash + 400  # the adjustment stands
    monkeypatch.setattr(recon.store, "move_case", real)

    case = await recon.correct(case_id, amount=400, credit=True, actor="ann", note="retry")

    assert case.status is CaseStatus.RESOLVED
    assert (await wallet.balance("p1")).cash == cash + 400  # once
    assert adjustments(database_url) == 1
    assert_ledger_ok(database_url)


async def test_a_debit_correction_takes_from_the_player_once(
    wallet: WalletService, clock: FakeClock, recon: ReconService, tmp_path: Path,
    database_url: str,
) -> None:  # fmt: skip
    # the feed says w6 paid 2.50; the ledger paid 2.00: here, the other way round
    day = await synthetic_day(wallet, clock)
    day.set("w6", Amount="1.50")
    await reconcile(recon, write_feed(tmp_path / "f.csv", day.lines))
    [case] = await recon.store.cases(provider=PROVIDER, status="open", limit=10)
    assert (case.kind, case.amount_difference, case.player_id) == (
        DiffKind.AMOUNT_MISMATCH, -50, "p1",
    )  # fmt: skip
    cash = (await wallet.balance("p1")).cash

    resolved = await recon.correct(case.id, amount=50, credit=False, actor="ann", note="over")

    assert resolved.status is CaseStatus.RESOLVED
    assert (await wallet.balance("p1")).cash == cash - 50
    _, history = await recon.get_case(case.id)
    assert history[-1].note == "corrected: debit 0.50 EUR: over"
    assert adjustments(database_url) == 1
    assert_ledger_ok(database_url)


async def test_a_debit_beyond_the_player_s_cash_is_refused_and_the_case_stays_open(
    wallet: WalletService, clock: FakeClock, recon: ReconService, tmp_path: Path,
    database_url: str,
) -> None:  # fmt: skip
    day = await synthetic_day(wallet, clock)
    day.line("b-p5", "BET", 500, player="p5", round_id="r-p5")  # the provider took 5.00
    await reconcile(recon, write_feed(tmp_path / "f.csv", day.lines))
    [case] = await recon.store.cases(provider=PROVIDER, status="open", limit=10)
    assert case.player_id == "p5"
    assert (await wallet.balance("p5")).cash == 100

    with pytest.raises(InsufficientFunds) as caught:
        await recon.correct(case.id, amount=500, credit=False, actor="ann", note="stake")

    assert caught.value.code == "INSUFFICIENT_FUNDS"
    after, history = await recon.get_case(case.id)
    assert after.status is CaseStatus.OPEN
    assert len(history) == 1
    assert (await wallet.balance("p5")).cash == 100
    assert adjustments(database_url) == 0
    # a smaller correction is still possible: the refusal was not kept under the case's id
    done = await recon.correct(case.id, amount=100, credit=False, actor="ann", note="what is")
    assert done.status is CaseStatus.RESOLVED
    assert (await wallet.balance("p5")).cash == 0
    assert_ledger_ok(database_url)


async def test_a_case_without_a_player_cannot_be_corrected(
    wallet: WalletService, clock: FakeClock, recon: ReconService, tmp_path: Path,
    database_url: str,
) -> None:  # fmt: skip
    day = await synthetic_day(wallet, clock)
    day.line("w-anon", "WIN", 400, player="", round_id="r1")
    await reconcile(recon, write_feed(tmp_path / "f.csv", day.lines))
    [case] = await recon.store.cases(provider=PROVIDER, status="open", limit=10)
    assert case.player_id == ""
    with pytest.raises(CaseTransition, match="names no player"):
        await recon.correct(case.id, amount=400, credit=True, actor="ann", note="n")
    assert adjustments(database_url) == 0


# -- alerts ------------------------------------------------------------------------------------


async def test_an_alert_is_recorded_when_a_currency_passes_the_thresholds(
    wallet: WalletService, clock: FakeClock, recon: ReconService, alerts: Alerts,
    tmp_path: Path,
) -> None:  # fmt: skip
    day = await synthetic_day(wallet, clock)
    day.set("b4", Amount="3.10")  # USD: 1 mismatch in 2 rows, net 0.10 off
    clock.now = DAY2.start + timedelta(hours=2)

    result = await reconcile(recon, write_feed(tmp_path / "f.csv", day.lines))

    [alert] = alerts.alerts
    assert alert.kind is AlertKind.RECON_MISMATCH
    assert alert.kind.value == "recon_mismatch"
    assert (alert.at, alert.provider, alert.player_id) == (clock.now, PROVIDER, None)
    assert alert.detail["run_id"] == result.run_id
    assert alert.detail["period_start"] == DAY.isoformat()
    assert alert.detail["reasons"] == result.alerts
    assert [r.split(":")[0] for r in result.alerts] == ["USD", "USD"]  # EUR is fine
    assert "mismatch rate 50.0000% over 0.1000%" in result.alerts[0]
    assert "net difference 0.10 over" in result.alerts[1]
    assert result.report["currencies"]["USD"]["alerts"] == [
        r.removeprefix("USD: ") for r in result.alerts
    ]
    assert result.report["currencies"]["EUR"]["alerts"] == []


async def test_no_alert_below_the_thresholds(
    wallet: WalletService, clock: FakeClock, store: WalletStore, alerts: Alerts, tmp_path: Path
) -> None:
    lenient = ReconService(
        SqlReconStore(cast(SqlRunner, store)), wallet, spill=small_spill, clock=clock,
        alerts=alerts, thresholds=Thresholds(rate=0.5, net_share=0.5),
    )  # fmt: skip
    day = await synthetic_day(wallet, clock)
    inject(day, "amount_mismatch")  # 1 in 12 EUR rows; 0.50 of 5.10 bets
    result = await reconcile(lenient, write_feed(tmp_path / "f.csv", day.lines))
    assert len(result.differences) == 1
    assert result.alerts == []
    assert alerts.alerts == []


async def test_an_amount_past_the_currency_s_largest_refuses_the_feed_and_stores_nothing(
    wallet: WalletService, clock: FakeClock, recon: ReconService, tmp_path: Path,
    database_url: str,
) -> None:  # fmt: skip
    day = await synthetic_day(wallet, clock)
    for ln in day.lines:  # the same day in minor units
        ln["Amount"] = str(int(ln["Amount"].replace(".", "")))
    day.line("w-huge", "WIN", 0, player="p1", round_id="r1")
    day.set("w-huge", Amount=str(10**20))
    before = counts(database_url)

    try:
        with pytest.raises(FeedInvalid):
            await reconcile(recon, write_feed(tmp_path / "f.csv", day.lines),
                            {**MAPPING, "amount_unit": "minor"})  # fmt: skip
    finally:
        assert counts(database_url) == before


# -- what the review found: late originals, edges of days, races, long ids ----------------------


async def test_a_corrected_case_reopens_when_its_original_arrives_after_all(
    wallet: WalletService, clock: FakeClock, recon: ReconService, tmp_path: Path
) -> None:
    case_id, day = await open_case(wallet, clock, recon, tmp_path)  # w-ghost, 4.00 to p1
    await recon.correct(case_id, amount=400, credit=True, actor="ann", note="acme paid it")
    clock.advance(60)
    await wallet.settle_win(Win(player_id="p1", amount=400, currency="EUR", provider=PROVIDER,
                                tx_id="w-ghost", round_id="r1", game_code="g1"))  # fmt: skip
    clock.now = DAY + timedelta(hours=5)
    again = await reconcile(recon, write_feed(tmp_path / "again.csv", day.lines))
    assert [d.kind for d in again.differences] == []  # the feed and the ledger agree now...
    case, history = await recon.get_case(case_id)
    assert case.status is CaseStatus.OPEN  # ...but the player was paid twice: back to a person
    assert "paid twice" in history[-1].note
    once_more = await reconcile(recon, write_feed(tmp_path / "more.csv", day.lines))
    assert once_more.differences == []
    case, _ = await recon.get_case(case_id)
    assert case.status is CaseStatus.OPEN  # a later match does not close it: a person does


async def test_a_ledger_row_after_midnight_is_counted_on_the_day_its_feed_reported_it(
    wallet: WalletService, clock: FakeClock, recon: ReconService, tmp_path: Path
) -> None:
    day1 = await synthetic_day(wallet, clock)
    day1.at(23, 59, 55)
    day1.line("b-late", "BET", 100, player="p1", round_id="r-late")  # the provider: day 1
    clock.now = DAY2.start + timedelta(seconds=5)
    await wallet.place_bet(Bet(player_id="p1", amount=100, currency="EUR", provider=PROVIDER,
                               tx_id="b-late", round_id="r-late", game_code="g1"))  # fmt: skip
    day2 = Day(wallet, clock)
    day2.at(9, day=DAY2.start)
    await day2.bet("d2-b", 300, player="p2", round_id="d2-r")

    clock.now = DAY2.end + timedelta(hours=1)
    first = await reconcile(recon, write_feed(tmp_path / "d1.csv", day1.lines))
    assert [(d.kind, d.key) for d in first.differences] == [(DiffKind.OUTSIDE_PERIOD, "b-late")]
    second = await reconcile(recon, write_feed(tmp_path / "d2.csv", day2.lines), period=DAY2)
    assert second.differences == []  # not missing on day 2: day 1's feed had it
    eur = second.report["currencies"]["EUR"]
    assert (eur["ledger"]["rows"], eur["net_difference"]) == (1, "0.00")  # nor counted twice
    assert await recon.store.cases(provider=PROVIDER, status="open", limit=10) == []


async def test_a_transaction_missing_in_the_ledger_that_lands_the_next_day_closes_its_case(
    wallet: WalletService, clock: FakeClock, recon: ReconService, tmp_path: Path
) -> None:
    day1 = await synthetic_day(wallet, clock)
    day1.at(23, 59, 55)
    day1.line("b-slow", "BET", 100, player="p1", round_id="r-slow")
    clock.now = DAY2.start + timedelta(hours=1)
    first = await reconcile(recon, write_feed(tmp_path / "d1.csv", day1.lines))
    assert [(d.kind, d.key) for d in first.differences] == [(DiffKind.MISSING_IN_LEDGER, "b-slow")]
    await wallet.place_bet(Bet(player_id="p1", amount=100, currency="EUR", provider=PROVIDER,
                               tx_id="b-slow", round_id="r-slow", game_code="g1"))  # fmt: skip
    clock.now = DAY2.end + timedelta(hours=1)
    second = await reconcile(recon, write_feed(tmp_path / "d2.csv", []), period=DAY2)
    assert second.differences == []
    [case] = await recon.store.cases(provider=PROVIDER, status=None, limit=10)
    assert (case.key, case.status) == ("b-slow", CaseStatus.AUTO_RESOLVED)


async def test_two_stored_runs_at_once_both_finish_with_one_case_per_difference(
    wallet: WalletService, clock: FakeClock, recon: ReconService, tmp_path: Path
) -> None:
    import asyncio  # noqa: PLC0415 - this test only

    day = await synthetic_day(wallet, clock)
    inject(day, "missing_in_ledger")
    path = write_feed(tmp_path / "f.csv", day.lines)
    first, second = await asyncio.gather(reconcile(recon, path), reconcile(recon, path))
    assert first.run_id != second.run_id
    assert first.report["report_sha256"] == second.report["report_sha256"]
    assert len(await recon.store.cases(provider=PROVIDER, status=None, limit=10)) == 1


async def test_an_id_longer_than_the_ledger_keeps_refuses_the_feed(
    wallet: WalletService, clock: FakeClock, recon: ReconService, tmp_path: Path
) -> None:
    day = await synthetic_day(wallet, clock)
    day.line("x" * 129, "BET", 100, player="p1", round_id="r1")
    with pytest.raises(FeedInvalid) as refused:
        await reconcile(recon, write_feed(tmp_path / "f.csv", day.lines))
    assert "128 bytes" in refused.value.details["lines"][0]["problem"]
    assert await recon.store.runs(PROVIDER, 10) == []
