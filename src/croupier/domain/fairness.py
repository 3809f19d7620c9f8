"""Provably fair rounds: the byte generator, the sandbox's three games, the evidence every
round carries, its verification, and seed rotation. Pure functions, standard library only,
no I/O. In the domain because both sides need it: the sandbox provider plays from it, and
the operator verifies the rounds its providers report (`croupier verify-round`, the
operator API's ``POST /rounds/verify``).

**Byte generator** (Stake's public scheme, pinned by tests/vectors/provably-fair-stake.json):
block ``r`` is HMAC-SHA256(key = the server seed's ASCII hex string,
message = ``f"{client_seed}:{nonce}:{r}"``), for r = 0, 1, 2, ...; the blocks are read as one
endless byte stream. A *unit* is 4 consecutive bytes read big-endian, an int u in
[0, 2**32) standing for the fraction u / 2**32. The commitment shown before play is the
SHA-256 hex of the server seed's ASCII hex string; the seed is revealed when it is rotated.

**Games** map units to an outcome with integer arithmetic only (no floats, for money or for
results). Stakes and payouts are ints in minor units; a win is floored to the minor unit.

- ``dice``: ``roll = (u0 * 10001) >> 32``, 0..10000 meaning 0.00..100.00. Params
  ``target`` (at most 2 decimals) and ``direction``: "under" wins on roll < target,
  "over" on roll > target. The W winning rolls (target in hundredths for "under",
  10000 - target for "over") must be 100..9800 (chance 1%..98%). A win pays
  ``stake * 99 * 10001 // (100 * W)``: RTP 99% before flooring.
- ``limbo``: ``point = max(100, min(100_000_000, (99 * 2**32) // (2**32 - u0)))`` in
  hundredths (1.00x..1000000.00x). Param ``target`` 1.01..1000000.00 (at most 2 decimals);
  win iff point >= target, paying ``stake * target // 100``. Exactly
  P(point >= t) = floor(99 * 2**32 / t) / 2**32, about 0.99 / t (t as a multiplier), so the
  RTP is 99% at every target, before flooring.
- ``fruit-5x3``: see ``SLOT_STRIPS``, ``SLOT_PAYLINES``, ``SLOT_PAYTABLE``; exact RTP from
  ``slot_rtp()``, stated as ``SLOT_RTP_STATED``.

The RTPs are for ideal uniform units; mapping 2**32 units onto n outcomes with ``(u * n) >> 32``
biases each outcome by less than n / 2**32.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Final

SCHEME: Final = "hmac-sha256-stake-v1"
GAMES: Final = ("dice", "limbo", "fruit-5x3")
MAX_UNITS: Final = 1024
"""The most units one call to ``units()`` hands out (a game needs at most 5)."""

_UNITS_PER_GAME: Final = {"dice": 1, "limbo": 1, "fruit-5x3": 5}
_TWO_32: Final = 2**32
_SEED_RE: Final = re.compile(r"[0-9a-f]{64}")
_HUNDREDTHS_RE: Final = re.compile(r"([0-9]{1,12})(?:\.([0-9]{1,2}))?")
_DECIMAL_RE: Final = re.compile(r"(0|[1-9][0-9]*)(?:\.([0-9]{1,18}))?")


class FairnessError(ValueError):
    """A seed, nonce, game, parameter or stake the fairness scheme cannot accept."""


# -- the byte generator -----------------------------------------------------------------------


def _check_server_seed(server_seed: object) -> str:
    if not isinstance(server_seed, str) or not _SEED_RE.fullmatch(server_seed):
        raise FairnessError("server_seed must be 64 lower-case hex characters")
    return server_seed


def _check_client_seed(client_seed: object) -> str:
    if not isinstance(client_seed, str) or not 1 <= len(client_seed) <= 64:
        raise FairnessError("client_seed must be a string of 1 to 64 characters")
    if not all(" " <= ch <= "~" for ch in client_seed):
        raise FairnessError("client_seed must be printable ASCII (space to '~'), no control chars")
    return client_seed


def _check_nonce(nonce: object) -> int:
    if not isinstance(nonce, int) or isinstance(nonce, bool) or nonce < 0:
        raise FairnessError("nonce must be an integer >= 0")
    return nonce


def _block(server_seed: str, client_seed: str, nonce: int, cursor: int) -> bytes:
    message = f"{client_seed}:{nonce}:{cursor}".encode("ascii")
    return hmac.digest(server_seed.encode("ascii"), message, "sha256")


def hmac_block(server_seed: str, client_seed: str, nonce: int, cursor: int) -> bytes:
    """The 32 bytes of block ``cursor``: HMAC-SHA256(server_seed, "client:nonce:cursor")."""
    _check_server_seed(server_seed)
    _check_client_seed(client_seed)
    _check_nonce(nonce)
    _check_nonce(cursor)
    return _block(server_seed, client_seed, nonce, cursor)


def units(server_seed: str, client_seed: str, nonce: int, count: int) -> list[int]:
    """The first ``count`` units of the stream, in cursor order (8 units per block)."""
    _check_server_seed(server_seed)
    _check_client_seed(client_seed)
    _check_nonce(nonce)
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_UNITS:
        raise FairnessError(f"count must be an integer from 1 to {MAX_UNITS}")
    blocks = -(-count * 4 // 32)
    stream = b"".join(_block(server_seed, client_seed, nonce, r) for r in range(blocks))
    return [int.from_bytes(stream[i : i + 4], "big") for i in range(0, 4 * count, 4)]


def commitment(server_seed: str) -> str:
    """SHA-256 hex of the server seed's ASCII hex string, published before the seed is used."""
    return hashlib.sha256(_check_server_seed(server_seed).encode("ascii")).hexdigest()


