"""The reconciliation reports: text from a feed cannot become a spreadsheet formula (CSV) or
markup (HTML)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from croupier.adapters.recon_reports import write_reports


def report(key: str, detail: str = "in the feed, not in the ledger") -> dict[str, Any]:
    feed = {"kind": "win", "amount": "4.00", "currency": "EUR", "status": "ok",
            "at": "2026-01-01T10:00:00+00:00", "player_id": "=cmd|' /C calc'!A0",
            "round_id": "r1", "line": 3}  # fmt: skip
    return {
        "provider": "acme", "run_id": 1, "report_sha256": "0" * 64,
        "period": {"start": "2026-01-01T00:00:00+00:00", "end": "2026-01-02T00:00:00+00:00"},
        "feed": {"name": "<b>feed</b>.csv", "sha256": "1" * 64},
        "currencies": {},
        "differences": [{"kind": "missing_in_ledger", "key": key, "currency": "EUR",
                         "amount_difference": "-4.00", "detail": detail, "feed": feed,
                         "ledger": None}],
    }  # fmt: skip


def test_feed_text_never_runs_as_a_formula_and_amounts_stay_numbers(tmp_path: Path) -> None:
    paths = write_reports(report('=HYPERLINK("http://x","y")', "+1"), tmp_path)
    with paths["csv"].open(newline="") as f:
        [row] = list(csv.DictReader(f))
    assert row["key"] == '\'=HYPERLINK("http://x","y")'
    assert row["player_id"].startswith("'=")
    assert row["detail"] == "'+1"
    assert row["amount_difference"] == "-4.00"  # a negative amount is a number


def test_feed_text_is_escaped_in_the_html(tmp_path: Path) -> None:
    page = write_reports(report("<script>alert(1)</script>"), tmp_path)["html"].read_text()
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "<b>feed</b>" not in page
