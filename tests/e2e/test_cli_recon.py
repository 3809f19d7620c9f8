"""`croupier reconcile` and `croupier recon ...` as a user runs them, on a migrated SQLite
file: a day of traffic played through the wallet (its clock set to the day), the provider's
CSV feed of it and a TOML mapping; reconciled to zero, with a difference (exit 1, an alert),
as a dry run, as JSON, with a malformed feed; a stored mapping; then the runs, reports and
cases, moved and corrected."""

from __future__ import annotations

import asyncio
import csv
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from croupier.bootstrap import gateway
from croupier.cli import app
from croupier.config import Settings
from croupier.domain.errors import InsufficientFunds
from croupier.domain.wallet import Bet, Credit, CreditReason, Deposit, Rollback, Win

runner = CliRunner()
DAY = datetime(2026, 1, 1, tzinfo=UTC)
HEADER = ["TransactionId", "RoundId", "PlayerId", "Type", "Amount", "Currency", "Status", "Time"]
MAPPING_TOML = """\
provider = "acme"
format = "csv"
amount_unit = "major"

[fields]
tx_id = "TransactionId"
round_id = "RoundId"
player_id = "PlayerId"
kind = "Type"
amount = "Amount"
currency = "Currency"
status = "Status"
at = "Time"

[kinds]
BET = "bet"
WIN = "win"
REFUND = "rollback"
JACKPOT = "credit"

[statuses]
OK = "ok"
FAILED = "failed"
"""


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_template: Path) -> str:
    """A SQLite file migrated to head (a copy of the session's template: `croupier migrate`
    once, not per test)."""
    shutil.copy(sqlite_template, tmp_path / "croupier.db")
    db = f"sqlite:///{tmp_path}/croupier.db"
    monkeypatch.setenv("CROUPIER_DATABASE_URL", db)
    monkeypatch.setenv("CROUPIER_REPORTS_DIR", str(tmp_path / "reports"))
    return db


def test_migrate_then_reconcile_an_empty_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole path from a new file: migrate, then a feed with nothing in it."""
    monkeypatch.setenv("CROUPIER_DATABASE_URL", f"sqlite:///{tmp_path}/new.db")
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    feed = tmp_path / "empty.csv"
    feed.write_text("tx_id,kind,amount,currency,at\n", "utf-8")
    args = ["reconcile", "--provider", "acme", "--date", "2026-01-01", "--feed", str(feed)]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["currencies"], report["differences"]) == ({}, [])
    assert "Differences (0)" in (tmp_path / "out" / "report.html").read_text()


def line(tx: str, kind: str, amount: str, *, round_id: str = "", player: str = "p1",
         status: str = "OK", hour: int = 1) -> dict[str, str]:  # fmt: skip
    return {"TransactionId": tx, "RoundId": round_id, "PlayerId": player, "Type": kind,
            "Amount": amount, "Currency": "EUR", "Status": status,
            "Time": (DAY + timedelta(hours=hour)).isoformat()}  # fmt: skip


FEED = [
    line("b1", "BET", "2.00", round_id="r1", hour=1),
    line("w1", "WIN", "5.00", round_id="r1", hour=2),
    line("b2", "BET", "1.50", round_id="r2", player="p2", hour=3),
    line("rb2", "REFUND", "1.50", player="p2", hour=4),
    line("c1", "JACKPOT", "10.00", hour=5),
    line("b3", "BET", "99.00", round_id="r3", player="p2", status="FAILED", hour=6),
]
GHOST = line("w-ghost", "WIN", "4.00", round_id="r1", hour=7)


async def _play(db: str) -> None:
    """The traffic of FEED, through the wallet, at the feed's times."""
    async with gateway(Settings(database_url=db)) as gw:
        w = gw.wallet
        now = [DAY]
        w.clock = lambda: now[0]
        for player in ("p1", "p2"):
            await w.open_wallet(player, "EUR")
            await w.deposit(Deposit(player_id=player, amount=2_000, currency="EUR",
                                    cashier_ref=f"d-{player}"))  # fmt: skip
        common: dict[str, Any] = {"currency": "EUR", "provider": "acme"}
        now[0] = DAY + timedelta(hours=1)
        await w.place_bet(Bet(player_id="p1", amount=200, tx_id="b1", round_id="r1",
                              game_code="g1", **common))  # fmt: skip
        now[0] = DAY + timedelta(hours=2)
        await w.settle_win(Win(player_id="p1", amount=500, tx_id="w1", round_id="r1",
                               game_code="g1", close_round=True, **common))  # fmt: skip
        now[0] = DAY + timedelta(hours=3)
        await w.place_bet(Bet(player_id="p2", amount=150, tx_id="b2", round_id="r2",
                              game_code="g1", **common))  # fmt: skip
        now[0] = DAY + timedelta(hours=4)
        await w.rollback(Rollback(player_id="p2", amount=0, tx_id="rb2", bet_tx_id="b2",
                                  **common))  # fmt: skip
        now[0] = DAY + timedelta(hours=5)
        await w.credit(Credit(player_id="p1", amount=1_000, tx_id="c1",
                              reason=CreditReason.JACKPOT, source="mega", **common))  # fmt: skip
        now[0] = DAY + timedelta(hours=6)
        with pytest.raises(InsufficientFunds):
            await w.place_bet(Bet(player_id="p2", amount=9_900, tx_id="b3", round_id="r3",
                                  game_code="g1", **common))  # fmt: skip


