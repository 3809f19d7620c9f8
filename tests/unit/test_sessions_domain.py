"""The session state machine as a table: every move, every final state, every way to end."""

from __future__ import annotations

import itertools

import pytest

from croupier.domain.errors import IllegalTransition, RetryClass
from croupier.domain.sessions import TRANSITIONS, SessionState, check_transition, closing_state

S = SessionState
PAIRS = list(itertools.product(S, S))

EXPECTED_TRANSITIONS = {
    S.CREATED: {S.LAUNCHED, S.ACTIVE, S.CANCELLED, S.FAILED},
    S.LAUNCHED: {S.ACTIVE, S.CANCELLED, S.FAILED},
    S.ACTIVE: {S.PENDING_SETTLEMENT, S.SETTLED, S.REVERSED},
    S.PENDING_SETTLEMENT: {S.SETTLED, S.REVERSED},
    S.SETTLED: set(),
    S.CANCELLED: set(),
    S.FAILED: set(),
    S.REVERSED: set(),
}


def test_the_transition_table_is_the_documented_machine() -> None:
    assert set(TRANSITIONS) == set(S)
    assert {state: set(targets) for state, targets in TRANSITIONS.items()} == EXPECTED_TRANSITIONS


@pytest.mark.parametrize(("current", "target"), PAIRS, ids=lambda s: s.value)
def test_every_pair_is_allowed_exactly_when_in_the_table(
    current: SessionState, target: SessionState
) -> None:
    if target in EXPECTED_TRANSITIONS[current]:
        check_transition("gs_1", current, target)  # no error
        return
    with pytest.raises(IllegalTransition) as caught:
        check_transition("gs_1", current, target)
    error = caught.value
    assert error.code == "SESSION_TRANSITION_ILLEGAL"
    assert error.http_status == 409
    assert error.retry_class is RetryClass.FINAL
    assert error.details == {"session_id": "gs_1", "state": current.value, "target": target.value}
    assert "gs_1" in error.message


@pytest.mark.parametrize("state", list(S), ids=lambda s: s.value)
def test_no_state_moves_to_itself(state: SessionState) -> None:
    with pytest.raises(IllegalTransition):
        check_transition("gs_1", state, state)


FINAL = {S.SETTLED, S.CANCELLED, S.FAILED, S.REVERSED}


@pytest.mark.parametrize("state", list(S), ids=lambda s: s.value)
def test_final_states_have_no_exits(state: SessionState) -> None:
    assert state.is_final is (state in FINAL)
    if state in FINAL:
        assert not TRANSITIONS[state]
        for target in S:
            with pytest.raises(IllegalTransition):
                check_transition("gs_1", state, target)


def test_nothing_returns_to_created() -> None:
    assert all(S.CREATED not in targets for targets in TRANSITIONS.values())


@pytest.mark.parametrize("state", list(S), ids=lambda s: s.value)
def test_only_created_launched_and_active_take_bets(state: SessionState) -> None:
    assert state.takes_bets is (state in {S.CREATED, S.LAUNCHED, S.ACTIVE})


def test_a_first_bet_may_skip_authenticate() -> None:
    check_transition("gs_1", S.CREATED, S.ACTIVE)


@pytest.mark.parametrize(
    ("had_bets", "open_rounds", "live_bets", "expected"),
    [
        (False, 0, 0, S.CANCELLED),
        # no bets wins over anything else the summary could say
        (False, 1, 0, S.CANCELLED),
        (False, 0, 3, S.CANCELLED),
        (True, 1, 1, S.PENDING_SETTLEMENT),
        (True, 2, 5, S.PENDING_SETTLEMENT),
        # an open round wins even if its bets were all rolled back in the count
        (True, 1, 0, S.PENDING_SETTLEMENT),
        (True, 0, 1, S.SETTLED),
        (True, 0, 7, S.SETTLED),
        (True, 0, 0, S.REVERSED),
    ],
)
def test_closing_state(
    had_bets: bool, open_rounds: int, live_bets: int, expected: SessionState
) -> None:
    got = closing_state(had_bets=had_bets, open_rounds=open_rounds, live_bets=live_bets)
    assert got is expected


@pytest.mark.parametrize("had_bets", [False, True])
@pytest.mark.parametrize("open_rounds", [0, 1])
@pytest.mark.parametrize("live_bets", [0, 1])
def test_every_closing_state_is_reachable_from_active_or_a_fresh_session(
    had_bets: bool, open_rounds: int, live_bets: int
) -> None:
    """close() moves a session that takes bets: the target must be a legal move from there."""
    target = closing_state(had_bets=had_bets, open_rounds=open_rounds, live_bets=live_bets)
    source = S.ACTIVE if had_bets else S.LAUNCHED
    check_transition("gs_1", source, target)
    if not had_bets:
        check_transition("gs_1", S.CREATED, target)
