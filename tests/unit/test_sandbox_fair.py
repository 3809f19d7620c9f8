"""Provably fair outcomes of the sandbox's games (croupier.domain.fairness).

The byte generator reproduces the public Stake vector (/work/shared is not in the checkout, so
its values are copied below). tests/vectors/sandbox-fair.json was computed by a one-off script
that does not import croupier (see its "method"); play() must reproduce every entry. Then: the
input validation, the edges of each mapping, the slot's RTP formula against an exhaustive
enumeration and every game's RTP against a deterministic Monte Carlo run, verify() on fair,
tampered and malformed evidence, seed rotation, and hypothesis properties.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import math
import string
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from croupier.domain import fairness as fair
from croupier.domain.fairness import FairnessError

# The vector of /work/shared/vectors/provably-fair-stake.json.
STAKE_VECTOR: dict[str, Any] = {
    "server_seed": "c5e7146c5863d7d647c93ffe7d4ec13fffbb7311108fab0c067d97bcc2b32d55",
    "server_seed_sha256": "cb443550ecb5b191a2f6a1202f1cc9c6ccf6d0abd6327663302839aca4a7de32",
    "client_seed": "LuckyClientSeed777",
    "nonce": 2,
    "round_0_hmac_hex": "895acab6088f1bdf5281cd7a60bc9ac6e978148a45d49ee8cf852756d0949101",
    "first_four_bytes": [137, 90, 202, 182],
    "first_float": 0.5365416235290468,
}

VECTORS_FILE = Path(__file__).resolve().parents[1] / "vectors" / "sandbox-fair.json"
VECTORS_DOC: dict[str, Any] = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))
VECTORS: list[dict[str, Any]] = VECTORS_DOC["vectors"]

SEED = hashlib.sha256(b"test_sandbox_fair").hexdigest()
SEED_HASH = fair.commitment(SEED)
DICE = {"target": "50.00", "direction": "under"}
TWO_32 = 2**32


def _first_unit_for_roll(roll: int) -> int:
    """The smallest u with (u * 10001) >> 32 == roll."""
    return -(-roll * TWO_32 // 10001)


# -- the byte generator -------------------------------------------------------------------


def test_the_stake_vector_is_reproduced() -> None:
    v = STAKE_VECTOR
    block = fair.hmac_block(v["server_seed"], v["client_seed"], v["nonce"], 0)
    assert block.hex() == v["round_0_hmac_hex"]
    [u] = fair.units(v["server_seed"], v["client_seed"], v["nonce"], 1)
    assert list(u.to_bytes(4, "big")) == v["first_four_bytes"]
    assert abs(Fraction(u, TWO_32) - Fraction(v["first_float"])) < Fraction(1, 10**15)
    assert fair.commitment(v["server_seed"]) == v["server_seed_sha256"]


def test_units_run_in_cursor_order_across_the_block_boundary() -> None:
    key = SEED.encode()
    direct = b"".join(
        hmac.new(key, f"alice:5:{r}".encode(), hashlib.sha256).digest() for r in (0, 1)
    )
    expected = [int.from_bytes(direct[i : i + 4], "big") for i in range(0, 40, 4)]
    assert fair.units(SEED, "alice", 5, 10) == expected
    assert fair.units(SEED, "alice", 5, 8) == expected[:8]
    # A different nonce or client seed is a different stream.
    assert fair.units(SEED, "alice", 6, 8) != expected[:8]
    assert fair.units(SEED, "alicf", 5, 8) != expected[:8]


def test_new_server_seeds_are_fresh_64_hex() -> None:
    a, b = fair.new_server_seed(), fair.new_server_seed()
    assert a != b
    for seed in (a, b):
        assert len(seed) == 64
        assert set(seed) <= set("0123456789abcdef")
        assert len(fair.commitment(seed)) == 64


@pytest.mark.parametrize(
    "server_seed",
    ["", SEED[:-1], SEED + "0", SEED.upper(), "g" + SEED[1:], 12, None],
)
def test_bad_server_seeds_are_refused(server_seed: Any) -> None:
    with pytest.raises(FairnessError, match="server_seed"):
        fair.units(server_seed, "alice", 0, 1)
    with pytest.raises(FairnessError, match="server_seed"):
        fair.commitment(server_seed)


@pytest.mark.parametrize("client_seed", ["", "x" * 65, "tab\there", "new\nline", "caf\u00e9", 7])
def test_bad_client_seeds_are_refused(client_seed: Any) -> None:
    with pytest.raises(FairnessError, match="client_seed"):
        fair.units(SEED, client_seed, 0, 1)


def test_client_seeds_may_hold_any_printable_ascii() -> None:
    assert len(fair.units(SEED, "x" * 64, 0, 1)) == 1
    assert len(fair.units(SEED, " a:b ~!", 0, 1)) == 1


@pytest.mark.parametrize("nonce", [-1, True, "1", 1.0])
def test_bad_nonces_are_refused(nonce: Any) -> None:
    with pytest.raises(FairnessError, match="nonce"):
        fair.units(SEED, "alice", nonce, 1)


@pytest.mark.parametrize("count", [0, -1, True, fair.MAX_UNITS + 1])
def test_bad_counts_are_refused(count: Any) -> None:
    with pytest.raises(FairnessError, match="count"):
        fair.units(SEED, "alice", 0, count)


# -- our vectors --------------------------------------------------------------------------


def test_the_vector_file_covers_every_game_and_a_slot_win() -> None:
    assert "method" in VECTORS_DOC
    for game in fair.GAMES:
        assert len([v for v in VECTORS if v["game"] == game]) >= 3, game
    assert any(v["game"] == "fruit-5x3" and v["payout"] > 0 for v in VECTORS)
    assert any(v["payout"] == 0 for v in VECTORS)
    assert len({v["name"] for v in VECTORS}) == len(VECTORS)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_play_reproduces_the_vector(vector: dict[str, Any]) -> None:
    outcome = fair.play(
        vector["game"],
        server_seed=vector["server_seed"],
        client_seed=vector["client_seed"],
        nonce=vector["nonce"],
        stake=vector["stake"],
        params=vector["params"],
    )
    assert outcome.payout == vector["payout"]
    assert outcome.display == vector["display"]
    assert outcome.stake == vector["stake"]
    assert outcome.params == vector["params"]


# -- dice ---------------------------------------------------------------------------------


def test_dice_roll_covers_0_to_100() -> None:
    assert fair.dice([0], DICE, 100)[1]["roll"] == "0.00"
    assert fair.dice([TWO_32 - 1], DICE, 100)[1]["roll"] == "100.00"
    assert fair.dice([_first_unit_for_roll(4217)], DICE, 100)[1]["roll"] == "42.17"
    assert fair.dice([_first_unit_for_roll(4217) - 1], DICE, 100)[1]["roll"] == "42.16"


def test_dice_wins_strictly_under_or_over_the_target() -> None:
    under, over = DICE, {"target": "50", "direction": "over"}
    at, below, above = (_first_unit_for_roll(r) for r in (5000, 4999, 5001))
    assert fair.dice([below], under, 10000) == (19801, {"roll": "49.99", "win": True})
    assert fair.dice([at], under, 10000) == (0, {"roll": "50.00", "win": False})
    assert fair.dice([at], over, 10000) == (0, {"roll": "50.00", "win": False})
    assert fair.dice([above], over, 10000) == (19801, {"roll": "50.01", "win": True})


def test_dice_payout_is_floored() -> None:
    # 1% chance: 7 * 99 * 10001 / 10000 = 693.0693 -> 693
    params = {"target": "1.00", "direction": "under"}
    assert fair.dice([0], params, 7) == (693, {"roll": "0.00", "win": True})
    assert fair.dice([_first_unit_for_roll(100)], params, 7)[0] == 0


@pytest.mark.parametrize(
    ("target", "direction"),
    [("1.00", "under"), ("98.00", "under"), ("2.00", "over"), ("99.00", "over"), ("5.5", "over")],
)
def test_dice_accepts_chances_from_1_to_98_percent(target: str, direction: str) -> None:
    payout, display = fair.dice([0], {"target": target, "direction": direction}, 100)
    assert payout >= 0
    assert set(display) == {"roll", "win"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"target": "0.99", "direction": "under"}, "chance"),
        ({"target": "98.01", "direction": "under"}, "chance"),
        ({"target": "1.99", "direction": "over"}, "chance"),
        ({"target": "99.01", "direction": "over"}, "chance"),
        ({"target": "100.01", "direction": "over"}, "at most 100"),
        ({"target": "1.005", "direction": "under"}, "at most 2 decimals"),
        ({"target": "abc", "direction": "under"}, "at most 2 decimals"),
        ({"target": "-5", "direction": "under"}, "at most 2 decimals"),
        ({"target": "", "direction": "under"}, "at most 2 decimals"),
        ({"target": " 50", "direction": "under"}, "at most 2 decimals"),
        ({"target": "50.", "direction": "under"}, "at most 2 decimals"),
        ({"target": ".5", "direction": "under"}, "at most 2 decimals"),
        ({"target": "1e2", "direction": "under"}, "at most 2 decimals"),
        ({"target": "50\n", "direction": "under"}, "at most 2 decimals"),
        ({"target": "\u0665\u0660", "direction": "under"}, "at most 2 decimals"),
        ({"target": "50", "direction": "sideways"}, "direction"),
        ({"target": "50"}, "missing"),
        ({"target": "50", "direction": "under", "x": "1"}, "unknown"),
        ({"target": 50, "direction": "under"}, "strings"),
    ],
)
def test_bad_dice_params_are_refused(params: Any, message: str) -> None:
    with pytest.raises(FairnessError, match=message):
        fair.play("dice", server_seed=SEED, client_seed="a", nonce=0, stake=100, params=params)


# -- limbo --------------------------------------------------------------------------------


def test_limbo_point_is_clamped_to_1_and_1000000() -> None:
    assert fair.limbo([0], {"target": "1.01"}, 100) == (0, {"point": "1.00", "win": False})
    assert fair.limbo([TWO_32 - 1], {"target": "1000000.00"}, 3) == (
        3_000_000,
        {"point": "1000000.00", "win": True},
    )


@pytest.mark.parametrize("target", [101, 150, 200, 341, 10_000, 99_999_999])
def test_limbo_wins_exactly_on_the_documented_share_of_units(target: int) -> None:
    # The docstring's claim: point >= t for the last floor(99 * 2**32 / t) units.
    first_win = TWO_32 - (99 * TWO_32) // target
    params = {"target": fair._hundredths(target)}
    payout, display = fair.limbo([first_win], params, 100)
    assert (payout, display["win"]) == (target, True)
    payout, display = fair.limbo([first_win - 1], params, 100)
    assert (payout, display["win"]) == (0, False)


def test_limbo_payout_is_floored() -> None:
    assert fair.limbo([TWO_32 - 1], {"target": "1.57"}, 3)[0] == 4  # 4.71 -> 4


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("1.00", "1.01 to 1000000.00"),
        ("0", "1.01 to 1000000.00"),
        ("1000000.01", "1000000.00"),
        ("2.005", "at most 2 decimals"),
        ("abc", "at most 2 decimals"),
        ("-2", "at most 2 decimals"),
        ("2,00", "at most 2 decimals"),
    ],
)
def test_bad_limbo_targets_are_refused(target: str, message: str) -> None:
    with pytest.raises(FairnessError, match=message):
        fair.limbo([0], {"target": target}, 100)


def test_limbo_targets_at_the_bounds_are_accepted() -> None:
    assert fair.limbo([0], {"target": "1.01"}, 100)[0] == 0
    assert fair.limbo([0], {"target": "1000000"}, 100)[0] == 0


# -- the slot -----------------------------------------------------------------------------


def test_slot_tables_are_as_documented() -> None:
    assert [len(s) for s in fair.SLOT_STRIPS] == [24, 26, 28, 30, 32]
    assert len(fair.SLOT_PAYLINES) == 10
    assert len(set(fair.SLOT_PAYLINES)) == 10
    assert all(len(line) == 5 and set(line) <= {0, 1, 2} for line in fair.SLOT_PAYLINES)
    for strip in fair.SLOT_STRIPS:
        assert set(strip) == set(fair.SLOT_PAYTABLE)
        assert all(strip[i] != strip[(i + 1) % len(strip)] for i in range(len(strip)))
    for pays in fair.SLOT_PAYTABLE.values():
        assert 0 < pays[0] < pays[1] < pays[2]


def test_slot_rtp_is_between_95_and_97_percent_and_stated() -> None:
    rtp = fair.slot_rtp()
    assert Fraction(95, 100) < rtp < Fraction(97, 100)
    basis_points = (rtp * 10000 * 2 + 1) // 2  # round half up
    stated = f"{basis_points // 100}.{basis_points % 100:02d}%"
    assert stated == fair.SLOT_RTP_STATED
    assert rtp == Fraction(28061, 29120)


def test_slot_stops_and_window_come_from_the_units() -> None:
    _, display = fair.fruit_5x3([0] * 5, {}, 10)
    assert display["stops"] == [0, 0, 0, 0, 0]
    assert display["window"] == [[s[r] for s in fair.SLOT_STRIPS] for r in range(3)]
    _, display = fair.fruit_5x3([TWO_32 - 1] * 5, {}, 10)
    lengths = [len(s) for s in fair.SLOT_STRIPS]
    assert display["stops"] == [n - 1 for n in lengths]
    # The window wraps around the end of each strip.
    assert display["window"] == [
        [s[-1] for s in fair.SLOT_STRIPS],
        [s[0] for s in fair.SLOT_STRIPS],
        [s[1] for s in fair.SLOT_STRIPS],
    ]
    u = [(k * TWO_32 + n - 1) // n for k, n in zip([3, 5, 7, 11, 13], lengths, strict=True)]
    assert fair.fruit_5x3(u, {}, 10)[1]["stops"] == [3, 5, 7, 11, 13]
    assert fair.fruit_5x3([x - 1 for x in u], {}, 10)[1]["stops"] == [2, 4, 6, 10, 12]


def test_slot_lines_pay_from_the_leftmost_reel() -> None:
    strips = [
        ["cherry", "lemon", "plum"],
        ["cherry", "lemon", "lemon"],
        ["cherry", "lemon", "lemon"],
        ["cherry", "lemon", "bell"],
        ["cherry", "plum", "bell"],
    ]
    total, window, lines = fair.slot_spin([0] * 5, strips=strips)
    assert window == [
        ["cherry", "cherry", "cherry", "cherry", "cherry"],
        ["lemon", "lemon", "lemon", "lemon", "plum"],
        ["plum", "lemon", "lemon", "bell", "bell"],
    ]
    # Line 1 (middle row): 4 lemons; line 2 (top row): 5 cherries; line 9 (1,2,2,2,1): lemon
    # lemon lemon bell: 3 lemons. Line 6 (0,0,1,2,2) has 2 cherries then a lemon: no pay, and
    # the bottom row (line 3) starts plum lemon: no pay.
    assert lines == [
        {"line": 1, "symbol": "lemon", "count": 4, "pays": "30"},
        {"line": 2, "symbol": "cherry", "count": 5, "pays": "80"},
        {"line": 9, "symbol": "lemon", "count": 3, "pays": "10"},
    ]
    assert total == 120
    # A symbol without a paytable entry never pays.
    total, _, lines = fair.slot_spin([0] * 5, strips=[["blank"]] * 5)
    assert (total, lines) == (0, [])


def test_slot_payout_is_a_tenth_of_the_stake_per_line_bet_floored() -> None:
    wins = 0
    for nonce in range(200):
        outcome = fair.play(
            "fruit-5x3", server_seed=SEED, client_seed="a", nonce=nonce, stake=7, params={}
        )
        lines: Any = outcome.display["lines"]
        pays = sum(int(line["pays"]) for line in lines)
        assert outcome.payout == 7 * pays // 10
        assert outcome.display["win"] is (outcome.payout > 0)
        wins += outcome.payout > 0
    assert wins > 10
    with pytest.raises(FairnessError, match="unknown params"):
        fair.play(
            "fruit-5x3", server_seed=SEED, client_seed="a", nonce=0, stake=7, params={"x": "1"}
        )


def _tiny_strips() -> list[list[str]]:
    return [
        ["cherry", "lemon", "cherry"],
        ["lemon", "cherry", "plum", "cherry"],
        ["cherry", "plum", "lemon"],
        ["plum", "cherry", "lemon", "lemon"],
        ["cherry", "lemon", "plum"],
    ]


def test_slot_rtp_formula_equals_an_exhaustive_enumeration() -> None:
    strips = _tiny_strips()
    paytable = {"cherry": (2, 7, 30), "lemon": (3, 11, 50), "plum": (5, 13, 70)}
    combos = list(itertools.product(*(range(len(s)) for s in strips)))
    assert len(combos) == 3 * 4 * 3 * 4 * 3
    total = sum(fair.slot_spin(stops, strips=strips, paytable=paytable)[0] for stops in combos)
    # Ten lines, line bet a tenth of the stake: RTP = mean total line pays / 10.
    enumerated = Fraction(total, len(combos) * 10)
    assert enumerated > 0
    assert fair.slot_rtp(strips, paytable) == enumerated


# -- RTP by simulation (deterministic seeds, 4 standard errors) ----------------------------


def _simulate(
    game: str, rounds: int, stake: int, params: Callable[[int], dict[str, str]]
) -> tuple[Fraction, float]:
    """Mean payout / stake over rounds of one server seed, and its standard error."""
    seed = hashlib.sha256(f"rtp simulation {game}".encode()).hexdigest()
    total = squares = 0
    for nonce in range(rounds):
        payout = fair.play(
            game,
            server_seed=seed,
            client_seed="sim",
            nonce=nonce,
            stake=stake,
            params=params(nonce),
        ).payout
        total += payout
        squares += payout * payout
    mean = Fraction(total, rounds * stake)
    variance = Fraction(squares, rounds * stake * stake) - mean * mean
    return mean, math.sqrt(variance * rounds / (rounds - 1) / rounds)


def test_dice_rtp_is_99_percent() -> None:
    options = [
        {"target": "49.50", "direction": "under"},
        {"target": "50.00", "direction": "over"},
        {"target": "80.00", "direction": "under"},
        {"target": "66.66", "direction": "over"},
    ]
    mean, se = _simulate("dice", 80_000, 10_000, lambda n: options[n % 4])
    assert se < 0.006
    assert abs(mean - Fraction(99, 100)) <= 4 * se


def test_limbo_rtp_is_99_percent() -> None:
    options = [{"target": "1.50"}, {"target": "2.00"}, {"target": "3.00"}, {"target": "1.01"}]
    mean, se = _simulate("limbo", 80_000, 10_000, lambda n: options[n % 4])
    assert se < 0.006
    assert abs(mean - Fraction(99, 100)) <= 4 * se


def test_slot_rtp_by_simulation_matches_the_exact_rtp() -> None:
    mean, se = _simulate("fruit-5x3", 200_000, 10, lambda _: {})
    assert se < 0.02
    assert abs(mean - fair.slot_rtp()) <= 4 * se


# -- evidence and verify ------------------------------------------------------------------


def _round(
    game: str = "dice", params: dict[str, str] | None = None, *, revealed: bool = True
) -> dict[str, Any]:
    outcome = fair.play(
        game,
        server_seed=SEED,
        client_seed="alice",
        nonce=3,
        stake=1234,
        params=DICE if params is None else params,
    )
    return fair.evidence(
        outcome,
        server_seed_hash=SEED_HASH,
        client_seed="alice",
        nonce=3,
        server_seed=SEED if revealed else None,
        exponent=2,
    )


def _failed(verdict: fair.Verdict) -> list[str]:
    return [name for name, ok, _ in verdict.checks if not ok]


def test_evidence_has_the_documented_shape() -> None:
    outcome = fair.play(
        "limbo", server_seed=SEED, client_seed="a", nonce=0, stake=5, params={"target": "2"}
    )
    ev = fair.evidence(
        outcome, server_seed_hash=SEED_HASH, client_seed="a", nonce=0, server_seed=None, exponent=8
    )
    assert list(ev) == [
        "scheme",
        "server_seed_hash",
        "client_seed",
        "nonce",
        "game",
        "params",
        "stake",
        "payout",
        "result",
    ]
    assert ev["scheme"] == "hmac-sha256-stake-v1"
    assert ev["stake"] == "0.00000005"
    assert ev["payout"] in {"0.00000000", "0.00000010"}
    assert ev["result"] == outcome.display
    assert json.loads(json.dumps(ev)) == ev
    revealed = _round("fruit-5x3", {})
    assert revealed["server_seed"] == SEED
    assert revealed["stake"] == "12.34"
    zero = fair.evidence(
        outcome, server_seed_hash=SEED_HASH, client_seed="a", nonce=0, server_seed=SEED, exponent=0
    )
    assert zero["stake"] == "5"


def test_evidence_refuses_a_seed_that_does_not_match_its_hash() -> None:
    outcome = fair.play("dice", server_seed=SEED, client_seed="a", nonce=0, stake=5, params=DICE)
    other = fair.new_server_seed()
    with pytest.raises(FairnessError, match="does not match"):
        fair.evidence(
            outcome,
            server_seed_hash=SEED_HASH,
            client_seed="a",
            nonce=0,
            server_seed=other,
            exponent=2,
        )
    with pytest.raises(FairnessError, match="exponent"):
        fair.evidence(
            outcome,
            server_seed_hash=SEED_HASH,
            client_seed="a",
            nonce=0,
            server_seed=None,
            exponent=-1,
        )


@pytest.mark.parametrize(
    ("game", "params"),
    [("dice", DICE), ("limbo", {"target": "1.7"}), ("fruit-5x3", {})],
)
def test_a_fair_round_passes(game: str, params: dict[str, str]) -> None:
    ev = _round(game, params)
    verdict = fair.verify(json.loads(json.dumps(ev)))
    assert verdict.fair
    assert [name for name, _, _ in verdict.checks] == [
        "evidence",
        "seed revealed",
        "commitment",
        "amounts",
        "game",
        "result",
        "payout",
    ]
    assert _failed(verdict) == []
    assert verdict.recomputed is not None
    assert verdict.recomputed["payout"] == ev["payout"]
    assert verdict.recomputed["result"] == ev["result"]


def test_an_unrevealed_round_passes_with_the_seed_given() -> None:
    ev = _round(revealed=False)
    assert "server_seed" not in ev
    assert fair.verify(ev, server_seed=SEED).fair


def test_a_missing_seed_fails_and_says_to_rotate() -> None:
    verdict = fair.verify(_round(revealed=False))
    assert not verdict.fair
    assert _failed(verdict) == ["seed revealed"]
    assert "rotate" in verdict.checks[-1][2]
    assert verdict.recomputed is None


def test_a_wrong_seed_fails_the_commitment() -> None:
    verdict = fair.verify(_round(revealed=False), server_seed=fair.new_server_seed())
    assert not verdict.fair
    assert "commitment" in _failed(verdict)
    # A seed argument that contradicts the revealed one is refused outright.
    verdict = fair.verify(_round(), server_seed=fair.new_server_seed())
    assert _failed(verdict) == ["seed revealed"]
    # A revealed seed that is not a seed at all.
    ev = _round()
    ev["server_seed"] = "not hex"
    assert _failed(fair.verify(ev)) == ["seed revealed"]


def test_a_tampered_payout_fails() -> None:
    ev = _round("limbo", {"target": "1.01"})
    ev["payout"] = "99.99"
    verdict = fair.verify(ev)
    assert not verdict.fair
    assert _failed(verdict) == ["payout"]


def test_a_tampered_result_fails() -> None:
    ev = _round()
    result = dict(ev["result"])
    result["win"] = not result["win"]
    ev["result"] = result
    assert _failed(fair.verify(ev)) == ["result"]
    # true is not 1
    ev = _round()
    result = dict(ev["result"])
    result["win"] = int(result["win"])
    ev["result"] = result
    assert _failed(fair.verify(ev)) == ["result"]


def test_tampered_params_or_nonce_fail() -> None:
    ev = _round("fruit-5x3", {})
    ev["nonce"] = 4
    assert not fair.verify(ev).fair
    ev = _round()
    ev["params"] = {"target": "50.00", "direction": "over"}
    assert not fair.verify(ev).fair


def test_unknown_game_or_bad_params_fail_the_game_check() -> None:
    ev = _round()
    ev["game"] = "roulette"
    verdict = fair.verify(ev)
    assert _failed(verdict) == ["game"]
    assert verdict.recomputed is None
    ev = _round()
    ev["params"] = {"target": "1.005", "direction": "under"}
    assert _failed(fair.verify(ev)) == ["game"]


@pytest.mark.parametrize(
    ("stake", "payout"),
    [("12.3.4", "0.00"), ("12.34", "0.0"), ("0.00", "0.00"), ("-12.34", "0.00"), ("1e3", "0")],
)
def test_malformed_amounts_fail_the_amounts_check(stake: str, payout: str) -> None:
    ev = _round()
    ev["stake"], ev["payout"] = stake, payout
    verdict = fair.verify(ev)
    assert not verdict.fair
    assert "amounts" in _failed(verdict)
    assert "payout" in _failed(verdict)


def test_the_exponent_comes_from_the_stake() -> None:
    outcome = fair.play(
        "dice", server_seed=SEED, client_seed="a", nonce=0, stake=10**9, params=DICE
    )
    for exponent in (0, 2, 8):
        ev = fair.evidence(
            outcome,
            server_seed_hash=SEED_HASH,
            client_seed="a",
            nonce=0,
            server_seed=SEED,
            exponent=exponent,
        )
        verdict = fair.verify(ev)
        assert verdict.fair, verdict.checks


@pytest.mark.parametrize(
    "evidence",
    [
        {},
        {"nonce": "x"},
        None,
        [],
        "evidence",
        {**_round(), "nonce": "x"},
        {**_round(), "nonce": -1},
        {**_round(), "nonce": True},
        {**_round(), "scheme": "other"},
        {**_round(), "params": ["a"]},
        {**_round(), "params": {"target": 50}},
        {**_round(), "stake": 1234},
        {**_round(), "result": "win"},
        {**_round(), "server_seed": 5},
        {**_round(), "server_seed_hash": "x"},
        {**_round(), "client_seed": ""},
        {**_round(), "game": 3},
        {k: v for k, v in _round().items() if k != "result"},
    ],
)
def test_malformed_evidence_fails_without_raising(evidence: Any) -> None:
    verdict = fair.verify(evidence)
    assert not verdict.fair
    assert verdict.checks[0][:2] == ("evidence", False)
    assert len(verdict.checks) == 1
    assert verdict.recomputed is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.floats(allow_nan=True),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from([*_round(), "x"]), json_values, max_size=12))
def test_verify_never_raises_on_arbitrary_objects(evidence: dict[str, object]) -> None:
    verdict = fair.verify(evidence)
    assert not verdict.fair


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(sorted(_round())), json_values)
def test_verify_never_raises_when_one_field_is_replaced(key: str, value: object) -> None:
    ev = _round()
    ev[key] = value
    verdict = fair.verify(ev)
    assert verdict.fair is all(ok for _, ok, _ in verdict.checks)


# -- seeds --------------------------------------------------------------------------------


def test_rotate_reveals_the_committed_seed_and_resets_the_nonce() -> None:
    pair = fair.SeedPair(server_seed=fair.new_server_seed(), client_seed="alice", nonce=17)
    committed = pair.server_seed_hash
    assert committed == fair.commitment(pair.server_seed)
    new, revealed = fair.rotate(pair)
    assert revealed == pair.server_seed
    assert fair.commitment(revealed) == committed
    assert new.nonce == 0
    assert new.server_seed != revealed
    assert new.server_seed_hash != committed
    assert new.client_seed == "alice"
    other, _ = fair.rotate(new, client_seed="bob")
    assert other.client_seed == "bob"


def test_a_round_verifies_after_its_seed_is_rotated() -> None:
    pair = fair.SeedPair(server_seed=fair.new_server_seed(), client_seed="alice", nonce=4)
    outcome = fair.play(
        "fruit-5x3",
        server_seed=pair.server_seed,
        client_seed=pair.client_seed,
        nonce=pair.nonce,
        stake=100,
        params={},
    )
    ev = fair.evidence(
        outcome,
        server_seed_hash=pair.server_seed_hash,
        client_seed=pair.client_seed,
        nonce=pair.nonce,
        server_seed=None,
        exponent=2,
    )
    assert not fair.verify(ev).fair
    _, revealed = fair.rotate(pair)
    assert fair.verify(ev, server_seed=revealed).fair


@pytest.mark.parametrize(
    ("server_seed", "client_seed", "nonce"),
    [("x", "alice", 0), (SEED, "", 0), (SEED, "alice", -1)],
)
def test_seed_pairs_are_validated(server_seed: str, client_seed: str, nonce: int) -> None:
    with pytest.raises(FairnessError):
        fair.SeedPair(server_seed=server_seed, client_seed=client_seed, nonce=nonce)
    with pytest.raises(FairnessError):
        fair.rotate(fair.SeedPair(SEED, "alice"), client_seed="\x00")


# -- properties ---------------------------------------------------------------------------

MAX_MULTIPLIER = {
    "dice": Fraction(99 * 10001, 100 * 100),
    "limbo": Fraction(1_000_000),
    "fruit-5x3": Fraction(10 * max(p[2] for p in fair.SLOT_PAYTABLE.values()), 10),
}

seeds = st.binary(min_size=32, max_size=32).map(bytes.hex)
client_seeds = st.text(alphabet=string.printable[:-5], min_size=1, max_size=64)
dice_params = st.one_of(
    st.integers(100, 9800).map(lambda t: {"target": fair._hundredths(t), "direction": "under"}),
    st.integers(200, 9900).map(lambda t: {"target": fair._hundredths(t), "direction": "over"}),
)
limbo_params = st.integers(101, 100_000_000).map(lambda t: {"target": fair._hundredths(t)})
rounds: st.SearchStrategy[tuple[str, dict[str, str]]] = st.one_of(
    st.tuples(st.just("dice"), dice_params),
    st.tuples(st.just("limbo"), limbo_params),
    st.tuples(st.just("fruit-5x3"), st.just({})),
)


@settings(max_examples=300, deadline=None)
@given(
    rounds,
    seeds,
    client_seeds,
    st.integers(0, 2**64),
    st.integers(1, 10**15),
)
def test_payouts_are_bounded_and_play_is_deterministic(
    game_params: tuple[str, dict[str, str]],
    server_seed: str,
    client_seed: str,
    nonce: int,
    stake: int,
) -> None:
    game, params = game_params
    kwargs: dict[str, Any] = {
        "server_seed": server_seed,
        "client_seed": client_seed,
        "nonce": nonce,
        "stake": stake,
        "params": params,
    }
    outcome = fair.play(game, **kwargs)
    assert 0 <= outcome.payout <= fair.max_payout(game, params, stake)
    assert outcome.payout <= stake * MAX_MULTIPLIER[game]
    assert outcome.display["win"] is (outcome.payout > 0)
    assert fair.play(game, **kwargs) == outcome


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["dice", "limbo"]), st.text(max_size=12), st.sampled_from(["under", "over"]))
def test_any_target_string_is_accepted_or_refused_with_fairness_error(
    game: str, target: str, direction: str
) -> None:
    params = {"target": target, "direction": direction} if game == "dice" else {"target": target}
    try:
        outcome = fair.play(
            game, server_seed=SEED, client_seed="a", nonce=0, stake=100, params=params
        )
    except FairnessError:
        return
    assert outcome.payout >= 0
    assert set(target) <= set("0123456789.")


@pytest.mark.parametrize("stake", [0, -1, True, 1.5, "10"])
def test_bad_stakes_are_refused(stake: Any) -> None:
    with pytest.raises(FairnessError, match="stake"):
        fair.play("dice", server_seed=SEED, client_seed="a", nonce=0, stake=stake, params=DICE)


def test_unknown_games_are_refused() -> None:
    with pytest.raises(FairnessError, match="unknown game"):
        fair.play("roulette", server_seed=SEED, client_seed="a", nonce=0, stake=1, params={})
