"""A reconciliation report for people (HTML, a table per currency and one of differences)
and for machines (JSON, and the differences as CSV)."""

from __future__ import annotations

import csv
import html
import json
import re
from pathlib import Path
from typing import Any

_NUMBER = re.compile(r"-?\d+(\.\d+)?")
CSV_COLUMNS = ("kind", "key", "currency", "amount_difference", "feed_line", "feed_kind",
               "feed_amount", "feed_status", "feed_at", "ledger_kind", "ledger_amount",
               "ledger_status", "ledger_at", "player_id", "round_id", "detail")  # fmt: skip


def write_reports(report: dict[str, Any], directory: Path) -> dict[str, Path]:
    """report.json, differences.csv and report.html in ``directory`` (created)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": directory / "report.json",
        "csv": directory / "differences.csv",
        "html": directory / "report.html",
    }
    paths["json"].write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", "utf-8")
    with paths["csv"].open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for d in report["differences"]:
            writer.writerow(_csv_row(d))
    paths["html"].write_text(render_html(report), "utf-8")
    return paths


def _cell(value: Any) -> Any:
    """A spreadsheet runs a cell that starts with = + - @ as a formula: text from a feed
    that does is written with a leading apostrophe (shown as text, not run)."""
    risky = isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r")
    if risky and not _NUMBER.fullmatch(value):  # a negative amount is a number, no formula
        return "'" + value
    return value


def _csv_row(d: dict[str, Any]) -> list[Any]:
    return [_cell(v) for v in _raw_row(d)]


def _raw_row(d: dict[str, Any]) -> list[Any]:
    feed, ledger = d.get("feed") or {}, d.get("ledger") or {}
    either = feed or ledger
    return [
        d["kind"], d["key"], d["currency"], d["amount_difference"], feed.get("line", ""),
        feed.get("kind", ""), feed.get("amount", ""), feed.get("status", ""),
        feed.get("at", ""), ledger.get("kind", ""), ledger.get("amount", ""),
        ledger.get("status", ""), ledger.get("at", ""), either.get("player_id", ""),
        either.get("round_id", ""), d["detail"],
    ]  # fmt: skip


def render_html(report: dict[str, Any]) -> str:
    e = html.escape
    title = (f"Reconciliation of {report['provider']}, {report['period']['start']} to "
             f"{report['period']['end']}")  # fmt: skip
    parts = [
        "<!doctype html><html lang=en><meta charset=utf-8>",
        f"<title>{e(title)}</title>",
        (
            "<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse;"
            "margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
            "th{background:#f4f4f4}td.l,th.l{text-align:left}.bad{color:#b00020;font-weight:bold}"
            ".ok{color:#1b7f3b;font-weight:bold}</style>"
        ),
        f"<h1>{e(title)}</h1>",
        (
            f"<p>Run {e(str(report.get('run_id') or 'none: a dry run, not stored'))}; feed "
            f"{e(report['feed']['name'])} (SHA-256 {e(report['feed']['sha256'][:16])}…); "
            f"report SHA-256 {e(report['report_sha256'][:16])}…</p>"
        ),
    ]
    for cur, t in report["currencies"].items():
        zero = t["mismatches"] == 0 and t["net_difference"].lstrip("-").strip("0.") == ""
        verdict = ("<span class=ok>reconciles to zero</span>" if zero else
                   f"<span class=bad>{t['mismatches']} mismatches, net difference "
                   f"{e(t['net_difference'])}</span>")  # fmt: skip
        parts.append(f"<h2>{e(cur)}: {verdict}</h2>")
        parts.append("<table><tr><th class=l></th><th>rows</th><th>bets</th><th>wins</th>"
                     "<th>rollbacks</th><th>credits</th><th>net (GGR)</th></tr>")  # fmt: skip
        for side in ("feed", "ledger"):
            s = t[side]
            parts.append(
                f"<tr><th class=l>{side}</th>"
                + "".join(f"<td>{e(str(s[k]))}</td>"
                          for k in ("rows", "bets", "wins", "rollbacks", "credits", "net"))
                + "</tr>"
            )  # fmt: skip
        parts.append("</table>")
        if t["differences"]:
            parts.append("<table><tr><th class=l>difference</th><th>count</th></tr>")
            parts += [f"<tr><td class=l>{e(k)}</td><td>{n}</td></tr>"
                      for k, n in t["differences"].items()]  # fmt: skip
            parts.append("</table>")
        for why in t["alerts"]:
            parts.append(f"<p class=bad>Alert: {e(why)}</p>")
    diffs = report["differences"]
    parts.append(f"<h2>Differences ({len(diffs)})</h2>")
    if diffs:
        heads = ("kind", "key", "currency", "feed", "ledger", "difference", "detail")
        parts.append("<table><tr>" + "".join(f"<th class=l>{c}</th>" for c in heads) + "</tr>")
        for d in diffs[:5000]:
            parts.append(
                "<tr>" + "".join(f"<td class=l>{e(str(v))}</td>" for v in (
                    d["kind"], d["key"], d["currency"], _side(d.get("feed")),
                    _side(d.get("ledger")), d["amount_difference"], d["detail"])) + "</tr>"
            )  # fmt: skip
        parts.append("</table>")
        if len(diffs) > 5000:
            parts.append(f"<p>… and {len(diffs) - 5000} more in differences.csv.</p>")
    parts.append("</html>\n")
    return "\n".join(parts)


def _side(row: dict[str, Any] | None) -> str:
    if not row:
        return "—"
    text = f"{row['kind']} {row['amount']} {row['status']} at {row['at']}"
    if "line" in row:
        text += f" (line {row['line']})"
    return text
