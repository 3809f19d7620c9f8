"""`croupier reconcile` and `croupier recon ...`: provider feeds against the ledger, the
reports, and the cases worked from them (docs/reconciliation.md)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from croupier.adapters.recon_feeds import FileFeed, Mapping, load_mapping, mapping_from_dict
from croupier.adapters.recon_reports import write_reports
from croupier.bootstrap import Gateway
from croupier.domain.catalogue import check_provider
from croupier.domain.errors import CroupierError, InvalidRequest
from croupier.domain.money import parse_decimal
from croupier.domain.recon import CaseStatus, period_of
from croupier.services.recon import Case, CaseEvent, RunResult

console = Console()
err_console = Console(stderr=True)
ALERT_EXIT = 3
"""`croupier reconcile`'s exit status when a currency passes the alert thresholds."""
recon_app = typer.Typer(
    help="Reconciliation: feed mappings, past runs and their reports, and the cases worked "
    "from the differences (docs/reconciliation.md).",
    no_args_is_help=True,
)

DbOption = Annotated[
    str | None,
    typer.Option("--database-url", help="Database URL; default CROUPIER_DATABASE_URL."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]


def _gw(database_url: str | None, use: Any) -> Any:
    from croupier.cli import _with_gateway  # noqa: PLC0415 - croupier.cli imports this module

    return _with_gateway(database_url, use)


def _fail(error: CroupierError) -> None:
    from croupier.cli import _fail as fail  # noqa: PLC0415 - croupier.cli imports this module

    fail(error)


def reconcile(
    provider: Annotated[str, typer.Option(help="The provider whose feed this is.")],
    day: Annotated[str, typer.Option("--date", help="The first day (UTC), YYYY-MM-DD.")],
    feed: Annotated[Path, typer.Option(help="The feed file (CSV, JSON Lines or JSON).")],
    days: Annotated[int, typer.Option(min=1, max=31, help="Days in the period.")] = 1,
    mapping: Annotated[
        Path | None,
        typer.Option(
            help="A mapping file (TOML or JSON); default: the provider's stored "
            "mapping (croupier recon mapping-set), else the canonical columns."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report only: store no run, difference or case.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Directory for report.json, differences.csv, "
            "report.html; default CROUPIER_REPORTS_DIR/recon-P-D-RUN."
        ),
    ] = None,
    actor: Annotated[str, typer.Option(help="Who runs it; kept with the run.")] = "cli",
    database_url: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Reconcile a provider's feed for a period against the ledger: a summary table per
    currency (counts, sums, net position, mismatches), reports written for people (HTML) and
    machines (JSON, CSV). Exit status: 0 within the thresholds; 3 when a currency passes the
    alert thresholds (the run is stored unless --dry-run); 1 on an error (a malformed feed:
    nothing is used or stored)."""
    logging.getLogger("croupier.alerts").setLevel(logging.ERROR)  # printed below instead
    try:
        check_provider(provider)
        period = period_of(day, days)
        if not feed.is_file():
            raise InvalidRequest(f"no feed file {feed}", field="feed")
    except CroupierError as error:
        _fail(error)
        return

    async def use(gw: Gateway) -> tuple[RunResult, Path]:
        chosen = await _mapping(gw, provider, mapping)
        source = FileFeed(feed, chosen, gw.wallet.currencies)
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                      console=console, transient=True, disable=json_out) as bar:  # fmt: skip
            tasks: dict[str, Any] = {}

            def progress(stage: str, count: int) -> None:
                label = {"feed": "feed rows read", "ledger": "ledger rows read",
                         "match": "rows matched", "store": "differences stored"}[stage]  # fmt: skip
                if stage not in tasks:
                    tasks[stage] = bar.add_task(label)
                bar.update(tasks[stage], description=f"{count:,} {label}")

            result = await gw.recon.run(
                provider, period, source, granularity=chosen.granularity,
                rollbacks=chosen.rollbacks, feed_name=feed.name,
                mapping_sha256=chosen.digest(), dry_run=dry_run, actor=actor,
                progress=progress,
            )  # fmt: skip
        name = f"recon-{provider}-{day}-{'dry' if result.run_id is None else result.run_id}"
        return result, out or Path(gw.settings.reports_dir) / name

    result, directory = _gw(database_url, use)
    report = {"run_id": result.run_id, "dry_run": dry_run, **result.report}
    paths = write_reports(report, directory)
    if json_out:
        console.print_json(json.dumps({**report, "files": {k: str(v) for k, v in paths.items()}}))
    else:
        _summary(report)
        console.print(f"reports: {paths['html']}, {paths['json']}, {paths['csv']}",
                      soft_wrap=True)  # fmt: skip
        for why in result.alerts:
            console.print(f"[bold red]alert[/]: {why}")
    if result.alerts:
        raise typer.Exit(ALERT_EXIT)


async def _mapping(gw: Gateway, provider: str, path: Path | None) -> Mapping:
    if path is not None:
        return load_mapping(path)
    stored = await gw.recon.store.mapping(provider)
    return mapping_from_dict(stored or {})


def _summary(report: dict[str, Any]) -> None:
    run = report["run_id"] if report["run_id"] is not None else "dry run, nothing stored"
    table = Table(
        "currency", "side", "rows", "bets", "wins", "rollbacks", "credits", "net (GGR)",
        title=f"Reconciliation of {report['provider']}, {report['period']['start'][:10]} "
        f"(run {run})",
    )  # fmt: skip
    for cur, t in report["currencies"].items():
        for side in ("feed", "ledger"):
            s = t[side]
            table.add_row(cur, side, *(str(s[k]) for k in
                          ("rows", "bets", "wins", "rollbacks", "credits", "net")))  # fmt: skip
        table.add_row(cur, "difference", "", "", "", "", "", t["net_difference"],
                      end_section=True)  # fmt: skip
    console.print(table)
    kinds = Table("currency", "difference", "count", "mismatch rate", title="Differences")
    for cur, t in report["currencies"].items():
        for kind, n in t["differences"].items():
            kinds.add_row(cur, kind, str(n), t["mismatch_rate"])
        if not t["differences"]:
            kinds.add_row(cur, "none: reconciles to zero", "0", t["mismatch_rate"])
    console.print(kinds)


@recon_app.command("mapping-set")
def mapping_set(provider: str, path: Path, database_url: DbOption = None) -> None:
    """Store a provider's feed mapping (TOML or JSON), used when --mapping is not given."""
    try:
        if not path.is_file():
            raise InvalidRequest(f"no mapping file {path}", field="mapping")
        chosen = load_mapping(path)
    except CroupierError as error:
        _fail(error)
        return

    async def use(gw: Gateway) -> None:
        check_provider(provider)
        await gw.recon.store.set_mapping(provider, chosen.to_dict(), gw.wallet.clock())

    _gw(database_url, use)
    console.print_json(json.dumps({"provider": provider, "mapping": chosen.to_dict()}))


@recon_app.command("runs")
def runs(
    provider: Annotated[str | None, typer.Option(help="One provider's.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    database_url: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Past runs, newest first."""

    async def use(gw: Gateway) -> Any:
        return await gw.recon.store.runs(provider, limit)

    rows = _gw(database_url, use)
    if json_out:
        console.print_json(json.dumps(list(rows)))
        return
    table = Table("run_id", "provider", "period_start", "feed_name", "report_sha256", "actor",
                  "created_at", title="Reconciliation runs")  # fmt: skip
    for r in rows:
        table.add_row(str(r["run_id"]), r["provider"], r["period_start"], escape(r["feed_name"]),
                      r["report_sha256"][:16], r["actor"], r["created_at"])  # fmt: skip
    console.print(table)


@recon_app.command("report")
def report_of(
    run_id: int,
    out: Annotated[Path | None, typer.Option(help="Write the three reports here too.")] = None,
    database_url: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """A stored run's report: the summary (or --json), and its files again with --out."""

    async def use(gw: Gateway) -> Any:
        return await gw.recon.store.run_report(run_id)

    report = _gw(database_url, use)
    if report is None:
        _fail(InvalidRequest(f"no reconciliation run {run_id}", field="run_id"))
        return
    if out is not None:
        paths = write_reports(report, out)
        err_console.print(f"reports: {paths['html']}, {paths['json']}, {paths['csv']}",
                          soft_wrap=True)  # fmt: skip
    if json_out:
        console.print_json(json.dumps(report))
    else:
        _summary(report)


def _case_row(c: Case) -> dict[str, Any]:
    return {"id": c.id, "provider": c.provider, "kind": c.kind.value, "key": c.key,
            "currency": c.currency, "player_id": c.player_id, "status": c.status.value,
            "amount_difference": c.amount_difference, "first_run": c.first_run,
            "last_run": c.last_run, "opened_at": c.opened_at.isoformat(),
            "updated_at": c.updated_at.isoformat()}  # fmt: skip


def _event_row(e: CaseEvent) -> dict[str, Any]:
    return {"at": e.at.isoformat(), "actor": e.actor,
            "from": e.from_status.value if e.from_status else None, "to": e.to_status.value,
            "note": e.note, "run_id": e.run_id, "tx_ref": e.tx_ref}  # fmt: skip


@recon_app.command("cases")
def cases(
    provider: Annotated[str | None, typer.Option(help="One provider's.")] = None,
    status: Annotated[
        str | None,
        typer.Option(help="open, auto_resolved, in_review, escalated or resolved."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    database_url: DbOption = None,
    json_out: JsonOption = False,
) -> None:
    """Reconciliation cases, newest first (amounts in minor units)."""
    if status is not None and status not in {s.value for s in CaseStatus}:
        _fail(InvalidRequest("status is open, auto_resolved, in_review, escalated or resolved"))

    async def use(gw: Gateway) -> Any:
        return await gw.recon.store.cases(provider=provider, status=status, limit=limit)

    rows = [_case_row(c) for c in _gw(database_url, use)]
    if json_out:
        console.print_json(json.dumps(rows))
        return
    names = ("id", "provider", "kind", "key", "currency", "player_id", "status",
             "amount_difference", "last_run")  # fmt: skip
    table = Table(*names, title="Reconciliation cases")
    for r in rows:
        table.add_row(*(escape(str(r[n])) for n in names))  # keys come from feeds
    console.print(table)


@recon_app.command("case")
def case_show(case_id: int, database_url: DbOption = None) -> None:
    """One case and its history (JSON)."""

    async def use(gw: Gateway) -> Any:
        return await gw.recon.get_case(case_id)

    case, events = _gw(database_url, use)
    console.print_json(json.dumps({**_case_row(case),
                                   "history": [_event_row(e) for e in events]}))  # fmt: skip


@recon_app.command("move")
def case_move(
    case_id: int,
    to: Annotated[str, typer.Option(help="in_review, escalated, resolved or open.")],
    note: Annotated[str, typer.Option(help="Why; kept in the case's history.")],
    actor: Annotated[str, typer.Option(help="Who; kept in the case's history.")] = "cli",
    database_url: DbOption = None,
) -> None:
    """Move a case (a person's decision, with a note)."""
    try:
        target = CaseStatus(to)
    except ValueError:
        _fail(InvalidRequest("--to is in_review, escalated, resolved or open", field="to"))
        return

    async def use(gw: Gateway) -> Case:
        return await gw.recon.move(case_id, target, actor=actor, note=note)

    console.print_json(json.dumps(_case_row(_gw(database_url, use))))


@recon_app.command("correct")
def case_correct(
    case_id: int,
    amount: Annotated[
        str, typer.Option(help="The correction, a decimal of the case's currency (12.34).")
    ],
    note: Annotated[str, typer.Option(help="Why; kept in the case's history.")],
    debit: Annotated[
        bool, typer.Option("--debit", help="Take from the player (default: pay the player).")
    ] = False,
    actor: Annotated[str, typer.Option(help="Who; kept in the case's history.")] = "cli",
    database_url: DbOption = None,
) -> None:
    """Correct the ledger for a case: an adjustment entry through the wallet (the player's
    cash against the provider's clearing account), linked to the case, which is resolved.
    Never an edit of history; running it again replays the same adjustment."""
    if not note.strip():
        _fail(InvalidRequest("a note is required", field="note"))

    async def use(gw: Gateway) -> Case:
        case, _ = await gw.recon.get_case(case_id)
        minor = parse_decimal(amount, gw.wallet.currencies.get_currency(case.currency))
        return await gw.recon.correct(case_id, amount=minor, credit=not debit, actor=actor,
                                      note=note)  # fmt: skip

    console.print_json(json.dumps(_case_row(_gw(database_url, use))))
