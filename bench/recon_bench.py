"""`python -m bench.recon_bench`: reconciliation of a large provider feed against the ledger.

The requirement (the reconciliation issue): "1,000,000 feed rows reconcile in minutes with
bounded memory". For each size N (default 100,000 and 1,000,000; ``--rows`` or the
environment variable ``CROUPIER_BENCH_RECON_ROWS`` change them), the benchmark

1. creates a fresh SQLite database in a temporary directory, migrated to head
   (``croupier.adapters.db.migrate.upgrade``, what ``croupier migrate`` runs);
2. fills ``wallet_transactions`` with N records of one provider for one day, in one
   transaction (``executemany``): rounds of a bet and its win, as the wallet writes them
   (kind, status ``ok``, scope ``provider:<code>``, reference, player, round, amount in minor
   units, currency, the result JSON, a fingerprint, ``created_at`` in the store's ISO text).
   Going through ``WalletService`` would take hours at 1,000,000 rows. No journal entries,
   postings or rounds are written: a per-transaction reconciliation reads
   ``wallet_transactions`` only (``adapters/db/recon.py``), and ``entry_id`` may be NULL;
3. writes the provider's feed of the same transactions as CSV in the canonical columns (no
   mapping needed), in time order with random (UUID) transaction ids, so that sorting by key
   has real work to do, plus a dozen injected differences of every kind;
4. runs ``ReconService.run`` (``dry_run=True``: nothing stored) through
   ``croupier.bootstrap.gateway`` as ``croupier reconcile`` does, then writes its three
   reports as the command does, **in a child process of its own**, so that the child's peak
   resident memory (``ru_maxrss``) is the reconciliation's and nothing else's;
5. checks that the differences found are exactly the injected ones.

Figures: wall time per stage, cut by the run's progress callback (feed read, parsed and
spilled in sorted chunks; ledger read in pages and spilled; merge of both sorted streams,
classification, lookups of unmatched keys, totals and the report; the report files), total
time and feed rows a second, CPU time, and memory: resident set before the run (the
interpreter and Croupier imported, the gateway open), its peak during the run, and the
resident set sampled at each progress call. Memory that does not grow with N is bounded.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import hashlib
import io
import os
import pstats
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from bench.machine import CpuSample, describe
from croupier.adapters.db.migrate import upgrade
from croupier.adapters.db.sqlite import connect, sqlite_path, ts

PROVIDER = "bench-recon"
DAY = date(2026, 11, 20)
CURRENCY = "EUR"
PLAYERS = 1000
PLAYER_BASE = 10_000_000
DEFAULT_ROWS = (100_000, 1_000_000)
ENV_ROWS = "CROUPIER_BENCH_RECON_ROWS"
BATCH = 50_000
"""Ledger rows per ``executemany`` call (one transaction for all)."""
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
MIB = 2**20
BOUNDED = 1.5
"""Peak memory is called bounded when the largest size's peak is at most this many times
the smallest's (the sizes differ tenfold by default)."""

console = Console(highlight=False)
if not console.is_terminal:
    console = Console(highlight=False, width=160)


