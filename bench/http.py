# ruff: noqa: A005 - bench.http, never imported as plain "http"
"""The provider HTTP API under load: signed bet and win calls to a real `croupier run`.

For each database (a fresh SQLite file, a fresh PostgreSQL database), in-process: migrate,
seed the players, add a provider key, open (and authenticate) one game session per player.
Then `python -m croupier run` is started as a subprocess on a free port, with the production
defaults (access log on, uvicorn + httptools, uvloop) except a signature window long enough
for pre-signed requests and long-lived session tokens.

The load generator is another process (spawned, so that its CPU is counted apart from the
server's). Before anything is sent it builds every request it may need as raw HTTP/1.1 bytes:
each round is a bet, then a win on that round with ``close_round`` true (a slot spin), each
call with its own nonce and its four signature headers. It then keeps C persistent
connections busy with plain asyncio streams on uvloop, one call in flight per connection,
reading only the status line, the content length and the body of each response. Any status
but 200 fails the run. Warm-up first, then the measured window; the CPU of the load
generator, of the server process, of the database's PostgreSQL backends and of the whole
machine is sampled at the window's edges by the load generator itself.

After every run the ledger is verified and the stored bets, wins and rounds are counted
against the acknowledged ones (bench.databases.check_ledger).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from time import perf_counter_ns
from typing import Any

import orjson

from bench.databases import (
    CURRENCY,
    GAME,
    autovacuum_off,
    check_ledger,
    player_id,
    postgres_database,
    seed,
    server_version,
    settle,
    sqlite_database,
)
from bench.figures import percentile
from bench.load import MAX_STAKE, MIN_STAKE
from bench.machine import CpuSample, process_times
from croupier.adapters.providers.native import PREFIX
from croupier.bootstrap import gateway
from croupier.bootstrap import run as run_async
from croupier.config import Settings
from croupier.domain import signing
from croupier.domain.ledger import AccountType

PROVIDER = "bench-http"
KEY_ID = "bench-http-key"
HOST = "127.0.0.1"
SIGNATURE_WINDOW_SECONDS = 600
"""The server's accepted clock skew: requests are signed before the run, up to a minute or
so before they are sent (the build, the warm-up, the window)."""
TOKEN_SECONDS = 7 * 24 * 3600
"""Session tokens outlive the benchmark; a bet with an expired token is refused."""
WIN_SHARE = 0.4
"""Share of rounds whose win is not zero; a zero win still closes the round."""
GRACE_SECONDS = 60
"""How long calls still in flight at the end may take before the run is called stuck."""
SERVER_START_SECONDS = 60

GOAL_POSTGRES_BETS = 2000
GOAL_POSTGRES_P99_MS = 10.0
GOAL_POSTGRES_CONNECTIONS = 8
GOAL_SQLITE_BETS = 3000


class HttpRunFailed(RuntimeError):
    """The server or the load generator failed: a call was refused, a process died, the
    run outgrew its pre-built requests, or the server logged an error."""


# -- figures ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HttpFigures:
    stack: str
    """``http/sqlite`` or ``http/postgres``."""
    connections: int
    """HTTP/1.1 keep-alive connections, one call in flight on each."""
    seconds: float
    bets: int
    """Bet calls answered 200 inside the window."""
    calls: int
    """Bet and win calls answered 200 inside the window."""
    p50_ms: float
    """Of the bet calls: from the first byte written to the last byte of the response read."""
    p99_ms: float
    mean_ms: float
    win_p50_ms: float
    win_p99_ms: float
    loadgen_cpu_us_per_call: float
    """CPU (user + system) of the load generator process per call."""
    loadgen_core_share: float
    """The load generator's CPU over the window's length: the share of one core it used."""
    croupier_cpu_us: float
    """CPU of the `croupier run` process per bet (a bet and its win; on SQLite it includes
    SQLite itself)."""
    croupier_system_share: float
    """The part of it spent in the kernel: socket writes and reads (loopback TCP to the
    client and to PostgreSQL), fsync, the log file."""
    postgres_cpu_us: float
    """CPU of the database's PostgreSQL backends and shared writers per bet (0 on SQLite)."""
    machine_cpu_us: float
    """Busy time of all cores per bet."""
    machine_busy: float
    """Fraction of all cores busy during the window."""
    other_busy: float
    """Fraction of all cores busy with none of load generator, server, PostgreSQL backends:
    kernel work not charged to a process, and any other load on the machine."""
    build_seconds: float
    """How long the load generator took to sign and build its requests (before the run)."""

    @property
    def bets_per_s(self) -> float:
        return self.bets / self.seconds if self.seconds else 0.0

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "bets_per_s": self.bets_per_s, "calls_per_s": self.calls_per_s}


