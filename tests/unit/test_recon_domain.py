"""Reconciliation's pure rules (domain/recon.py): the merge of two sorted sides, every kind
of difference, the totals and net position per currency, the alert thresholds and the case
moves. Unit cases plus a hypothesis property: a feed that tells the ledger's own story
reconciles to zero, and one changed row gives exactly one difference of the right kind."""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from croupier.domain.recon import (
    AUTO_RESOLVABLE,
    CASE_MOVES,
    CaseStatus,
    CurrencyTotals,
    Difference,
    DiffKind,
    Kind,
    Pair,
    Period,
    Row,
    Side,
    Status,
    Thresholds,
    breaches,
    classify,
    compare,
    merge,
)

DAY = datetime(2026, 1, 1, tzinfo=UTC)
PERIOD = Period(DAY, DAY + timedelta(days=1))
NOON = DAY + timedelta(hours=12)


def row(
    key: str,
    kind: Kind = Kind.BET,
    amount: int = 100,
    *,
    currency: str = "EUR",
    at: datetime = NOON,
    status: Status = Status.OK,
    line: int = 0,
    win: int = 0,
    player: str = "p1",
) -> Row:
    return Row(key=key, kind=kind, amount=amount, currency=currency, at=at, status=status,
               player_id=player, round_id=f"r-{key}", win=win, line=line)  # fmt: skip


def kinds(found: Iterable[Difference]) -> list[DiffKind]:
    return [d.kind for d in found]


def pair(feed: list[Row], ledger: Row | None) -> Pair:
    key = feed[0].key if feed else ledger.key  # type: ignore[union-attr]
    return Pair(key, feed, ledger)


# -- merge -------------------------------------------------------------------------------------


def test_merge_yields_one_pair_per_key_in_key_order() -> None:
    feed = [row("a", line=1), row("c", line=2), row("e", line=3)]
    ledger = [row("b"), row("c"), row("d")]

    pairs = list(merge(feed, ledger))

    assert [p.key for p in pairs] == ["a", "b", "c", "d", "e"]
    assert [(len(p.feed), p.ledger is not None) for p in pairs] == [
        (1, False), (0, True), (1, True), (0, True), (1, False),
    ]  # fmt: skip
    assert pairs[2].feed == [feed[1]]
    assert pairs[2].ledger == ledger[1]


def test_merge_groups_a_key_repeated_in_the_feed_with_its_single_ledger_row() -> None:
    feed = [row("a", line=1), row("a", line=4), row("a", line=9), row("b", line=2)]
    ledger = [row("a"), row("z")]

    pairs = list(merge(feed, ledger))

    assert [(p.key, [r.line for r in p.feed], p.ledger) for p in pairs] == [
        ("a", [1, 4, 9], ledger[0]), ("b", [2], None), ("z", [], ledger[1]),
    ]  # fmt: skip


def test_merge_of_a_duplicate_at_the_end_of_the_feed_without_ledger_row() -> None:
    pairs = list(merge([row("m", line=1), row("x", line=2), row("x", line=3)], [row("m")]))
    assert [(p.key, len(p.feed), p.ledger is not None) for p in pairs] == [
        ("m", 1, True), ("x", 2, False),
    ]  # fmt: skip


def test_merge_with_one_side_empty() -> None:
    only_ledger = list(merge([], [row("a"), row("b")]))
    assert [(p.key, p.feed, p.ledger is not None) for p in only_ledger] == [
        ("a", [], True), ("b", [], True),
    ]  # fmt: skip
    only_feed = list(merge([row("a", line=1), row("a", line=2), row("b", line=3)], []))
    assert [(p.key, len(p.feed), p.ledger) for p in only_feed] == [("a", 2, None), ("b", 1, None)]
    assert list(merge([], [])) == []


