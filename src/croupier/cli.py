"""The `croupier` command: migrate, run, and operate the wallet and the ledger by hand."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import tomllib
import traceback
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import httpx
import typer
import uvicorn
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from croupier.adapters.db import migrate as migrations
from croupier.adapters.db.sqlite import sqlite_path
from croupier.adapters.db.verify import house_balances, verify_ledger
from croupier.api.logs import configure as configure_logging
from croupier.api.openapi import openapi_document
from croupier.api.operator import Renderer, parse_catalogue
from croupier.bootstrap import Gateway, currency_table, gateway
from croupier.bootstrap import run as run_async
from croupier.config import Settings
from croupier.domain import signing
from croupier.domain.errors import (
    ConfigurationError,
    CroupierError,
    InvalidRequest,
    TransactionNotFound,
    all_error_types,
)
from croupier.domain.money import format_decimal, parse_decimal
from croupier.domain.sessions import GameSession
from croupier.domain.timeouts import TimeoutAction, TimeoutPolicy, TimeoutRecord, parse_duration
from croupier.domain.wallet import (
    Balances,
    Bet,
    BonusGrant,
    Deposit,
    EndRound,
    HoldResult,
    ReserveHold,
    Rollback,
    WalletResult,
    Win,
    Withdrawal,
)
from croupier.jobs.holds import sweep_expired_holds
from croupier.jobs.inbox import process_inbox
from croupier.jobs.sessions import prune_nonces, sweep_sessions
from croupier.jobs.timeouts import resolve_timeouts
from croupier.services.gateway_ports import ProviderKey
from croupier.services.operator_keys import SCOPES as OPERATOR_SCOPES
from croupier.services.operator_ports import OperatorKey
from croupier.services.wallet import WalletService

T = TypeVar("T")

app = typer.Typer(
    help="Croupier: casino integration gateway and seamless wallet.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema: migrations and their check.", no_args_is_help=True)
wallet_app = typer.Typer(
    help="Player wallets: open, cashier moves, bets, wins, rollbacks. Amounts are decimal "
    "strings in the player's currency ('12.50'); output is JSON.",
    no_args_is_help=True,
)
hold_app = typer.Typer(help="Two-phase holds: reserve, post, void, expire.", no_args_is_help=True)
ledger_app = typer.Typer(
    help="The double-entry ledger: invariants and balances.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
app.add_typer(wallet_app, name="wallet")
app.add_typer(hold_app, name="hold")
app.add_typer(ledger_app, name="ledger")

# Library warnings (an alert, a round timeout) are the CLI's to print or not: without a
# handler Python would write them bare to stderr. `croupier run` configures real logging.
logging.getLogger("croupier").addHandler(logging.NullHandler())

if TYPE_CHECKING:
    from croupier.cli_sandbox import ProviderSetup

console = Console()
err_console = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Database URL; default CROUPIER_DATABASE_URL or sqlite:///var/croupier.db.",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


def _settings(database_url: str | None) -> Settings:
    settings = Settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    return settings


def _fail(error: CroupierError) -> None:
    err_console.print_json(json.dumps({"error": error.to_dict()}))
    raise typer.Exit(1)


def _require_schema(url: str) -> None:
    """Exit with a plain message, not a traceback, unless the database is migrated to head."""
    hint = "run `croupier migrate` first"
    if url.startswith("sqlite:///"):
        path = Path(sqlite_path(url))
        if not path.exists():
            err_console.print(f"no database at {path}: {hint}")
            raise typer.Exit(1)
    engine = migrations.make_engine(url)
    try:
        at = migrations.current(engine)
    except SQLAlchemyError as exc:
        err_console.print(f"cannot open the database {_safe(url)}: {type(exc).__name__}")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    if at != migrations.head():
        err_console.print(f"database is not at the newest schema: {hint}")
        raise typer.Exit(1)


def _engine(database_url: str | None) -> Engine:
    """An engine for the read-only ledger commands, on a migrated database."""
    url = _settings(database_url).database_url
    _require_schema(url)
    return migrations.make_engine(url)


def _with_wallet(database_url: str | None, use: Callable[[WalletService], Awaitable[T]]) -> T:
    return _with_gateway(database_url, lambda gw: use(gw.wallet))


def _show(result: WalletResult | HoldResult | Balances, wallet: WalletService) -> None:
    data: dict[str, Any]
    balances = result if isinstance(result, Balances) else result.balances
    currency = wallet.currencies[balances.currency]
    shown = {
        "currency": balances.currency,
        "cash": format_decimal(balances.cash, currency),
        "bonus": format_decimal(balances.bonus, currency),
        "held": format_decimal(balances.held, currency),
    }
    if isinstance(result, Balances):
        data = shown
    else:
        data = result.to_dict() | {"balances": shown, "replay": result.replay}
        if isinstance(result, WalletResult):
            data["transaction_id"] = result.transaction_id
    console.print_json(json.dumps(data))


async def _amount(wallet: WalletService, player: str, amount: str) -> tuple[int, str]:
    """A decimal string in the player's currency, to minor units."""
    balances = await wallet.balance(player)
    return parse_decimal(amount, wallet.currencies[balances.currency]), balances.currency


# -- schema and the main job ---------------------------------------------------------------


@app.command()
def migrate(database_url: DbOption = None) -> None:
    """Upgrade the database to the newest schema (creates the SQLite file if missing)."""
    url = _settings(database_url).database_url
    revision = migrations.upgrade(url)
    console.print(f"database at revision [bold]{revision}[/] ({_safe(url)})")


@db_app.command("check")
def db_check(database_url: DbOption = None) -> None:
    """Fail if the models and the migrations disagree (run on a database at head)."""
    url = _settings(database_url).database_url
    migrations.upgrade(url)
    migrations.check(url)
    console.print("schema and migrations agree")


@app.command()
def run(
    database_url: DbOption = None,
    host: Annotated[str | None, typer.Option(help="Listen address (CROUPIER_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (CROUPIER_PORT).")] = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Create a demo provider key, a funded player and a session (idempotent), and "
            "print a signed call to try.",
        ),
    ] = False,
    once: Annotated[
        bool, typer.Option("--once", help="One pass of the background jobs, no API; then exit.")
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help="Server processes sharing the port (CROUPIER_WORKERS); PostgreSQL only. The "
            "first also runs the background jobs.",
        ),
    ] = None,
) -> None:
    """Serve the provider wallet API and run the background jobs until interrupted.

    Jobs: expired holds are released, sessions whose tokens expired are closed and settled,
    old request nonces are forgotten, due webhook deliveries are applied, rounds left open
    beyond their provider's threshold are closed, voided or flagged (`croupier rounds`).
    """
    settings = _settings(database_url)
    settings = settings.model_copy(
        update={
            k: v for k, v in (("host", host), ("port", port), ("workers", workers)) if v is not None
        }
    )
    _require_schema(settings.database_url)
    configure_logging(settings.log_level)
    if settings.workers > 1 and not once:
        if not settings.is_postgres:
            _fail(
                ConfigurationError(
                    "several workers need PostgreSQL: SQLite has one writer, and its group "
                    "commit works within one process",
                    workers=settings.workers,
                )
            )
        raise typer.Exit(_serve_workers(settings, demo=demo))
    try:
        run_async(_serve(settings, demo=demo, once=once))
    except CroupierError as error:
        _fail(error)