def new_server_seed() -> str:
    """A fresh secret server seed: 32 random bytes as 64 lower-case hex characters."""
    return secrets.token_hex(32)


# -- parameters ---------------------------------------------------------------------------------


def _check_params(game: str, params: object, allowed: tuple[str, ...]) -> Mapping[str, str]:
    if not isinstance(params, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in params.items()
    ):
        raise FairnessError(f"{game}: params must be an object of strings")
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise FairnessError(f"{game}: unknown params {unknown}; expected {list(allowed)}")
    missing = [k for k in allowed if k not in params]
    if missing:
        raise FairnessError(f"{game}: missing params {missing}")
    return params


def _parse_hundredths(game: str, name: str, text: str) -> int:
    match = _HUNDREDTHS_RE.fullmatch(text)
    if match is None:
        raise FairnessError(
            f"{game}: {name} must be a decimal with at most 2 decimals, e.g. '49.50'; got {text!r}"
        )
    whole, frac = match.groups()
    return int(whole) * 100 + int((frac or "").ljust(2, "0"))


def _hundredths(value: int) -> str:
    return f"{value // 100}.{value % 100:02d}"


def _check_stake(stake: object) -> int:
    if not isinstance(stake, int) or isinstance(stake, bool) or stake <= 0:
        raise FairnessError("stake must be a positive integer of minor units")
    return stake


# -- dice -----------------------------------------------------------------------------------------


def _dice_winning_rolls(params: object) -> tuple[int, str, int]:
    checked = _check_params("dice", params, ("target", "direction"))
    target = _parse_hundredths("dice", "target", checked["target"])
    direction = checked["direction"]
    if direction not in ("under", "over"):
        raise FairnessError(f"dice: direction must be 'under' or 'over'; got {direction!r}")
    if target > 10000:
        raise FairnessError("dice: target must be at most 100.00")
    winning = target if direction == "under" else 10000 - target
    if not 100 <= winning <= 9800:
        raise FairnessError(
            f"dice: target {_hundredths(target)} {direction} wins on {winning} of 10001 rolls;"
            " the chance must be 1.00% to 98.00% (100 to 9800 rolls)"
        )
    return target, direction, winning


def dice(
    units_: Sequence[int], params: Mapping[str, str], stake: int
) -> tuple[int, dict[str, object]]:
    """Dice from one unit: (payout, display ``{"roll": "42.17", "win": bool}``)."""
    target, direction, winning = _dice_winning_rolls(params)
    _check_stake(stake)
    roll = (units_[0] * 10001) >> 32
    win = roll < target if direction == "under" else roll > target
    payout = stake * 99 * 10001 // (100 * winning) if win else 0
    return payout, {"roll": _hundredths(roll), "win": win}


