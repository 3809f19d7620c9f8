"""`python -m bench.sandbox_bench`: rounds through the sandbox provider, end to end.

What a simulated player measures, as real processes on loopback: `croupier run` on a fresh
SQLite database (and on PostgreSQL when ``CROUPIER_TEST_POSTGRES_URL`` reaches a server, in
a database of its own that is dropped afterwards), `croupier sandbox serve --memory` beside
it with a webhook secret (every round is also a signed webhook delivery the wallet stores and
its worker applies), and `croupier sandbox players --cadence 0`: N players each spinning R
rounds as fast as answers come. A round is a player's spin to the sandbox, the sandbox's
signed ``bet`` and ``win`` (or ``end_round``) to the wallet, and the round event to the
inbox. Then the same with chaos on (10 % of bets' answers lost, 10 % of wins answered 503),
which the sandbox retries.

Figures: rounds a second over the whole run, the spin's p50 and p99 as the player sees it,
and the rounds by status. These are the sandbox's figures, not the wallet's: the wallet's
own are ``python -m bench`` (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from bench.machine import describe

console = Console()


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(*args: str, env: dict[str, str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "croupier", *args], env=env, capture_output=True, text=True,
        check=True, **kw,
    )  # fmt: skip


def _wait(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(url).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up")
        time.sleep(0.1)


@contextmanager
def _process(argv: list[str], env: dict[str, str], log: Path) -> Iterator[None]:
    with log.open("w") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "croupier", *argv], env=env, stdout=out, stderr=out
        )
    try:
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def _postgres_db() -> str | None:
    admin = os.environ.get(
        "CROUPIER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    try:
        import psycopg  # noqa: PLC0415 - only when PostgreSQL is benchmarked

        with psycopg.connect(admin, autocommit=True, connect_timeout=3) as conn:
            conn.execute("DROP DATABASE IF EXISTS croupier_sandbox_bench")
            conn.execute("CREATE DATABASE croupier_sandbox_bench")
    except Exception:  # noqa: BLE001 - no server: the SQLite figures only
        return None
    return admin.rsplit("/", 1)[0] + "/croupier_sandbox_bench"


def run(database: str, players: int, rounds: int, work: Path) -> list[dict[str, Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROUPIER_")}
    env |= {"CROUPIER_DATABASE_URL": database, "CROUPIER_LOG_LEVEL": "WARNING"}
    _cli("migrate", env=env)
    setup = _cli("sandbox", "setup", "--provider", "bench", env=env).stdout
    for line in setup.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = value
    wallet, sandbox = _port(), _port()
    figures = []
    with (
        _process(["run", "--port", str(wallet)], env, work / "run.log"),
        _process(["sandbox", "serve", "--provider", "bench", "--memory", "--port", str(sandbox),
                  "--wallet-url", f"http://127.0.0.1:{wallet}"], env, work / "sandbox.log"),
    ):  # fmt: skip
        _wait(f"http://127.0.0.1:{wallet}/healthz")
        _wait(f"http://127.0.0.1:{sandbox}/healthz")
        for label, chaos in (("quiet", {}), ("chaos", {"bet": {"lost_answer": 0.1},
                                                      "win": {"error_rate": 0.1}})):  # fmt: skip
            httpx.delete(f"http://127.0.0.1:{sandbox}/chaos")
            for endpoint, switch in chaos.items():
                httpx.put(f"http://127.0.0.1:{sandbox}/chaos/{endpoint}", json=switch)
            began = time.perf_counter()
            out = _cli(
                "sandbox", "players", "--provider", "bench", "--url",
                f"http://127.0.0.1:{sandbox}", "--wallet-url", f"http://127.0.0.1:{wallet}",
                "--players", str(players), "--rounds", str(rounds), "--cadence", "0",
                "--seed", "1", "--json", env=env,
            )  # fmt: skip
            seconds = time.perf_counter() - began
            summary = json.loads(out.stdout)
            stats = httpx.get(f"http://127.0.0.1:{sandbox}/stats").json()
            figures.append({
                "database": database.split(":", 1)[0], "chaos": label,
                "rounds": summary["rounds"], "seconds": round(seconds, 2),
                "rounds_per_second": round(summary["rounds"] / summary["seconds"], 1),
                "p50_ms": summary["latency_ms"]["p50"], "p99_ms": summary["latency_ms"]["p99"],
                "by_status": summary["by_status"], "anomalies": len(stats["anomalies"]),
            })  # fmt: skip
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=50, help="rounds per player")
    args = parser.parse_args()
    console.print_json(json.dumps(describe(None, None), default=str))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows += run(f"sqlite:///{work}/bench.db", args.players, args.rounds, work)
        pg = _postgres_db()
        if pg is not None:
            rows += run(pg, args.players, args.rounds, work)
    table = Table("database", "chaos", "rounds", "rounds/s", "p50 ms", "p99 ms", "by status",
                  "anomalies", title=f"Sandbox rounds end to end, {args.players} players "
                  "at cadence 0")  # fmt: skip
    for r in rows:
        table.add_row(r["database"], r["chaos"], str(r["rounds"]), str(r["rounds_per_second"]),
                      str(r["p50_ms"]), str(r["p99_ms"]),
                      ", ".join(f"{k} {v}" for k, v in r["by_status"].items()),
                      str(r["anomalies"]))  # fmt: skip
    console.print(table)
    console.print_json(json.dumps(rows))


if __name__ == "__main__":
    main()
