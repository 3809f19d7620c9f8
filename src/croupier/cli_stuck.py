"""`croupier stuck`: what money is stuck and since when (open holds, old open rounds, sessions
in pending_settlement, dead webhooks), with the sums per currency. Registered by
croupier.cli (``app.command("stuck")(stuck)``)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from croupier.api.stuck import render_stuck
from croupier.bootstrap import Gateway

LimitOption = Annotated[
    int, typer.Option(min=1, max=1000, help="Items listed per category; totals count all.")
]
TITLES = {
    "holds": "Open holds (reserved, not posted or voided)",
    "rounds": "Rounds with a bet and no result beyond their provider's threshold",
    "sessions": "Sessions in pending_settlement beyond their provider's threshold",
    "dead_webhooks": "Dead-lettered webhooks",
}


def age(seconds: int) -> str:
    """A short age: 45s, 12m 05s, 3h 07m, 2d 04h."""
    minutes, secs = divmod(max(seconds, 0), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def _money(item: dict[str, Any]) -> str:
    if item["amount"] is None:
        return "?"
    return f"{item['amount']} {item['currency']}"


def _rows(category: str, items: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """A category's table: its column names and rows."""
    if category == "holds":
        return ["reference", "player", "amount", "since", "age", "expires_at", "expired"], [
            [h["reference"], h["player_id"], _money(h), h["since"], age(h["age_seconds"]),
             h["expires_at"], "EXPIRED" if h["expired"] else ""]
            for h in items
        ]  # fmt: skip
    if category == "rounds":
        return ["provider", "round", "player", "game", "staked", "since", "age", "threshold",
                "flagged"], [
            [r["provider"], r["round_id"], r["player_id"], r["game_code"], _money(r),
             r["since"], age(r["age_seconds"]), age(r["threshold_seconds"]),
             "yes" if r["flagged"] else ""]
            for r in items
        ]  # fmt: skip
    if category == "sessions":
        return ["session", "provider", "player", "game", "open rounds", "staked", "since",
                "age"], [
            [s["session_id"], s["provider"], s["player_id"], s["game_code"],
             str(s["open_rounds"]), _money(s), s["since"], age(s["age_seconds"])]
            for s in items
        ]  # fmt: skip
    return ["id", "provider", "delivery_id", "event", "amount", "since", "age", "attempts",
            "last_error"], [
        [d["id"], d["provider"], d["delivery_id"],
         f"{d['event_type']} {d['event_id']}" if d["event_type"] else "(unparsed)",
         _money(d), d["since"], age(d["age_seconds"]), str(d["attempts"]),
         d["last_error"] or ""]
        for d in items
    ]  # fmt: skip


def stuck(
    database_url: DbOption = None, json_out: JsonOption = False, limit: LimitOption = 200
) -> None:
    """What money is stuck and since when: open holds, rounds with a bet and no result beyond
    their provider's threshold, sessions in pending_settlement, dead-lettered webhooks; the
    sums per currency. Categories overlap (an old round keeps its session pending): do not
    add totals across them."""

    async def use(gw: Gateway) -> dict[str, Any]:
        return render_stuck(await gw.stuck.report(limit=limit), gw.wallet.currencies)

    found = _with_gateway(database_url, use)
    if json_out:
        console.print_json(json.dumps(found))
        return
    totals = found["totals"]
    if not any(totals.values()):
        console.print(f"Nothing is stuck (as of {found['as_of']}).")
        return
    for category, title in TITLES.items():
        items = found[category]
        if not items:
            console.print(f"{title}: none")
            continue
        names, rows = _rows(category, items)
        table = Table(*names, title=title)
        for row in rows:
            table.add_row(*(escape(cell) for cell in row))  # ids come from providers
        console.print(table)
        if found["truncated"][category]:
            count = sum(t["count"] for t in totals[category].values())
            console.print(f"{category}: {len(items)} of {count} listed (--limit)")
    table = Table("category", "currency", "count", "sum", title=f"Totals as of {found['as_of']}")
    for category in TITLES:
        for currency, t in totals[category].items():
            table.add_row(category, currency, str(t["count"]),
                          "?" if t["amount"] is None else t["amount"])  # fmt: skip
    console.print(table)
    if found["expired_holds"]:
        console.print(
            f"[bold red]{found['expired_holds']} pending hold(s) past their expiry:[/] the hold "
            "sweeper is not running (`croupier run` releases them; `croupier hold expire` now)."
        )


# croupier.cli imports this module at its end; importing from it after `stuck` is defined lets
# either module be imported first.
from croupier.cli import DbOption, JsonOption, _with_gateway, console  # noqa: E402