# -- limbo ----------------------------------------------------------------------------------------

LIMBO_MAX_POINT: Final = 100_000_000
"""The highest crash point, 1000000.00x, in hundredths."""


def _limbo_target(params: object) -> int:
    checked = _check_params("limbo", params, ("target",))
    target = _parse_hundredths("limbo", "target", checked["target"])
    if not 101 <= target <= LIMBO_MAX_POINT:
        raise FairnessError(f"limbo: target must be 1.01 to 1000000.00; got {_hundredths(target)}")
    return target


def limbo(
    units_: Sequence[int], params: Mapping[str, str], stake: int
) -> tuple[int, dict[str, object]]:
    """Limbo from one unit: (payout, display ``{"point": "3.41", "win": bool}``)."""
    target = _limbo_target(params)
    _check_stake(stake)
    point = max(100, min(LIMBO_MAX_POINT, (99 * _TWO_32) // (_TWO_32 - units_[0])))
    win = point >= target
    payout = stake * target // 100 if win else 0
    return payout, {"point": _hundredths(point), "win": win}


# -- the fruit-5x3 slot ---------------------------------------------------------------------------

SLOT_STRIPS: Final[tuple[tuple[str, ...], ...]] = tuple(
    tuple(
        {"CH": "cherry", "LE": "lemon", "PL": "plum", "BE": "bell", "ME": "melon", "SE": "seven"}[s]
        for s in strip.split()
    )
    for strip in (
        "LE CH PL BE CH LE ME SE CH PL LE CH BE LE PL CH LE ME SE CH BE PL LE CH",
        "LE CH PL BE CH LE ME SE PL CH LE CH PL BE CH LE CH PL LE ME SE CH BE PL LE CH",
        "LE CH PL BE CH LE ME SE PL CH LE BE CH LE PL CH BE LE CH PL ME SE LE CH BE PL LE CH",
        "LE CH PL BE CH LE PL ME SE CH LE CH BE PL CH LE PL CH BE LE CH PL ME SE LE CH BE PL LE CH",
        (
            "LE CH PL BE CH ME LE PL SE CH LE BE CH PL LE CH"
            " ME LE PL CH BE LE CH PL SE LE CH ME BE PL LE CH"
        ),
    )
)
"""Five reel strips of 24, 26, 28, 30 and 32 symbols (CH cherry, LE lemon, PL plum, BE bell,
ME melon, SE seven); no symbol sits next to itself, even around the wrap."""

SLOT_PAYLINES: Final[tuple[tuple[int, ...], ...]] = (
    (1, 1, 1, 1, 1),
    (0, 0, 0, 0, 0),
    (2, 2, 2, 2, 2),
    (0, 1, 2, 1, 0),
    (2, 1, 0, 1, 2),
    (0, 0, 1, 2, 2),
    (2, 2, 1, 0, 0),
    (1, 0, 0, 0, 1),
    (1, 2, 2, 2, 1),
    (1, 0, 1, 2, 1),
)
"""Lines 1..10: the row (0 top, 2 bottom) read on each of the five reels."""

SLOT_PAYTABLE: Final[Mapping[str, tuple[int, int, int]]] = {
    "cherry": (6, 20, 80),
    "lemon": (10, 30, 120),
    "plum": (15, 50, 200),
    "bell": (20, 80, 400),
    "melon": (40, 150, 800),
    "seven": (60, 250, 1000),
}
"""Pays for 3, 4 and 5 of a kind from the leftmost reel, in line bets (line bet = stake / 10)."""

SLOT_RTP_STATED: Final = "96.36%"
"""``slot_rtp()`` to 2 decimals: exactly 28061/29120 = 96.3633...%, for stakes that are
multiples of 10 minor units (other stakes lose the floored fraction of a minor unit)."""


def slot_rtp(
    strips: Sequence[Sequence[str]] = SLOT_STRIPS,
    paytable: Mapping[str, Sequence[int]] = SLOT_PAYTABLE,
) -> Fraction:
    """The exact return to player of the slot for uniform stops.

    A visible cell of reel i shows each symbol with its frequency p_i on strip i, and the
    cells of one line lie on different reels, so they are independent. Every line therefore
    has the same expected pay, in line bets,
    E = sum over symbols s and k in 3..5 of pay(s, k) * p_1(s) ... p_k(s) * (1 - p_{k+1}(s))
    (no last factor for k = 5). Ten lines at a tenth of the stake each: RTP = E.
    """
    total = Fraction(0)
    for symbol, pays in paytable.items():
        p = [Fraction(sum(1 for s in strip if s == symbol), len(strip)) for strip in strips]
        run = Fraction(1)
        for k in range(len(strips)):
            run *= p[k]
            if k + 1 >= 3:
                miss = 1 - p[k + 1] if k + 1 < len(strips) else Fraction(1)
                total += pays[k + 1 - 3] * run * miss
    return total


def slot_spin(
    stops: Sequence[int],
    *,
    strips: Sequence[Sequence[str]] = SLOT_STRIPS,
    paytable: Mapping[str, Sequence[int]] = SLOT_PAYTABLE,
) -> tuple[int, list[list[str]], list[dict[str, object]]]:
    """The window and line wins for given reel stops: (total pays in line bets, window, lines).

    Row r of reel i shows ``strips[i][(stops[i] + r) % len(strips[i])]``; a line pays for 3, 4
    or 5 identical symbols from the leftmost reel.
    """
    window = [
        [strip[(stop + row) % len(strip)] for stop, strip in zip(stops, strips, strict=True)]
        for row in range(3)
    ]
    total = 0
    lines: list[dict[str, object]] = []
    for number, rows in enumerate(SLOT_PAYLINES, start=1):
        symbol = window[rows[0]][0]
        count = 1
        while count < 5 and window[rows[count]][count] == symbol:
            count += 1
        pays = paytable.get(symbol) if count >= 3 else None
        if pays is not None and pays[count - 3] > 0:
            total += pays[count - 3]
            lines.append(
                {"line": number, "symbol": symbol, "count": count, "pays": str(pays[count - 3])}
            )
    return total, window, lines


def fruit_5x3(
    units_: Sequence[int], params: Mapping[str, str], stake: int
) -> tuple[int, dict[str, object]]:
    """The slot from five units: stop_i = (u_i * len(strip_i)) >> 32.

    Payout ``stake * (sum of line pays) // 10``; display
    ``{"stops", "window" (3 rows of 5), "lines": [{"line", "symbol", "count", "pays"}], "win"}``.
    """
    _check_params("fruit-5x3", params, ())
    _check_stake(stake)
    stops = [(u * len(strip)) >> 32 for u, strip in zip(units_[:5], SLOT_STRIPS, strict=True)]
    total, window, lines = slot_spin(stops)
    payout = stake * total // 10
    return payout, {"stops": stops, "window": window, "lines": lines, "win": payout > 0}


_SLOT_MAX_PAYS: Final = len(SLOT_PAYLINES) * max(pays[2] for pays in SLOT_PAYTABLE.values())


def max_payout(game: str, params: Mapping[str, str], stake: int) -> int:
    """An upper bound of the payout of one round (exact for dice and limbo)."""
    _check_stake(stake)
    if game == "dice":
        return stake * 99 * 10001 // (100 * _dice_winning_rolls(params)[2])
    if game == "limbo":
        return stake * _limbo_target(params) // 100
    if game == "fruit-5x3":
        _check_params(game, params, ())
        return stake * _SLOT_MAX_PAYS // 10
    raise FairnessError(f"unknown game {game!r}; expected one of {list(GAMES)}")


# -- rounds -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """One played round: amounts in minor units, ``display`` JSON-able."""

    game: str
    params: dict[str, str]
    stake: int
    payout: int
    display: dict[str, object]


def play(
    game: str,
    *,
    server_seed: str,
    client_seed: str,
    nonce: int,
    stake: int,
    params: dict[str, str],
) -> Outcome:
    """Play one round of ``game`` from the seeds and nonce; raises FairnessError on bad input."""
    if not isinstance(game, str) or game not in _UNITS_PER_GAME:
        raise FairnessError(f"unknown game {game!r}; expected one of {list(GAMES)}")
    drawn = units(server_seed, client_seed, nonce, _UNITS_PER_GAME[game])
    if game == "dice":
        payout, display = dice(drawn, params, stake)
    elif game == "limbo":
        payout, display = limbo(drawn, params, stake)
    else:
        payout, display = fruit_5x3(drawn, params, stake)
    return Outcome(game=game, params=dict(params), stake=stake, payout=payout, display=display)


def format_minor(amount: int, exponent: int) -> str:
    """Minor units as a decimal string with ``exponent`` decimals: (1234, 2) -> "12.34"."""
    if exponent == 0:
        return str(amount)
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), 10**exponent)
    return f"{sign}{whole}.{frac:0{exponent}d}"