async def _serve(
    settings: Settings,
    *,
    demo: bool = False,
    once: bool = False,
    sock: socket.socket | None = None,
    jobs: bool = True,
) -> None:
    """One server process: the API (on ``sock`` when a parent bound it) and, if ``jobs``, the
    background jobs."""
    async with gateway(settings) as gw:
        stop = asyncio.Event()
        job_list = [
            sweep_expired_holds(
                gw.wallet, interval=settings.hold_sweep_seconds, stop=stop, once=once
            ),
            sweep_sessions(
                gw.sessions, interval=settings.session_sweep_seconds, stop=stop, once=once
            ),
            prune_nonces(gw.nonces, interval=settings.session_sweep_seconds, stop=stop,
                         once=once),
            process_inbox(gw.inbox_worker, interval=settings.inbox_poll_seconds, stop=stop,
                          once=once),
            resolve_timeouts(gw.timeouts, interval=settings.timeout_poll_seconds, stop=stop,
                             once=once),
        ] if jobs or once else []  # fmt: skip
        if once:
            released, moved, pruned, applied, timed_out = await asyncio.gather(*job_list)
            console.print(
                f"released {released} expired holds, moved {moved} sessions, "
                f"pruned {pruned} nonces, processed {applied} webhook deliveries, "
                f"resolved {timed_out} rounds left open",
                soft_wrap=True,
            )
            return
        tasks = [asyncio.create_task(job) for job in job_list]
        server = uvicorn.Server(
            uvicorn.Config(
                gw.app(),
                host=settings.host,
                port=settings.port,
                http="httptools",
                lifespan="off",
                log_config=None,
                access_log=False,
            )
        )
        base = f"http://{settings.host}:{settings.port}"
        if jobs:  # the first (or only) process speaks for all
            console.print(
                f"croupier serving the wallet API at {base} on {_safe(settings.database_url)}"
                f"{f' with {settings.workers} workers' if settings.workers > 1 else ''}; "
                f"metrics at {base}/metrics, OpenAPI at {base}/openapi.json. Ctrl-C stops.",
                soft_wrap=True,
            )
        # uvicorn stops serving on SIGINT or SIGTERM, then raises the signal again with
        # the handler it found; Python's default for SIGTERM would kill the process
        # before the jobs stop and the store closes. Found handlers that only take note let
        # the shutdown below run (exit status 0), as systemd and Kubernetes expect; a signal
        # that comes before uvicorn serves (during the demo's setup) means: do not serve.
        received: list[int] = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda number, _: received.append(number))
        sandbox: _DemoSandbox | None = None
        try:
            if demo and jobs:
                await _demo(gw, base)
                sandbox = await _demo_sandbox(gw, settings, base, stopping=lambda: bool(received))
            if not received:
                await server.serve(sockets=[sock] if sock is not None else None)
        finally:
            stop.set()
            await asyncio.gather(*tasks)
            if sandbox is not None:
                await sandbox.stop(gw)
            if jobs:
                console.print("croupier stopped")


def _serve_workers(settings: Settings, *, demo: bool) -> int:
    """Bind the port once, fork ``settings.workers`` server processes onto it (the kernel
    spreads connections), forward SIGINT and SIGTERM to them, and wait. If one dies, the
    others are stopped too and the exit status is non-zero, for the supervisor to restart
    the whole (a partial fleet would look healthy)."""
    sock = socket.create_server((settings.host, settings.port))
    sock.set_inheritable(True)
    children: list[int] = []
    for index in range(settings.workers):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child; tested through a real process
            os.setpgid(0, 0)  # Ctrl-C reaches the parent alone, which forwards it once
            status = 0
            try:
                run_async(_serve(settings, demo=demo, sock=sock, jobs=index == 0))
            except CroupierError as error:
                err_console.print(f"worker {index}: {error.code}: {error.message}")
                status = 1
            except BaseException:  # noqa: BLE001 - a child must never return into the CLI
                traceback.print_exc()
                status = 1
            finally:
                sys.stdout.flush()
                os._exit(status)
        children.append(pid)
    sock.close()
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            with suppress(ProcessLookupError):
                os.kill(child, signal.SIGTERM)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    status = 0
    while children:
        pid, code = os.wait()
        children.remove(pid)
        if code != 0:
            status = 1
        if not stopping:  # a worker ended on its own: stop the rest
            err_console.print(f"worker pid {pid} ended (wait status {code}); stopping all")
            status = 1
            stop()
    return status


async def _demo(gw: Gateway, base: str) -> None:
    """A provider key, a funded player and a live session to make a first signed call with."""
    exe = _command_path()
    provider, player = "demo", "demo-player"
    new_key = None
    if not any(k.status == "primary" for k in await gw.keys.list(provider)):
        new_key = await gw.keys.add(provider, key_id="demo-key")
    key_id, _ = await gw.keys.primary_secret(provider)
    await gw.wallet.open_wallet(player, "EUR")
    eur = gw.wallet.currencies["EUR"]
    await gw.wallet.deposit(
        Deposit(player_id=player, amount=100 * 10**eur.exponent, currency="EUR",
                cashier_ref="demo-deposit")
    )  # fmt: skip
    session, token, _ = await gw.sessions.open(provider=provider, player_id=player,
                                               game_code="dice", actor="cli")  # fmt: skip
    balances = await gw.wallet.balance(player)
    tag = session.id.removeprefix("gs_")[:8]  # a new bet each run: a restart is no replay
    body = json.dumps({"token": token}, separators=(",", ":"))
    bet = json.dumps(
        {"player_id": player, "token": token, "tx_id": f"demo-bet-{tag}",
         "round_id": f"demo-round-{tag}", "game_code": "dice", "amount": "1.50",
         "currency": "EUR"}, separators=(",", ":"),
    )  # fmt: skip
    if new_key is not None:  # shown once, like `croupier keys add`: for trying other clients
        console.print(
            f"demo: key {new_key.key_id} created, secret {new_key.secret}", soft_wrap=True
        )
    console.print(
        f"demo: provider [bold]{provider}[/] (primary key {key_id}), player {player} with "
        f"EUR {format_decimal(balances.cash, eur)}, session {session.id}.\n"
        "First signed calls, from another shell:\n"
        f"  {exe} call {provider} authenticate '{body}' --url {base}\n"
        f"  {exe} call {provider} bet '{bet}' --url {base}\n"
        "or with curl (docs/protocol.md):\n"
        f"  BODY='{body}'; curl -s {base}/native/v1/{provider}/authenticate "
        f'-H content-type:application/json $({exe} sign {provider} authenticate "$BODY" --curl) '
        '-d "$BODY"\n'
        "The operator API (players, cashier, catalogue, launch, limits; docs/operator-api.md), "
        "from a new player to a launched game:\n"
        f"  CROUPIER={exe} CROUPIER_URL={base} examples/operator_walkthrough.sh",
        soft_wrap=True,
    )


