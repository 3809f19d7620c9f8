"""`croupier sandbox ...`, `croupier certify` and `croupier verify-round` (docs/sandbox.md,
docs/certify.md)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
import uvicorn
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from croupier.adapters.recon_feeds import mapping_from_dict
from croupier.bootstrap import Gateway
from croupier.domain import fairness as fair
from croupier.sandbox.app import create_app
from croupier.sandbox.certify import TESTS, Report, Result, Target, certify
from croupier.sandbox.chaos import ENDPOINTS, Chaos, ChaosTransport
from croupier.sandbox.client import Credentials, WalletClient
from croupier.sandbox.journal import Journal
from croupier.sandbox.operator import OperatorClient, OperatorError
from croupier.sandbox.players import CATEGORIES, Plan, Simulation, Summary
from croupier.sandbox.provider import Provider

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)
sandbox_app = typer.Typer(
    help="The reference game provider: serve it, drive simulated players, flip chaos switches.",
    no_args_is_help=True,
)
DbOption = Annotated[
    str | None,
    typer.Option(envvar="CROUPIER_DATABASE_URL", help="Database URL (default: SQLite under var/)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
SANDBOX_URL = "http://127.0.0.1:8100"
WALLET_URL = "http://127.0.0.1:8000"

# The sandbox's feed (GET /feed/{day}) in Croupier's terms: docs/sandbox.md, "The feed".
FEED_MAPPING: dict[str, Any] = {
    "format": "csv", "granularity": "transaction", "amount_unit": "major",
    "time_format": "iso", "rollbacks": "rows",
    "fields": {"tx_id": "TransactionId", "round_id": "RoundId", "player_id": "PlayerId",
               "kind": "Type", "amount": "Amount", "currency": "Currency", "at": "CreatedAt",
               "status": "Status"},
    "kinds": {"BET": "bet", "WIN": "win", "REFUND": "rollback", "ROUND_END": "ignore"},
    "statuses": {"OK": "ok", "CANCELLED": "rolled_back", "FAILED": "failed"},
}  # fmt: skip


def _gw(database_url: str | None, use: Any) -> Any:
    from croupier.cli import _with_gateway  # noqa: PLC0415 - croupier.cli imports this module

    return _with_gateway(database_url, use)


@dataclass(frozen=True)
class ProviderSetup:
    """What the operator's side gives a provider to go live with: a signing key, a webhook
    secret and an operator key for its players (the feed mapping is stored, not returned)."""

    provider: str
    key_id: str
    secret: str
    webhook_secret: str
    operator_key: str
    operator_key_id: str


# What each needs of the operator API, and no more.
SANDBOX_SCOPES = ("players:write", "cashier", "launch", "catalogue:write")
CERTIFY_SCOPES = (*SANDBOX_SCOPES, "protection", "recon:write")


async def provision(
    gw: Gateway, provider: str, *, operator_scopes: tuple[str, ...] = SANDBOX_SCOPES,
    webhook: bool = True,
) -> ProviderSetup:  # fmt: skip
    """The primary key and an active webhook secret are reused (made if there is none); an
    operator key with ``operator_scopes`` (none: no key) is made each time (only its hash is
    kept, so it cannot be read back). The sandbox feed's mapping is stored for the provider
    unless it has one already (a real provider's own mapping is never replaced)."""
    if not any(k.status == "primary" for k in await gw.keys.list(provider)):
        await gw.keys.add(provider)
    key_id, secret = await gw.keys.primary_secret(provider)
    webhook_secret = ""
    if webhook:
        active = await gw.inbox.store.webhook_secrets(provider)
        webhook_secret = active[0] if active else (await gw.inbox.add_secret(provider))[1]
    if await gw.recon.store.mapping(provider) is None:
        await gw.recon.store.set_mapping(
            provider, mapping_from_dict(FEED_MAPPING).to_dict(), gw.wallet.clock()
        )
    op_key, op_id = "", ""
    if operator_scopes:  # last: nothing after it can fail and leave the key behind
        made, op_key = await gw.operator_keys.add(operator_scopes, f"{provider} sandbox")
        op_id = made.key_id
    return ProviderSetup(provider, key_id, secret, webhook_secret, op_key, op_id)


def _unreachable(what: str, url: str, exc: Exception) -> NoReturn:
    err_console.print(f"[red]{what} did not answer at {escape(url)}:[/] {escape(str(exc))}")
    raise typer.Exit(1) from None


def _env(name: str, given: str | None) -> str:
    value = given or os.environ.get(name, "")
    if not value:
        err_console.print(f"[red]missing {name}[/] (or its option): see docs/sandbox.md")
        raise typer.Exit(2)
    return value


def _on_stdin_closed(server: uvicorn.Server) -> None:
    """Stop ``server`` when standard input closes: the parent that holds its other end (the
    demo's `croupier run`) has gone, however it went, even SIGKILL. Watched by the event loop
    itself (no thread: one blocked in a read would abort the interpreter at exit)."""
    loop = asyncio.get_running_loop()
    fd = sys.stdin.fileno()

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            loop.remove_reader(fd)
            server.should_exit = True

    loop.add_reader(fd, readable)


async def _serve_sandbox(
    provider: Provider, *, host: str, port: int, resend_seconds: float,
    simulation: Simulation | None, exit_with_parent: bool = False,
) -> Summary | None:  # fmt: skip
    base = f"http://{host}:{port}"
    server = uvicorn.Server(uvicorn.Config(
        create_app(provider, simulation), host=host, port=port, lifespan="off", log_config=None,
        access_log=False,
    ))  # fmt: skip
    stop = asyncio.Event()

    async def resend() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), resend_seconds)
            await provider.resend()

    async def players() -> Summary | None:
        if simulation is None:
            return None
        try:
            return await play(simulation)
        except (httpx.HTTPError, OperatorError) as exc:  # said, not swallowed at shutdown
            err_console.print(f"[red]the simulated players stopped:[/] {escape(str(exc))}")
            return None

    async def play(simulation: Simulation) -> Summary:
        while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
            await asyncio.sleep(0.05)
        for attempt in range(60):  # the wallet may still be starting
            try:
                await simulation.operator.put_catalogue(
                    simulation.provider, f"{base}/launch", CATEGORIES
                )
                break
            except httpx.TransportError:
                if attempt == 59:
                    raise
                await asyncio.sleep(0.5)
        return await simulation.run()

    if exit_with_parent:
        _on_stdin_closed(server)
    serving = asyncio.create_task(server.serve())
    tasks = [asyncio.create_task(resend()), asyncio.create_task(players())]
    try:
        await serving
    finally:
        stop.set()
        if simulation is not None:
            simulation.stop.set()
        await tasks[0]
        if not tasks[1].done():
            await asyncio.wait([tasks[1]], timeout=5)
            tasks[1].cancel()
        summary = None
        with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError, OperatorError):
            summary = await tasks[1]
        await provider.client.aclose()
        if simulation is not None:
            await simulation.sandbox.aclose()
            await simulation.operator.aclose()
    return summary