def _parse_minor(text: object) -> tuple[int, int] | None:
    """A plain non-negative decimal string as (minor units, exponent), None when malformed."""
    if not isinstance(text, str):
        return None
    if len(text) > 40:  # no amount has 40 digits; int() refuses past 4300
        return None
    match = _DECIMAL_RE.fullmatch(text)
    if match is None:
        return None
    whole, frac = match.groups()
    frac = frac or ""
    return int(whole) * 10 ** len(frac) + int(frac or "0"), len(frac)


def evidence(
    outcome: Outcome,
    *,
    server_seed_hash: str,
    client_seed: str,
    nonce: int,
    server_seed: str | None,
    exponent: int,
) -> dict[str, object]:
    """The JSON-able "fairness" object of a round event; ``server_seed`` once it is revealed."""
    if not isinstance(server_seed_hash, str) or not _SEED_RE.fullmatch(server_seed_hash):
        raise FairnessError("server_seed_hash must be 64 lower-case hex characters")
    if server_seed is not None and commitment(server_seed) != server_seed_hash:
        raise FairnessError("server_seed does not match server_seed_hash")
    if not isinstance(exponent, int) or isinstance(exponent, bool) or not 0 <= exponent <= 18:
        raise FairnessError("exponent must be an integer from 0 to 18")
    result: dict[str, object] = {"scheme": SCHEME, "server_seed_hash": server_seed_hash}
    if server_seed is not None:
        result["server_seed"] = server_seed
    result.update(
        {
            "client_seed": _check_client_seed(client_seed),
            "nonce": _check_nonce(nonce),
            "game": outcome.game,
            "params": dict(outcome.params),
            "stake": format_minor(outcome.stake, exponent),
            "payout": format_minor(outcome.payout, exponent),
            "result": copy.deepcopy(outcome.display),
        }
    )
    return result


