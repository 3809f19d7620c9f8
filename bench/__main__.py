"""`python -m bench`: the wallet service on SQLite and PostgreSQL, then pgbench on the same SQL,
then the provider HTTP API (`croupier run` under signed bet and win calls, bench/http.py).

Every run gets fresh databases (a temporary SQLite file; a PostgreSQL database created and
dropped on the server of CROUPIER_BENCH_POSTGRES_URL), and after every run the ledger is
verified and the stored bets counted against the acknowledged ones.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

from bench import pgbench
from bench.databases import (
    CURRENCY,
    LedgerBroken,
    autovacuum_off,
    cash_layout,
    check_ledger,
    make_service,
    postgres_database,
    seed,
    server_version,
    settle,
    sqlite_database,
)
from bench.figures import Figures
from bench.http import (
    SIGNATURE_WINDOW_SECONDS,
    Hooks,
    HttpFigures,
    HttpRunFailed,
    bench_http,
    goals,
)
from bench.load import drive
from bench.machine import busy_fraction, describe
from croupier.adapters.db.postgres import PostgresStore
from croupier.adapters.db.sqlite import SqliteStore
from croupier.bootstrap import run as run_async
from croupier.domain.ledger import AccountType

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
AIM = 0.5
"""The service layer should reach at least this share of pgbench's rate on the same SQL."""
QUIET = 0.15
"""Busy share of all cores above which the machine is not idle before a run, or a run had
other load beside it: the figures of such a run are low, and the ratio may be skewed."""

console = Console(highlight=False)
if not console.is_terminal:
    console = Console(highlight=False, width=160)  # logs and pipes get the whole table


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "Bets per second and latency (p50, p99) of WalletService.place_bet on SQLite and "
            "PostgreSQL, beside pgbench running the same SQL; prints the ratio. Then the same on "
            "the provider HTTP API: `croupier run` under signed bet and win calls from a load "
            "generator process. Fresh databases each run; the ledger is verified after each run."
        ),
    )
    parser.add_argument("--seconds", type=float, default=15, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=3, help="unmeasured seconds before each")
    parser.add_argument(
        "--connections",
        type=int,
        nargs="+",
        default=[8, 16],
        metavar="N",
        help="PostgreSQL: pool size = concurrent tasks = pgbench clients, one run per value",
    )
    parser.add_argument(
        "--sqlite-tasks", type=int, default=8, help="concurrent tasks on the SQLite store"
    )
    parser.add_argument("--players", type=int, default=1000, help="wallets bets are spread over")
    parser.add_argument("--jobs", type=int, default=2, help="pgbench threads (-j)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the load")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("CROUPIER_BENCH_POSTGRES_URL", DEFAULT_POSTGRES),
        help="server to create the benchmark database on (env CROUPIER_BENCH_POSTGRES_URL)",
    )
    parser.add_argument(
        "--database",
        default="croupier_bench",
        help="PostgreSQL database name (the HTTP runs use it with the suffix _http)",
    )
    parser.add_argument("--keep-database", action="store_true", help="do not drop it afterwards")
    parser.add_argument("--pgbench", help="path of pgbench (default: found on PATH)")
    parser.add_argument("--skip-sqlite", action="store_true", help="also the HTTP run on SQLite")
    parser.add_argument(
        "--skip-postgres", action="store_true", help="also skips pgbench and HTTP on PostgreSQL"
    )
    parser.add_argument("--skip-pgbench", action="store_true")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0,
        metavar="SECONDS",
        help="before each run, wait up to this long for other load on the machine to end",
    )
    parser.add_argument(
        "--skip-http", action="store_true", help="no runs of the HTTP API (croupier run)"
    )
    parser.add_argument(
        "--http-only", action="store_true", help="only the HTTP API runs: no service, no pgbench"
    )
    parser.add_argument(
        "--http-connections",
        type=int,
        nargs="+",
        default=[8],
        metavar="N",
        help="HTTP API: keep-alive connections of the load generator, one run per value",
    )
    parser.add_argument(
        "--http-max-rate",
        type=float,
        default=6000,
        metavar="BETS_PER_S",
        help="HTTP API: requests are signed beforehand for this rate over warm-up and window; "
        "a faster server fails the run (raise it then)",
    )
    parser.add_argument(
        "--http-env",
        type=_setting,
        action="append",
        metavar="CROUPIER_NAME=VALUE",
        help="HTTP API: a setting of the server beside the benchmark's own, e.g. "
        "CROUPIER_ACCESS_LOG=false (repeatable)",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="PATH",
        help="after the measured runs, one extra PostgreSQL service run under cProfile "
        "(not in the table); stats saved to PATH, top functions printed",
    )
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.warmup < 1 or args.players < 2:
        parser.error("need --seconds > 0, --warmup >= 1 and --players >= 2")
    if min(args.connections) < 1 or args.sqlite_tasks < 1 or args.jobs < 1:
        parser.error("connections, tasks and jobs must be positive")
    if min(args.http_connections) < 1 or args.http_max_rate <= 0:
        parser.error("--http-connections and --http-max-rate must be positive")
    longest = max(3 * args.warmup, args.warmup + args.seconds)  # the priming run: 3 warm-ups
    if not args.skip_http and longest > SIGNATURE_WINDOW_SECONDS - 60:
        parser.error(
            f"the HTTP runs sign their requests beforehand for a {SIGNATURE_WINDOW_SECONDS} s "
            "window: keep warm-up and window shorter (or --skip-http)"
        )
    return args


