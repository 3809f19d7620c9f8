"""Reconciliation over the operator API, on SQLite and PostgreSQL: a feed posted and
reconciled (dry or stored), runs and reports read back (JSON and HTML), cases moved and
corrected through the wallet, scopes and limits enforced."""

from __future__ import annotations

from typing import Any

from croupier.domain.wallet import Bet, Win
from tests.conftest import assert_ledger_ok
from tests.e2e.conftest import Api

HEADER = "tx_id,round_id,player_id,kind,amount,currency,at,status"


async def day_of_play(api: Api) -> tuple[str, list[str]]:
    """Two rounds of p1 with provider acme; the feed lines that tell them, and the day."""
    await api.player("p1", "100.00")
    at = api.clock().isoformat()
    lines = []
    for n in (1, 2):
        await api.wallet.place_bet(Bet(player_id="p1", amount=100, currency="EUR",
                                       provider="acme", tx_id=f"b{n}", round_id=f"r{n}",
                                       game_code="dice"))  # fmt: skip
        lines.append(f"b{n},r{n},p1,bet,1.00,EUR,{at},ok")
    await api.wallet.settle_win(Win(player_id="p1", amount=250, currency="EUR", provider="acme",
                                    tx_id="w1", round_id="r1", game_code="dice"))  # fmt: skip
    lines.append(f"w1,r1,p1,win,2.50,EUR,{at},ok")
    return api.clock().date().isoformat(), lines


def feed(lines: list[str]) -> bytes:
    return ("\n".join([HEADER, *lines]) + "\n").encode()


async def post_run(api: Api, day: str, body: bytes, *, dry: bool = False,
                   token: str | None = None) -> Any:  # fmt: skip
    dry_run = "true" if dry else "false"
    return await api.op("POST", f"/recon/runs?provider=acme&date={day}&dry_run={dry_run}",
                        body, token=token, headers={"content-type": "text/csv"})  # fmt: skip


async def test_a_day_posted_as_a_dry_run_reconciles_to_zero_and_stores_nothing(api: Api) -> None:
    day, lines = await day_of_play(api)
    r = await post_run(api, day, feed(lines), dry=True)
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["run_id"], report["differences"], report["alerts"]) == (None, [], [])
    eur = report["currencies"]["EUR"]
    assert (eur["feed"]["net"], eur["ledger"]["net"], eur["mismatches"]) == ("-0.50", "-0.50", 0)
    assert (await api.op("GET", "/recon/runs")).json()["items"] == []


async def test_a_stored_run_is_read_back_and_its_case_worked_to_a_correction(
    api: Api, database_url: str
) -> None:
    day, lines = await day_of_play(api)
    at = api.clock().isoformat()
    r = await post_run(api, day, feed([*lines, f"w-ghost,r2,p1,win,4.00,EUR,{at},ok"]))
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["alerts"]  # one difference in four rows passes 0.1%
    [diff] = run["differences"]
    assert (diff["kind"], diff["key"], diff["amount_difference"]) == (
        "missing_in_ledger", "w-ghost", "4.00",
    )  # fmt: skip

    [listed] = (await api.op("GET", "/recon/runs")).json()["items"]
    assert listed["run_id"] == run["run_id"]
    again = (await api.op("GET", f"/recon/runs/{run['run_id']}")).json()
    assert again["report_sha256"] == run["report_sha256"]
    page = await api.op("GET", f"/recon/runs/{run['run_id']}/report.html")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "w-ghost" in page.text

    [case] = (await api.op("GET", "/recon/cases?status=open")).json()["items"]
    moved = await api.op("POST", f"/recon/cases/{case['id']}/moves",
                         {"to": "in_review", "note": "asked acme"})  # fmt: skip
    assert (moved.status_code, moved.json()["status"]) == (200, "in_review")
    cash = (await api.wallet.balance("p1")).cash
    correction = {"amount": "4.00", "direction": "credit", "note": "acme paid it"}
    fixed = await api.op("POST", f"/recon/cases/{case['id']}/corrections", correction)
    assert (fixed.status_code, fixed.json()["status"]) == (200, "resolved"), fixed.text
    assert (await api.wallet.balance("p1")).cash == cash + 400
    history = (await api.op("GET", f"/recon/cases/{case['id']}")).json()["history"]
    assert [h["to"] for h in history] == ["open", "in_review", "resolved"]
    assert history[-1]["actor"].startswith("operator:")
    assert history[-1]["tx_ref"] == f"recon:case:{case['id']}:adjustment"
    assert_ledger_ok(database_url)


async def test_refusals_are_typed(api: Api) -> None:
    day, lines = await day_of_play(api)
    bad = await post_run(api, day, feed([*lines, "x1,r9,p1,bet,1.005,EUR,nope,ok"]))
    assert (bad.status_code, bad.json()["error"]["code"]) == (422, "FEED_INVALID")
    assert bad.json()["error"]["details"]["lines"][0]["line"] == 4
    big = await post_run(api, day, feed(lines * 40))  # over the fixture's 4096 bytes
    assert (big.status_code, big.json()["error"]["code"]) == (413, "PAYLOAD_TOO_LARGE")
    assert (await api.op("GET", "/recon/runs")).json()["items"] == []
    for path, code in [("/recon/runs/999", "TRANSACTION_NOT_FOUND"),
                       ("/recon/cases/999", "RECON_CASE_NOT_FOUND"),
                       ("/recon/cases?status=lost", "INVALID_REQUEST")]:  # fmt: skip
        r = await api.op("GET", path)
        assert r.json()["error"]["code"] == code, path
    wrong = await api.op("POST", "/recon/cases/1/corrections",
                         {"amount": "1.00", "direction": "sideways", "note": "n"})  # fmt: skip
    assert wrong.json()["error"]["code"] == "INVALID_REQUEST"
    no_date = await api.op("POST", "/recon/runs?provider=acme", feed(lines),
                           headers={"content-type": "text/csv"})  # fmt: skip
    assert no_date.json()["error"]["code"] == "INVALID_REQUEST"


async def test_reconciliation_needs_its_scopes(api: Api) -> None:
    day, lines = await day_of_play(api)
    assert api.operator_keys is not None
    _, reader = await api.operator_keys.add(["recon:read"], "reader")
    refused = await post_run(api, day, feed(lines), token=reader)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "SCOPE_NOT_GRANTED")
    assert (await api.op("GET", "/recon/cases", token=reader)).status_code == 200
    _, other = await api.operator_keys.add(["history:read"], "history")
    assert (await api.op("GET", "/recon/runs", token=other)).status_code == 403


async def test_odd_dates_are_refused_not_a_500(api: Api) -> None:
    for query in ("date=9999-12-31", "date=0001-01-01", "date=2026-02-30", "date=20261120",
                  "date=2026-11-20&days=32", "date=2026-11-20&days=x"):  # fmt: skip
        r = await api.op("POST", f"/recon/runs?provider=acme&{query}", feed([]),
                         headers={"content-type": "text/csv"})  # fmt: skip
        assert (r.status_code, r.json()["error"]["code"]) == (400, "INVALID_REQUEST"), query