@dataclass(frozen=True)
class Verdict:
    """The answer of ``verify``: fair only when every check passed."""

    fair: bool
    checks: list[tuple[str, bool, str]]
    recomputed: dict[str, object] | None

    def to_dict(self) -> dict[str, object]:
        """The verdict on the wire (the CLI's --json, the sandbox's and the operator API's
        answers): ``{"fair", "checks": [{"check", "passed", "detail"}], "recomputed"}``."""
        return {
            "fair": self.fair,
            "checks": [{"check": n, "passed": ok, "detail": d} for n, ok, d in self.checks],
            "recomputed": self.recomputed,
        }


def _canonical(value: object) -> str | None:
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return None


@dataclass(frozen=True)
class _Claim:
    """The fields of well-formed evidence, typed."""

    server_seed_hash: str
    server_seed: str | None
    client_seed: str
    nonce: int
    game: str
    params: dict[str, str]
    stake: str
    payout: str
    result: object


_EVIDENCE_KEYS: Final = (
    "scheme",
    "server_seed_hash",
    "client_seed",
    "nonce",
    "game",
    "params",
    "stake",
    "payout",
    "result",
)


def _read_claim(claim: object) -> _Claim | str:
    """The evidence's fields, or what is malformed in it."""
    if not isinstance(claim, Mapping):
        return "evidence must be an object"
    missing = [key for key in _EVIDENCE_KEYS if key not in claim]
    if missing:
        return f"missing keys {missing}"
    if claim["scheme"] != SCHEME:
        return f"scheme must be {SCHEME!r}"
    seed_hash = claim["server_seed_hash"]
    if not isinstance(seed_hash, str) or not _SEED_RE.fullmatch(seed_hash):
        return "server_seed_hash must be 64 lower-case hex characters"
    seed = claim.get("server_seed")
    if seed is not None and not isinstance(seed, str):
        return "server_seed must be a string"
    try:
        client_seed = _check_client_seed(claim["client_seed"])
        nonce = _check_nonce(claim["nonce"])
    except FairnessError as exc:
        return str(exc)
    game, params, stake, payout = (claim[k] for k in ("game", "params", "stake", "payout"))
    if not isinstance(game, str):
        return "game must be a string"
    if not isinstance(params, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in params.items()
    ):
        return "params must be an object of strings"
    if not isinstance(stake, str) or not isinstance(payout, str):
        return "stake and payout must be decimal strings"
    if not isinstance(claim["result"], Mapping):
        return "result must be an object"
    return _Claim(
        server_seed_hash=seed_hash,
        server_seed=seed,
        client_seed=client_seed,
        nonce=nonce,
        game=game,
        params=dict(params),
        stake=stake,
        payout=payout,
        result=claim["result"],
    )


