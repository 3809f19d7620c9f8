"""The sandbox provider (croupier.sandbox) against the real wallet, on SQLite and PostgreSQL.

Everything goes over HTTP on ASGI apps: the operator API launches a player, the sandbox's
own app verifies the launch URL and plays rounds, its wallet client pays them through the
signed native protocol and reports them to the webhook inbox. Each chaos switch is flipped
on the way to the real wallet and the money is checked to the minor unit afterwards; a day
of play under chaos reconciles to zero through the operator's reconciliation API; and the
sandbox's app answers every bad request with a typed 4xx.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

import httpx
import jsonschema
import pytest

from croupier.adapters.db.recon import SqlReconStore
from croupier.adapters.recon_feeds import mapping_from_dict
from croupier.adapters.webhook_events import SCHEMA, WebhookEventParser
from croupier.cli_sandbox import FEED_MAPPING
from croupier.domain import fairness as fair
from croupier.sandbox.chaos import Switch
from croupier.sandbox.client import Backoff
from croupier.sandbox.provider import Round, to_text
from croupier.services.launch import LAUNCH_URL_SECONDS
from tests.conftest import assert_ledger_ok
from tests.e2e.conftest import Api
from tests.e2e.sandbox_fixtures import Sandbox, sandbox, seed_where

START = 10_000
"""Every player starts with EUR 100.00 (minor units)."""
DICE = {"target": "50.00", "direction": "under"}
WINS, LOSES = seed_where(pays=True), seed_where(pays=False)


async def spin(sb: Sandbox, session_id: str, stake: str = "1.00", **body: Any) -> dict[str, Any]:
    """One round through the sandbox's app (POST /sessions/{id}/spin), at dice 50 under."""
    r = await sb.http.post(f"/sessions/{session_id}/spin",
                           json={"stake": stake, "params": DICE} | body)  # fmt: skip
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def deliveries(api: Api) -> list[dict[str, Any]]:
    assert api.inbox is not None
    rows = await api.inbox.store.deliveries(status=None, provider=None, limit=500)
    return [dict(r) for r in rows]


async def body_of(api: Api, delivery_id: str) -> bytes:
    rows = await api.wallet.store.fetch(  # type: ignore[attr-defined]
        "SELECT body FROM webhook_deliveries WHERE delivery_id = $1", delivery_id
    )
    return bytes(rows[0][0])


