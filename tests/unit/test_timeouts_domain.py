"""The round timeout rules (domain/timeouts.py) and the rejection records' limiter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from croupier.domain.errors import InvalidRequest
from croupier.domain.timeouts import OpenRound, TimeoutAction, decide, parse_duration, tx_ref
from croupier.services.inbox import RejectionLimiter


def open_round(*, bets: int = 1, wins: int = 0) -> OpenRound:
    return OpenRound("acme", "r1", "p1", "EUR", "dice", datetime(2026, 1, 1, tzinfo=UTC),
                     bets_live=bets, win_count=wins)  # fmt: skip


@pytest.mark.parametrize(("asked", "bets", "wins", "done"), [
    (TimeoutAction.CLOSE, 1, 0, TimeoutAction.CLOSE),
    (TimeoutAction.CLOSE, 1, 1, TimeoutAction.CLOSE),
    (TimeoutAction.FLAG, 1, 0, TimeoutAction.FLAG),
    (TimeoutAction.VOID, 2, 0, TimeoutAction.VOID),
    (TimeoutAction.VOID, 1, 1, TimeoutAction.FLAG),  # voiding would take a win back
    (TimeoutAction.VOID, 0, 0, TimeoutAction.VOID),  # rolled back already: replays, closes
])  # fmt: skip
def test_what_a_policy_becomes_for_a_round(
    asked: TimeoutAction, bets: int, wins: int, done: TimeoutAction
) -> None:
    action, why = decide(asked, open_round(bets=bets, wins=wins))
    assert action is done
    assert why


@pytest.mark.parametrize(("text", "seconds"), [
    ("60", 60), ("90s", 90), ("30m", 1800), ("6h", 21600), ("2d", 172800), (" 1h ", 3600),
    ("90d", 90 * 86400),
])  # fmt: skip
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "59", "59s", "91d", "1w", "1.5h", "-1h", "h", "1 h"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_duration(text)


@given(st.text(min_size=1, max_size=128))
def test_a_timeout_transaction_id_always_fits_and_differs_per_name(name: str) -> None:
    ref = tx_ref("void", name)
    assert len(ref.encode()) <= 128
    assert ref.startswith("timeout:void:")
    assert tx_ref("close", name) != ref
    assert tx_ref("void", name + "x") != ref


def test_the_limiter_lets_a_burst_through_then_a_steady_rate() -> None:
    now = [0.0]
    limiter = RejectionLimiter(per_second=2, burst=5, monotonic=lambda: now[0])
    assert [limiter.allow("acme") for _ in range(7)] == [True] * 5 + [False] * 2
    assert limiter.allow("other")  # its own bucket
    now[0] += 1.0  # two more tokens
    assert [limiter.allow("acme") for _ in range(3)] == [True, True, False]
    assert limiter.suppressed == 3
    now[0] += 100.0  # refilled, never beyond the burst
    assert sum(limiter.allow("acme") for _ in range(10)) == 5


def test_the_limiter_forgets_buckets_beyond_its_bound() -> None:
    limiter = RejectionLimiter(per_second=0, burst=1, monotonic=lambda: 0.0, max_keys=3)
    assert all(limiter.allow(f"p{i}") for i in range(3))
    assert not limiter.allow("p0")
    assert limiter.allow("p3")  # a fourth provider: the table is cleared, not grown
    assert limiter.allow("p0")


def test_the_limiter_bounds_records_across_providers_named_afresh() -> None:
    """A flood naming a new provider each time gets no fresh bucket of writes per name."""
    limiter = RejectionLimiter(
        per_second=10, burst=50, total_per_second=5, total_burst=20, monotonic=lambda: 0.0
    )
    allowed = sum(limiter.allow(f"x{i}") for i in range(5000))
    assert allowed == 20
    assert limiter.suppressed == 4980


def test_the_limiter_warns_once_per_ten_seconds() -> None:
    now = [0.0]
    limiter = RejectionLimiter(monotonic=lambda: now[0])
    assert limiter.should_warn()
    assert not limiter.should_warn()
    now[0] += 9.9
    assert not limiter.should_warn()
    now[0] += 0.2
    assert limiter.should_warn()