def _amounts(stake: str, payout: str) -> tuple[int, int, int] | str:
    """(stake, payout, exponent) from the evidence's decimal strings, or what is wrong."""
    stake_parsed, payout_parsed = _parse_minor(stake), _parse_minor(payout)
    if stake_parsed is None or payout_parsed is None:
        return f"stake {stake!r} and payout {payout!r} must be plain decimal strings"
    if stake_parsed[1] != payout_parsed[1]:
        return f"stake {stake!r} and payout {payout!r} must have the same decimals"
    if stake_parsed[0] <= 0:
        return "stake must be positive"
    return stake_parsed[0], payout_parsed[0], stake_parsed[1]


def verify(evidence: dict[str, object], *, server_seed: str | None = None) -> Verdict:
    """Recompute a round from its evidence and say whether it was fair; never raises.

    The seed is ``evidence["server_seed"]`` or the ``server_seed`` argument. Checks, in order:
    "evidence" (fields and types), "seed revealed", "commitment", "amounts" (stake and payout
    decimal strings with the same decimals, stake > 0), "game" (known game, valid params),
    "result" and "payout" (recomputed equals claimed). ``fair`` is True only when all pass.
    """
    claim = _read_claim(evidence)
    if isinstance(claim, str):
        return Verdict(fair=False, checks=[("evidence", False, claim)], recomputed=None)
    checks: list[tuple[str, bool, str]] = [("evidence", True, "all fields present and typed")]

    seed = claim.server_seed if claim.server_seed is not None else server_seed
    if seed is None:
        checks.append(("seed revealed", False, "no server seed: rotate the seed to reveal it"))
        return Verdict(fair=False, checks=checks, recomputed=None)
    if claim.server_seed is not None and server_seed is not None and server_seed != seed:
        checks.append(("seed revealed", False, "the seed given differs from the one revealed"))
        return Verdict(fair=False, checks=checks, recomputed=None)
    if not _SEED_RE.fullmatch(seed):
        checks.append(("seed revealed", False, "server seed is not 64 lower-case hex characters"))
        return Verdict(fair=False, checks=checks, recomputed=None)
    checks.append(("seed revealed", True, "server seed available"))

    actual_hash = commitment(seed)
    if actual_hash == claim.server_seed_hash:
        checks.append(("commitment", True, "sha256(server_seed) matches server_seed_hash"))
    else:
        detail = f"sha256(server_seed) is {actual_hash}, not {claim.server_seed_hash}"
        checks.append(("commitment", False, detail))

    amounts = _amounts(claim.stake, claim.payout)
    if isinstance(amounts, str):
        checks.append(("amounts", False, amounts))
    else:
        checks.append(("amounts", True, f"stake and payout with {amounts[2]} decimals"))

    try:
        max_payout(claim.game, claim.params, 1)
    except FairnessError as exc:
        checks.append(("game", False, str(exc)))
        return Verdict(fair=False, checks=checks, recomputed=None)
    checks.append(("game", True, f"{claim.game} with valid params"))

    # The result never depends on the stake: with malformed amounts, recompute it at stake 1.
    stake, exponent = (1, 0) if isinstance(amounts, str) else (amounts[0], amounts[2])
    outcome = play(
        claim.game,
        server_seed=seed,
        client_seed=claim.client_seed,
        nonce=claim.nonce,
        stake=stake,
        params=claim.params,
    )
    recomputed: dict[str, object] = {
        "game": claim.game,
        "params": dict(claim.params),
        "stake": format_minor(outcome.stake, exponent),
        "payout": format_minor(outcome.payout, exponent),
        "result": outcome.display,
    }
    claimed, actual = _canonical(claim.result), _canonical(outcome.display)
    if claimed is not None and claimed == actual:
        checks.append(("result", True, "recomputed result equals the claimed result"))
    else:
        checks.append(("result", False, f"recomputed {actual}, claimed {claimed}"))
    if isinstance(amounts, str):
        checks.append(("payout", False, "not compared: the amounts are malformed"))
    elif amounts[1] == outcome.payout:
        checks.append(("payout", True, "recomputed payout equals the claimed payout"))
    else:
        detail = f"recomputed {recomputed['payout']}, claimed {claim.payout}"
        checks.append(("payout", False, detail))
    return Verdict(fair=all(ok for _, ok, _ in checks), checks=checks, recomputed=recomputed)