def error_of(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert (body["status"], body["error"]["code"]) == ("ERROR", code), body


def minor(text: str) -> int:
    whole, _, frac = text.partition(".")
    return int(whole) * 100 + int(frac or "0")


# -- launch --------------------------------------------------------------------------------------


async def test_a_launch_url_from_the_operator_api_opens_a_sandbox_session(api: Api) -> None:
    async with sandbox(api) as sb:
        await sb.catalogue()
        url = await sb.launch_url("ref-launch", game="limbo")
        query = urlsplit(url).query
        r = await sb.http.get(f"/launch?{query}")
        assert r.is_success, r.text
        opened = r.json()
        player_id = opened["player_id"]
        assert dict(p.split("=", 1) for p in query.split("&"))["player"] == player_id
        assert (opened["game"], opened["currency"]) == ("limbo", "EUR")
        assert opened["balance"] == {"cash": "100.00", "bonus": "0.00"}
        pair = sb.provider.seeds[player_id]
        assert opened["seed"] == {"server_seed_hash": fair.commitment(pair.server_seed),
                                  "client_seed": pair.client_seed, "nonce": 0}  # fmt: skip
        session = sb.provider.sessions[opened["session_id"]]
        assert (session.player_id, session.game, session.exponent) == (player_id, "limbo", 2)
        assert session.wallet_session  # the wallet's own session, from authenticate
        # the session plays: the stake leaves the wallet
        played = await spin(sb, opened["session_id"], "1.00", params={"target": "2.00"})
        assert played["status"] == "settled"
        assert await sb.cash(player_id) == START - 100 + minor(played["payout"])


async def test_a_tampered_launch_url_is_refused(api: Api) -> None:
    async with sandbox(api) as sb:
        await sb.catalogue()
        query = urlsplit(await sb.launch_url("ref-tamper")).query
        at = query.index("player=") + len("player=") + 4
        swapped = "A" if query[at] != "A" else "B"
        for bad in (query[:at] + swapped + query[at + 1 :],  # one char of the player
                    query[:-1] + ("0" if query[-1] != "0" else "1"),  # of the signature
                    query.replace("mode=real", "mode=demo")):  # fmt: skip
            error_of(await sb.http.get(f"/launch?{bad}"), 401, "LAUNCH_INVALID")
        unsigned = query.rpartition("&signature=")[0]
        error_of(await sb.http.get(f"/launch?{unsigned}"), 400, "LAUNCH_INVALID")
        assert sb.provider.sessions == {}
        r = await sb.http.get(f"/launch?{query}")  # the untouched URL still works
        assert r.is_success, r.text


async def test_a_launch_url_expires_after_its_time_and_the_skew(api: Api) -> None:
    async with sandbox(api) as sb:
        await sb.catalogue()
        query = urlsplit(await sb.launch_url("ref-expire")).query
        api.clock.advance(LAUNCH_URL_SECONDS + sb.provider.skew)  # the last second it holds
        assert (await sb.http.get(f"/launch?{query}")).is_success
        api.clock.advance(1)
        error_of(await sb.http.get(f"/launch?{query}"), 401, "LAUNCH_EXPIRED")
        assert len(sb.provider.sessions) == 1


# -- rounds and fairness -------------------------------------------------------------------------


async def test_a_round_moves_the_balance_by_payout_less_stake(api: Api, database_url: str) -> None:
    async with sandbox(api) as sb:
        sid = await sb.open("p1")
        sb.fix_seed("p1", WINS)
        won = await spin(sb, sid, "2.00")
        payout = minor(won["payout"])
        assert (won["status"], won["end_tx"]) == ("settled", None)
        assert payout > 200
        assert await sb.cash("p1") == START - 200 + payout
        assert (won["balance_before"], won["balance_after"]) == (
            "100.00", to_text(START - 200 + payout, 2)
        )  # fmt: skip
        sb.fix_seed("p1", LOSES)
        lost = await spin(sb, sid, "3.00")
        assert (lost["status"], lost["payout"], lost["win_tx"]) == ("settled", "0.00", None)
        assert lost["end_tx"]
        assert await sb.cash("p1") == START - 200 + payout - 300
        # the wallet's own balance call says the same
        token = sb.provider.sessions[sid].token
        balance = await sb.client.call("balance", {"player_id": "p1", "token": token})
        assert (balance.ok, balance.verified) == (True, True)
        assert balance.balance() == (to_text(START - 200 + payout - 300, 2), "0.00")
        assert sb.provider.anomalies == []
        assert_ledger_ok(database_url)


async def test_fairness_evidence_verifies_once_the_seed_is_revealed(api: Api) -> None:
    async with sandbox(api) as sb:
        sid = await sb.open("p1")
        first = await spin(sb, sid, "1.00")
        # another game than the session's: the wallet refuses it, and no nonce is used
        refused = await spin(sb, sid, "1.00", game="fruit-5x3", params={})
        assert (refused["status"], refused["fairness"]) == ("refused", {})
        second = await spin(sb, sid, "1.00", params={"target": "20.00", "direction": "over"})
        evidence = first["fairness"]
        assert "server_seed" not in evidence
        assert (evidence["nonce"], second["fairness"]["nonce"]) == (0, 1)
        early = (await sb.http.post("/verify", json={"evidence": evidence})).json()
        assert early["fair"] is False  # nothing to check against yet
        assert [c["check"] for c in early["checks"] if not c["passed"]] == ["seed revealed"]

        rotated = await sb.http.post(f"/sessions/{sid}/seed", json={"client_seed": "mine"})
        assert rotated.status_code == 200, rotated.text
        revealed = rotated.json()["revealed"]
        assert revealed["server_seed_hash"] == evidence["server_seed_hash"]
        assert fair.commitment(revealed["server_seed"]) == evidence["server_seed_hash"]
        assert revealed["rounds_played"] == 2
        paid = minor(first["payout"]) + minor(second["payout"])
        assert await sb.cash("p1") == START - 200 + paid
        assert rotated.json()["current"]["client_seed"] == "mine"
        assert rotated.json()["current"]["server_seed_hash"] != evidence["server_seed_hash"]

        for played in (first, second):
            got = (await sb.http.get(f"/rounds/{played['id']}")).json()
            assert got["fairness"]["server_seed"] == revealed["server_seed"]
            verdict = fair.verify(got["fairness"])
            assert verdict.fair, verdict.checks
            assert verdict.recomputed is not None
            assert verdict.recomputed["payout"] == played["payout"]
            r = await sb.http.post("/verify", json={"evidence": played["fairness"]})
            assert r.json()["fair"] is True, r.json()  # the sandbox finds the seed itself

        tampered = dict(first["fairness"])
        tampered["payout"] = to_text(minor(first["payout"]) + 1, 2)
        out = (await sb.http.post("/verify", json={"evidence": tampered})).json()
        assert out["fair"] is False
        assert [c["check"] for c in out["checks"] if not c["passed"]] == ["payout"]
        wrong_seed = {"evidence": first["fairness"], "server_seed": fair.new_server_seed()}
        out = (await sb.http.post("/verify", json=wrong_seed)).json()
        assert next(c["check"] for c in out["checks"] if not c["passed"]) == "commitment"
        # the next round is played with the new seeds from nonce 0
        third = await spin(sb, sid, "1.00")
        assert (third["fairness"]["nonce"], third["fairness"]["client_seed"]) == (0, "mine")


# -- round events --------------------------------------------------------------------------------


async def test_a_round_event_is_stored_then_applied_as_a_replay(api: Api) -> None:
    assert api.inbox_worker is not None
    async with sandbox(api, webhook=True) as sb:
        sid = await sb.open("p1")
        sb.fix_seed("p1", WINS)
        played = await spin(sb, sid, "1.00")
        cash = await sb.cash("p1")
        assert cash == START - 100 + minor(played["payout"])
        [stored] = await deliveries(api)
        assert (stored["delivery_id"], stored["status"]) == (f"msg_{played['id']}-round", "pending")
        raw = await body_of(api, stored["delivery_id"])
        event = json.loads(raw)
        assert list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(event)) == []
        assert (event["type"], event["round_id"], event["bet"]["tx_id"]) == (
            "round", played["id"], played["bet_tx"]
        )  # fmt: skip
        assert event["win"] == {"tx_id": played["win_tx"], "amount": played["payout"]}
        assert (event["balance_before"], event["balance_after"]) == ("100.00", to_text(cash, 2))
        assert event["fairness"] == played["fairness"]
        assert fair.verify(event["fairness"], server_seed=WINS).fair
        WebhookEventParser(api.wallet.currencies)(raw)  # parses whole
        # The schema does check the fairness object.
        broken = event | {"fairness": event["fairness"] | {"server_seed_hash": "not-hex"}}
        assert list(jsonschema.Draft202012Validator(SCHEMA).iter_errors(broken))

        assert await api.inbox_worker.run_once() == {"applied": 1}
        [applied] = await deliveries(api)
        assert (applied["status"], applied["last_error"]) == ("applied", None)
        assert await sb.cash("p1") == cash  # the calls came first: a replay, nothing moved