def build_figures(stack: str, connections: int, outcome: LoadResult) -> HttpFigures:
    bets = sorted(outcome.bet_latencies_us)
    wins = sorted(outcome.win_latencies_us)
    calls = len(bets) + len(wins)
    cpu = outcome.cpu
    per_bet = 1e6 / len(bets) if bets else 0.0
    total = cpu["machine_total"] or 1.0
    ours = cpu["loadgen"] + cpu["croupier"] + cpu["postgres"]
    return HttpFigures(
        stack=stack,
        connections=connections,
        seconds=outcome.seconds,
        bets=len(bets),
        calls=calls,
        p50_ms=percentile(bets, 50) / 1000,
        p99_ms=percentile(bets, 99) / 1000,
        mean_ms=(sum(bets) / len(bets) / 1000) if bets else 0.0,
        win_p50_ms=percentile(wins, 50) / 1000,
        win_p99_ms=percentile(wins, 99) / 1000,
        loadgen_cpu_us_per_call=cpu["loadgen"] * 1e6 / calls if calls else 0.0,
        loadgen_core_share=cpu["loadgen"] / outcome.seconds if outcome.seconds else 0.0,
        croupier_cpu_us=cpu["croupier"] * per_bet,
        croupier_system_share=cpu["croupier_system"] / cpu["croupier"] if cpu["croupier"] else 0,
        postgres_cpu_us=cpu["postgres"] * per_bet,
        machine_cpu_us=cpu["machine_busy"] * per_bet,
        machine_busy=cpu["machine_busy"] / total,
        other_busy=max(0.0, cpu["machine_busy"] - ours) / total,
        build_seconds=outcome.build_seconds,
    )


# -- the fixture: players, a key, sessions ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Fixture:
    provider: str
    key_id: str
    secret: str
    players: list[tuple[str, str]]
    """(player id, session token), one session per player."""
    first_rounds: int
    """Rounds played in-process by ``prepare`` (one per player; a bet and a zero win each)."""
    first_stakes: int


def round_bodies(player: str, token: str, ref: str, stake: int, win: int) -> tuple[bytes, bytes]:
    """The bodies of a round's bet and of its win, which closes the round."""
    bet = orjson.dumps(
        {"player_id": player, "token": token, "tx_id": f"{ref}-b", "round_id": ref,
         "game_code": GAME, "amount": _major(stake), "currency": CURRENCY}
    )  # fmt: skip
    settle_ = orjson.dumps(
        {"player_id": player, "token": token, "tx_id": f"{ref}-w", "round_id": ref,
         "game_code": GAME, "amount": _major(win), "currency": CURRENCY, "close_round": True}
    )  # fmt: skip
    return bet, settle_


