"""The `croupier` command: migrate, run, and operate the wallet and the ledger by hand."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Awaitable, Callable
from contextlib import suppress
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from croupier.adapters.db import migrate as migrations
from croupier.adapters.db.sqlite import sqlite_path
from croupier.adapters.db.verify import house_balances, verify_ledger
from croupier.bootstrap import currency_table, wallet_service
from croupier.bootstrap import run as run_async
from croupier.config import Settings
from croupier.domain.errors import CroupierError, all_error_types
from croupier.domain.money import format_decimal, parse_decimal
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
    _require_schema(_settings(database_url).database_url)

    async def main() -> T:
        async with wallet_service(_settings(database_url)) as wallet:
            return await use(wallet)

    try:
        return run_async(main())
    except CroupierError as error:
        _fail(error)
        raise  # unreachable: _fail exits


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
    once: Annotated[bool, typer.Option("--once", help="One sweep, then exit.")] = False,
) -> None:
    """Run the main job: release expired holds on a schedule until interrupted.

    The provider HTTP API joins this process in a later release; until then the wallet is
    driven with `croupier wallet ...`.
    """
    settings = _settings(database_url)

    exe = _command_path()

    async def main(wallet: WalletService) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        console.print(
            f"croupier running on {_safe(settings.database_url)} with "
            f"{len(wallet.currencies)} currencies; releasing expired holds every "
            f"{settings.hold_sweep_seconds:g}s. Ctrl-C stops.\n"
            f"Try, in another shell: {exe} wallet open alice EUR && "
            f"{exe} wallet deposit alice 100.00 --ref dep-1 && {exe} ledger verify"
        )
        released = await sweep_expired_holds(
            wallet, interval=settings.hold_sweep_seconds, stop=stop, once=once
        )
        console.print(f"stopped; released {released} expired holds")

    _with_wallet(database_url, main)


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