async def _cash(db: str, player: str) -> int:
    async with gateway(Settings(database_url=db)) as gw:
        return (await gw.wallet.balance(player)).cash


@pytest.fixture
def day(url: str, tmp_path: Path) -> Path:
    """The traffic played; the mapping written; returns the working directory."""
    asyncio.run(_play(url))
    (tmp_path / "acme.toml").write_text(MAPPING_TOML, "utf-8")
    return tmp_path


def write_feed(path: Path, lines: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(lines)
    return path


def read_csv(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def reconcile(work: Path, feed: Path, *extra: str, mapping: bool = True) -> Result:
    args = ["reconcile", "--provider", "acme", "--date", "2026-01-01", "--feed", str(feed)]
    if mapping:
        args += ["--mapping", str(work / "acme.toml")]
    return runner.invoke(app, [*args, *extra])


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def fails(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 1, result.output
    return result.output


# -- reconcile ---------------------------------------------------------------------------------


def test_a_day_reconciles_to_zero(day: Path) -> None:
    out = day / "out"
    result = reconcile(day, write_feed(day / "feed.csv", FEED), "--out", str(out))

    assert result.exit_code == 0, result.output
    assert "alert" not in result.output
    assert "reconciles to zero" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "differences.csv", "report.html", "report.json",
    ]  # fmt: skip
    report = json.loads((out / "report.json").read_text())
    assert report["provider"] == "acme"
    assert isinstance(report["run_id"], int)
    assert report["dry_run"] is False
    assert report["differences"] == []
    eur = report["currencies"]["EUR"]
    assert eur["feed"] == eur["ledger"] == {
        "rows": 6, "bets": "3.50", "wins": "5.00", "rollbacks": "1.50", "credits": "10.00",
        "net": "-13.00",
    }  # fmt: skip
    assert (eur["net_difference"], eur["mismatches"], eur["alerts"]) == ("0.00", 0, [])
    html = (out / "report.html").read_text()
    assert "acme" in html
    assert "reconciles to zero" in html
    assert html.startswith("<!doctype html>")
    rows = read_csv(out / "differences.csv")
    assert rows[0][:3] == ["kind", "key", "currency"]
    assert rows[1:] == []


def test_a_difference_exits_3_with_an_alert(day: Path) -> None:
    out = day / "out"
    result = reconcile(day, write_feed(day / "feed.csv", [*FEED, GHOST]), "--out", str(out))

    assert result.exit_code == 3, result.output
    assert "alert" in result.stdout
    assert "mismatch rate" in result.stdout
    report = json.loads((out / "report.json").read_text())
    assert [(d["kind"], d["key"], d["amount_difference"]) for d in report["differences"]] == [
        ("missing_in_ledger", "w-ghost", "4.00"),
    ]  # fmt: skip
    assert report["currencies"]["EUR"]["differences"] == {"missing_in_ledger": 1}
    [header, row] = read_csv(out / "differences.csv")
    assert dict(zip(header, row, strict=True))["key"] == "w-ghost"
    assert dict(zip(header, row, strict=True))["feed_line"] == "7"
    html = (out / "report.html").read_text()
    assert "1 mismatches" in html
    assert "w-ghost" in html
    assert "reconciles to zero" not in html


def test_a_dry_run_reports_into_the_default_directory_and_stores_nothing(
    day: Path, url: str
) -> None:
    result = reconcile(day, write_feed(day / "feed.csv", [*FEED, GHOST]), "--dry-run")

    assert result.exit_code == 3, result.output  # the alert still sets the exit status
    out = day / "reports" / "recon-acme-2026-01-01-dry"
    report = json.loads((out / "report.json").read_text())
    assert report["run_id"] is None
    assert report["dry_run"] is True
    assert len(report["differences"]) == 1
    assert json.loads(invoke("recon", "runs", "--json")) == []
    assert json.loads(invoke("recon", "cases", "--json")) == []


def test_json_output(day: Path) -> None:
    result = reconcile(day, write_feed(day / "feed.csv", FEED), "--json", "--actor", "ann")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["provider"] == "acme"
    assert report["period"] == {"start": "2026-01-01T00:00:00+00:00",
                                "end": "2026-01-02T00:00:00+00:00"}  # fmt: skip
    assert report["currencies"]["EUR"]["mismatches"] == 0
    assert set(report["files"]) == {"json", "csv", "html"}
    assert Path(report["files"]["json"]).parent.name == f"recon-acme-2026-01-01-{report['run_id']}"
    assert (
        json.loads(Path(report["files"]["json"]).read_text())["report_sha256"]
        == (report["report_sha256"])
    )
    [run] = json.loads(invoke("recon", "runs", "--json"))
    assert (run["run_id"], run["actor"], run["report_sha256"]) == (
        report["run_id"], "ann", report["report_sha256"],
    )  # fmt: skip


def test_a_malformed_feed_exits_1_naming_its_lines_and_stores_nothing(day: Path) -> None:
    bad = [*FEED]
    bad[1] = {**bad[1], "Amount": "5.001"}
    bad[4] = {**bad[4], "Time": "2026-01-01T05:00:00"}
    out = day / "out"

    result = reconcile(day, write_feed(day / "feed.csv", bad), "--out", str(out))

    assert result.exit_code == 1, result.output
    error = json.loads(result.stderr)["error"]
    assert error["code"] == "FEED_INVALID"
    assert [e["line"] for e in error["details"]["lines"]] == [2, 5]
    assert error["details"]["count"] == 2
    assert "has no time zone" in error["details"]["lines"][1]["problem"]
    assert not out.exists()
    assert json.loads(invoke("recon", "runs", "--json")) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--date", "2026-13-01"], "no such day: 2026-13-01"),
        (["--date", "2026-02-30"], "no such day"),
        (["--date", "20261120"], "a date is YYYY-MM-DD"),
        (["--date", "9999-12-31"], "from 2000 to 9000"),
        (["--provider", "no spaces"], "INVALID_REQUEST"),
    ],
)
def test_wrong_arguments_exit_1(day: Path, args: list[str], message: str) -> None:
    feed = write_feed(day / "feed.csv", FEED)
    base = {"--provider": "acme", "--date": "2026-01-01"}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    result = runner.invoke(app, ["reconcile", *[x for kv in base.items() for x in kv],
                                 "--feed", str(feed)])  # fmt: skip
    assert result.exit_code == 1, result.output
    assert message in result.output