@sandbox_app.command("serve")
def serve(
    provider_code: Annotated[
        str, typer.Option("--provider", help="The provider code the wallet knows it by.")
    ] = "sandbox",
    wallet_url: Annotated[str, typer.Option(help="The wallet (native protocol).")] = WALLET_URL,
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port.")] = 8100,
    key_id: Annotated[
        str | None, typer.Option(envvar="CROUPIER_SANDBOX_KEY_ID", help="Signing key id.")
    ] = None,
    secret: Annotated[
        str | None,
        typer.Option(
            envvar="CROUPIER_SANDBOX_SECRET",
            help="Its secret (better in the env).",
            show_default=False,
        ),
    ] = None,
    webhook_secret: Annotated[
        str | None,
        typer.Option(
            envvar="CROUPIER_SANDBOX_WEBHOOK_SECRET",
            help="whsec_ secret for round events; none: no webhooks.",
        ),
    ] = None,
    players: Annotated[
        int, typer.Option(min=0, max=1000, help="Simulated players to run inside (0: none).")
    ] = 0,
    cadence: Annotated[float, typer.Option(min=0, help="Seconds between a player's spins.")] = 1.0,
    operator_key: Annotated[
        str | None,
        typer.Option(
            envvar="CROUPIER_SANDBOX_OPERATOR_KEY",
            help="Operator key for the players' launches (players:write, cashier, "
            "launch, catalogue:write).",
        ),
    ] = None,
    chaos_seed: Annotated[int | None, typer.Option(help="Seed of the chaos dice.")] = None,
    state_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where seeds, rounds and the feed are kept across restarts "
            "(default var/sandbox/<provider>)."
        ),
    ] = None,
    memory: Annotated[
        bool, typer.Option("--memory", help="Keep nothing across restarts (no state dir).")
    ] = False,
    exit_with_parent: Annotated[
        bool,
        typer.Option(
            "--exit-with-parent",
            hidden=True,
            help="Stop when standard input closes (how `run --demo` starts it).",
        ),
    ] = False,
) -> None:
    """Serve the sandbox provider (launch, spin, seeds, feed, chaos) until interrupted; with
    --players, simulated players play on it (forever, at --cadence)."""
    creds = Credentials(provider_code, _env("CROUPIER_SANDBOX_KEY_ID", key_id),
                        _env("CROUPIER_SANDBOX_SECRET", secret))  # fmt: skip
    chaos = Chaos(chaos_seed)
    client = WalletClient(wallet_url, creds, webhook_secret=webhook_secret,
                          transport=ChaosTransport(httpx.AsyncHTTPTransport(), chaos))  # fmt: skip
    journal = None if memory else Journal(state_dir or Path("var") / "sandbox" / provider_code)
    provider = Provider(client, chaos=chaos, journal=journal)
    base = f"http://{host}:{port}"
    simulation = None
    if players:
        operator = OperatorClient(wallet_url, _env("CROUPIER_SANDBOX_OPERATOR_KEY", operator_key))
        simulation = Simulation(
            Plan(players=players, rounds=None, cadence=cadence, tag="demo"),
            operator=operator, provider=provider_code,
            sandbox=httpx.AsyncClient(base_url=base, timeout=30.0),
        )  # fmt: skip

    console.print(
        f"sandbox provider [bold]{provider_code}[/] at {base} (a page for people at {base}/, "
        f"JSON at {base}/stats), paying through {wallet_url}"
        f"{f'; {players} simulated players' if players else ''}. "
        + (f"State in {journal.directory} ({len(provider.rounds)} rounds, "
           f"{len(provider.feed)} feed lines kept). " if journal else "State in memory. ")
        + "Ctrl-C stops.",
        soft_wrap=True,
    )  # fmt: skip
    summary = asyncio.run(_serve_sandbox(provider, host=host, port=port, resend_seconds=2.0,
                                         simulation=simulation,
                                         exit_with_parent=exit_with_parent))  # fmt: skip
    if journal is not None:
        journal.close()
    if summary is not None:
        console.print_json(json.dumps({"players": summary.to_dict()}))