def test_merge_accepts_iterators_and_reads_each_once() -> None:
    feed = iter([row("a", line=1), row("b", line=2)])
    ledger = iter([row("b")])
    assert [p.key for p in merge(feed, ledger)] == ["a", "b"]
    assert next(feed, None) is None
    assert next(ledger, None) is None


# -- classify and compare: every kind of difference -------------------------------------------


def test_rows_that_agree_have_no_difference() -> None:
    assert compare(row("a", line=1), row("a"), PERIOD) == []
    assert classify(pair([row("a", line=1)], row("a")), PERIOD) == []


def test_missing_in_ledger() -> None:
    feed = row("a", Kind.WIN, 250, line=7)
    [d] = classify(pair([feed], None), PERIOD)
    assert (d.kind, d.key, d.currency, d.feed, d.ledger) == (
        DiffKind.MISSING_IN_LEDGER, "a", "EUR", feed, None,
    )  # fmt: skip
    assert d.amount_difference == 250
    assert d.kind.counts_as_mismatch


def test_missing_in_feed() -> None:
    ledger = row("a", Kind.CREDIT, 900, currency="USD")
    [d] = classify(pair([], ledger), PERIOD)
    assert (d.kind, d.key, d.currency, d.feed, d.ledger) == (
        DiffKind.MISSING_IN_FEED, "a", "USD", None, ledger,
    )  # fmt: skip
    assert d.amount_difference == -900


def test_a_ledger_row_of_another_day_alone_is_no_difference() -> None:
    for at in (DAY - timedelta(seconds=1), PERIOD.end, PERIOD.end + timedelta(hours=3)):
        assert classify(pair([], row("a", at=at)), PERIOD) == []
    # the period's start is in it, its end is not
    assert kinds(classify(pair([], row("a", at=DAY)), PERIOD)) == [DiffKind.MISSING_IN_FEED]


def test_a_failed_ledger_row_alone_is_no_difference() -> None:
    assert classify(pair([], row("a", status=Status.FAILED)), PERIOD) == []


def test_a_refusal_on_both_sides_is_agreement_whatever_the_amounts() -> None:
    feed = row("a", amount=500, status=Status.FAILED, line=1)
    ledger = row("a", amount=0, status=Status.FAILED)
    assert classify(pair([feed], ledger), PERIOD) == []


def test_a_refusal_in_the_feed_alone_is_no_difference() -> None:
    assert classify(pair([row("a", status=Status.FAILED, line=1)], None), PERIOD) == []


def test_amount_mismatch() -> None:
    [d] = classify(pair([row("a", Kind.WIN, 300, line=2)], row("a", Kind.WIN, 200)), PERIOD)
    assert d.kind is DiffKind.AMOUNT_MISMATCH
    assert d.detail.startswith("amount")
    assert d.amount_difference == 100


def test_amount_mismatch_detail_is_grammatical() -> None:
    [d] = compare(row("a", amount=300, line=1), row("a", amount=200), PERIOD)
    assert d.detail == "amount differs"


def test_amount_mismatch_of_a_round_compares_stakes_and_wins() -> None:
    feed = row("r", Kind.ROUND, 200, win=500, line=1)
    assert compare(feed, row("r", Kind.ROUND, 200, win=500), PERIOD) == []
    [d] = compare(feed, row("r", Kind.ROUND, 200, win=400), PERIOD)
    assert (d.kind, d.detail) == (DiffKind.AMOUNT_MISMATCH, "stakes and wins differ")
    assert d.amount_difference == (200 - 500) - (200 - 400)
    [d] = compare(feed, row("r", Kind.ROUND, 300, win=500), PERIOD)
    assert d.amount_difference == -100


def test_currency_mismatch_is_reported_alone() -> None:
    feed = row("a", amount=999, currency="USD", status=Status.FAILED, line=1)
    [d] = classify(pair([feed], row("a", amount=100)), PERIOD)
    assert d.kind is DiffKind.CURRENCY_MISMATCH
    assert d.currency == "EUR"  # the ledger's: the player's wallet, where a correction goes
    assert d.detail == "feed USD, ledger EUR"


