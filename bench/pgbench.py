"""pgbench on the bet path's own SQL: the ceiling with no Python in the way.

The script is built from the statement strings of ``croupier.adapters.db.postgres`` (imported,
so it cannot drift from the store): BEGIN; LOAD_SQL; WRITE_SQL; END, with each ``$n`` bound
to a pgbench variable holding what the store sends for a cash bet that opens a new round.
pgbench runs it with ``-M prepared``, as asyncpg does.

Three substitutions are textual, because pgbench variables are numbers or fixed strings: the
two id arrays and two amount arrays become ``ARRAY[:a::bigint, :b::bigint]`` (pgbench cannot
build an array literal), and the two parameters the store sends as NULL for a bet
(``reverses_entry_id``, ``ref_tx``) become ``NULL``.

One consequence: with ``ARRAY[...]`` the planner knows each array holds two elements, and
PostgreSQL settles on one generic plan for WRITE_SQL. The store binds the arrays as parameters,
which a generic plan costs at ten elements each, so PostgreSQL plans WRITE_SQL afresh for
every bet there (a custom plan; docs/benchmarks.md measures what that costs). pgbench passes
PG* variables on, so PGOPTIONS='-c plan_cache_mode=force_custom_plan' makes it re-plan too.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import orjson
from sqlalchemy.engine import make_url

from bench.databases import CURRENCY, GAME, PLAYER_BASE, CashLayout
from bench.figures import Figures
from bench.machine import CpuSample
from croupier.adapters.db.postgres import LOAD_SQL, WRITE_SQL
from croupier.domain.ledger import EntryKind
from croupier.domain.wallet import Balances, Bet, TxKind, TxStatus, WalletResult, provider_scope

PROVIDER = "pgbench"
"""pgbench's bets are in their own idempotency scope, apart from the service runs' ones."""

_PARAM = re.compile(r"\$(\d+)")

LOAD_PARAMS = {1: ":player", 2: ":scope", 3: ":ref", 4: ":ref", 5: "NULL"}
WRITE_PARAMS = {
    # the round
    1: ":scope", 2: ":ref", 3: ":player", 4: ":currency", 5: ":game",
    6: ":amount", 7: ":zero", 8: ":one", 9: ":zero", 10: ":zero", 11: ":zero",
    12: ":no", 13: ":zero", 14: ":now",
    # the journal entry and its postings: player cash -amount, provider clearing +amount
    15: ":entry_kind", 16: "NULL", 17: ":currency",
    18: "ARRAY[:cash::bigint, :clearing::bigint]", 19: "ARRAY[:debit::bigint, :amount::bigint]",
    # the cached balances (the store sends every posted account; house rows have none)
    20: "ARRAY[:cash::bigint, :clearing::bigint]", 21: "ARRAY[:debit::bigint, :amount::bigint]",
    # the idempotency record
    22: ":scope", 23: ":ref", 24: ":tx_kind", 25: ":status", 26: ":player", 27: ":ref",
    28: "NULL", 29: ":amount", 30: ":currency", 31: ":fingerprint", 32: ":result",
    # the call's session and correlation ids (the HTTP path sends both)
    33: ":ref", 34: ":ref",
    # the player's responsible-gaming state: not written by pgbench (the service writes it)
    35: "NULL", 36: "NULL", 37: ":zero",
}  # fmt: skip


def bind(statement: str, values: dict[int, str]) -> str:
    """``statement`` with each ``$n`` replaced by ``values[n]``; every one must be bound."""
    found = {int(n) for n in _PARAM.findall(statement)}
    if found != set(values):
        raise ValueError(
            f"parameters of the statement {sorted(found)} differ from those bound "
            f"{sorted(values)}: the store's SQL changed, update bench/pgbench.py"
        )
    return _PARAM.sub(lambda m: values[int(m.group(1))], statement)


def script(*, players: int, cash: CashLayout, clearing: int) -> str:
    """The pgbench script of one bet: a random player, a new transaction id and round."""
    ref = ":run * 1000000000000000 + :client_id * 10000000000 + :n"
    lines = [
        f"\\set k random(1, {players})",
        f"\\set player {PLAYER_BASE} + :k",
        f"\\set cash {cash.first} + {cash.stride} * (:k - 1)",
        f"\\set clearing {clearing}",
        "\\set n :n + 1",
        f"\\set ref {ref}",
        "\\set amount random(10, 500)",
        "\\set debit 0 - :amount",
        "BEGIN;",
    ]
    for statement, values in (
        (LOAD_SQL, LOAD_PARAMS),
        (WRITE_SQL, WRITE_PARAMS),
    ):
        lines.append(bind(statement, values).strip() + ";")
    lines.append("END;")
    return "\n".join(lines) + "\n"


def constants(run: int, now: str) -> dict[str, str]:
    """The -D variables: fixed values of a bet, with a record and fingerprint of real size."""
    sample = Bet(
        player_id=str(PLAYER_BASE + 1),
        amount=250,
        currency=CURRENCY,
        provider=PROVIDER,
        tx_id="1000000000000001",
        round_id="1000000000000001",
        game_code=GAME,
    )
    result = WalletResult(
        transaction_id=0,
        kind=TxKind.BET,
        reference=sample.tx_id,
        balances=Balances(CURRENCY, 9_999_999_750, 0, 0),
        cash_amount=250,
    )
    return {
        "run": str(run),
        "n": "0",
        "scope": provider_scope(PROVIDER),
        "currency": CURRENCY,
        "game": GAME,
        "zero": "0",
        "one": "1",
        "no": "false",
        "now": now,
        "entry_kind": EntryKind.BET.value,
        "tx_kind": TxKind.BET.value,
        "status": TxStatus.OK.value,
        "fingerprint": sample.fingerprint(),
        "result": orjson.dumps(result.to_dict()).decode(),
    }


def find_pgbench(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    found = shutil.which("pgbench")
    if found:
        return found
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True)
    return str(candidates[0]) if candidates else None


@dataclass(frozen=True, slots=True)
class PgbenchOutcome:
    figures: Figures | None
    """None for an unmeasured (warm-up) run. Else measured on a window inside the run, as for
    the service: CPU counters are read while pgbench and its backends are alive, bets counted
    by completion time from pgbench's log."""
    processed: int
    """Transactions pgbench counted as done in the whole run (each one bet committed)."""
    tps: float
    """pgbench's own figure for the whole run (without connection time)."""
    latency_avg_ms: float
    output: str