async def prepare(url: str, players: int) -> Fixture:
    """Seed ``players`` funded wallets, add the provider's key, create its clearing account
    (so that no concurrent first bets race to create it), open one session per player,
    authenticate it as a game client would (created -> launched), and play one round on it
    through the native adapter in-process, so that it is active (its first bet moves it): in
    production nearly every bet is on an active session."""
    settings = Settings(database_url=url, session_token_seconds=TOKEN_SECONDS)
    secret = "bench-" + secrets.token_urlsafe(32)
    tag = f"p{secrets.token_hex(4)}"
    async with gateway(settings) as gw:
        await seed(gw.wallet, players)
        await gw.keys.add(PROVIDER, key_id=KEY_ID, secret=secret)
        async with gw.wallet.store.transaction() as tx:
            await tx.house_account(AccountType.PROVIDER_CLEARING, PROVIDER, CURRENCY)
        tokens: list[tuple[str, str]] = [("", "")] * players
        refused: list[str] = []
        gate = asyncio.Semaphore(8)

        async def session(k: int) -> None:
            async with gate:
                _, token, _ = await gw.sessions.open(
                    provider=PROVIDER, player_id=player_id(k), game_code=GAME, actor="bench"
                )
                await gw.sessions.authenticate(PROVIDER, token)
                tokens[k - 1] = (player_id(k), token)
                ref = f"{tag}-{k:09d}"
                bodies = round_bodies(player_id(k), token, ref, MIN_STAKE, 0)
                for call, body in zip(("bet", "win"), bodies, strict=True):
                    path = f"{PREFIX}/{PROVIDER}/{call}"
                    headers = signing.request_headers(
                        key_id=KEY_ID, secret=secret, path=path, body=body,
                        timestamp=int(time.time()), nonce=f"{ref}-{call}",
                    )  # fmt: skip
                    headers["content-type"] = "application/json"
                    reply = await gw.native.handle(PROVIDER, call, path, headers, body)
                    if reply.status != 200:
                        refused.append(f"in-process {call} answered {reply.status}: {reply.body!r}")

        async with asyncio.TaskGroup() as group:
            for k in range(1, players + 1):
                group.create_task(session(k))
        if refused:
            raise HttpRunFailed(f"{len(refused)} calls refused while preparing: {refused[0]}")
    return Fixture(
        PROVIDER, KEY_ID, secret, tokens, first_rounds=players, first_stakes=players * MIN_STAKE
    )


# -- the server ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Server:
    pid: int
    port: int
    log: Path
    env: dict[str, str]
    """The CROUPIER_* settings it was started with."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def server_env(url: str, *, pool: int, extra: dict[str, str]) -> dict[str, str]:
    """The server's CROUPIER_* settings: the defaults except these. Inherited CROUPIER_*
    variables are dropped (a CROUPIER_ACCESS_LOG or CROUPIER_REDIS_URL in the caller's shell
    would change what is measured); ``extra`` (--http-env) is applied last."""
    return {
        "CROUPIER_DATABASE_URL": url,
        "CROUPIER_HOST": HOST,
        "CROUPIER_SIGNATURE_WINDOW_SECONDS": str(SIGNATURE_WINDOW_SECONDS),
        "CROUPIER_SESSION_TOKEN_SECONDS": str(TOKEN_SECONDS),
        "CROUPIER_POOL_MAX_SIZE": str(pool),
        **extra,
    }


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no server log)"
    return "\n".join(text.splitlines()[-lines:])


@contextmanager
def croupier_server(
    url: str, directory: Path, *, pool: int, extra: dict[str, str]
) -> Iterator[Server]:
    """`python -m croupier run` on a free port, ready (GET /healthz answers); stopped on the
    way out, whatever happens: SIGINT (on SIGTERM it dies without closing its store), then
    SIGKILL."""
    port = free_port()
    settings = server_env(url, pool=pool, extra=extra)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROUPIER_")} | settings
    log_path = directory / f"croupier-{port}.log"
    argv = [sys.executable, "-m", "croupier", "run", "--port", str(port)]
    with log_path.open("wb") as log:
        child = subprocess.Popen(  # noqa: S603 - a fixed argv, no shell
            argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            if child.poll() is not None:
                raise HttpRunFailed(
                    f"croupier run exited {child.returncode} on start:\n{log_tail(log_path)}"
                )
            health = f"http://{HOST}:{port}/healthz"
            with (
                suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(health, timeout=1) as r,
            ):
                if r.status == 200:
                    break
            if time.monotonic() > deadline:
                raise HttpRunFailed(f"croupier run not healthy after {SERVER_START_SECONDS} s")
            time.sleep(0.1)
        yield Server(child.pid, port, log_path, settings)
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGINT)
            try:
                child.wait(15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def server_errors(path: Path) -> list[str]:
    """Log lines of level error or critical (the server logs JSON, one object per line)."""
    found = []
    with path.open("rb") as log:
        for line in log:
            if b'"level":"error"' in line or b'"level":"critical"' in line or b"Traceback" in line:
                found.append(line.decode(errors="replace").strip())
    return found


def access_lines(path: Path) -> int:
    with path.open("rb") as log:
        return sum(1 for line in log if b'"msg":"wallet call"' in line)


# -- the load generator (runs in its own process) --------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    port: int
    provider: str
    key_id: str
    secret: str
    players: list[tuple[str, str]]
    connections: int
    warmup: float
    seconds: float
    rounds: int
    """Rounds (a bet and a win each) to build beforehand; running out fails the run."""
    seed: int
    tag: str
    """Makes this run's ids and nonces unique: the server keeps every nonce it has seen."""
    server_pid: int
    database: str | None
    """The PostgreSQL database's name, to find its backends; None on SQLite."""