def verify_document(document: object, *, server_seed: str | None = None) -> Verdict:
    """``verify`` of a whole document: a round event (its ``fairness``, and the money its
    ``bet`` and ``win`` moved), a round as the sandbox answers it (``fairness``, ``stake`` and
    ``payout``), or the bare evidence. Where the document says what money moved, a last check,
    "money", requires it to be the stake and payout the evidence proves: a round paid less (or
    charged more) than its fair outcome is not fair. Never raises."""
    if not isinstance(document, dict):
        return Verdict(fair=False, checks=[("evidence", False, "not a JSON object")],
                       recomputed=None)  # fmt: skip
    evidence = document.get("fairness", document)
    if not isinstance(evidence, dict):
        return Verdict(fair=False, checks=[("evidence", False, "fairness is not an object")],
                       recomputed=None)  # fmt: skip
    verdict = verify(evidence, server_seed=server_seed)
    moved = _moved(document) if evidence is not document else None
    if moved is None or not verdict.fair:
        return verdict
    proven = (_parse_minor(evidence.get("stake")), _parse_minor(evidence.get("payout")))
    said = (_parse_minor(moved[0]), _parse_minor(moved[1]))
    same = all(
        a is not None and b is not None and a[0] * 10 ** b[1] == b[0] * 10 ** a[1]
        for a, b in zip(proven, said, strict=True)
    )
    detail = (
        f"moved stake {moved[0]} and payout {moved[1]}, as the evidence proves" if same
        else f"moved stake {moved[0]} and payout {moved[1]}; the evidence proves "
        f"{evidence.get('stake')} and {evidence.get('payout')}"
    )  # fmt: skip
    checks = [*verdict.checks, ("money", same, detail)]
    return Verdict(fair=same, checks=checks, recomputed=verdict.recomputed)


def _moved(document: dict[str, object]) -> tuple[object, object] | None:
    """(stake, payout) the document says moved: a round event's bet and win (none: 0), or a
    sandbox round's stake and payout; None when it says nothing of money."""
    bet = document.get("bet")
    if isinstance(bet, dict):
        win = document.get("win")
        payout = win.get("amount") if isinstance(win, dict) else "0"
        return bet.get("amount"), payout
    if "stake" in document and "payout" in document:
        return document["stake"], document["payout"]
    return None


# -- seeds --------------------------------------------------------------------------------------


@dataclass
class SeedPair:
    """The server's current seed for one player, the player's client seed and the next nonce."""

    server_seed: str
    client_seed: str
    nonce: int = 0

    def __post_init__(self) -> None:
        _check_server_seed(self.server_seed)
        _check_client_seed(self.client_seed)
        _check_nonce(self.nonce)

    @property
    def server_seed_hash(self) -> str:
        """The commitment shown to the player while the seed is in use."""
        return commitment(self.server_seed)


def rotate(pair: SeedPair, *, client_seed: str | None = None) -> tuple[SeedPair, str]:
    """A new pair (fresh server seed, nonce 0, optionally a new client seed) and the old server
    seed, now revealed so every round played with it can be verified."""
    new = SeedPair(
        server_seed=new_server_seed(),
        client_seed=pair.client_seed if client_seed is None else client_seed,
    )
    return new, pair.server_seed