# -- chaos through the provider, against the real wallet ----------------------------------------


def fired(sb: Sandbox) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = sb.provider.stats()["chaos"]["fired"]
    return out


def rows(sb: Sandbox, played: dict[str, Any] | Round) -> list[tuple[str, str, str]]:
    """The round's feed rows: (kind, amount, status)."""
    round_id = played.id if isinstance(played, Round) else played["id"]
    return [(r.kind, r.amount, r.status) for r in sb.provider.feed if r.round_id == round_id]


async def test_a_bet_whose_answer_is_lost_is_rolled_back(api: Api) -> None:
    async with sandbox(api) as sb:
        sid = await sb.open("p1")
        sb.chaos.set("bet", Switch(lost_answer=1.0))
        played = await spin(sb, sid, "5.00")
        assert (played["status"], played["error"]) == ("void", "TIMEOUT")
        assert fired(sb) == {"bet": {"lost_answer": 3}}  # every attempt reached the wallet
        assert await sb.cash("p1") == START
        # the wallet had taken the stake: the rollback gave it back
        assert rows(sb, played) == [("REFUND", "5.00", "OK"), ("BET", "5.00", "CANCELLED")]
        assert (sb.provider.pending, sb.provider.anomalies) == ([], [])


async def test_a_rollback_whose_answer_is_lost_too_is_resent_until_decided(api: Api) -> None:
    async with sandbox(api) as sb:
        sid = await sb.open("p1")
        sb.chaos.set("bet", Switch(lost_answer=1.0))
        sb.chaos.set("rollback", Switch(lost_answer=1.0))
        played = await spin(sb, sid, "5.00")
        assert (played["status"], played["error"]) == ("void", "TIMEOUT")
        assert [p.kind for p in sb.provider.pending] == ["rollback"]
        assert await sb.cash("p1") == START  # the wallet took the stake and gave it back
        assert rows(sb, played) == [("REFUND", "0.00", "OK"), ("BET", "5.00", "FAILED")]
        assert await sb.provider.resend() == 0  # still lost
        sb.chaos.clear()
        assert await sb.provider.resend() == 1
        assert sb.provider.pending == []
        # decided at last: the feed now says the bet was taken and given back
        assert rows(sb, played) == [("REFUND", "5.00", "OK"), ("BET", "5.00", "CANCELLED")]
        assert await sb.cash("p1") == START