@dataclass
class _DemoSandbox:
    """The sandbox provider process `run --demo` started, and the operator key it was given."""

    process: asyncio.subprocess.Process
    operator_key_id: str

    async def stop(self, gw: Gateway) -> None:
        if self.process.returncode is None:
            with suppress(ProcessLookupError):
                self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                self.process.kill()
        await gw.operator_keys.revoke(self.operator_key_id)


async def _came_up(
    process: asyncio.subprocess.Process, url: str, stopping: Callable[[], bool],
    seconds: float = 20,
) -> bool:  # fmt: skip
    """Whether the child answers ``url`` before it exits, we are stopped or ``seconds``
    pass."""
    async with httpx.AsyncClient(timeout=2.0) as http:
        for _ in range(int(seconds * 10)):
            if process.returncode is not None or stopping():
                return False
            with suppress(httpx.TransportError):
                if (await http.get(url)).status_code == 200:
                    return True
            with suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), 0.1)
    return False


async def _demo_sandbox(
    gw: Gateway, settings: Settings, base: str, *, stopping: Callable[[], bool]
) -> _DemoSandbox | None:
    """Start the sandbox provider (its own process, docs/sandbox.md) with simulated players,
    paying through this server over HTTP. Its secrets go through the environment, never the
    command line."""
    from croupier.cli_sandbox import provision  # noqa: PLC0415 - croupier.cli_sandbox imports us

    made = await provision(gw, "sandbox")
    started = None
    try:
        started = await _start_demo_sandbox(made, settings, base, stopping)
    finally:
        if started is None:  # not running: its operator key goes now
            await gw.operator_keys.revoke(made.operator_key_id)
    return started


async def _start_demo_sandbox(
    made: ProviderSetup, settings: Settings, base: str, stopping: Callable[[], bool]
) -> _DemoSandbox | None:
    if "CROUPIER_LOG_LEVEL" not in os.environ:
        # One log line per call, from a handful of players, would bury what this prints.
        for name in ("croupier.api", "croupier.operator", "croupier.jobs.periodic"):
            logging.getLogger(name).setLevel(logging.WARNING)
    port = settings.sandbox_port
    env = os.environ | {
        "CROUPIER_SANDBOX_KEY_ID": made.key_id,
        "CROUPIER_SANDBOX_SECRET": made.secret,
        "CROUPIER_SANDBOX_WEBHOOK_SECRET": made.webhook_secret,
        "CROUPIER_SANDBOX_OPERATOR_KEY": made.operator_key,
    }
    command = [
        sys.executable, "-m", "croupier", "sandbox", "serve", "--provider", "sandbox",
        "--wallet-url", base, "--host", settings.host, "--port", str(port),
        "--players", str(settings.demo_players), "--cadence", "2",
    ]  # fmt: skip
    command.append("--exit-with-parent")  # its stdin is ours: it stops when we go, however
    process = await asyncio.create_subprocess_exec(*command, env=env, stdin=subprocess.PIPE)
    exe = _command_path()
    sandbox = f"http://{settings.host}:{port}"
    if not await _came_up(process, f"{sandbox}/healthz", stopping):
        if stopping():  # Ctrl-C or SIGTERM while it started: it goes too
            with suppress(ProcessLookupError):
                process.terminate()
            await process.wait()
            return None
        err_console.print(
            f"sandbox: did not start on port {port} (exit status {process.returncode}; see "
            "its message above): the wallet serves on without it. CROUPIER_SANDBOX_PORT "
            "chooses another port.",
            soft_wrap=True,
        )
        return None
    console.print(
        f"sandbox: a reference game provider at {sandbox} (open {sandbox}/ in a browser: its "
        f"rounds and counters), {settings.demo_players} simulated players spinning dice, limbo "
        f"and fruit-5x3 on it through this wallet.\n"
        f"  the players' money:    {exe} operator-keys add --scope history:read, then GET "
        f"{base}/operator/v1/players/{{id}}/transactions\n"
        f"  its round events:      {exe} inbox list --provider sandbox\n"
        f"  chaos:                 {exe} sandbox chaos bet --set lost_answer=0.2\n"
        f"  a round's fairness:    curl -s {sandbox}/rounds/<id> | {exe} verify-round - "
        f"--sandbox-url {sandbox}\n"
        f"  go-live certification: {exe} certify --wallet-url {base}\n"
        "(a log line per call is off in the demo: CROUPIER_LOG_LEVEL=INFO turns it on)",
        soft_wrap=True,
    )
    return _DemoSandbox(process, made.operator_key_id)


@app.command()
def currencies(json_out: JsonOption = False) -> None:
    """List the currencies and their precision (ISO 4217 plus configured crypto assets)."""
    table = currency_table(Settings())
    if json_out:
        rows = [
            {"code": c.code, "exponent": c.exponent, "kind": c.kind.value} for c in table.values()
        ]
        console.print_json(json.dumps(rows))
        return
    out = Table("code", "exponent", "kind", "largest amount of one call", title="Currencies")
    for c in table.values():
        out.add_row(c.code, str(c.exponent), c.kind.value, format_decimal(c.max_amount, c))
    console.print(out)


@app.command()
def errors(json_out: JsonOption = False) -> None:
    """List every error code with its HTTP status and retry class."""
    types = all_error_types()
    if json_out:
        rows = [
            {"code": t.code, "http_status": t.http_status, "retry_class": t.retry_class.value,
             "meaning": (t.__doc__ or "").strip()}
            for t in types
        ]  # fmt: skip
        console.print_json(json.dumps(rows))
        return
    out = Table("code", "HTTP", "retry class", "meaning", title="Errors")
    for t in types:
        out.add_row(t.code, str(t.http_status), t.retry_class.value, (t.__doc__ or "").strip())
    console.print(out)


# -- wallet --------------------------------------------------------------------------------


@wallet_app.command("open")
def wallet_open(player: str, currency: str, database_url: DbOption = None) -> None:
    """Open a player's wallet in one currency (idempotent)."""

    async def use(w: WalletService) -> None:
        _show(await w.open_wallet(player, currency), w)

    _with_wallet(database_url, use)


@wallet_app.command("balance")
def wallet_balance(player: str, database_url: DbOption = None) -> None:
    """Show a player's cash, bonus and held balances."""

    async def use(w: WalletService) -> None:
        _show(await w.balance(player), w)

    _with_wallet(database_url, use)


def _block(player: str, database_url: str | None, *, blocked: bool) -> None:
    async def use(w: WalletService) -> None:
        await w.set_blocked(player, blocked=blocked)
        console.print_json(json.dumps({"player": player, "blocked": blocked}))

    _with_wallet(database_url, use)