@pytest.mark.parametrize(
    ("feed", "ledger"),
    [
        (Status.OK, Status.ROLLED_BACK),
        (Status.ROLLED_BACK, Status.OK),
        (Status.OK, Status.FAILED),
        (Status.FAILED, Status.OK),
        (Status.ROLLED_BACK, Status.FAILED),
    ],
)
def test_status_mismatch(feed: Status, ledger: Status) -> None:
    found = classify(pair([row("a", status=feed, line=1)], row("a", amount=1, status=ledger)),
                     PERIOD)  # fmt: skip
    assert kinds(found) == [DiffKind.STATUS_MISMATCH]  # the amounts are not compared then
    assert found[0].detail == f"feed {feed}, ledger {ledger}"


def test_status_mismatch_of_a_rolled_back_bet_moves_its_stake() -> None:
    ledger = row("a", amount=150, status=Status.ROLLED_BACK)
    [d] = classify(pair([row("a", amount=150, line=1)], ledger), PERIOD)
    assert d.kind is DiffKind.STATUS_MISMATCH
    assert d.amount_difference == 150  # a rolled-back bet moves no money


def test_type_mismatch_is_reported_alone() -> None:
    feed = row("a", Kind.CREDIT, 700, currency="USD", line=1)
    [d] = classify(pair([feed], row("a", Kind.WIN, 100)), PERIOD)
    assert (d.kind, d.detail) == (DiffKind.TYPE_MISMATCH, "feed says credit, ledger win")


def test_duplicate_in_feed_one_difference_per_repeat() -> None:
    feed = [row("a", line=3), row("a", line=8), row("a", line=12)]
    found = classify(pair(feed, row("a")), PERIOD)
    assert kinds(found) == [DiffKind.DUPLICATE_IN_FEED, DiffKind.DUPLICATE_IN_FEED]
    assert [d.detail for d in found] == ["line 8 repeats line 3", "line 12 repeats line 3"]
    assert [d.feed for d in found] == feed[1:]
    assert all(d.ledger == row("a") for d in found)


def test_duplicate_in_feed_is_compared_by_its_first_line() -> None:
    feed = [row("a", amount=100, line=1), row("a", amount=999, line=2)]
    assert kinds(classify(pair(feed, row("a", amount=100)), PERIOD)) == [DiffKind.DUPLICATE_IN_FEED]
    assert kinds(classify(pair(feed, row("a", amount=999)), PERIOD)) == [
        DiffKind.DUPLICATE_IN_FEED, DiffKind.AMOUNT_MISMATCH,
    ]  # fmt: skip
    assert kinds(classify(pair(feed, None), PERIOD)) == [
        DiffKind.DUPLICATE_IN_FEED, DiffKind.MISSING_IN_LEDGER,
    ]  # fmt: skip


def test_outside_period_is_informational() -> None:
    late = row("a", at=PERIOD.end + timedelta(minutes=5))
    [d] = classify(pair([row("a", line=1)], late), PERIOD)
    assert d.kind is DiffKind.OUTSIDE_PERIOD
    assert not d.kind.counts_as_mismatch
    assert d.amount_difference == 0
    # either side's time may be outside
    early_feed = row("a", at=DAY - timedelta(seconds=1), line=1)
    assert kinds(classify(pair([early_feed], row("a")), PERIOD)) == [DiffKind.OUTSIDE_PERIOD]


def test_outside_period_comes_with_the_row_s_own_difference() -> None:
    late = row("a", amount=200, at=PERIOD.end + timedelta(hours=1))
    assert kinds(classify(pair([row("a", amount=100, line=1)], late), PERIOD)) == [
        DiffKind.AMOUNT_MISMATCH, DiffKind.OUTSIDE_PERIOD,
    ]  # fmt: skip