def _setting(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.startswith("CROUPIER_"):
        raise argparse.ArgumentTypeError("expected CROUPIER_NAME=VALUE")
    return name, value


def say(message: str) -> None:
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/dim] {message}")


def quiet(args: argparse.Namespace) -> None:
    """Check that the machine is idle before a run; wait (bounded) if asked to."""
    deadline = time.monotonic() + args.wait_quiet
    while (busy := busy_fraction(0.5)) > QUIET:
        if time.monotonic() >= deadline:
            say(f"[yellow]the machine is {busy:.0%} busy before this run: figures will be low[/]")
            return
        time.sleep(1)


async def bench_sqlite(args: argparse.Namespace) -> list[Figures]:
    with sqlite_database() as url:
        store = SqliteStore(url)
        try:
            service = await make_service(store)
            say(f"SQLite: seeding {args.players} wallets")
            await seed(service, args.players)
            provider = "bench-sqlite"
            quiet(args)
            say(f"SQLite: {args.sqlite_tasks} tasks, {args.warmup:g}+{args.seconds:g} s")
            outcome = await drive(
                service,
                stack="service/sqlite",
                provider=provider,
                players=args.players,
                tasks=args.sqlite_tasks,
                warmup=args.warmup,
                seconds=args.seconds,
                seed=args.seed,
            )
        finally:
            await store.close()
        check_ledger(url, provider=provider, acked=outcome.acked, staked=outcome.staked)
        say(f"SQLite: ledger verified, {outcome.acked} bets stored as acknowledged")
    return [outcome.figures]


async def _service_run(
    url: str,
    args: argparse.Namespace,
    connections: int,
    provider: str,
    *,
    profiler: cProfile.Profile | None = None,
    seconds: float | None = None,
) -> Figures:
    settle(url)
    quiet(args)
    store = await PostgresStore.connect(url, min_size=connections, max_size=connections)
    try:
        service = await make_service(store)
        outcome = await drive(
            service,
            stack="service/postgres",
            provider=provider,
            players=args.players,
            tasks=connections,
            warmup=args.warmup,
            seconds=args.seconds if seconds is None else seconds,
            seed=args.seed + connections,
            database=args.database,
            profiler=profiler,
        )
    finally:
        await store.close()
    check_ledger(url, provider=provider, acked=outcome.acked, staked=outcome.staked)
    say(f"PostgreSQL: ledger verified, {outcome.acked} bets stored as acknowledged")
    return outcome.figures