async def test_a_win_whose_answer_is_lost_is_resent_and_paid_once(api: Api) -> None:
    async with sandbox(api, webhook=True) as sb:
        sid = await sb.open("p1")
        sb.fix_seed("p1", WINS)
        sb.chaos.set("win", Switch(lost_answer=1.0))
        played = await spin(sb, sid, "2.00")
        payout = minor(played["payout"])
        assert payout > 0
        assert (played["status"], played["error"]) == ("pending", "TIMEOUT")
        assert [p.kind for p in sb.provider.pending] == ["win"]
        assert await deliveries(api) == []  # the round event waits for the win's answer
        assert await sb.cash("p1") == START - 200 + payout  # the wallet did pay it
        sb.chaos.clear()
        assert await sb.provider.resend() == 1
        r = sb.provider.rounds[played["id"]]
        assert (r.status, r.balance_after) == ("settled", to_text(START - 200 + payout, 2))
        assert sb.provider.pending == []
        assert await sb.cash("p1") == START - 200 + payout  # once
        assert await sb.provider.resend() == 0
        [event] = await deliveries(api)
        assert event["delivery_id"] == f"msg_{played['id']}-round"


async def test_duplicate_bets_and_wins_are_replays(api: Api) -> None:
    async with sandbox(api) as sb:
        sid = await sb.open("p1")
        sb.fix_seed("p1", WINS)
        for endpoint in ("bet", "win"):
            sb.chaos.set(endpoint, Switch(duplicate=1.0))
        played = await spin(sb, sid, "4.00")
        assert played["status"] == "settled"
        assert fired(sb) == {"bet": {"duplicate": 1}, "win": {"duplicate": 1}}
        assert sb.client.log.outcomes == {"OK": 5}  # authenticate, bet twice, win twice
        assert sb.provider.anomalies == []
        assert await sb.cash("p1") == START - 400 + minor(played["payout"])
        sb.fix_seed("p1", LOSES)
        sb.chaos.set("end_round", Switch(duplicate=1.0))
        lost = await spin(sb, sid, "1.00")
        assert (lost["status"], sb.provider.anomalies) == ("settled", [])
        assert fired(sb)["end_round"] == {"duplicate": 1}
        assert await sb.cash("p1") == START - 400 + minor(played["payout"]) - 100


async def test_a_bet_overtaken_by_its_rollback_is_refused(api: Api) -> None:
    async with sandbox(api) as sb:
        sid = await sb.open("p1")
        sb.chaos.set("bet", Switch(reorder=1.0))
        played = await spin(sb, sid, "3.00")
        assert (played["status"], played["error"]) == ("void", "ROLLED_BACK_BEFORE_BET")
        assert sb.client.log.outcomes == {"OK": 2, "TRANSACTION_ROLLED_BACK": 1}
        assert await sb.cash("p1") == START
        assert rows(sb, played) == [("REFUND", "0.00", "OK"), ("BET", "3.00", "FAILED")]
        assert sb.provider.anomalies == []


async def test_503s_in_front_of_the_wallet_are_retried_until_each_round_settles(
    api: Api,
) -> None:
    async with sandbox(api, backoff=Backoff(attempts=12, base=0.0, cap=0.0)) as sb:
        sid = await sb.open("p1")
        sb.chaos.set("bet", Switch(error_rate=0.6, error_status=503))
        played = [await spin(sb, sid, "1.00") for _ in range(4)]
        assert [p["status"] for p in played] == ["settled"] * 4
        errors = fired(sb)["bet"]["error_rate"]
        assert errors >= 2  # the switch did fire
        assert sb.client.log.outcomes["HTTP_503"] == errors
        assert await sb.cash("p1") == START - 400 + sum(minor(p["payout"]) for p in played)