def test_every_kind_of_difference_is_told_apart() -> None:
    """One case per kind; together they are every DiffKind."""
    cases = {
        DiffKind.MISSING_IN_LEDGER: pair([row("a", line=1)], None),
        DiffKind.MISSING_IN_FEED: pair([], row("a")),
        DiffKind.AMOUNT_MISMATCH: pair([row("a", amount=1, line=1)], row("a", amount=2)),
        DiffKind.CURRENCY_MISMATCH: pair([row("a", currency="GBP", line=1)], row("a")),
        DiffKind.STATUS_MISMATCH: pair([row("a", status=Status.FAILED, line=1)], row("a")),
        DiffKind.TYPE_MISMATCH: pair([row("a", Kind.WIN, line=1)], row("a")),
        DiffKind.DUPLICATE_IN_FEED: pair([row("a", line=1), row("a", line=2)], row("a")),
        DiffKind.OUTSIDE_PERIOD: pair([row("a", line=1)], row("a", at=PERIOD.end)),
    }
    assert set(cases) == set(DiffKind)
    for expected, p in cases.items():
        assert kinds(classify(p, PERIOD)) == [expected], expected


def test_difference_to_dict() -> None:
    feed = row("r", Kind.ROUND, 200, win=50, line=4)
    d = classify(pair([feed], row("r", Kind.ROUND, 100, win=50)), PERIOD)[0]
    out = d.to_dict()
    assert out["kind"] == "amount_mismatch"
    assert out["key"] == "r"
    assert out["feed"] == {"kind": "round", "amount": 200, "currency": "EUR",
                           "at": NOON.isoformat(), "status": "ok", "player_id": "p1",
                           "round_id": "r-r", "win": 50, "line": 4}  # fmt: skip
    assert "line" not in out["ledger"]
    missing = classify(pair([], row("b")), PERIOD)[0].to_dict()
    assert missing["feed"] is None
    assert "win" not in missing["ledger"]


def test_period_is_half_open() -> None:
    assert DAY in PERIOD
    assert DAY + timedelta(days=1) - timedelta(microseconds=1) in PERIOD
    assert DAY + timedelta(days=1) not in PERIOD
    assert DAY - timedelta(microseconds=1) not in PERIOD


# -- totals, net position and alert thresholds -----------------------------------------------


def test_side_sums_each_kind_and_nets_bets_less_wins_rollbacks_and_credits() -> None:
    side = Side()
    for r in (
        row("b1", Kind.BET, 1000),
        row("b2", Kind.BET, 300, status=Status.ROLLED_BACK),
        row("b3", Kind.BET, 777, status=Status.FAILED),
        row("w1", Kind.WIN, 400),
        row("w2", Kind.WIN, 50, status=Status.FAILED),
        row("rb", Kind.ROLLBACK, 120),
        row("c1", Kind.CREDIT, 90),
        row("r1", Kind.ROUND, 500, win=200),
        row("r2", Kind.ROUND, 500, win=200, status=Status.FAILED),
    ):
        side.add(r)
    assert side.to_dict() == {
        "rows": 9, "bets": 1000 + 300 + 500, "wins": 400 + 200, "rollbacks": 300 + 120,
        "credits": 90, "net": 1800 - 600 - 420 - 90,
    }  # fmt: skip
    assert side.net == 690


def test_a_rolled_back_bet_nets_to_nothing_whether_told_by_status_or_by_rows() -> None:
    by_status, by_rows = Side(), Side()
    by_status.add(row("b", Kind.BET, 300, status=Status.ROLLED_BACK))
    by_rows.add(row("b", Kind.BET, 300))
    by_rows.add(row("rb", Kind.ROLLBACK, 300))
    assert by_status.net == by_rows.net == 0
    assert (by_status.bets, by_status.rollbacks) == (by_rows.bets, by_rows.rollbacks)