@dataclass(slots=True)
class LoadResult:
    seconds: float
    bet_latencies_us: list[int]
    win_latencies_us: list[int]
    bets_acked: int
    """Every bet answered 200, warm-up and the rounds finished after the window included."""
    staked: int
    wins_acked: int
    won: int
    cpu: dict[str, float]
    build_seconds: float
    rounds_built: int
    rounds_sent: int


Round = tuple[bytes, bytes, int, int]
"""The bet request, the win request, the stake and the win, in minor units."""


def _major(amount: int) -> str:
    """Minor units of EUR (two decimals) as the protocol's decimal string."""
    return f"{amount // 100}.{amount % 100:02d}"


def build_rounds(plan: Plan) -> list[Round]:
    """Every request of the run, signed, as the bytes to write on the socket."""
    rng = random.Random(plan.seed)
    stamp = int(time.time())
    host = f"host: {HOST}:{plan.port}"
    paths = {call: f"{PREFIX}/{plan.provider}/{call}" for call in ("bet", "win")}

    def request(call: str, body: bytes, nonce: str) -> bytes:
        path = paths[call]
        signed = signing.request_headers(
            key_id=plan.key_id, secret=plan.secret, path=path, body=body, timestamp=stamp,
            nonce=nonce,
        )  # fmt: skip
        head = [
            f"POST {path} HTTP/1.1", host, "content-type: application/json",
            f"content-length: {len(body)}", *(f"{k}: {v}" for k, v in signed.items()),
            "connection: keep-alive", "", "",
        ]  # fmt: skip
        return "\r\n".join(head).encode() + body

    rounds: list[Round] = []
    for n in range(plan.rounds):
        player, token = plan.players[rng.randrange(len(plan.players))]
        ref = f"{plan.tag}-{n:09d}"
        stake = rng.randint(MIN_STAKE, MAX_STAKE)
        win = rng.randint(1, 2 * stake) if rng.random() < WIN_SHARE else 0
        bet, settle_ = round_bodies(player, token, ref, stake, win)
        rounds.append((request("bet", bet, f"{ref}-b"), request("win", settle_, f"{ref}-w"),
                       stake, win))  # fmt: skip
    return rounds


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    """Send one request; (status, body) of its response."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    at = head.lower().find(b"\r\ncontent-length:")
    if at < 0:
        raise HttpRunFailed(f"a response without content-length: {head[:200]!r}")
    end = head.find(b"\r\n", at + 17)
    length = int(head[at + 17 : end])
    body = await reader.readexactly(length) if length else b""
    return status, body


@dataclass(slots=True)
class _State:
    measuring: bool = False
    stop: bool = False
    next: int = 0
    bets: int = 0
    staked: int = 0
    wins: int = 0
    won: int = 0
    bet_latencies: list[int] = field(default_factory=list)
    win_latencies: list[int] = field(default_factory=list)


def _cpu(plan: Plan) -> tuple[CpuSample, float, tuple[float, float]]:
    own = resource.getrusage(resource.RUSAGE_SELF)
    return (
        CpuSample.take(database=plan.database),
        own.ru_utime + own.ru_stime,
        process_times(plan.server_pid),
    )


async def _load(plan: Plan, rounds: list[Round]) -> LoadResult:
    state = _State()

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(HOST, plan.port)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            while not state.stop:
                n = state.next
                if n >= len(rounds):
                    raise HttpRunFailed(
                        f"the {len(rounds)} pre-built rounds ran out before the window ended: "
                        "the server is faster than --http-max-rate; raise it"
                    )
                state.next = n + 1
                bet, win, stake, won = rounds[n]
                start = perf_counter_ns()
                status, body = await _exchange(reader, writer, bet)
                betted = perf_counter_ns()
                if status != 200:
                    raise HttpRunFailed(f"bet of round {n} answered {status}: {body[:500]!r}")
                state.bets += 1
                state.staked += stake
                if state.measuring:
                    state.bet_latencies.append((betted - start) // 1000)
                status, body = await _exchange(reader, writer, win)
                settled = perf_counter_ns()
                if status != 200:
                    raise HttpRunFailed(f"win of round {n} answered {status}: {body[:500]!r}")
                state.wins += 1
                state.won += won
                if state.measuring:
                    state.win_latencies.append((settled - betted) // 1000)
        finally:
            writer.close()
            with suppress(OSError):
                await writer.wait_closed()

    budget = plan.warmup + plan.seconds + GRACE_SECONDS
    async with asyncio.timeout(budget), asyncio.TaskGroup() as group:
        for _ in range(plan.connections):
            group.create_task(connection())
        await asyncio.sleep(plan.warmup)
        (before, own_before, server_before), started = _cpu(plan), perf_counter_ns()
        state.measuring = True
        await asyncio.sleep(plan.seconds)
        state.measuring = False
        (after, own_after, server_after), ended = _cpu(plan), perf_counter_ns()
        state.stop = True  # each connection finishes its round (bet and win), then closes
    machine = after - before
    return LoadResult(
        seconds=(ended - started) / 1e9,
        bet_latencies_us=state.bet_latencies,
        win_latencies_us=state.win_latencies,
        bets_acked=state.bets,
        staked=state.staked,
        wins_acked=state.wins,
        won=state.won,
        cpu={
            "loadgen": own_after - own_before,
            "croupier": sum(server_after) - sum(server_before),
            "croupier_system": server_after[1] - server_before[1],
            "postgres": machine.server,
            "machine_busy": machine.machine_busy,
            "machine_total": machine.machine_total,
        },
        build_seconds=0.0,
        rounds_built=len(rounds),
        rounds_sent=state.next,
    )


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    elif not isinstance(exc, asyncio.CancelledError):
        yield exc


def loadgen_main(plan: Plan, pipe: Connection) -> None:
    """The load generator process: build the requests, run, send the LoadResult back."""
    try:
        started = time.perf_counter()
        rounds = build_rounds(plan)
        built = time.perf_counter() - started
        result = run_async(_load(plan, rounds))
        result.build_seconds = built
        pipe.send(("done", result))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the run
        first = next(_leaves(exc), exc)  # the first failure, out of the TaskGroup's group
        if isinstance(first, HttpRunFailed):
            detail = str(first)
        else:
            detail = "".join(traceback.format_exception(first))
        pipe.send(("error", detail))
    finally:
        pipe.close()


def drive_http(plan: Plan) -> LoadResult:
    """Run the load generator in a new process (spawned: no state of this one is shared)."""
    context = multiprocessing.get_context("spawn")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=loadgen_main, args=(plan, send), name="croupier-loadgen")
    child.start()
    send.close()
    # the build: about 40 µs of CPU per round on the benchmark machine; then the run
    timeout = plan.rounds * 200e-6 + plan.warmup + plan.seconds + GRACE_SECONDS + 60
    try:
        if not receive.poll(timeout):
            raise HttpRunFailed(f"the load generator did not finish within {timeout:.0f} s")
        try:
            kind, payload = receive.recv()
        except EOFError:
            child.join(10)
            raise HttpRunFailed(f"the load generator died (exit code {child.exitcode})") from None
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
            child.join()
        receive.close()
    if kind != "done":
        raise HttpRunFailed(f"load generator: {payload}")
    assert isinstance(payload, LoadResult)
    return payload


# -- a database's runs -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Hooks:
    say: Callable[[str], None]
    quiet: Callable[[], None]
    """Waits (bounded) for the machine to be idle, or warns that it is not."""


@dataclass(slots=True)
class _Totals:
    bets: int = 0
    staked: int = 0
    wins: int = 0
    won: int = 0

    def add(self, result: LoadResult) -> None:
        self.bets += result.bets_acked
        self.staked += result.staked
        self.wins += result.wins_acked
        self.won += result.won


def _rounds_for(max_rate: float, warmup: float, seconds: float) -> int:
    return int(max_rate * (warmup + seconds + 1)) + 1000


def _runs(
    args: Any, url: str, *, stack: str, database: str | None, hooks: Hooks, notes: dict[str, Any]
) -> list[HttpFigures]:
    name = stack.split("/")[1]
    hooks.say(f"HTTP {name}: seeding {args.players} wallets, a key, {args.players} sessions")
    fixture = run_async(prepare(url, args.players))
    if database is not None:
        autovacuum_off(url)
    pool = max(Settings().pool_max_size, *args.http_connections)
    extra = dict(args.http_env or {})
    # An unmeasured run first, as for the service: the first calls on a new database cost
    # more (tiny tables, cold caches; each session's first bet also moves it to active).
    runs = [(args.http_connections[0], args.warmup * 2, False)]
    runs += [(c, args.seconds, True) for c in args.http_connections]
    results: list[HttpFigures] = []
    totals = _Totals(fixture.first_rounds, fixture.first_stakes, fixture.first_rounds, 0)
    with (
        tempfile.TemporaryDirectory(prefix="croupier-bench-http-") as tmp,
        croupier_server(url, Path(tmp), pool=pool, extra=extra) as server,
    ):
        notes.setdefault("http_server_env", {})[name] = {
            k: ("(the benchmark database)" if k == "CROUPIER_DATABASE_URL" else v)
            for k, v in server.env.items()
        }
        hooks.say(f"HTTP {name}: croupier run (pid {server.pid}) on port {server.port}")
        for index, (connections, seconds, measured) in enumerate(runs):
            if database is not None:
                settle(url)
            hooks.quiet()
            what = "" if measured else "priming, unmeasured: "
            hooks.say(
                f"HTTP {name}: {what}{connections} connections, {args.warmup:g}+{seconds:g} s"
            )
            plan = Plan(
                port=server.port,
                provider=fixture.provider,
                key_id=fixture.key_id,
                secret=fixture.secret,
                players=fixture.players,
                connections=connections,
                warmup=args.warmup,
                seconds=seconds,
                rounds=_rounds_for(args.http_max_rate, args.warmup, seconds),
                seed=args.seed * 1_000_003 + index,
                tag=f"h{secrets.token_hex(4)}",
                server_pid=server.pid,
                database=database,
            )
            try:
                result = drive_http(plan)
            except HttpRunFailed as exc:
                raise HttpRunFailed(
                    f"{exc}\nserver log, last lines:\n{log_tail(server.log)}"
                ) from None
            totals.add(result)
            check_ledger(url, provider=fixture.provider, acked=totals.bets,
                         staked=totals.staked, wins=totals.wins, won=totals.won)  # fmt: skip
            errors = server_errors(server.log)
            if errors:
                raise HttpRunFailed(f"the server logged {len(errors)} errors: {errors[:3]}")
            hooks.say(
                f"HTTP {name}: ledger verified, {totals.bets} bets and {totals.wins} wins "
                f"stored as acknowledged; {result.rounds_sent:,} of {result.rounds_built:,} "
                f"pre-built rounds sent (built in {result.build_seconds:.1f} s)"
            )
            if measured:
                results.append(build_figures(stack, connections, result))
        logged, sent = access_lines(server.log), 2 * (totals.bets - fixture.first_rounds)
        if logged != sent:
            hooks.say(f"[yellow]HTTP {name}: {logged} access log lines for {sent} calls[/yellow]")
    return results


def bench_http(args: Any, hooks: Hooks, notes: dict[str, Any]) -> list[HttpFigures]:
    """The HTTP runs on SQLite, then PostgreSQL, as the --skip-* options allow. Synchronous:
    it starts processes, and runs its own event loops for the in-process preparation."""
    results: list[HttpFigures] = []
    if not args.skip_sqlite:
        with sqlite_database() as url:
            results += _runs(args, url, stack="http/sqlite", database=None, hooks=hooks,
                             notes=notes)  # fmt: skip
    if not args.skip_postgres:
        name = f"{args.database}_http"
        with postgres_database(args.postgres_url, name, keep=args.keep_database) as url:
            notes["machine"]["postgresql"] = server_version(url)
            results += _runs(args, url, stack="http/postgres", database=name, hooks=hooks,
                             notes=notes)  # fmt: skip
    return results


def goals(results: list[HttpFigures]) -> list[tuple[str, bool | None]]:
    """The issue's goals, each (what was measured against what, met; None if not measured)."""
    verdicts: list[tuple[str, bool | None]] = []
    pg = [f for f in results if f.stack == "http/postgres"
          and f.connections == GOAL_POSTGRES_CONNECTIONS]  # fmt: skip
    if pg:
        f = pg[-1]
        text = (
            f"HTTP PostgreSQL at {f.connections} connections: {f.bets_per_s:,.0f} bets/s "
            f"(goal >= {GOAL_POSTGRES_BETS:,}), p99 {f.p99_ms:.2f} ms "
            f"(goal < {GOAL_POSTGRES_P99_MS:g})"
        )
        met = f.bets_per_s >= GOAL_POSTGRES_BETS and f.p99_ms < GOAL_POSTGRES_P99_MS
        verdicts.append((text, met))
    else:
        text = (
            f"HTTP PostgreSQL at {GOAL_POSTGRES_CONNECTIONS} connections: not measured "
            f"(goal >= {GOAL_POSTGRES_BETS:,} bets/s, p99 < {GOAL_POSTGRES_P99_MS:g} ms)"
        )
        verdicts.append((text, None))
    lite = [f for f in results if f.stack == "http/sqlite"]
    if lite:
        f = max(lite, key=lambda f: f.bets_per_s)
        text = (
            f"HTTP SQLite (best, {f.connections} connections): {f.bets_per_s:,.0f} bets/s "
            f"(goal >= {GOAL_SQLITE_BETS:,})"
        )
        verdicts.append((text, f.bets_per_s >= GOAL_SQLITE_BETS))
    else:
        verdicts.append((f"HTTP SQLite: not measured (goal >= {GOAL_SQLITE_BETS:,} bets/s)", None))
    return verdicts