async def bench_postgres(
    args: argparse.Namespace, pgbench_path: str | None, notes: dict[str, Any]
) -> list[Figures]:
    results: list[Figures] = []
    with postgres_database(args.postgres_url, args.database, keep=args.keep_database) as url:
        notes["machine"]["postgresql"] = server_version(url)
        store = await PostgresStore.connect(url, min_size=1, max_size=8)
        try:
            service = await make_service(store)
            say(f"PostgreSQL: seeding {args.players} wallets in database {args.database}")
            await seed(service, args.players)
            async with store.transaction() as tx:
                clearing = await tx.house_account(
                    AccountType.PROVIDER_CLEARING, pgbench.PROVIDER, CURRENCY
                )
        finally:
            await store.close()
        autovacuum_off(url)
        script = pgbench.script(
            players=args.players, cash=cash_layout(url, args.players), clearing=clearing
        )
        notes["pgbench_script"] = script
        # An unmeasured run first: whichever run comes first on the new database costs the
        # server more per bet (tables and indexes still tiny, first pages, caches of the
        # backends), and would be the service's 8-connection run every time.
        say(f"PostgreSQL service: priming, {args.warmup * 3:g} s unmeasured")
        await _service_run(url, args, args.connections[0], "bench-prime", seconds=args.warmup * 2)
        now = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime())
        pgbench_acked = 0
        for index, connections in enumerate(args.connections):
            say(f"PostgreSQL service: {connections} tasks, {args.warmup:g}+{args.seconds:g} s")
            provider = f"bench-pg{connections}-{index}"
            results.append(await _service_run(url, args, connections, provider))
            if pgbench_path is None:
                continue
            say(f"pgbench: {connections} clients, {args.warmup:g}+{args.seconds:g} s")
            settle(url)
            quiet(args)
            for run_no, seconds, measure in ((2 * index + 1, args.warmup, False),
                                             (2 * index + 2, args.seconds, True)):  # fmt: skip
                outcome = pgbench.run(
                    pgbench=pgbench_path,
                    url=url,
                    script_text=script,
                    clients=connections,
                    threads=args.jobs,
                    seconds=seconds,
                    defines=pgbench.constants(run_no, now),
                    measure=measure,
                )
                pgbench_acked += outcome.processed
                if outcome.figures:
                    results.append(outcome.figures)
            check_ledger(url, provider=pgbench.PROVIDER, acked=pgbench_acked)
            say(f"pgbench: ledger verified, {pgbench_acked} bets stored as counted")
        if args.profile:
            await profile_run(url, args)
    return results


async def profile_run(url: str, args: argparse.Namespace) -> None:
    connections = args.connections[0]
    say(f"PostgreSQL service under cProfile: {connections} tasks (figures not reported)")
    profiler = cProfile.Profile(time.process_time)  # CPU, not wall: the loop waits a lot
    await _service_run(url, args, connections, "bench-profile", profiler=profiler)
    profiler.dump_stats(str(args.profile))
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(25)
    console.print(text.getvalue(), markup=False)
    say(f"cProfile stats written to {args.profile}")


def ratios(results: list[Figures]) -> dict[int, float]:
    """service/postgres bets/s over pgbench tps, per number of connections."""
    by = {(f.stack, f.connections): f for f in results}
    return {
        f.connections: f.bets_per_s / base.bets_per_s
        for f in results
        if f.stack == "service/postgres"
        and (base := by.get(("pgbench/postgres", f.connections)))
        and base.bets_per_s
    }


def show(results: list[Figures], machine: dict[str, Any]) -> None:
    table = Table(title="Croupier bet path: service layer vs pgbench (same SQL)")
    for name in ("stack", "conns", "bets", "bets/s", "p50 ms", "p99 ms", "mean ms"):
        table.add_column(name, justify="left" if name == "stack" else "right")
    for name in ("CPU µs/bet: client", "server", "all cores", "busy", "other", "vs pgbench"):
        table.add_column(name, justify="right")
    shares = ratios(results)
    for f in results:
        share = shares.get(f.connections) if f.stack == "service/postgres" else None
        table.add_row(
            f.stack, str(f.connections), f"{f.bets:,}", f"{f.bets_per_s:,.0f}",
            f"{f.p50_ms:.2f}", f"{f.p99_ms:.2f}", f"{f.mean_ms:.2f}",
            f"{f.client_cpu_us:,.0f}", f"{f.server_cpu_us:,.0f}", f"{f.machine_cpu_us:,.0f}",
            f"{f.machine_busy:.0%}", f"{f.other_busy:.0%}",
            f"{share:.2f}" if share is not None else "",
        )  # fmt: skip
    console.print(table)
    console.print(
        f"machine: {machine['cpus']} x {machine['cpu_model']}, {machine['ram_gib']} GiB; "
        f"Python {machine['python']}, SQLite {machine['sqlite']}, "
        f"PostgreSQL {machine['postgresql']}, asyncpg {machine['asyncpg']}"
    )
    loaded = [f for f in results if f.other_busy > QUIET]
    if loaded:
        console.print(
            f"[yellow]other load shared the machine during {len(loaded)} run(s) (column other): "
            "their figures are low; rerun on an idle machine to compare[/yellow]"
        )
    for connections, share in shares.items():
        verdict = "[green]met[/green]" if share >= AIM else "[red]NOT met[/red]"
        console.print(
            f"service/pgbench at {connections} connections: {share:.3f} (aim >= {AIM}): {verdict}"
        )