def test_a_missing_feed_file_exits_1(day: Path) -> None:
    result = reconcile(day, day / "absent.csv")
    assert result.exit_code == 1
    assert "no feed file" in result.output


def test_a_stored_mapping_is_used_without_mapping(day: Path) -> None:
    stored = json.loads(invoke("recon", "mapping-set", "acme", str(day / "acme.toml")))
    assert stored["provider"] == "acme"
    assert stored["mapping"]["fields"]["tx_id"] == "TransactionId"
    assert stored["mapping"]["kinds"]["REFUND"] == "rollback"

    result = reconcile(day, write_feed(day / "feed.csv", FEED), "--json", mapping=False)

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["differences"] == []
    assert report["currencies"]["EUR"]["feed"]["rows"] == 6


def test_without_a_stored_mapping_the_canonical_columns_are_expected(day: Path) -> None:
    result = reconcile(day, write_feed(day / "feed.csv", FEED), mapping=False)
    assert result.exit_code == 1
    assert "FEED_INVALID" in result.output
    assert "currency is missing" in result.output  # the canonical column names


def test_mapping_set_refuses_a_missing_mapping_file(day: Path) -> None:
    assert "no mapping file" in fails("recon", "mapping-set", "acme", str(day / "none.toml"))


def test_mapping_set_refuses_a_wrong_mapping_with_a_json_error(day: Path) -> None:
    (day / "bad.toml").write_text('amount_unit = "cents"\n', "utf-8")
    result = runner.invoke(app, ["recon", "mapping-set", "acme", str(day / "bad.toml")])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert json.loads(result.stderr)["error"]["details"]["field"] == "amount_unit"