def test_currency_totals_count_only_mismatches_in_the_rate() -> None:
    t = CurrencyTotals()
    for _ in range(200):
        t.feed.add(row("f", Kind.BET, 10))
    for _ in range(250):
        t.ledger.add(row("l", Kind.BET, 10))
    t.differences = {"outside_period": 40, "amount_mismatch": 2, "missing_in_feed": 3}
    assert t.mismatches == 5
    assert t.mismatch_rate == 5 / (200 + 3)  # keys: the feed's rows and the ledger's it lacks
    assert t.net_difference == 2000 - 2500
    empty = CurrencyTotals()
    assert (empty.mismatches, empty.mismatch_rate, empty.net_difference) == (0, 0.0, 0)


def totals(*, rows: int, mismatches: int, bets: int, feed_net_extra: int = 0) -> CurrencyTotals:
    t = CurrencyTotals()
    t.ledger.rows = t.feed.rows = rows
    t.ledger.bets = bets
    t.feed.bets = bets + feed_net_extra
    if mismatches:
        t.differences = {"amount_mismatch": mismatches}
    return t


def test_breaches_thresholds() -> None:
    th = Thresholds(rate=0.001, net_share=0.001)
    assert breaches(CurrencyTotals(), th) == []
    assert breaches(totals(rows=1000, mismatches=1, bets=100_000), th) == []  # at: not over
    [why] = breaches(totals(rows=1000, mismatches=2, bets=100_000), th)
    assert why == "mismatch rate 0.2000% over 0.1000%"
    assert breaches(totals(rows=10, mismatches=0, bets=100_000, feed_net_extra=100), th) == []
    [why] = breaches(totals(rows=10, mismatches=0, bets=100_000, feed_net_extra=-101), th)
    assert why == "net difference -101 over 0.1000% of the ledger's bets"
    [why] = breaches(totals(rows=10, mismatches=0, bets=100_000, feed_net_extra=-101), th,
                     lambda m: f"{m / 100:.2f} EUR")  # fmt: skip
    assert why == "net difference -1.01 EUR over 0.1000% of the ledger's bets"
    both = breaches(totals(rows=10, mismatches=5, bets=1000, feed_net_extra=50), th)
    assert len(both) == 2


def test_the_mismatch_rate_never_passes_one() -> None:
    t = CurrencyTotals()
    t.feed.rows = 3000  # a feed of ids the ledger has never seen, and more besides
    t.differences = {"missing_in_ledger": 3000, "missing_in_feed": 17}
    assert t.mismatch_rate == 1.0


def test_a_net_difference_without_ledger_bets_breaches_from_one_minor_unit() -> None:
    t = CurrencyTotals()
    t.feed.credits = 1  # the feed pays a credit the ledger never saw
    assert breaches(t, Thresholds(rate=1.0, net_share=0.5)) != []


def test_outside_period_alone_raises_no_alert() -> None:
    t = totals(rows=10, mismatches=0, bets=1000)
    t.differences = {"outside_period": 10}
    assert breaches(t, Thresholds()) == []


# -- cases -------------------------------------------------------------------------------------


def test_case_moves() -> None:
    assert {s for s in CaseStatus if s.is_closed} == {
        CaseStatus.AUTO_RESOLVED, CaseStatus.RESOLVED,
    }  # fmt: skip
    assert set(CASE_MOVES) == set(CaseStatus)
    for status, targets in CASE_MOVES.items():
        assert status not in targets
        if status.is_closed:
            assert targets == {CaseStatus.OPEN}  # a closed case only reopens
        else:
            assert {CaseStatus.RESOLVED, CaseStatus.AUTO_RESOLVED} <= targets
    assert CaseStatus.OPEN not in CASE_MOVES[CaseStatus.ESCALATED]
    assert {
        DiffKind.MISSING_IN_LEDGER, DiffKind.MISSING_IN_FEED, DiffKind.STATUS_MISMATCH,
    } == AUTO_RESOLVABLE  # fmt: skip