@sandbox_app.command("setup")
def setup(
    provider_code: Annotated[str, typer.Option("--provider")] = "sandbox",
    database_url: DbOption = None,
) -> None:
    """Give a provider what it needs to run against this database's wallet: its signing key
    (the primary, made if none), its webhook secret (made if none), a new operator key for
    its players (players:write, cashier, launch, catalogue:write), and the sandbox feed's
    reconciliation mapping (unless it has one). Prints them as shell exports: keep the
    output private."""

    async def use(gw: Gateway) -> ProviderSetup:
        return await provision(gw, provider_code)

    made: ProviderSetup = _gw(database_url, use)
    console.print(
        f"export CROUPIER_SANDBOX_KEY_ID={made.key_id}\n"
        f"export CROUPIER_SANDBOX_SECRET={made.secret}\n"
        f"export CROUPIER_SANDBOX_WEBHOOK_SECRET={made.webhook_secret}\n"
        f"export CROUPIER_SANDBOX_OPERATOR_KEY={made.operator_key}",
        soft_wrap=True,
    )


@sandbox_app.command("players")
def players_cmd(
    provider_code: Annotated[str, typer.Option("--provider")] = "sandbox",
    url: Annotated[str, typer.Option(help="The sandbox provider.")] = SANDBOX_URL,
    wallet_url: Annotated[str, typer.Option(help="The operator API's server.")] = WALLET_URL,
    operator_key: Annotated[
        str | None, typer.Option(envvar="CROUPIER_SANDBOX_OPERATOR_KEY", help="Operator key.")
    ] = None,
    players: Annotated[int, typer.Option(min=1, max=1000)] = 5,
    rounds: Annotated[int, typer.Option(min=1, help="Rounds per player.")] = 20,
    cadence: Annotated[float, typer.Option(min=0, help="Seconds between spins.")] = 0.2,
    currency: Annotated[str, typer.Option()] = "EUR",
    seed: Annotated[int | None, typer.Option(help="Seed of the players' choices.")] = None,
    json_out: JsonOption = False,
) -> None:
    """N players at once on a running sandbox, mixed games and stakes, with a progress bar;
    then rounds, errors by code and latency p50/p99."""
    key = _env("CROUPIER_SANDBOX_OPERATOR_KEY", operator_key)
    plan = Plan(players=players, rounds=rounds, cadence=cadence, currency=currency, seed=seed)

    async def go() -> Summary:
        operator = OperatorClient(wallet_url, key)
        async with httpx.AsyncClient(base_url=url, timeout=30.0) as sandbox:
            await operator.put_catalogue(provider_code, f"{url}/launch", CATEGORIES)
            with Progress(
                TextColumn("players"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                console=err_console, disable=json_out,
            ) as progress:  # fmt: skip
                task = progress.add_task("rounds", total=players * rounds)
                sim = Simulation(
                    plan, operator=operator, provider=provider_code, sandbox=sandbox,
                    on_round=lambda: progress.advance(task),
                )  # fmt: skip
                summary = await sim.run()
        await operator.aclose()
        return summary

    try:
        summary = asyncio.run(go()).to_dict()
    except httpx.HTTPError as exc:
        _unreachable("the sandbox or the operator API", f"{url}, {wallet_url}", exc)
    except OperatorError as exc:
        err_console.print(f"[red]the operator API refused:[/] {escape(str(exc))}")
        raise typer.Exit(1) from None
    if json_out:
        console.print_json(json.dumps(summary))
        return
    out = Table("rounds", "by status", "errors by code", "p50 ms", "p99 ms", "seconds",
                title="Simulated players")  # fmt: skip
    out.add_row(
        str(summary["rounds"]),
        ", ".join(f"{k} {v}" for k, v in summary["by_status"].items()),
        ", ".join(f"{k} {v}" for k, v in summary["errors"].items()) or "none",
        str(summary["latency_ms"]["p50"]), str(summary["latency_ms"]["p99"]),
        str(summary["seconds"]),
    )  # fmt: skip
    console.print(out)


@sandbox_app.command("chaos")
def chaos_cmd(
    endpoint: Annotated[
        str | None, typer.Argument(help=f"One of {', '.join(ENDPOINTS)}; none: show all.")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="name=value, e.g. lost_answer=0.2, burst=5, latency_ms=300."),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Quiet the endpoint (or all).")] = False,
    url: Annotated[str, typer.Option(help="The sandbox provider.")] = SANDBOX_URL,
) -> None:
    """Show or flip a running sandbox's chaos switches (docs/sandbox.md, "Chaos switches")."""
    changes: dict[str, Any] = {}
    for item in set_ or []:
        name, sep, value = item.partition("=")
        if not sep:
            err_console.print(f"[red]--set takes name=value, not {item!r}[/]")
            raise typer.Exit(2)
        changes[name] = json.loads(value) if value.replace(".", "", 1).isdigit() else value
    if changes and endpoint is None:
        err_console.print("[red]--set needs an endpoint[/]")
        raise typer.Exit(2)
    if endpoint is not None and endpoint not in ENDPOINTS:
        known = ", ".join(ENDPOINTS)
        err_console.print(f"[red]unknown endpoint {escape(endpoint)}[/]; known: {known}")
        raise typer.Exit(2)
    try:
        with httpx.Client(base_url=url, timeout=10.0) as http:
            if clear:
                response = http.delete(f"/chaos/{endpoint}" if endpoint else "/chaos")
            elif changes:
                response = http.put(f"/chaos/{endpoint}", json=changes)
            else:
                response = http.get("/chaos")
    except httpx.HTTPError as exc:
        _unreachable("the sandbox", url, exc)
    if endpoint is not None and not clear and not changes and response.status_code == 200:
        everything = response.json()  # one endpoint asked for: its switch and counters alone
        one = {"switches": {endpoint: everything["switches"].get(endpoint)},
               "fired": {endpoint: everything["fired"].get(endpoint, {})}}  # fmt: skip
        console.print_json(json.dumps(one))
        return
    console.print_json(response.text)
    if response.status_code >= 300:
        raise typer.Exit(1)


def _players_action(action: str, url: str) -> None:
    try:
        response = httpx.post(f"{url.rstrip('/')}/players/{action}", timeout=60.0)
    except httpx.HTTPError as exc:
        _unreachable("the sandbox", url, exc)
    console.print_json(response.text)
    if response.status_code >= 300:
        raise typer.Exit(1)


@sandbox_app.command("pause")
def pause_cmd(
    url: Annotated[str, typer.Option(help="The sandbox provider.")] = SANDBOX_URL,
) -> None:
    """Pause a running sandbox's simulated players (`serve --players`, the demo's): no new
    spin starts, and this waits for those under way. Then the day's feed is whole."""
    _players_action("pause", url)


@sandbox_app.command("resume")
def resume_cmd(
    url: Annotated[str, typer.Option(help="The sandbox provider.")] = SANDBOX_URL,
) -> None:
    """Let a paused sandbox's simulated players play again."""
    _players_action("resume", url)


def verify_round(
    source: Annotated[
        str,
        typer.Argument(
            help="A file (or - for stdin): a round event, a round from the "
            "sandbox's /rounds/{id}, or its fairness evidence."
        ),
    ],
    server_seed: Annotated[
        str | None, typer.Option(help="The revealed server seed, if the evidence lacks it.")
    ] = None,
    sandbox_url: Annotated[
        str | None,
        typer.Option(
            help="Have this sandbox verify it (POST /verify): it knows every seed it revealed."
        ),
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """Recompute a round from its fairness evidence and say whether it is fair: the server
    seed matches the commitment shown before play, and the seeds and nonce give the result
    and the payout claimed. Exit status 0 fair, 1 not (or not verifiable yet)."""
    try:
        raw = sys.stdin.read() if source == "-" else Path(source).read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        err_console.print(f"[red]cannot read {escape(source)}:[/] {exc}")
        raise typer.Exit(1) from None
    try:
        document = json.loads(raw)
    except ValueError:
        err_console.print("[red]not JSON[/]")
        raise typer.Exit(1) from None
    # The sandbox's POST /verify checks the whole document too: its fairness and its money.
    if sandbox_url and server_seed is None:
        try:
            response = httpx.post(f"{sandbox_url.rstrip('/')}/verify",
                                  json={"document": document}, timeout=10.0)  # fmt: skip
            out = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            _unreachable("the sandbox", sandbox_url, exc)
    else:
        out = fair.verify_document(document, server_seed=server_seed).to_dict()
    if json_out:
        console.print_json(json.dumps(out))
    else:
        waiting = any(
            c["check"] == "seed revealed" and not c["passed"]
            and str(c["detail"]).startswith("no server seed")
            for c in out["checks"]
        )  # fmt: skip
        title = "fair" if out["fair"] else "not verifiable yet" if waiting else "NOT fair"
        table = Table("check", "passed", "detail", title=title)
        for c in out["checks"]:
            table.add_row(c["check"], "yes" if c["passed"] else "[red]no[/]", escape(c["detail"]))
        console.print(table)
    raise typer.Exit(0 if out["fair"] else 1)


def certify_cmd(
    wallet_url: Annotated[str, typer.Option(help="The wallet under test (native protocol).")] = (
        WALLET_URL
    ),
    provider_code: Annotated[
        str, typer.Option("--provider", help="The provider code to test as.")
    ] = "certify",
    key_id: Annotated[str | None, typer.Option(help="Its signing key id.")] = None,
    secret: Annotated[
        str | None, typer.Option(envvar="CROUPIER_CERTIFY_SECRET", help="The key's secret.")
    ] = None,
    operator_url: Annotated[
        str | None, typer.Option(help="The operator API's server (default: the wallet's).")
    ] = None,
    operator_key: Annotated[
        str | None, typer.Option(envvar="CROUPIER_CERTIFY_OPERATOR_KEY", help="Operator key.")
    ] = None,
    only: Annotated[
        list[str] | None, typer.Option(help=f"Run only these: {', '.join(TESTS)}.")
    ] = None,
    repeat: Annotated[int, typer.Option(min=1, max=1000, help="Repetitions of each race.")] = 10,
    out: Annotated[
        Path | None, typer.Option(help="Directory for report.json and report.html.")
    ] = None,
    no_recon: Annotated[
        bool, typer.Option("--no-recon", help="Check the feed against balances only.")
    ] = False,
    database_url: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Put a wallet through the go-live tests (docs/certify.md). Against this machine's
    Croupier, with no key or operator key given, it makes them in the database (the operator
    key is revoked at the end). Exit status 0 all passed, 1 a test failed, 2 a usage error."""
    if only and (bad := sorted(set(only) - set(TESTS))):
        err_console.print(f"[red]unknown test {bad[0]}[/]; known: {', '.join(TESTS)}")
        raise typer.Exit(2)
    if secret is not None and key_id is None:
        err_console.print("[red]--secret goes with --key-id[/]")
        raise typer.Exit(2)
    revoke: str | None = None
    if secret is None or operator_key is None:

        async def use(gw: Gateway) -> ProviderSetup:
            scopes = CERTIFY_SCOPES if operator_key is None else ()
            return await provision(gw, provider_code, webhook=False, operator_scopes=scopes)

        made: ProviderSetup = _gw(database_url, use)
        key_id, secret = key_id or made.key_id, secret or made.secret
        if operator_key is None:
            operator_key, revoke = made.operator_key, made.operator_key_id
    assert key_id is not None  # noqa: S101 - given with --secret, or provisioned above
    target = Target(
        wallet_url=wallet_url, credentials=Credentials(provider_code, key_id, secret),
        operator_url=operator_url or wallet_url, operator_key=operator_key, recon=not no_recon,
    )  # fmt: skip
    chosen = [t for t in TESTS if not only or t in only]

    async def go() -> Report:
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=err_console, disable=json_out,
        ) as progress:  # fmt: skip
            task = progress.add_task("certifying", total=len(chosen))

            def done(result: Result) -> None:
                progress.advance(task)
                progress.console.print(
                    f"{'[green]pass[/]' if result.passed else '[red]FAIL[/]'} {result.name}"
                )

            return await certify(target, only=only, repeat=repeat, on_result=done)

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt  # so that the finally below revokes the run's operator key

    signal.signal(signal.SIGTERM, interrupted)
    try:
        report = asyncio.run(go())
    finally:
        if revoke is not None:

            async def drop(gw: Gateway) -> None:
                await gw.operator_keys.revoke(revoke)

            _gw(database_url, drop)
    folder = out or Path("var") / "certify" / report.run_id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(report.to_dict(), indent=2, default=str))
    (folder / "report.html").write_text(report.to_html())
    if json_out:
        console.print_json(json.dumps(report.to_dict(), default=str))
    else:
        table = Table("test", "verdict", "seconds", "detail",
                      title=f"Certification of {wallet_url} as {provider_code}")  # fmt: skip
        for r in report.results:
            table.add_row(r.name, "[green]pass[/]" if r.passed else "[red]FAIL[/]",
                          f"{r.seconds:.2f}", escape(r.detail))  # fmt: skip
        console.print(table)
        console.print(f"reports: {folder / 'report.json'}, {folder / 'report.html'}")
    raise typer.Exit(0 if report.passed else 1)
