"""Simulated players (croupier.sandbox.players) on the sandbox provider and the real wallet,
in process: the sandbox's app built with a ``Simulation``, the players launching through the
operator API and spinning through the sandbox's app over httpx's ASGI transport (no socket).

A run of three players: every round counted and settled, seeds rotated every five settled
rounds and the rounds played on a revealed seed verifiable; pausing and resuming the players
over HTTP; a player out of money depositing again; an operator API that refuses."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest

from croupier.domain import fairness as fair
from croupier.sandbox.app import create_app
from croupier.sandbox.operator import OperatorClient, OperatorError
from croupier.sandbox.players import Plan, Simulation, _code_of
from tests.e2e.conftest import Api
from tests.e2e.sandbox_fixtures import SANDBOX_URL, WALLET_URL, Sandbox, sandbox, wallet_transport

PLAN = Plan(players=3, rounds=12, cadence=0, seed=1, rotate_every=5)
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@contextlib.asynccontextmanager
async def simulated(
    api: Api,
    plan: Plan,
    *,
    operator: Callable[[Sandbox], OperatorClient] | None = None,
    seed: int = 7,
) -> AsyncIterator[tuple[Sandbox, Simulation, httpx.AsyncClient]]:
    """The sandbox (its catalogue put), a ``Simulation`` of ``plan`` on it and an HTTP client
    on the sandbox's app built with that simulation (the one the players spin through).
    ``seed`` also names the sandbox's transactions: another sandbox on the same wallet needs
    another."""
    async with sandbox(api, seed=seed) as box:
        await box.catalogue()
        sim = Simulation(
            plan, operator=operator(box) if operator else box.operator, provider=api.provider,
            sandbox=box.http,  # replaced below: the app needs the simulation first
        )  # fmt: skip
        app = create_app(box.provider, sim)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=SANDBOX_URL
        ) as http:
            sim.sandbox = http
            try:
                yield box, sim, http
            finally:
                sim.stop.set()
                if operator is not None:
                    await sim.operator.aclose()


async def until(check: Callable[[], bool], seconds: float = 2.0) -> None:
    """Wait (yielding to the event loop) until ``check()`` holds, at most ``seconds``."""
    async with asyncio.timeout(seconds):
        while not check():  # noqa: ASYNC110 - a count of rounds, no event to wait on
            await asyncio.sleep(0.01)


# -- a run ------------------------------------------------------------------------------------


async def test_three_players_play_every_round_and_their_rotated_rounds_verify(api: Api) -> None:
    ticks: list[None] = []
    async with simulated(api, PLAN) as (box, sim, _):
        sim.on_round = lambda: ticks.append(None)
        summary = (await asyncio.wait_for(sim.run(), 10)).to_dict()

        assert summary["rounds"] == 36 == len(ticks) == len(box.provider.rounds)
        assert summary["by_status"] == {"settled": 36}
        assert summary["errors"] == {}
        assert summary["launches"] >= 3  # one per player and game played at least
        assert summary["deposits"] == 0
        # Each player rotates after its 5th and 10th rounds (all settled): 2 each.
        assert summary["rotations"] == 3 * 2
        assert summary["latency_ms"]["p50"] is not None
        assert summary["latency_ms"]["p99"] >= summary["latency_ms"]["p50"]

        rounds = list(box.provider.rounds.values())
        players = {r.player_id for r in rounds}
        assert len(players) == 3
        assert len(box.provider.revealed) == 6
        fair_rounds, waiting = 0, 0
        for r in rounds:
            document = box.provider.round_out(r)
            verdict = fair.verify_document(document)
            checks = {name: ok for name, ok, _ in verdict.checks}
            if r.fairness["server_seed_hash"] in box.provider.revealed:
                assert "server_seed" in document["fairness"]
                assert verdict.fair, verdict.checks
                fair_rounds += 1
            else:  # played on the seed in use: not verifiable yet
                assert not verdict.fair
                assert checks["seed revealed"] is False
                waiting += 1
        # Rounds 1-10 of each player were played on a seed since revealed; 11 and 12 not.
        assert (fair_rounds, waiting) == (3 * 10, 3 * 2)
        for player in players:
            assert box.provider.seeds[player].nonce == 2  # the seed in use: rounds 11 and 12
            assert await box.cash(player) >= 0


@sqlite_only
async def test_a_second_run_finds_its_players_and_funds_them_once(api: Api) -> None:
    plan = replace(PLAN, players=2, rounds=2, rotate_every=None)
    async with simulated(api, plan) as (box, sim, _):
        await asyncio.wait_for(sim.run(), 5)
        rounds = list(box.provider.rounds.values())
    async with simulated(api, plan, seed=8) as (box, sim, _):  # a restarted sandbox
        summary = await asyncio.wait_for(sim.run(), 5)
        rounds += box.provider.rounds.values()
        assert (summary.rounds, summary.errors, summary.rotations) == (4, {}, 0)
        players = {r.player_id for r in rounds}
        assert len(players) == 2  # found by their references, not made anew
        for player in players:  # funded once: 100.00, then what its 4 rounds moved
            mine = [r for r in rounds if r.player_id == player]
            assert len(mine) == 4
            assert all(r.status == "settled" for r in mine)
            moved = sum(r.payout - r.stake for r in mine)
            assert await box.cash(player) == 10_000 + moved


# -- pause and resume -------------------------------------------------------------------------


@sqlite_only
async def test_players_pause_and_resume_over_http(api: Api) -> None:
    async with simulated(api, replace(PLAN, rounds=None)) as (box, sim, http):
        running = asyncio.create_task(sim.run())
        try:
            await until(lambda: len(box.provider.rounds) >= 6)

            paused = await http.post("/players/pause")
            assert paused.status_code == 200, paused.text
            body = paused.json()
            assert (body["paused"], body["in_flight"]) == (True, 0)
            assert body["rounds"] >= 6
            still = len(box.provider.rounds)
            counted = sim.summary.rounds
            for _ in range(6):  # the players would have spun many times by now
                await asyncio.sleep(0.05)
            assert len(box.provider.rounds) == still
            assert sim.summary.rounds == counted
            assert not running.done()

            shown = await http.get("/players")
            assert shown.status_code == 200
            assert shown.json()["paused"] is True
            assert shown.json()["rounds"] == counted

            resumed = await http.post("/players/resume")
            assert resumed.status_code == 200
            assert resumed.json()["paused"] is False
            await until(lambda: len(box.provider.rounds) > still + 3)
            assert sim.summary.rounds > counted

            unknown = await http.post("/players/other")
            assert unknown.status_code == 404
            assert unknown.json()["error"]["code"] == "ROUTE_NOT_FOUND"
        finally:
            sim.stop.set()
            summary = await asyncio.wait_for(running, 5)
        assert summary.rounds == sim.summary.rounds >= still + 3
        assert summary.errors == {}


@sqlite_only
async def test_a_stop_while_paused_ends_the_run(api: Api) -> None:
    async with simulated(api, replace(PLAN, rounds=None)) as (box, sim, http):
        running = asyncio.create_task(sim.run())
        await until(lambda: len(box.provider.rounds) >= 3)
        assert (await http.post("/players/pause")).json()["paused"] is True
        sim.stop.set()
        summary = await asyncio.wait_for(running, 2)
        assert summary.rounds == len(box.provider.rounds)


@sqlite_only
async def test_a_sandbox_without_players_answers_no_players(api: Api) -> None:
    async with sandbox(api) as box:  # box.http: the app built without a simulation
        for method, path in (("GET", "/players"), ("POST", "/players/pause"),
                             ("POST", "/players/resume")):  # fmt: skip
            r = await box.http.request(method, path)
            assert r.status_code == 404, (path, r.text)
            assert r.json()["error"]["code"] == "NO_PLAYERS"


# -- refusals ---------------------------------------------------------------------------------


@sqlite_only
async def test_a_player_out_of_money_deposits_again(api: Api) -> None:
    plan = replace(PLAN, players=2, rounds=4, deposit="0.50", stakes=("1.00",))
    async with simulated(api, plan) as (box, sim, _):
        summary = (await asyncio.wait_for(sim.run(), 10)).to_dict()
    assert summary["rounds"] == 8
    assert summary["deposits"] >= 2  # each player's first round is refused
    assert summary["errors"]["INSUFFICIENT_FUNDS"] == summary["deposits"]
    assert summary["by_status"]["refused"] == summary["errors"]["INSUFFICIENT_FUNDS"]
    assert set(summary["by_status"]) <= {"refused", "settled"}
    for player in {r.player_id for r in box.provider.rounds.values()}:
        assert await box.cash(player) >= 0


@sqlite_only
async def test_an_operator_key_without_the_launch_scope_counts_every_round_as_an_error(
    api: Api,
) -> None:
    assert api.operator_keys is not None
    _, token = await api.operator_keys.add(["players:write", "cashier"], "no launch")

    def no_launch(_: Sandbox) -> OperatorClient:
        return OperatorClient(WALLET_URL, token, transport=wallet_transport(api))

    async with simulated(api, replace(PLAN, rounds=2), operator=no_launch) as (box, sim, _):
        summary = (await asyncio.wait_for(sim.run(), 5)).to_dict()
    assert summary["rounds"] == 3 * 2
    assert summary["by_status"] == {"error": 6}
    assert summary["errors"] == {"SCOPE_NOT_GRANTED": 6}
    assert (summary["launches"], summary["rotations"]) == (0, 0)
    assert box.provider.rounds == {}


@sqlite_only
async def test_an_operator_key_that_is_refused_ends_the_run_with_the_refusal(api: Api) -> None:
    """The players are created before any round: a key the operator API refuses outright
    stops the run there, with the API's answer (`croupier sandbox players` says "the
    operator API refused"); no round is played."""

    def wrong(_: Sandbox) -> OperatorClient:
        return OperatorClient(WALLET_URL, "cok_000000000000." + "x" * 43,
                              transport=wallet_transport(api))  # fmt: skip

    async with simulated(api, replace(PLAN, rounds=2), operator=wrong) as (box, sim, _):
        with pytest.raises(OperatorError) as raised:
            await asyncio.wait_for(sim.run(), 5)
        assert raised.value.status == 401
        assert _code_of(raised.value) == "OPERATOR_KEY_INVALID"
        assert sim.summary.rounds == 0
        assert box.provider.rounds == {}


def test_code_of_names_every_failure() -> None:
    request = httpx.Request("GET", "http://sandbox.test/launch")

    def refused(status: int, body: Any) -> OperatorError:
        answer = httpx.Response(status, json=body, request=request)
        return OperatorError("POST", "/launch", answer)

    key = {"status": "ERROR", "error": {"code": "OPERATOR_KEY_INVALID", "message": "no"}}
    assert _code_of(refused(401, key)) == "OPERATOR_KEY_INVALID"
    assert _code_of(refused(502, {"unexpected": True})) == "OPERATOR_HTTP_502"
    assert _code_of(refused(500, ["not", "an", "object"])) == "OPERATOR_HTTP_500"
    status = httpx.HTTPStatusError("no", request=request, response=httpx.Response(404))
    assert _code_of(status) == "HTTP_404"
    assert _code_of(httpx.ConnectError("refused", request=request)) == "UNREACHABLE"
    assert _code_of(KeyError("session_id")) == "BAD_ANSWER"