@wallet_app.command("block")
def wallet_block(player: str, database_url: DbOption = None) -> None:
    """Block a wallet: bets and cashier moves are refused; open rounds still settle."""
    _block(player, database_url, blocked=True)


@wallet_app.command("unblock")
def wallet_unblock(player: str, database_url: DbOption = None) -> None:
    """Unblock a wallet."""
    _block(player, database_url, blocked=False)


RefOption = Annotated[str, typer.Option("--ref", help="Your reference: the idempotency key.")]


def _cashier(kind: type[Deposit | Withdrawal | BonusGrant], player: str, amount: str,
             ref: str, database_url: str | None) -> None:  # fmt: skip
    async def use(w: WalletService) -> None:
        minor, currency = await _amount(w, player, amount)
        cmd = kind(player_id=player, amount=minor, currency=currency, cashier_ref=ref)
        call = {Deposit: w.deposit, Withdrawal: w.withdraw, BonusGrant: w.grant_bonus}[kind]
        _show(await call(cmd), w)  # type: ignore[operator]

    _with_wallet(database_url, use)


@wallet_app.command("deposit")
def wallet_deposit(player: str, amount: str, ref: RefOption, database_url: DbOption = None) -> None:
    """Credit cash from the operator (a cashier deposit)."""
    _cashier(Deposit, player, amount, ref, database_url)


@wallet_app.command("withdraw")
def wallet_withdraw(
    player: str, amount: str, ref: RefOption, database_url: DbOption = None
) -> None:
    """Pay out withdrawable cash (never bonus, never held funds)."""
    _cashier(Withdrawal, player, amount, ref, database_url)


@wallet_app.command("bonus")
def wallet_bonus(player: str, amount: str, ref: RefOption, database_url: DbOption = None) -> None:
    """Grant bonus money (stakeable, not withdrawable)."""
    _cashier(BonusGrant, player, amount, ref, database_url)


ProviderOpt = Annotated[str, typer.Option("--provider", help="Provider code.")]
TxOpt = Annotated[str, typer.Option("--tx", help="The provider's transaction id.")]
RoundOpt = Annotated[str, typer.Option("--round", help="The provider's round id.")]
GameOpt = Annotated[str, typer.Option("--game", help="Game code.")]


@wallet_app.command("bet")
def wallet_bet(player: str, amount: str, provider: ProviderOpt, tx: TxOpt, round_id: RoundOpt,
               game: GameOpt, database_url: DbOption = None) -> None:  # fmt: skip
    """Take a stake (cash first, then bonus); opens the round if new."""

    async def use(w: WalletService) -> None:
        minor, currency = await _amount(w, player, amount)
        cmd = Bet(player_id=player, amount=minor, currency=currency, provider=provider, tx_id=tx,
                  round_id=round_id, game_code=game)  # fmt: skip
        _show(await w.place_bet(cmd), w)

    _with_wallet(database_url, use)


@wallet_app.command("win")
def wallet_win(
    player: str, amount: str, provider: ProviderOpt, tx: TxOpt, round_id: RoundOpt, game: GameOpt,
    bet_tx: Annotated[str | None, typer.Option("--bet-tx", help="The bet this win pays.")] = None,
    close: Annotated[bool, typer.Option("--close", help="Close the round.")] = False,
    database_url: DbOption = None,
) -> None:  # fmt: skip
    """Pay a win against a bet of the round (in proportion of cash and bonus staked)."""

    async def use(w: WalletService) -> None:
        minor, currency = await _amount(w, player, amount)
        cmd = Win(player_id=player, amount=minor, currency=currency, provider=provider,
                  tx_id=tx, round_id=round_id, game_code=game, bet_tx_id=bet_tx,
                  close_round=close)  # fmt: skip
        _show(await w.settle_win(cmd), w)

    _with_wallet(database_url, use)


@wallet_app.command("rollback")
def wallet_rollback(
    player: str, provider: ProviderOpt, tx: TxOpt,
    bet_tx: Annotated[str, typer.Option("--bet-tx", help="The bet to reverse.")],
    database_url: DbOption = None,
) -> None:  # fmt: skip
    """Reverse one bet; before its bet arrives, leave a tombstone that refuses it."""

    async def use(w: WalletService) -> None:
        currency = (await w.balance(player)).currency
        cmd = Rollback(player_id=player, amount=0, currency=currency, provider=provider, tx_id=tx,
                       bet_tx_id=bet_tx)  # fmt: skip
        _show(await w.rollback(cmd), w)

    _with_wallet(database_url, use)


@wallet_app.command("end-round")
def wallet_end_round(player: str, provider: ProviderOpt, tx: TxOpt, round_id: RoundOpt,
                     game: GameOpt, database_url: DbOption = None) -> None:  # fmt: skip
    """Close a round with no further money."""

    async def use(w: WalletService) -> None:
        currency = (await w.balance(player)).currency
        cmd = EndRound(player_id=player, currency=currency, provider=provider, tx_id=tx,
                       round_id=round_id, game_code=game)  # fmt: skip
        _show(await w.end_round(cmd), w)

    _with_wallet(database_url, use)


# -- holds ---------------------------------------------------------------------------------


@hold_app.command("reserve")
def hold_reserve(
    player: str, amount: str, ref: RefOption,
    expires_in: Annotated[int, typer.Option("--expires-in", help="Seconds to expiry.")] = 3600,
    database_url: DbOption = None,
) -> None:  # fmt: skip
    """Move cash into held until the hold is posted, voided or expires."""

    async def use(w: WalletService) -> None:
        minor, currency = await _amount(w, player, amount)
        cmd = ReserveHold(player_id=player, amount=minor, currency=currency, cashier_ref=ref,
                          expires_in_seconds=expires_in)  # fmt: skip
        _show(await w.reserve_hold(cmd), w)

    _with_wallet(database_url, use)


@hold_app.command("post")
def hold_post(
    ref: Annotated[str, typer.Argument(help="The hold's reference.")],
    amount: Annotated[str | None, typer.Option("--amount", help="Post part of it.")] = None,
    database_url: DbOption = None,
) -> None:
    """Post a hold to the operator, fully or partly; the rest returns to cash."""

    async def use(w: WalletService) -> None:
        minor = None
        if amount is not None:
            hold = await w.hold_state(ref)
            minor = parse_decimal(amount, w.currencies[hold.currency])
        _show(await w.post_hold(ref, minor), w)

    _with_wallet(database_url, use)


@hold_app.command("void")
def hold_void(ref: str, database_url: DbOption = None) -> None:
    """Release a hold back to cash."""

    async def use(w: WalletService) -> None:
        _show(await w.void_hold(ref), w)

    _with_wallet(database_url, use)


@hold_app.command("expire")
def hold_expire(database_url: DbOption = None) -> None:
    """Release every pending hold past its expiry now (`croupier run` does it on a schedule)."""

    async def use(w: WalletService) -> None:
        console.print_json(json.dumps({"expired": await w.expire_holds()}))

    _with_wallet(database_url, use)