def test_reconcile_refuses_a_wrong_mapping_with_a_json_error(day: Path) -> None:
    (day / "bad.toml").write_text('amount_unit = "cents"\n', "utf-8")
    feed = write_feed(day / "feed.csv", FEED)
    args = ["reconcile", "--provider", "acme", "--date", "2026-01-01", "--feed", str(feed)]
    result = runner.invoke(app, [*args, "--mapping", str(day / "bad.toml")])
    assert result.exit_code == 1
    assert json.loads(result.stderr)["error"]["details"]["field"] == "amount_unit"
    assert json.loads(invoke("recon", "runs", "--json")) == []


def test_the_html_of_a_dry_run_says_it_was_not_stored(day: Path) -> None:
    out = day / "out"
    result = reconcile(day, write_feed(day / "feed.csv", FEED), "--dry-run", "--out", str(out))
    assert result.exit_code == 0, result.output
    html = (out / "report.html").read_text()
    assert "Run None" not in html
    assert "a dry run, not stored" in html


# -- runs, reports, cases ----------------------------------------------------------------------


def two_differences(day: Path) -> dict[str, Any]:
    """A stored run that finds two differences: a win of 4.00 the ledger never paid, and a
    jackpot of 10.00 the feed says was 12.00. Its report.json."""
    lines = [*FEED, GHOST]
    lines[4] = {**lines[4], "Amount": "12.00"}
    first = reconcile(day, write_feed(day / "feed.csv", lines), "--out", str(day / "out"))
    assert first.exit_code == 3, first.output
    report: dict[str, Any] = json.loads((day / "out" / "report.json").read_text())
    return report


def test_runs_and_their_reports(day: Path) -> None:
    report = two_differences(day)

    [run] = json.loads(invoke("recon", "runs", "--provider", "acme", "--json"))
    assert run["run_id"] == report["run_id"]
    assert run["report_sha256"] == report["report_sha256"]
    assert run["feed_name"] == "feed.csv"
    assert json.loads(invoke("recon", "runs", "--provider", "other", "--json")) == []
    assert "acme" in invoke("recon", "runs")

    stored = json.loads(invoke("recon", "report", str(run["run_id"]), "--json"))
    assert stored["report_sha256"] == report["report_sha256"]
    assert stored["differences"] == report["differences"]
    again = day / "again"
    summary = invoke("recon", "report", str(run["run_id"]), "--out", str(again))
    assert "Reconciliation of acme" in summary
    rewritten = json.loads((again / "report.json").read_text())
    assert rewritten["report_sha256"] == report["report_sha256"]
    assert "no reconciliation run 999" in fails("recon", "report", "999")

    # the same feed again: the same report
    second = reconcile(day, day / "feed.csv", "--json")
    assert second.exit_code == 3
    assert json.loads(second.stdout)["report_sha256"] == report["report_sha256"]
    assert len(json.loads(invoke("recon", "runs", "--json"))) == 2


def test_cases_are_listed_shown_and_moved(day: Path) -> None:
    report = two_differences(day)

    cases = json.loads(invoke("recon", "cases", "--json"))
    assert sorted((c["kind"], c["key"], c["status"], c["amount_difference"]) for c in cases) == [
        ("amount_mismatch", "c1", "open", 200), ("missing_in_ledger", "w-ghost", "open", 400),
    ]  # fmt: skip
    ghost = next(str(c["id"]) for c in cases if c["key"] == "w-ghost")
    assert "Reconciliation cases" in invoke("recon", "cases")
    assert json.loads(invoke("recon", "cases", "--status", "resolved", "--json")) == []
    assert "INVALID_REQUEST" in fails("recon", "cases", "--status", "closed")

    shown = json.loads(invoke("recon", "case", ghost))
    assert (shown["player_id"], shown["currency"], shown["first_run"]) == (
        "p1", "EUR", report["run_id"],
    )  # fmt: skip
    assert [(h["from"], h["to"], h["actor"]) for h in shown["history"]] == [
        (None, "open", "cli"),
    ]  # fmt: skip
    assert "RECON_CASE_NOT_FOUND" in fails("recon", "case", "999")

    moved = json.loads(invoke("recon", "move", ghost, "--to", "in_review",
                              "--note", "checking the game log", "--actor", "ann"))  # fmt: skip
    assert moved["status"] == "in_review"
    refused = fails("recon", "move", ghost, "--to", "auto_resolved", "--note", "n")
    assert "RECON_CASE_TRANSITION" in refused
    assert "INVALID_REQUEST" in fails("recon", "move", ghost, "--to", "closed", "--note", "n")
    assert "RECON_CASE_NOT_FOUND" in fails("recon", "move", "999", "--to", "in_review",
                                           "--note", "n")  # fmt: skip
    history = json.loads(invoke("recon", "case", ghost))["history"]
    assert [(h["from"], h["to"], h["actor"], h["note"]) for h in history[1:]] == [
        ("open", "in_review", "ann", "checking the game log"),
    ]  # fmt: skip