# -- property: a feed that tells the ledger's story reconciles to zero ------------------------

CURRENCIES = ("EUR", "USD", "JPY")
KEYS = st.text(alphabet="abcdefgh0123456789-_:", min_size=1, max_size=12)


@st.composite
def ledgers(draw: st.DrawFn) -> list[Row]:
    keys = draw(st.lists(KEYS, min_size=1, max_size=40, unique=True))
    out = []
    for key in keys:
        kind = draw(st.sampled_from([Kind.BET, Kind.WIN, Kind.ROLLBACK, Kind.CREDIT]))
        status = Status.OK
        if kind is Kind.BET:
            status = draw(st.sampled_from(list(Status)))
        at = DAY + timedelta(seconds=draw(st.integers(0, 86_399)))
        out.append(Row(key=key, kind=kind, amount=draw(st.integers(0, 10**9)),
                       currency=draw(st.sampled_from(CURRENCIES)), at=at, status=status,
                       player_id=draw(st.sampled_from(["p1", "p2", "p3"]))))  # fmt: skip
    return out


def as_feed(rows: Iterable[Row]) -> list[Row]:
    """The rows as a feed tells them, in some file order: numbered lines."""
    return [replace(r, line=n) for n, r in enumerate(rows, 1)]


def reconcile(
    feed: list[Row], ledger: list[Row]
) -> tuple[list[Difference], dict[str, CurrencyTotals]]:
    """Sort both sides, merge, classify and total, as ReconService.run does."""
    found: list[Difference] = []
    by_currency: dict[str, CurrencyTotals] = {}
    for p in merge(
        sorted(feed, key=lambda r: (r.key, r.line)), sorted(ledger, key=lambda r: r.key)
    ):
        for r in p.feed:
            by_currency.setdefault(r.currency, CurrencyTotals()).feed.add(r)
        if p.ledger is not None and (p.feed or p.ledger.at in PERIOD):
            by_currency.setdefault(p.ledger.currency, CurrencyTotals()).ledger.add(p.ledger)
        found += classify(p, PERIOD)
    for d in found:
        counts = by_currency.setdefault(d.currency, CurrencyTotals()).differences
        counts[d.kind.value] = counts.get(d.kind.value, 0) + 1
    return found, by_currency


@settings(max_examples=150, deadline=None)
@given(ledger=ledgers(), order=st.randoms(use_true_random=False))
def test_a_feed_identical_to_the_ledger_reconciles_to_zero(
    ledger: list[Row], order: random.Random
) -> None:
    shuffled = list(ledger)
    order.shuffle(shuffled)
    found, by_currency = reconcile(as_feed(shuffled), ledger)
    assert [d for d in found if d.kind.counts_as_mismatch] == []
    assert found == []
    for t in by_currency.values():
        assert t.feed.to_dict() == t.ledger.to_dict()
        assert t.net_difference == 0
        assert breaches(t, Thresholds(rate=0.0, net_share=0.0)) == []


MUTATIONS = (
    "drop_from_feed", "drop_from_ledger", "amount", "currency", "status", "kind", "duplicate",
    "late_ledger",
)  # fmt: skip