# -- ledger --------------------------------------------------------------------------------


@ledger_app.command("verify")
def ledger_verify(database_url: DbOption = None, json_out: JsonOption = False) -> None:
    """Check every ledger invariant; exit 1 with a report when one fails."""
    engine = _engine(database_url)
    try:
        report = verify_ledger(engine)
    finally:
        engine.dispose()
    if json_out:
        console.print_json(json.dumps(report.to_dict(), default=str))
    else:
        table = Table("check", "result", "violations", title="Ledger verification")
        for check in report.checks:
            mark = "[green]ok[/]" if check.ok else "[bold red]FAILED[/]"
            table.add_row(check.description, mark, str(check.violations))
        console.print(table)
        console.print(", ".join(f"{n} {name}" for name, n in report.counts.items()))
        for check in report.checks:
            if not check.ok:
                err_console.print(f"[bold red]{check.name}[/]: first offending rows:")
                for row in check.examples:
                    err_console.print(f"  {row}")
    if not report.ok:
        raise typer.Exit(1)


@ledger_app.command("house")
def ledger_house(database_url: DbOption = None, json_out: JsonOption = False) -> None:
    """House accounts (operator cash, provider clearing...) with balances summed from postings."""
    engine = _engine(database_url)
    try:
        rows = house_balances(engine)
    finally:
        engine.dispose()
    if json_out:
        console.print_json(json.dumps(rows, default=str))
        return
    table = Table("type", "owner", "currency", "balance (minor units)", title="House accounts")
    for row in rows:
        table.add_row(row["type"], row["owner"], row["currency"], str(row["balance"]))
    console.print(table)


# -- provider keys, sessions, signed calls ----------------------------------------------------