def test_cases_are_corrected_through_the_wallet_once(day: Path, url: str) -> None:
    two_differences(day)
    ids = {c["key"]: str(c["id"]) for c in json.loads(invoke("recon", "cases", "--json"))}
    cash = asyncio.run(_cash(url, "p1"))

    # pay p1 the 4.00 win, once
    precise = fails("recon", "correct", ids["w-ghost"], "--amount", "4.001", "--note", "n")
    assert "AMOUNT_PRECISION" in precise
    corrected = json.loads(invoke("recon", "correct", ids["w-ghost"], "--amount", "4.00",
                                  "--note", "the provider paid it", "--actor", "ann"))  # fmt: skip
    assert corrected["status"] == "resolved"
    assert asyncio.run(_cash(url, "p1")) == cash + 400
    # again (a retry): the same adjustment replays, nothing moves; another amount is refused
    again = json.loads(invoke("recon", "correct", ids["w-ghost"], "--amount", "4.00",
                              "--note", "again"))  # fmt: skip
    assert again["status"] == "resolved"
    other = fails("recon", "correct", ids["w-ghost"], "--amount", "5.00", "--note", "more")
    assert "IDEMPOTENCY_MISMATCH" in other
    assert asyncio.run(_cash(url, "p1")) == cash + 400
    history = json.loads(invoke("recon", "case", ids["w-ghost"]))["history"]
    assert [(h["from"], h["to"]) for h in history] == [(None, "open"), ("open", "resolved")]
    assert history[1]["tx_ref"] == f"recon:case:{ids['w-ghost']}:adjustment"
    assert history[1]["note"] == "corrected: credit 4.00 EUR: the provider paid it"
    assert history[1]["actor"] == "ann"

    # take 2.00 back from p1 (a debit)
    debited = json.loads(invoke("recon", "correct", ids["c1"], "--amount", "2.00", "--debit",
                                "--note", "reversal"))  # fmt: skip
    assert debited["status"] == "resolved"
    assert asyncio.run(_cash(url, "p1")) == cash + 400 - 200
    assert "RECON_CASE_NOT_FOUND" in fails("recon", "correct", "999", "--amount", "1.00",
                                           "--note", "n")  # fmt: skip
    assert json.loads(invoke("recon", "cases", "--status", "open", "--json")) == []

    # the same feed again: the differences are still there (an adjustment is an entry of its
    # own, not the missing transaction), but cases a person resolved stay resolved, the run
    # noted in their history
    assert reconcile(day, day / "feed.csv").exit_code == 3
    assert json.loads(invoke("recon", "cases", "--status", "open", "--json")) == []
    shown = json.loads(invoke("recon", "case", ids["c1"]))
    assert "resolved by a person, it stands" in shown["history"][-1]["note"]


def test_a_debit_beyond_the_player_s_cash_is_refused_from_the_cli(day: Path, url: str) -> None:
    lines = [*FEED, line("b-big", "BET", "50.00", round_id="r9", player="p2", hour=8)]
    assert reconcile(day, write_feed(day / "feed.csv", lines)).exit_code == 3
    [case] = json.loads(invoke("recon", "cases", "--json"))
    cash = asyncio.run(_cash(url, "p2"))
    assert cash < 5_000

    output = fails("recon", "correct", str(case["id"]), "--amount", "50.00", "--debit",
                   "--note", "the provider took the stake")  # fmt: skip

    assert "INSUFFICIENT_FUNDS" in output
    assert asyncio.run(_cash(url, "p2")) == cash
    assert json.loads(invoke("recon", "case", str(case["id"])))["status"] == "open"