def mutate(
    how: str, ledger: list[Row], i: int, delta: int
) -> tuple[list[Row], list[Row], DiffKind]:
    """The ledger and a feed differing from it in row ``i`` only, and the difference expected."""
    feed = list(ledger)
    target = ledger[i]
    if how == "drop_from_feed":
        del feed[i]
        return feed, ledger, DiffKind.MISSING_IN_FEED
    if how == "drop_from_ledger":
        return feed, ledger[:i] + ledger[i + 1 :], DiffKind.MISSING_IN_LEDGER
    if how == "amount":
        feed[i] = replace(target, amount=target.amount + delta)
        return feed, ledger, DiffKind.AMOUNT_MISMATCH
    if how == "currency":
        other = next(c for c in CURRENCIES if c != target.currency)
        feed[i] = replace(target, currency=other)
        return feed, ledger, DiffKind.CURRENCY_MISMATCH
    if how == "status":
        feed[i] = replace(target, status=Status.FAILED)
        return feed, ledger, DiffKind.STATUS_MISMATCH
    if how == "kind":
        other_kind = Kind.WIN if target.kind is not Kind.WIN else Kind.CREDIT
        feed[i] = replace(target, kind=other_kind)
        return feed, ledger, DiffKind.TYPE_MISMATCH
    if how == "duplicate":
        feed.append(target)
        return feed, ledger, DiffKind.DUPLICATE_IN_FEED
    assert how == "late_ledger"
    late = replace(target, at=PERIOD.end + timedelta(hours=2))
    return feed, [*ledger[:i], late, *ledger[i + 1 :]], DiffKind.OUTSIDE_PERIOD


@settings(max_examples=300, deadline=None)
@given(
    ledger=ledgers(), how=st.sampled_from(MUTATIONS), pick=st.integers(0, 10**6),
    delta=st.integers(1, 10**6).flatmap(lambda n: st.sampled_from([n, -n])),
)  # fmt: skip
def test_one_changed_row_gives_exactly_one_difference_of_its_kind(
    ledger: list[Row], how: str, pick: int, delta: int
) -> None:
    i = pick % len(ledger)
    ledger[i] = replace(ledger[i], status=Status.OK)  # a refusal moves nothing to miss
    if how == "amount" and ledger[i].amount + delta < 0:
        delta = -delta
    feed, side_ledger, expected = mutate(how, ledger, i, delta)

    found, by_currency = reconcile(as_feed(feed), side_ledger)

    assert kinds(found) == [expected]
    [d] = found
    assert d.key == ledger[i].key
    mismatches = sum(t.mismatches for t in by_currency.values())
    assert mismatches == (1 if expected.counts_as_mismatch else 0)
    target = ledger[i]
    signed = target.amount if target.kind is Kind.BET else -target.amount
    expected_net = {
        "drop_from_feed": -signed, "drop_from_ledger": signed, "duplicate": signed,
        "status": -signed, "late_ledger": 0,
        "amount": delta if target.kind is Kind.BET else -delta,
    }  # fmt: skip
    expected_money = {
        "drop_from_feed": -target.amount, "drop_from_ledger": target.amount,
        "duplicate": target.amount,  # all the repeated line's money
        "status": -target.amount, "late_ledger": 0, "amount": delta,
    }  # fmt: skip
    if how == "currency":  # the feed counts the row in another currency
        return
    if how in expected_net:  # else: the feed counts the row as another kind
        assert by_currency[target.currency].net_difference == expected_net[how]
        assert d.amount_difference == expected_money[how]
    for cur, t in by_currency.items():
        if cur != target.currency:
            assert t.net_difference == 0, cur


@settings(max_examples=100, deadline=None)
@given(feed_keys=st.lists(KEYS, max_size=30), ledger_keys=st.lists(KEYS, max_size=30, unique=True))
def test_merge_gives_every_row_once_in_key_order(
    feed_keys: list[str], ledger_keys: list[str]
) -> None:
    feed = sorted((row(k, line=n) for n, k in enumerate(feed_keys, 1)),
                  key=lambda r: (r.key, r.line))  # fmt: skip
    ledger = sorted((row(k) for k in ledger_keys), key=lambda r: r.key)
    pairs = list(merge(feed, ledger))
    keys = [p.key for p in pairs]
    assert keys == sorted(set(feed_keys) | set(ledger_keys))
    assert [r for p in pairs for r in p.feed] == feed
    assert [p.ledger for p in pairs if p.ledger is not None] == ledger
    for p in pairs:
        assert all(r.key == p.key for r in p.feed)
        assert [r.line for r in p.feed] == sorted(r.line for r in p.feed)