keys_app = typer.Typer(
    help="Provider signing keys and their staged rotation: add, promote, revoke.",
    no_args_is_help=True,
)
session_app = typer.Typer(
    help="Game sessions: open (with a token), show with events, close, fail, sweep.",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")
app.add_typer(session_app, name="session")


def _with_gateway(database_url: str | None, use: Callable[[Gateway], Awaitable[T]]) -> T:
    settings = _settings(database_url)
    _require_schema(settings.database_url)

    async def main() -> T:
        async with gateway(settings) as gw:
            return await use(gw)

    try:
        return run_async(main())
    except CroupierError as error:
        _fail(error)
        raise  # unreachable: _fail exits


def _key_row(key: ProviderKey) -> dict[str, str]:
    return {
        "provider": key.provider,
        "key_id": key.key_id,
        "status": key.status,
        "created_at": key.created_at.isoformat(timespec="seconds"),
        "updated_at": key.updated_at.isoformat(timespec="seconds"),
    }


@keys_app.command("add")
def keys_add(
    provider: str,
    key_id: Annotated[str | None, typer.Option(help="Key id; generated if not given.")] = None,
    database_url: DbOption = None,
) -> None:
    """Add a signing key; prints its secret once (give it to the provider, store it safely).

    A provider's first key becomes primary; later keys are accepted alongside it until you
    promote one and revoke the old.
    """

    async def use(gw: Gateway) -> ProviderKey:
        return await gw.keys.add(provider, key_id=key_id)

    key = _with_gateway(database_url, use)
    console.print_json(json.dumps(_key_row(key) | {"secret": key.secret}))


@keys_app.command("list")
def keys_list(
    provider: Annotated[str | None, typer.Argument()] = None,
    database_url: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """List keys (never their secrets)."""

    async def use(gw: Gateway) -> list[dict[str, str]]:
        return [_key_row(k) for k in await gw.keys.list(provider)]

    rows = _with_gateway(database_url, use)
    if json_out:
        console.print_json(json.dumps(rows))
        return
    table = Table("provider", "key_id", "status", "created_at", "updated_at", title="Keys")
    for row in rows:
        table.add_row(*row.values())
    console.print(table)


@keys_app.command("promote")
def keys_promote(provider: str, key_id: str, database_url: DbOption = None) -> None:
    """Make a key primary; the previous primary stays accepted until revoked."""

    async def use(gw: Gateway) -> ProviderKey:
        return await gw.keys.promote(provider, key_id)

    console.print_json(json.dumps(_key_row(_with_gateway(database_url, use))))


@keys_app.command("revoke")
def keys_revoke(provider: str, key_id: str, database_url: DbOption = None) -> None:
    """Stop accepting a key (within CROUPIER_KEY_CACHE_SECONDS on every replica)."""

    async def use(gw: Gateway) -> ProviderKey:
        return await gw.keys.revoke(provider, key_id)

    console.print_json(json.dumps(_key_row(_with_gateway(database_url, use))))


def _session_row(session: GameSession) -> dict[str, Any]:
    return {
        "id": session.id,
        "provider": session.provider,
        "player_id": session.player_id,
        "currency": session.currency,
        "game_code": session.game_code,
        "state": session.state.value,
        "version": session.version,
    }


@session_app.command("open")
def session_open(
    provider: Annotated[str, typer.Option(help="Provider code.")],
    player: Annotated[str, typer.Option(help="Player id (the wallet must exist).")],
    game: Annotated[str, typer.Option(help="Game code.")],
    database_url: DbOption = None,
) -> None:
    """Open a game session and print its token (what a launch hands to the provider)."""

    async def use(gw: Gateway) -> dict[str, Any]:
        session, token, expires = await gw.sessions.open(
            provider=provider, player_id=player, game_code=game, actor="cli"
        )
        return _session_row(session) | {"token": token, "token_expires_at": expires.isoformat()}

    console.print_json(json.dumps(_with_gateway(database_url, use)))


@session_app.command("show")
def session_show(session_id: str, database_url: DbOption = None) -> None:
    """A session and its events, oldest first."""

    async def use(gw: Gateway) -> dict[str, Any]:
        session = await gw.sessions.get(session_id)
        events = await gw.sessions.events(session_id)
        return _session_row(session) | {
            "events": [
                {
                    "from": e.from_state.value if e.from_state else None,
                    "to": e.to_state.value,
                    "actor": e.actor,
                    "reason": e.reason,
                    "at": e.at.isoformat(),
                    "round_ref": e.round_ref,
                    "tx_ids": list(e.tx_ids),
                    "correlation_id": e.correlation_id,
                }
                for e in events
            ]
        }

    console.print_json(json.dumps(_with_gateway(database_url, use)))


@session_app.command("close")
def session_close(
    session_id: str,
    reason: Annotated[str, typer.Option(help="Why, for the record.")] = "closed by operator",
    database_url: DbOption = None,
) -> None:
    """End a session: pending_settlement while a round is open, else settled, reversed or
    cancelled."""

    async def use(gw: Gateway) -> GameSession:
        return await gw.sessions.close(session_id, actor="cli", reason=reason)

    console.print_json(json.dumps(_session_row(_with_gateway(database_url, use))))


@session_app.command("fail")
def session_fail(
    session_id: str,
    reason: Annotated[str, typer.Option(help="Why the launch failed.")] = "launch failed",
    database_url: DbOption = None,
) -> None:
    """Mark a session that never started as failed."""

    async def use(gw: Gateway) -> GameSession:
        return await gw.sessions.fail(session_id, actor="cli", reason=reason)

    console.print_json(json.dumps(_session_row(_with_gateway(database_url, use))))


@session_app.command("sweep")
def session_sweep(database_url: DbOption = None) -> None:
    """Close sessions whose tokens expired and settle ended ones whose rounds closed."""

    async def use(gw: Gateway) -> dict[str, int]:
        return await gw.sessions.sweep()

    console.print_json(json.dumps(_with_gateway(database_url, use)))


def _signing_key(
    provider: str, key_id: str | None, secret: str | None, database_url: str | None
) -> tuple[str, str]:
    if key_id and secret:
        return key_id, secret
    if key_id or secret:
        err_console.print("give both --key-id and --secret, or neither (the primary key is used)")
        raise typer.Exit(2)

    async def use(gw: Gateway) -> tuple[str, str]:
        return await gw.keys.primary_secret(provider)

    return _with_gateway(database_url, use)


KeyIdOption = Annotated[
    str | None, typer.Option("--key-id", help="Key id; default: the provider's primary key.")
]
SecretOption = Annotated[
    str | None,
    typer.Option("--secret", envvar="CROUPIER_SIGNING_SECRET", help="Secret of --key-id."),
]


def _signed(
    provider: str, call: str, body: str, key: tuple[str, str]
) -> tuple[str, dict[str, str]]:
    path = f"/native/v1/{provider}/{call}"
    headers = signing.request_headers(
        key_id=key[0], secret=key[1], path=path, body=body.encode(),
        timestamp=int(time.time()), nonce=secrets.token_urlsafe(18),
    )  # fmt: skip
    return path, headers


@app.command()
def sign(
    provider: str,
    call: str,
    body: str,
    key_id: KeyIdOption = None,
    secret: SecretOption = None,
    curl: Annotated[bool, typer.Option("--curl", help="Print curl -H options.")] = False,
    database_url: DbOption = None,
) -> None:
    """Print the signature headers of a native v1 request (valid for the signing window)."""
    _, headers = _signed(provider, call, body, _signing_key(provider, key_id, secret,
                                                            database_url))  # fmt: skip
    if curl:
        typer.echo(" ".join(f"-H {name}:{value}" for name, value in headers.items()))
    else:
        typer.echo("\n".join(f"{name}: {value}" for name, value in headers.items()))


@app.command()
def call(
    provider: str,
    call: str,
    body: str,
    url: Annotated[str, typer.Option(help="Base URL of the API.")] = "http://127.0.0.1:8000",
    key_id: KeyIdOption = None,
    secret: SecretOption = None,
    database_url: DbOption = None,
) -> None:
    """Send a signed native v1 call, check the response's signature, print the response.

    Exits 1 when the answer is an error.
    """
    key = _signing_key(provider, key_id, secret, database_url)
    path, headers = _signed(provider, call, body, key)
    headers["content-type"] = "application/json"
    response = httpx.post(url.rstrip("/") + path, content=body.encode(), headers=headers)
    stamp = response.headers.get(signing.TIMESTAMP_HEADER)
    given = response.headers.get(signing.SIGNATURE_HEADER, "")
    verified = False
    if stamp and stamp.isdigit():
        canonical = signing.canonical_response(
            response.status_code, path, int(stamp), headers[signing.NONCE_HEADER],
            response.content,
        )  # fmt: skip
        verified = given == signing.signature_header(key[1], canonical)
    err_console.print(
        f"HTTP {response.status_code}; response signature "
        + ("verified" if verified else "[bold red]NOT verified[/]")
    )
    try:
        console.print_json(response.text)
    except json.JSONDecodeError:
        console.print(response.text)
    if response.status_code >= 400 or not verified:
        raise typer.Exit(1)


# -- operator API keys and the catalogue -----------------------------------------------------

operator_keys_app = typer.Typer(
    help="Operator API keys (Authorization: Bearer cok_...): add, list, revoke.",
    no_args_is_help=True,
)
catalogue_app = typer.Typer(
    help="The game catalogue: load a file (TOML or JSON), show it.", no_args_is_help=True
)
webhooks_app = typer.Typer(
    help="The webhook inbox: providers' Standard Webhooks secrets.", no_args_is_help=True
)
app.add_typer(operator_keys_app, name="operator-keys")
app.add_typer(webhooks_app, name="webhooks")


inbox_app = typer.Typer(
    help="The webhook inbox's queue: list deliveries, requeue dead ones, replay a window.",
    no_args_is_help=True,
)
app.add_typer(inbox_app, name="inbox")


@inbox_app.command("list")
def inbox_list(
    status: Annotated[
        str | None, typer.Option(help="pending, processing, applied, held or dead.")
    ] = None,
    provider: Annotated[str | None, typer.Option(help="One provider's deliveries.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    database_url: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Deliveries, newest first, with their state, attempts and last error (dead letters:
    --status dead)."""

    if status is not None and status not in {"pending", "processing", "applied", "held", "dead"}:
        _fail(InvalidRequest("status is pending, processing, applied, held or dead"))

    async def use(gw: Gateway) -> list[dict[str, Any]]:
        rows = await gw.inbox.store.deliveries(status=status, provider=provider, limit=limit)
        return [
            {k: (v.isoformat(timespec="seconds") if isinstance(v, datetime) else v)
             for k, v in r.items()}
            for r in rows
        ]  # fmt: skip

    rows = _with_gateway(database_url, use)
    if json_out:
        console.print_json(json.dumps(rows))
        return
    table = Table("id", "provider", "delivery_id", "status", "attempts", "received_at",
                  "last_error", title="Webhook deliveries")  # fmt: skip
    names = ("id", "provider", "delivery_id", "status", "attempts", "received_at", "last_error")
    for r in rows:
        table.add_row(*(str(r[n]) if r[n] is not None else "" for n in names))
    console.print(table)


@inbox_app.command("body")
def inbox_body(delivery: int, database_url: DbOption = None) -> None:
    """Print a delivery's body exactly as it was received (for a round event, its fairness
    evidence: `croupier inbox body ID | croupier verify-round -`)."""

    async def use(gw: Gateway) -> bytes | None:
        return await gw.inbox.store.delivery_body(delivery)

    body = _with_gateway(database_url, use)
    if body is None:
        _fail(TransactionNotFound(f"no webhook delivery {delivery}"))
        return
    sys.stdout.buffer.write(body + b"\n")


@inbox_app.command("requeue")
def inbox_requeue(ids: list[int], database_url: DbOption = None) -> None:
    """Send deliveries (dead letters, held ones) back to the queue, with a fresh retry
    budget; applying one again is a replay, never a second settlement."""

    async def use(gw: Gateway) -> int:
        return await gw.inbox.store.requeue(ids=ids, now=gw.wallet.clock())

    console.print(f"requeued {_with_gateway(database_url, use)} deliveries")


@inbox_app.command("replay")
def inbox_replay(
    start: Annotated[datetime, typer.Option("--from", help="Received at or after (ISO 8601).")],
    end: Annotated[datetime, typer.Option("--to", help="Received before (ISO 8601).")],
    provider: Annotated[str | None, typer.Option(help="One provider's deliveries.")] = None,
    database_url: DbOption = None,
) -> None:
    """Re-run the deliveries received in [--from, --to): back to the queue, applied by the
    next pass of the worker (`croupier run`, or `croupier run --once`). Replaying twice, or
    over deliveries already applied, changes no balance."""
    start, end = (t if t.tzinfo else t.replace(tzinfo=UTC) for t in (start, end))
    if end <= start:
        _fail(InvalidRequest("--to must be after --from", field="to"))

    async def use(gw: Gateway) -> int:
        return await gw.inbox.store.requeue(
            start=start, end=end, provider=provider, now=gw.wallet.clock()
        )

    console.print(
        f"requeued {_with_gateway(database_url, use)} deliveries for replay", soft_wrap=True
    )


rounds_app = typer.Typer(
    help="Rounds left open too long: providers' timeout policies, what the job did, what "
    "waits for a person, and resolving a round by hand.",
    no_args_is_help=True,
)
app.add_typer(rounds_app, name="rounds")


def _policy_row(provider: str, policy: TimeoutPolicy) -> dict[str, Any]:
    return {"provider": provider, "after_seconds": policy.after_seconds,
            "action": policy.action.value}  # fmt: skip


@rounds_app.command("policy-set")
def rounds_policy_set(
    provider: str,
    after: Annotated[str, typer.Option(help="How long a round may stay open: 90s, 30m, 6h, 2d.")],
    action: Annotated[
        TimeoutAction,
        typer.Option(
            help="close: end it as it stands; void: refund its bets (a round that "
            "paid a win is flagged instead); flag: an alert, no money moves."
        ),
    ],
    database_url: DbOption = None,
) -> None:
    """Set a provider's round timeout policy (others use CROUPIER_ROUND_TIMEOUT_SECONDS and
    CROUPIER_ROUND_TIMEOUT_ACTION)."""
    try:
        policy = TimeoutPolicy(parse_duration(after), action)
    except CroupierError as error:
        _fail(error)
        return

    async def use(gw: Gateway) -> None:
        await gw.timeouts.set_policy(provider, policy)

    _with_gateway(database_url, use)
    console.print_json(json.dumps(_policy_row(provider, policy)))


@rounds_app.command("policy-remove")
def rounds_policy_remove(provider: str, database_url: DbOption = None) -> None:
    """Remove a provider's policy: its rounds follow the default again."""

    async def use(gw: Gateway) -> None:
        await gw.timeouts.set_policy(provider, None)

    _with_gateway(database_url, use)
    console.print(f"{provider} follows the default round timeout policy")


@rounds_app.command("policies")
def rounds_policies(database_url: DbOption = None, json_out: JsonOption = False) -> None:
    """Every provider's round timeout policy, and the default (provider "*")."""

    async def use(gw: Gateway) -> list[dict[str, Any]]:
        rows = [_policy_row(p, policy) for p, policy in (await gw.timeouts.policies()).items()]
        return [*rows, _policy_row("*", gw.timeouts.default)]

    rows = _with_gateway(database_url, use)
    if json_out:
        console.print_json(json.dumps(rows))
        return
    table = Table("provider", "after_seconds", "action", title="Round timeout policies")
    for r in rows:
        table.add_row(r["provider"], str(r["after_seconds"]), r["action"])
    console.print(table)


def _timeout_row(r: TimeoutRecord) -> dict[str, Any]:
    return {"id": r.id, "provider": r.provider, "round_id": r.round_ref,
            "player_id": r.player_id, "action": r.action.value, "actor": r.actor,
            "reason": r.reason, "at": r.at.isoformat(timespec="seconds"),
            "opened_at": r.opened_at.isoformat(timespec="seconds"),
            "transactions": list(r.tx_refs)}  # fmt: skip


@rounds_app.command("timeouts")
def rounds_timeouts(
    provider: Annotated[str | None, typer.Option(help="One provider's.")] = None,
    round_id: Annotated[str | None, typer.Option("--round", help="One round's.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    database_url: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """What was done to rounds left open, newest first: by the job or a person, why, and the
    wallet transaction ids used."""

    async def use(gw: Gateway) -> list[dict[str, Any]]:
        records = await gw.timeouts.store.timeout_records(
            provider=provider, round_ref=round_id, limit=limit
        )
        return [_timeout_row(r) for r in records]

    rows = _with_gateway(database_url, use)
    if json_out:
        console.print_json(json.dumps(rows))
        return
    names = ("id", "provider", "round_id", "player_id", "action", "actor", "at", "reason")
    table = Table(*names, title="Round timeouts")
    for r in rows:
        table.add_row(*(str(r[n]) for n in names))
    console.print(table)


@rounds_app.command("stuck")
def rounds_stuck(database_url: DbOption = None, json_out: JsonOption = False) -> None:
    """What waits for a person: rounds flagged and still open, and sessions in
    pending_settlement beyond their provider's threshold."""

    async def use(gw: Gateway) -> dict[str, list[dict[str, Any]]]:
        rounds, sessions = await gw.timeouts.awaiting_review()
        return {
            "flagged_rounds": [
                {"provider": r.provider, "round_id": r.round_ref, "player_id": r.player_id,
                 "game_code": r.game_code, "opened_at": r.opened_at.isoformat(timespec="seconds"),
                 "bets_live": r.bets_live, "wins": r.win_count}
                for r in rounds
            ],
            "stuck_sessions": [
                {"session_id": s.id, "provider": s.provider, "player_id": s.player_id,
                 "since": s.since.isoformat(timespec="seconds")}
                for s in sessions
            ],
        }  # fmt: skip

    found = _with_gateway(database_url, use)
    if json_out:
        console.print_json(json.dumps(found))
        return
    titles = {"flagged_rounds": "Flagged rounds",
              "stuck_sessions": "Sessions stuck in pending_settlement"}  # fmt: skip
    for key, title in titles.items():
        rows = found[key]
        if not rows:
            console.print(f"{title}: none")
            continue
        table = Table(*rows[0], title=title)
        for row in rows:
            table.add_row(*(str(v) for v in row.values()))
        console.print(table)


@rounds_app.command("resolve")
def rounds_resolve(
    provider: str,
    round_id: str,
    action: Annotated[
        str, typer.Option(help="close (the round ends as it stands) or void (its bets refunded).")
    ],
    reason: Annotated[str, typer.Option(help="Why; kept in the record.")],
    actor: Annotated[str, typer.Option(help="Who resolves it; kept in the record.")] = "cli",
    database_url: DbOption = None,
) -> None:
    """Close or void one open round now (a flagged one, or any), recorded with who and why."""
    if action not in {"close", "void"}:
        _fail(InvalidRequest("action is close or void", field="action"))
    if not reason.strip() or len(reason) > 500:
        _fail(InvalidRequest("a reason of 1 to 500 characters is required", field="reason"))

    async def use(gw: Gateway) -> TimeoutRecord:
        return await gw.timeouts.resolve(
            provider, round_id, TimeoutAction(action), actor=f"cli:{actor}"[:128], reason=reason
        )

    console.print_json(json.dumps(_timeout_row(_with_gateway(database_url, use))))


@webhooks_app.command("secret-add")
def webhooks_secret_add(
    provider: str,
    secret_id: Annotated[
        str | None, typer.Option(help="Secret id; generated if not given.")
    ] = None,
    database_url: DbOption = None,
) -> None:
    """Add a whsec_ secret for a provider's webhooks; prints it once (give it to the provider).
    Several secrets are accepted at once, for a rotation."""

    async def use(gw: Gateway) -> tuple[str, str]:
        return await gw.inbox.add_secret(provider, secret_id)

    sid, secret = _with_gateway(database_url, use)
    console.print_json(json.dumps({"provider": provider, "secret_id": sid, "secret": secret}))


app.add_typer(catalogue_app, name="catalogue")


def _operator_key_row(key: OperatorKey) -> dict[str, str]:
    return {
        "key_id": key.key_id,
        "scopes": " ".join(sorted(key.scopes)),
        "label": key.label,
        "status": key.status,
        "created_at": key.created_at.isoformat(timespec="seconds"),
        "revoked_at": key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "",
    }


@operator_keys_app.command("add")
def operator_keys_add(
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            help=f"Repeatable: {', '.join(OPERATOR_SCOPES)}, or all.",
        ),
    ],
    label: Annotated[str, typer.Option(help="What the key is for (shown in listings).")] = "",
    database_url: DbOption = None,
) -> None:
    """Create an operator API key; prints it once (only its hash is stored)."""

    async def use(gw: Gateway) -> tuple[OperatorKey, str]:
        return await gw.operator_keys.add(scope, label)

    key, token = _with_gateway(database_url, use)
    console.print_json(json.dumps(_operator_key_row(key) | {"key": token}))


@operator_keys_app.command("list")
def operator_keys_list(database_url: DbOption = None, json_out: JsonOption = False) -> None:
    """List operator keys (never their secrets)."""

    async def use(gw: Gateway) -> list[dict[str, str]]:
        return [_operator_key_row(k) for k in await gw.operator_keys.list()]

    rows = _with_gateway(database_url, use)
    if json_out:
        console.print_json(json.dumps(rows))
        return
    table = Table(*(rows[0].keys() if rows else ["key_id"]), title="Operator keys")
    for row in rows:
        table.add_row(*row.values())
    console.print(table)


@operator_keys_app.command("revoke")
def operator_keys_revoke(key_id: str, database_url: DbOption = None) -> None:
    """Revoke an operator key: refused from its next request on."""

    async def use(gw: Gateway) -> OperatorKey:
        return await gw.operator_keys.revoke(key_id)

    console.print_json(json.dumps(_operator_key_row(_with_gateway(database_url, use))))


def read_catalogue_file(path: Path) -> Any:
    """A catalogue document: TOML by its .toml suffix, else JSON."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidRequest(f"cannot read {path}: {exc.strerror}") from None
    try:
        return tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise InvalidRequest(
            f"{path} is not valid {path.suffix.lstrip('.') or 'JSON'}: {exc}"
        ) from None


@catalogue_app.command("load")
def catalogue_load(
    path: Path,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check the file; write nothing.")
    ] = False,
    database_url: DbOption = None,
) -> None:
    """Add or update every provider and game of a file, all or nothing (examples/catalogue.toml)."""
    try:
        providers, games = parse_catalogue(read_catalogue_file(path))
    except CroupierError as error:
        _fail(error)
    if dry_run:
        console.print(f"{path}: {len(providers)} providers, {len(games)} games; nothing written")
        return

    async def use(gw: Gateway) -> tuple[int, int]:
        return await gw.catalogue.load(providers, games)

    n_providers, n_games = _with_gateway(database_url, use)
    console.print(f"loaded {n_providers} providers and {n_games} games from {path}")


@catalogue_app.command("show")
def catalogue_show(database_url: DbOption = None, json_out: JsonOption = False) -> None:
    """The catalogue: providers and their games."""

    async def use(gw: Gateway) -> dict[str, list[dict[str, Any]]]:
        return {
            "providers": [Renderer.provider(p) for p in await gw.catalogue.providers()],
            "games": [Renderer.game(g) for g in await gw.catalogue.games()],
        }

    doc = _with_gateway(database_url, use)
    if json_out:
        console.print_json(json.dumps(doc))
        return
    table = Table("provider", "game", "name", "category", "rtp", "enabled", "jurisdictions",
                  title="Games")  # fmt: skip
    for g in doc["games"]:
        table.add_row(g["provider"], g["code"], g["name"], g["category"], g["rtp"],
                      "yes" if g["enabled"] else "no", " ".join(g["jurisdictions"]))  # fmt: skip
    console.print(table)


@app.command()
def openapi() -> None:
    """Print the OpenAPI document of the provider API (as served at /openapi.json)."""
    typer.echo(json.dumps(openapi_document(), indent=2))


def _command_path() -> str:
    """How the user can call this same `croupier` again: .venv/bin/croupier after make run."""
    argv0 = Path(sys.argv[0])
    if argv0.name != "croupier":
        return "croupier"
    with suppress(ValueError):
        return str(argv0.resolve().relative_to(Path.cwd()))
    return str(argv0)


def _safe(url: str) -> str:
    """A database URL fit to print: the password, if any, masked."""
    from sqlalchemy.engine import make_url  # noqa: PLC0415 - only needed when printing

    return make_url(url).render_as_string(hide_password=True)


def main() -> None:
    """The console entry point: a typed error becomes its JSON on stderr and exit status 1."""
    try:
        app()
    except CroupierError as error:
        err_console.print_json(json.dumps({"error": error.to_dict()}))
        sys.exit(1)


from croupier.cli_recon import recon_app, reconcile  # noqa: E402 - they use this module's helpers

app.command("reconcile")(reconcile)
app.add_typer(recon_app, name="recon")

from croupier.cli_stuck import stuck  # noqa: E402 - cli_stuck imports from this module

app.command("stuck")(stuck)

from croupier.cli_sandbox import certify_cmd, sandbox_app, verify_round  # noqa: E402

app.add_typer(sandbox_app, name="sandbox")
app.command("certify")(certify_cmd)
app.command("verify-round")(verify_round)