def say(message: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {message}")


# -- the data --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Injected:
    """Where the differences go, by ledger row index; and what the run must find."""

    amount: frozenset[int]
    status: int
    kind: int
    currency: int
    missing_in_feed: frozenset[int]
    duplicate: int
    late: int
    """A ledger row created after the period's end (a late arrival): outside_period."""
    extra_feed: int = 2
    """Feed rows with ids the ledger does not have: missing_in_ledger."""

    @classmethod
    def spread(cls, n: int) -> Injected:
        at = [n * k // 12 + 7 for k in range(11)]
        return cls(
            amount=frozenset(at[0:3]), status=at[4] - at[4] % 2, kind=at[5], currency=at[6],
            missing_in_feed=frozenset(at[7:9]), duplicate=at[9], late=n - 1,
        )  # fmt: skip

    def expected(self) -> dict[str, int]:
        return {
            "amount_mismatch": len(self.amount),
            "status_mismatch": 1,
            "type_mismatch": 1,
            "currency_mismatch": 1,
            "missing_in_feed": len(self.missing_in_feed),
            "missing_in_ledger": self.extra_feed,
            "duplicate_in_feed": 1,
            "outside_period": 1,
        }


RESULT = (
    '{{"kind":"{kind}","reference":"{ref}","balances":{{"currency":"EUR","cash":{cash},'
    '"bonus":0,"held":0}},"cash_amount":{amount},"bonus_amount":0,"round_closed":{closed},'
    '"outcome":"applied","extra":{{}}}}'
)
"""The result JSON the wallet stores with a bet or a win (balances are not read back)."""


def _major(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


LEDGER_SQL = (
    "INSERT INTO wallet_transactions (scope, reference, kind, status, player_id, round_ref, "
    "ref_tx, amount, currency, fingerprint, result, entry_id, created_at, session_id, "
    "correlation_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
FEED_COLUMNS = ("tx_id", "round_id", "player_id", "kind", "amount", "currency", "at", "status")


def generate(n: int, seed: int) -> Iterator[tuple[tuple[Any, ...], list[tuple[str, ...]]]]:
    """Per ledger record (bets and wins of N/2 rounds, spread over DAY, random UUID ids):
    the record, and the feed lines that go with it, with the differences of
    ``Injected.spread(n)``."""
    rng = random.Random(seed)
    inj = Injected.spread(n)
    start = datetime.combine(DAY, datetime.min.time(), UTC)
    step = timedelta(microseconds=86_400_000_000 // n)
    stake = 0
    for i in range(n):
        ref = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        round_ref = f"round-{i // 2}"
        player = str(PLAYER_BASE + 1 + rng.randrange(PLAYERS))
        if i % 2 == 0:
            kind, stake = "bet", rng.randint(10, 500)
            amount = stake
        else:
            kind = "win"
            amount = 0 if rng.random() < 0.6 else rng.randint(1, 2 * stake)
        at = ts(start + step * i)
        created = ts(start + timedelta(days=1, minutes=30)) if i == inj.late else at
        record = (
            f"provider:{PROVIDER}", ref, kind, "ok", player, round_ref, None, amount, CURRENCY,
            hashlib.sha256(ref.encode()).hexdigest(),
            RESULT.format(kind=kind, ref=ref, cash=10**10, amount=amount,
                          closed="true" if kind == "win" else "false"),
            None, created, None, None,
        )  # fmt: skip
        lines: list[tuple[str, ...]] = []
        if i not in inj.missing_in_feed:
            f_kind, f_amount, f_currency, f_status = kind, amount, CURRENCY, "ok"
            if i in inj.amount:
                f_amount += 1
            elif i == inj.status:
                f_status = "failed"  # refused, says the feed; accepted in the ledger
            elif i == inj.kind:
                f_kind = "win" if kind == "bet" else "bet"
            elif i == inj.currency:
                f_currency = "USD"
            line = (ref, round_ref, player, f_kind, _major(f_amount), f_currency, at, f_status)
            lines.append(line)
            if i == inj.duplicate:
                lines.append(line)
            if i in (n // 3, 2 * n // 3):  # a transaction the ledger never saw
                lines.append((f"unknown-{i}", round_ref, player, "bet", "1.00", CURRENCY, at,
                              "ok"))  # fmt: skip
        yield record, lines


def build(n: int, url: str, feed: Path, *, seed: int) -> dict[str, Any]:
    """The ledger (one transaction, ``executemany`` in batches) and the feed file of
    ``generate``; counts, sizes and the time taken."""
    started = time.perf_counter()
    feed_rows = 0
    conn = connect(sqlite_path(url))
    try:
        with feed.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(FEED_COLUMNS)
            conn.execute("BEGIN IMMEDIATE")
            batch: list[tuple[Any, ...]] = []
            for record, lines in generate(n, seed):
                batch.append(record)
                writer.writerows(lines)
                feed_rows += len(lines)
                if len(batch) == BATCH:
                    conn.executemany(LEDGER_SQL, batch)
                    batch = []
            conn.executemany(LEDGER_SQL, batch)
            conn.execute("COMMIT")
        stored = conn.execute("SELECT count(*) FROM wallet_transactions").fetchone()[0]
    finally:
        conn.close()  # the last connection: checkpoints the WAL into the database file
    return {
        "ledger_rows": int(stored),
        "feed_rows": feed_rows,
        "setup_s": time.perf_counter() - started,
        "database_mib": Path(sqlite_path(url)).stat().st_size / MIB,
        "feed_mib": feed.stat().st_size / MIB,
        "expected": Injected.spread(n).expected(),
    }


# -- the measured run (in a child process) ---------------------------------------------------


def rss_now() -> int:
    """Resident set of this process now, in bytes."""
    with open("/proc/self/statm", encoding="ascii") as statm:  # noqa: PTH123 - hot, tiny
        return int(statm.read().split()[1]) * PAGE_SIZE


def rss_peak() -> int:
    """Peak resident set of this process so far, in bytes (Linux: ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


async def reconcile(spec: dict[str, Any]) -> dict[str, Any]:
    """``croupier reconcile --dry-run`` without the console: the gateway, the provider's
    mapping (none stored: the canonical columns), the run with a progress callback, the
    report files."""
    from croupier.adapters.recon_feeds import FileFeed, mapping_from_dict  # noqa: PLC0415
    from croupier.adapters.recon_reports import write_reports  # noqa: PLC0415
    from croupier.bootstrap import gateway  # noqa: PLC0415
    from croupier.config import Settings  # noqa: PLC0415
    from croupier.domain.recon import Period  # noqa: PLC0415

    settings = Settings(database_url=spec["url"], reports_dir=spec["reports"])
    start = datetime.combine(date.fromisoformat(spec["day"]), datetime.min.time(), UTC)
    period = Period(start, start + timedelta(days=1))
    marks: list[tuple[str, int, float, int]] = []

    def progress(stage: str, count: int) -> None:
        marks.append((stage, count, time.perf_counter(), rss_now()))

    async with gateway(settings) as gw:
        stored = await gw.recon.store.mapping(spec["provider"])
        mapping = mapping_from_dict(stored or {})
        feed_path = Path(spec["feed"])
        source = FileFeed(feed_path, mapping, gw.wallet.currencies)
        rss_before, peak_before, cpu_before = rss_now(), rss_peak(), cpu_seconds()
        profiler = cProfile.Profile() if spec.get("profile") else None
        began = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        result = await gw.recon.run(
            spec["provider"], period, source, granularity=mapping.granularity,
            rollbacks=mapping.rollbacks, feed_name=feed_path.name,
            mapping_sha256=mapping.digest(), dry_run=True, actor="bench", progress=progress,
        )  # fmt: skip
        ran = time.perf_counter()
        report = {"run_id": result.run_id, "dry_run": True, **result.report}
        write_reports(report, Path(spec["reports"]) / "recon-bench")
        ended = time.perf_counter()
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(spec["profile"])
    found: Counter[str] = Counter(d.kind.value for d in result.differences)
    totals = result.report["currencies"]
    return {
        "rows": spec["rows"],
        "stages": stages(marks, began, ran, ended),
        "total_s": ended - began,
        "cpu_s": cpu_seconds() - cpu_before,
        "rss_before": rss_before,
        "peak_before": peak_before,
        "peak": rss_peak(),
        "feed_rows_read": sum(t["feed"]["rows"] for t in totals.values()),
        "ledger_rows_read": max((c for s, c, _, _ in marks if s == "ledger"), default=0),
        "differences": dict(sorted(found.items())),
        "alerts": result.alerts,
    }


def stages(
    marks: list[tuple[str, int, float, int]], began: float, ran: float, ended: float
) -> dict[str, dict[str, float]]:
    """Wall time and largest sampled resident set per stage. A stage ends at its last
    progress call; the merge runs from the ledger's last page to the run's return."""
    last: dict[str, float] = {}
    high: dict[str, int] = {}
    for stage, _, at, rss in marks:
        last[stage] = at
        high[stage] = max(high.get(stage, 0), rss)
    feed_end = last.get("feed", began)
    ledger_end = last.get("ledger", feed_end)
    return {
        "feed": {"s": feed_end - began, "rss": high.get("feed", 0)},
        "ledger": {"s": ledger_end - feed_end, "rss": high.get("ledger", 0)},
        "merge": {"s": ran - ledger_end, "rss": high.get("match", 0)},
        "reports": {"s": ended - ran, "rss": 0},
    }


def child(spec_path: Path) -> int:
    from croupier.bootstrap import run  # noqa: PLC0415

    spec = orjson.loads(spec_path.read_bytes())
    outcome = run(reconcile(spec))
    Path(spec["out"]).write_bytes(orjson.dumps(outcome))
    return 0


# -- the driver ------------------------------------------------------------------------------


def measure(n: int, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="croupier-recon-bench-", dir=args.tmp) as tmp:
        root = Path(tmp)
        url = f"sqlite:///{root / 'recon.db'}"
        upgrade(url)
        say(f"{n:,} rows: filling the ledger and writing the feed")
        built = build(n, url, root / "feed.csv", seed=args.seed)
        say(
            f"{n:,} rows: ledger {built['ledger_rows']:,} records "
            f"({built['database_mib']:,.0f} MiB), feed {built['feed_rows']:,} lines "
            f"({built['feed_mib']:,.0f} MiB), in {built['setup_s']:.0f} s; reconciling"
        )
        spec = {
            "url": url, "feed": str(root / "feed.csv"), "provider": PROVIDER,
            "day": DAY.isoformat(), "rows": n, "reports": str(root / "reports"),
            "out": str(root / "outcome.json"),
            "profile": str(args.profile) if args.profile and n == max(args.rows) else None,
        }  # fmt: skip
        (root / "spec.json").write_bytes(orjson.dumps(spec))
        env = {k: v for k, v in os.environ.items() if not k.startswith("CROUPIER_")}
        env["CROUPIER_DATABASE_URL"] = url
        if args.tmp:
            env["TMPDIR"] = str(args.tmp)  # the spill files go there too
        before, started = CpuSample.take(), time.perf_counter()
        proc = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
            [sys.executable, "-m", "bench.recon_bench", "--child", str(root / "spec.json")],
            env=env,
        )
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        cpu = CpuSample.take() - before
        if proc.returncode != 0:
            raise SystemExit(f"the reconciliation of {n:,} rows failed ({proc.returncode})")
        outcome: dict[str, Any] = orjson.loads((root / "outcome.json").read_bytes())
    outcome.update(built)
    outcome["process_s"] = wall
    outcome["child_maxrss"] = usage.ru_maxrss * 1024
    child_cpu = usage.ru_utime + usage.ru_stime
    outcome["child_cpu_s"] = child_cpu
    outcome["child_system_s"] = usage.ru_stime
    total = cpu.machine_total or 1.0
    outcome["machine_busy"] = cpu.machine_busy / total
    outcome["other_busy"] = max(0.0, cpu.machine_busy - child_cpu - cpu.client) / total
    outcome["ok"] = outcome["differences"] == dict(sorted(built["expected"].items()))
    return outcome


def show(outcomes: list[dict[str, Any]], machine: dict[str, Any]) -> None:
    table = Table(title="Croupier reconciliation: a provider's feed against the ledger (SQLite)")
    for name in ("feed rows", "ledger rows", "feed read+sort s", "ledger read s", "merge s",
                 "reports s", "total s", "rows/s", "CPU s", "process s", "RSS before MiB",
                 "peak RSS MiB", "other", "differences"):  # fmt: skip
        table.add_column(name, justify="right")
    for o in outcomes:
        s = o["stages"]
        table.add_row(
            f"{o['feed_rows']:,}", f"{o['ledger_rows']:,}", f"{s['feed']['s']:.1f}",
            f"{s['ledger']['s']:.1f}", f"{s['merge']['s']:.1f}", f"{s['reports']['s']:.2f}",
            f"{o['total_s']:.1f}", f"{o['feed_rows'] / o['total_s']:,.0f}", f"{o['cpu_s']:.1f}",
            f"{o['process_s']:.1f}", f"{o['rss_before'] / MIB:.0f}",
            f"{o['child_maxrss'] / MIB:.0f}", f"{o['other_busy']:.0%}",
            f"{sum(o['differences'].values())} {'ok' if o['ok'] else 'WRONG'}",
        )  # fmt: skip
    console.print(table)
    console.print(
        "stages cut by the run's progress calls: feed = read, parse, sort and spill the feed; "
        "ledger = read the ledger in pages and spill it; merge = merge both sorted streams, "
        "classify, look up unmatched keys, totals and report. total = the run and its report "
        "files; process = the child process from start to exit (imports, gateway). Peak RSS "
        "is the child's ru_maxrss. other = share of all cores busy with something else than "
        "the child during its life (other load on the machine, kernel work)."
    )
    console.print(
        "resident set sampled at the progress calls, MiB (feed / ledger / merge): "
        + "; ".join(
            f"{o['feed_rows']:,} rows: "
            + " / ".join(
                f"{o['stages'][k]['rss'] / MIB:.0f}" if o["stages"][k]["rss"] else "-"
                for k in ("feed", "ledger", "merge")
            )
            for o in outcomes
        )
    )
    console.print(
        f"machine: {machine['cpus']} x {machine['cpu_model']}, {machine['ram_gib']} GiB; "
        f"Python {machine['python']}, SQLite {machine['sqlite']}"
    )
    if len(outcomes) > 1:
        small, large = outcomes[0], outcomes[-1]
        grow = large["child_maxrss"] / small["child_maxrss"]
        verdict = "[green]bounded[/]" if grow <= BOUNDED else "[red]grows with N[/]"
        console.print(
            f"peak RSS from {small['feed_rows']:,} to {large['feed_rows']:,} feed rows "
            f"({large['feed_rows'] / small['feed_rows']:.0f}x the rows): "
            f"{small['child_maxrss'] / MIB:,.0f} -> {large['child_maxrss'] / MIB:,.0f} MiB "
            f"({grow:.2f}x): memory {verdict}"
        )
    for o in outcomes:
        console.print(
            f"{o['feed_rows']:,} feed rows reconciled in {o['total_s']:,.1f} s "
            f"({o['total_s'] / 60:.1f} min, "
            f"{o['feed_rows'] / o['total_s']:,.0f} rows/s), peak RSS "
            f"{o['child_maxrss'] / MIB:,.0f} MiB"
        )
        if not o["ok"]:
            console.print(
                f"[bold red]WRONG DIFFERENCES[/] at {o['feed_rows']:,} rows: found "
                f"{o['differences']}, injected {o['expected']}"
            )
        if o["alerts"]:
            console.print(
                f"[dim]alerts of the run at {o['feed_rows']:,} rows (the injected differences "
                f"trip them, as expected): {'; '.join(o['alerts'])}[/dim]"
            )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.recon_bench",
        description=(
            "Reconciliation of N feed rows against N ledger records of one provider and day "
            "(SQLite): time per stage, rows per second and peak memory, each size in a child "
            "process of its own. See docs/benchmarks.md."
        ),
    )
    env = os.environ.get(ENV_ROWS)
    parser.add_argument(
        "--rows",
        type=int,
        nargs="+",
        default=[int(x) for x in env.replace(",", " ").split()] if env else list(DEFAULT_ROWS),
        metavar="N",
        help=f"sizes, one run each (default {' '.join(map(str, DEFAULT_ROWS))}; env {ENV_ROWS})",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of the data")
    parser.add_argument(
        "--tmp", type=Path, help="directory for the database, the feed and the spill files"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="PATH",
        help="run the largest size under cProfile (times are then inflated); stats to PATH",
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is None and min(args.rows) < 1000:
        parser.error("--rows must be at least 1000 (the differences are spread over them)")
    args.rows = sorted(args.rows)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child is not None:
        return child(args.child)
    started = time.monotonic()
    machine = describe(None, None)
    outcomes = [measure(n, args) for n in args.rows]
    show(outcomes, machine)
    if args.profile:
        text = io.StringIO()
        pstats.Stats(str(args.profile), stream=text).sort_stats("cumulative").print_stats(30)
        console.print(text.getvalue(), markup=False)
    say(f"done in {time.monotonic() - started:.0f} s")
    if args.json:
        document = {
            "command": " ".join(
                [Path(sys.executable).name, "-m", "bench.recon_bench", *sys.argv[1:]]
            ),
            "machine": machine,
            "runs": outcomes,
        }
        args.json.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
        say(f"figures written to {args.json}")
    return 0 if all(o["ok"] for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