async def test_a_burst_is_retried_through_and_one_longer_than_the_retries_voids(
    api: Api,
) -> None:
    async with sandbox(api) as sb:  # three attempts
        sid = await sb.open("p1")
        sb.chaos.set("bet", Switch(burst=2, error_status=429))
        played = await spin(sb, sid, "1.00")
        assert played["status"] == "settled"
        assert sb.client.log.outcomes["HTTP_429"] == 2
        assert await sb.cash("p1") == START - 100 + minor(played["payout"])
        sb.chaos.set("bet", Switch(burst=3))
        void = await spin(sb, sid, "1.00")
        assert (void["status"], void["error"]) == ("void", "HTTP_503")
        assert rows(sb, void) == [("REFUND", "0.00", "OK"), ("BET", "1.00", "FAILED")]
        assert await sb.cash("p1") == START - 100 + minor(played["payout"])


async def test_a_bet_that_times_out_is_rolled_back_and_never_taken(api: Api) -> None:
    async with sandbox(api) as sb:
        sid = await sb.open("p1")
        sb.chaos.set("bet", Switch(timeout=1.0))
        played = await spin(sb, sid, "2.00")
        assert (played["status"], played["error"]) == ("void", "TIMEOUT")
        assert fired(sb) == {"bet": {"timeout": 3}}
        assert await sb.cash("p1") == START
        # the wallet never saw the bet: the rollback left a tombstone
        assert rows(sb, played) == [("REFUND", "0.00", "OK"), ("BET", "2.00", "FAILED")]
        sb.chaos.clear()
        late = await sb.client.call("bet", {
            "player_id": "p1", "token": sb.provider.sessions[sid].token,
            "tx_id": played["bet_tx"], "round_id": played["id"], "game_code": "dice",
            "amount": "2.00", "currency": "EUR",
        })  # fmt: skip
        assert (late.code, late.definitive) == ("TRANSACTION_ROLLED_BACK", True)
        assert await sb.cash("p1") == START


async def test_a_dropped_round_event_is_held_and_resent(api: Api) -> None:
    async with sandbox(api, webhook=True) as sb:
        sid = await sb.open("p1")
        sb.chaos.set("webhook", Switch(drop=1.0))
        played = await spin(sb, sid, "1.00")
        assert played["status"] == "settled"
        assert await deliveries(api) == []
        assert [(p.kind, p.msg_id) for p in sb.provider.pending] == [
            ("webhook", f"msg_{played['id']}-round")
        ]
        assert await sb.provider.resend() == 1  # a resend is not dropped again
        assert [d["delivery_id"] for d in await deliveries(api)] == [f"msg_{played['id']}-round"]
        assert sb.provider.pending == []


async def test_a_duplicated_round_event_is_stored_once(api: Api) -> None:
    async with sandbox(api, webhook=True) as sb:
        sid = await sb.open("p1")
        sb.chaos.set("webhook", Switch(duplicate=1.0))
        played = await spin(sb, sid, "1.00")
        assert fired(sb) == {"webhook": {"duplicate": 1}}
        assert sb.provider.anomalies == []
        assert [d["delivery_id"] for d in await deliveries(api)] == [f"msg_{played['id']}-round"]
        event = sb.provider.round_event(sb.provider.rounds[played["id"]], "round")
        again = await sb.client.deliver(event, msg_id=f"msg_{played['id']}-round")
        assert (again.ok, again.body["duplicate"]) == (True, True)
        assert len(await deliveries(api)) == 1


async def test_latency_shows_in_the_stats(api: Api) -> None:
    async with sandbox(api) as sb:
        sid = await sb.open("p1")
        put = await sb.http.put("/chaos/bet", json={"latency_ms": 60})
        assert put.status_code == 200, put.text
        await spin(sb, sid, "1.00")
        stats = (await sb.http.get("/stats")).json()
        assert stats["chaos"]["switches"]["bet"]["latency_ms"] == 60
        assert stats["latency_ms"]["p99"] >= 60
        assert stats["latency_ms"]["p50"] < 60  # authenticate and the win or end: no delay
        assert (stats["rounds"], stats["by_status"]) == (1, {"settled": 1})


# -- the feed ----------------------------------------------------------------------------------