LEAD_SECONDS = 0.5
"""Before the window: pgbench connects and prepares; after it: the window closes cleanly."""


def _number(pattern: str, output: str) -> float:
    found = re.search(pattern, output, re.MULTILINE)
    if not found:
        raise RuntimeError(f"pgbench output lacks {pattern!r}:\n{output}")
    return float(found.group(1))


def _transactions(directory: Path) -> list[tuple[float, int]]:
    """(completion time as Unix seconds, latency in µs) of each logged transaction."""
    done = []
    for path in directory.glob("tx.*"):
        for line in path.read_text(encoding="utf-8").splitlines():
            # client_id transaction_no time script_no time_epoch time_us [lag] [retries]
            fields = line.split()
            if len(fields) >= 6 and fields[2].isdigit():
                done.append((int(fields[4]) + int(fields[5]) / 1e6, int(fields[2])))
    return done


def run(
    *,
    pgbench: str,
    url: str,
    script_text: str,
    clients: int,
    threads: int,
    seconds: float,
    defines: dict[str, str],
    measure: bool,
) -> PgbenchOutcome:
    """Run pgbench once; with ``measure``, figures of a ``seconds`` long window inside it."""
    target = make_url(url)
    env = {k: v for k, v in os.environ.items() if k.startswith("PG")}  # PGOPTIONS, PGSSLMODE
    env |= {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PGCONNECT_TIMEOUT": "5"}
    if target.password:
        env["PGPASSWORD"] = str(target.password)
    database = str(target.database)
    duration = max(1, round(seconds + (2 * LEAD_SECONDS if measure else 0)))
    with tempfile.TemporaryDirectory(prefix="croupier-pgbench-") as tmp:
        script_path = Path(tmp) / "bet.sql"
        script_path.write_text(script_text, encoding="utf-8")
        argv = [
            pgbench, "--no-vacuum", "--protocol=prepared",
            f"--client={clients}", f"--jobs={min(threads, clients)}",
            f"--time={duration}", f"--file={script_path}",
            f"--host={target.host or '127.0.0.1'}", f"--port={target.port or 5432}",
            f"--username={target.username or 'postgres'}",
        ]  # fmt: skip
        argv += [f"--define={name}={value}" for name, value in defines.items()]
        if measure:
            argv += ["--log", f"--log-prefix={Path(tmp) / 'tx'}"]
        argv.append(database)
        with subprocess.Popen(  # noqa: S603 - argv built here, no shell
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        ) as child:
            window = None
            if measure:
                time.sleep(LEAD_SECONDS)
                before, started = CpuSample.take(database=database, pid=child.pid), time.time()
                time.sleep(duration - 2 * LEAD_SECONDS)
                after, ended = CpuSample.take(database=database, pid=child.pid), time.time()
                window = (after - before, started, ended)
            try:
                output, _ = child.communicate(timeout=duration + 120)
            except subprocess.TimeoutExpired:
                child.kill()
                raise
        if child.returncode != 0:
            raise RuntimeError(f"pgbench exited {child.returncode}:\n{output}")
        logged = _transactions(Path(tmp)) if measure else []
    processed = int(_number(r"^number of transactions actually processed: (\d+)", output))
    failed = re.search(r"^number of failed transactions: (\d+)", output, re.MULTILINE)
    if failed and int(failed.group(1)):
        raise RuntimeError(f"pgbench had failed transactions:\n{output}")
    if measure and len(logged) != processed:
        raise RuntimeError(f"pgbench logged {len(logged)} transactions, counted {processed}")
    figures = None
    if window is not None:
        cpu, started, ended = window
        latencies = [took for at, took in logged if started <= at < ended]
        figures = Figures.build(
            stack="pgbench/postgres",
            connections=clients,
            seconds=ended - started,
            bets=len(latencies),
            latencies_us=latencies,
            cpu=cpu,
        )
    return PgbenchOutcome(
        figures=figures,
        processed=processed,
        tps=_number(r"^tps = ([\d.]+)", output),
        latency_avg_ms=_number(r"^latency average = ([\d.]+) ms", output),
        output=output,
    )