def show_http(http: list[HttpFigures], results: list[Figures], machine: dict[str, Any]) -> None:
    if not http:
        return
    table = Table(title="Croupier provider HTTP API: signed bet + win (close_round) per round")
    table.add_column("stack", no_wrap=True)
    for name in ("conns", "bets", "bets/s", "calls/s", "p50 ms", "p99 ms", "win p50", "win p99",
                 "loadgen µs/call", "CPU µs/bet: croupier", "postgres", "all cores", "busy",
                 "other", "vs pgbench"):  # fmt: skip
        table.add_column(name, justify="right")
    base = {f.connections: f for f in results if f.stack == "pgbench/postgres"}
    for f in http:
        pg = base.get(f.connections) if f.stack == "http/postgres" else None
        share = f.bets_per_s / pg.bets_per_s if pg and pg.bets_per_s else None
        table.add_row(
            f.stack, str(f.connections), f"{f.bets:,}", f"{f.bets_per_s:,.0f}",
            f"{f.calls_per_s:,.0f}", f"{f.p50_ms:.2f}", f"{f.p99_ms:.2f}",
            f"{f.win_p50_ms:.2f}", f"{f.win_p99_ms:.2f}", f"{f.loadgen_cpu_us_per_call:,.0f}",
            f"{f.croupier_cpu_us:,.0f}", f"{f.postgres_cpu_us:,.0f}", f"{f.machine_cpu_us:,.0f}",
            f"{f.machine_busy:.0%}", f"{f.other_busy:.0%}",
            f"{share:.2f}" if share is not None else "",
        )  # fmt: skip
    console.print(table)
    if not results:
        console.print(
            f"machine: {machine['cpus']} x {machine['cpu_model']}, {machine['ram_gib']} GiB; "
            f"Python {machine['python']}, SQLite {machine['sqlite']}, "
            f"PostgreSQL {machine['postgresql']}, asyncpg {machine['asyncpg']}"
        )
    console.print(
        "HTTP: latencies are of the bet calls (win: of the win calls), each from the first byte "
        "sent to the last byte read; CPU per bet counts the bet and its win. The server runs "
        "with its access log on, the production default."
    )
    for f in http:
        console.print(
            f"{f.stack} {f.connections}: the load generator used {f.loadgen_core_share:.0%} of "
            f"one core; the croupier process spent {f.croupier_system_share:.0%} of its CPU in "
            "the kernel"
        )
    loaded = [f for f in http if f.other_busy > QUIET]
    if loaded:
        console.print(
            f"[yellow]other load shared the machine during {len(loaded)} HTTP run(s) (column "
            "other): their figures are low[/yellow]"
        )
    for text, met in goals(http):
        verdict = {True: "[green]met[/green]", False: "[red]NOT met[/red]", None: "[dim]-[/dim]"}
        console.print(f"{text}: {verdict[met]}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    pgbench_path = None
    if not (args.skip_postgres or args.skip_pgbench or args.http_only):
        pgbench_path = pgbench.find_pgbench(args.pgbench)
        if pgbench_path is None:
            say("[yellow]pgbench not found: PostgreSQL runs without the pgbench baseline[/yellow]")
    notes: dict[str, Any] = {"machine": describe(pgbench_path, None)}
    results: list[Figures] = []
    http: list[HttpFigures] = []
    try:
        if not (args.skip_sqlite or args.http_only):
            results += run_async(bench_sqlite(args))
        if not (args.skip_postgres or args.http_only):
            results += run_async(bench_postgres(args, pgbench_path, notes))
        if not args.skip_http:
            http = bench_http(args, Hooks(say=say, quiet=lambda: quiet(args)), notes)
    except LedgerBroken as exc:
        console.print(f"[bold red]LEDGER CHECK FAILED[/bold red]: {exc}")
        return 1
    except HttpRunFailed as exc:
        if results:
            show(results, notes["machine"])
        console.print("[bold red]HTTP RUN FAILED[/bold red]:")
        console.print(str(exc), markup=False)
        return 1
    if results or not http:
        show(results, notes["machine"])
    show_http(http, results, notes["machine"])
    say(f"done in {time.monotonic() - started:.0f} s")
    if args.json:
        document = {
            "command": " ".join([Path(sys.executable).name, "-m", "bench", *sys.argv[1:]]),
            "settings": {
                "seconds": args.seconds,
                "warmup": args.warmup,
                "connections": args.connections,
                "sqlite_tasks": args.sqlite_tasks,
                "players": args.players,
                "pgbench_jobs": args.jobs,
                "http_connections": [] if args.skip_http else args.http_connections,
                "http_max_rate": args.http_max_rate,
            },
            "machine": notes["machine"],
            "runs": [f.to_dict() for f in results],
            "http_runs": [f.to_dict() for f in http],
            "http_server_env": notes.get("http_server_env"),
            "service_over_pgbench": {str(c): r for c, r in ratios(results).items()},
            "pgbench_script": notes.get("pgbench_script"),
        }
        args.json.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
        say(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