async def test_a_day_of_play_under_chaos_reconciles_to_zero(api: Api) -> None:
    async with sandbox(api) as sb:
        sid = await sb.open("p1")
        await SqlReconStore(api.wallet.store).set_mapping(  # type: ignore[arg-type]
            api.provider, mapping_from_dict(FEED_MAPPING).to_dict(), api.clock()
        )
        plays = [
            (WINS, {}), (LOSES, {}), (LOSES, {"bet": Switch(lost_answer=1.0)}),
            (WINS, {"bet": Switch(reorder=1.0)}), (WINS, {"bet": Switch(timeout=1.0)}),
            (WINS, {"win": Switch(lost_answer=1.0)}), (LOSES, {"bet": Switch(burst=1)}),
        ]  # fmt: skip
        for seed, switches in plays:
            sb.fix_seed("p1", seed)
            sb.chaos.clear()
            for endpoint, switch in switches.items():
                sb.chaos.set(endpoint, switch)
            await spin(sb, sid, "1.50")
        sb.chaos.clear()
        assert await sb.provider.resend() == 1  # the lost win
        statuses = [r.status for r in sb.provider.rounds.values()]
        assert statuses == ["settled", "settled", "void", "void", "void", "settled", "settled"]

        day = api.clock().date()
        feed = sb.provider.feed_csv(day)
        assert feed == (await sb.http.get(f"/feed/{day.isoformat()}")).text
        assert sb.provider.feed_csv(day.replace(year=2025)).count("\n") == 1  # header only
        r = await api.op(
            "POST", f"/recon/runs?provider={api.provider}&date={day.isoformat()}&dry_run=true",
            feed.encode(), headers={"content-type": "text/csv"},
        )  # fmt: skip
        assert r.status_code == 200, r.text
        report = r.json()
        assert (report["differences"], report["alerts"]) == ([], [])
        eur = report["currencies"]["EUR"]
        assert eur["mismatches"] == 0
        assert eur["feed"]["net"] == eur["ledger"]["net"]
        net = sum(minor(r.public()["payout"]) - r.stake
                  for r in sb.provider.rounds.values() if r.status == "settled")  # fmt: skip
        assert await sb.cash("p1") == START + net

        # and a feed that lies is caught: a win row paid one cent more
        win_tx = next(r.win_tx for r in sb.provider.rounds.values() if r.win_tx)
        lines = [line.split(",") for line in feed.splitlines()]
        for cells in lines:
            if cells[0] == win_tx:
                cells[5] = to_text(minor(cells[5]) + 1, 2)
        lied = "".join(",".join(cells) + "\n" for cells in lines)
        r = await api.op(
            "POST", f"/recon/runs?provider={api.provider}&date={day.isoformat()}&dry_run=true",
            lied.encode(), headers={"content-type": "text/csv"},
        )  # fmt: skip
        [diff] = r.json()["differences"]
        assert (diff["key"], diff["amount_difference"]) == (win_tx, "0.01")


# -- the app's refusals --------------------------------------------------------------------------


async def test_the_app_refuses_bad_requests_with_typed_errors(api: Api) -> None:
    async with sandbox(api) as sb:
        sid = await sb.open("p1")
        spin_path = f"/sessions/{sid}/spin"
        cases: list[tuple[str, str, Any, int, str]] = [
            ("POST", spin_path, b"{not json", 400, "INVALID_REQUEST"),
            ("POST", spin_path, b"[" * 50_000 + b"]" * 50_000, 400, "INVALID_REQUEST"),
            ("POST", spin_path, b'["stake"]', 400, "INVALID_REQUEST"),
            ("POST", spin_path, {"stake": 1.0, "params": DICE}, 400, "AMOUNT_INVALID"),
            ("POST", spin_path, {"params": DICE}, 400, "AMOUNT_INVALID"),
            ("POST", spin_path, {"stake": "1,00", "params": DICE}, 400, "AMOUNT_INVALID"),
            ("POST", spin_path, {"stake": "-1.00", "params": DICE}, 400, "AMOUNT_INVALID"),
            ("POST", spin_path, {"stake": "0.00", "params": DICE}, 400, "AMOUNT_INVALID"),
            ("POST", spin_path, {"stake": "9" * 5000, "params": DICE}, 400, "AMOUNT_INVALID"),
            ("POST", spin_path, {"stake": "1.001", "params": DICE}, 400, "AMOUNT_PRECISION"),
            ("POST", spin_path, {"stake": "1.00", "game": "poker"}, 404, "GAME_NOT_FOUND"),
            ("POST", spin_path, {"stake": "1.00", "game": 7}, 400, "INVALID_REQUEST"),
            ("POST", spin_path, {"stake": "1.00", "params": {"target": 50}}, 400,
             "INVALID_REQUEST"),
            ("POST", spin_path, {"stake": "1.00", "params": {"target": "99.99",
                                                           "direction": "under"}}, 400,
             "PARAMS_INVALID"),
            ("POST", "/sessions/ss_nope/spin", {"stake": "1.00", "params": DICE}, 404,
             "SESSION_NOT_FOUND"),
            ("POST", "/sessions/ss_nope/seed", {}, 404, "SESSION_NOT_FOUND"),
            ("POST", f"/sessions/{sid}/seed", {"client_seed": 5}, 400, "SEED_INVALID"),
            ("POST", f"/sessions/{sid}/seed", {"client_seed": "x" * 65}, 400, "SEED_INVALID"),
            ("GET", "/rounds/nope", None, 404, "ROUND_NOT_FOUND"),
            ("GET", "/feed/2026-13-01", None, 400, "INVALID_REQUEST"),
            ("POST", "/verify", b"nope", 400, "INVALID_REQUEST"),
            ("GET", "/launch", None, 400, "LAUNCH_INVALID"),
            ("PUT", "/chaos/bet", {"nope": 1}, 400, "CHAOS_INVALID"),
            ("PUT", "/chaos/bet", {"timeout": 2}, 400, "CHAOS_INVALID"),
            ("PUT", "/chaos/bet", {"error_status": 404}, 400, "CHAOS_INVALID"),
            ("PUT", "/chaos/bet", b"[]", 400, "INVALID_REQUEST"),
            ("PUT", "/chaos/spin", {"timeout": 1}, 404, "CHAOS_INVALID"),
        ]  # fmt: skip
        for method, path, body, status, code in cases:
            content = body if isinstance(body, bytes) or body is None else json.dumps(body)
            r = await sb.http.request(method, path, content=content)
            assert r.headers["content-type"] == "application/json", (path, body)
            error_of(r, status, code)
        assert sb.provider.rounds == {}  # no refusal played a round
        assert sb.chaos.switches == {}  # no refused switch was set
        huge = {"evidence": {"scheme": fair.SCHEME, "server_seed_hash": "a" * 64,
                             "server_seed": "b" * 64, "client_seed": "c", "nonce": 0,
                             "game": "dice", "params": DICE, "stake": "1" * 5000,
                             "payout": "0", "result": {}}}  # fmt: skip
        r = await sb.http.post("/verify", json=huge)
        assert r.status_code < 500
        assert r.status_code == 400 or r.json()["fair"] is False
        assert (await sb.http.post("/verify", json={"evidence": []})).json()["fair"] is False
        assert await sb.cash("p1") == START


async def test_chaos_switches_are_set_merged_and_cleared_over_http(api: Api) -> None:
    async with sandbox(api) as sb:
        assert (await sb.http.put("/chaos/bet", json={"timeout": 0.5})).status_code == 200
        r = await sb.http.put("/chaos/bet", json={"burst": 2})
        assert r.json()["switches"]["bet"] == asdict(Switch(timeout=0.5, burst=2))
        assert r.json()["burst_left"] == {"bet": 2}
        await sb.http.put("/chaos/webhook", json={"drop": 1})
        assert sorted((await sb.http.get("/chaos")).json()["switches"]) == ["bet", "webhook"]
        r = await sb.http.delete("/chaos/bet")
        assert sorted(r.json()["switches"]) == ["webhook"]
        r = await sb.http.delete("/chaos")
        assert r.json()["switches"] == {}
        page = await sb.http.get("/")
        assert page.status_code == 200
        assert "Sandbox provider" in page.text


@pytest.mark.parametrize("stake", ["0.01", "12.34"])
async def test_stakes_reach_the_wallet_exactly(api: Api, stake: str) -> None:
    async with sandbox(api) as sb:
        sid = await sb.open("p1")
        sb.fix_seed("p1", LOSES)
        played = await spin(sb, sid, stake)
        assert played["stake"] == stake
        assert await sb.cash("p1") == START - minor(stake)
