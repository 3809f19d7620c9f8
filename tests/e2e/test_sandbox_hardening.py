# ruff: noqa: F811, ARG002 - the fixtures of test_certify are imported by name
"""What a review of the sandbox and the certification run found, each kept as a test: a seed
rotated during a spin, a win refused by something that is not the wallet, a refunded bet in
the reconciliation test, a wallet refusing late wins after a relaunch, one refusing every win
through an outage, a round event paid less than its fairness evidence proves."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from croupier.sandbox import certify as certify_module
from croupier.sandbox.certify import certify
from croupier.sandbox.chaos import Chaos, ChaosTransport, Switch
from croupier.sandbox.journal import Journal
from tests.e2e.conftest import Api
from tests.e2e.sandbox_fixtures import sandbox, seed_where, wallet_transport
from tests.e2e.test_certify import (  # noqa: F401 - fixtures
    BrokenWallet,
    Croupier,
    Reply,
    croupier,
    failures,
    proxies,
)

DICE = {"target": "50.00", "direction": "under"}


# -- 1. a seed rotated while a spin is in flight: the journal keeps the revealed seed ---------


class Gate(httpx.AsyncBaseTransport):
    """Holds every ``bet`` until ``release`` is set (the wallet is slow to answer)."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/bet"):
            self.holding.set()
            await self.release.wait()
        return await self.inner.handle_async_request(request)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_rotation_during_a_spin_never_leaves_a_revealed_seed_in_use(
    api: Api, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    async with sandbox(api, seed=1, journal=Journal(state)) as box:
        session = await box.open("pl-rotate")
        gate = Gate(wallet_transport(api))
        box.provider.client.http._transport = ChaosTransport(gate, box.chaos)
        spinning = asyncio.create_task(box.provider.spin(session, stake="1.00", params=DICE))
        await gate.holding.wait()  # the bet is in flight
        rotating = asyncio.create_task(box.provider.rotate("pl-rotate"))
        await asyncio.sleep(0.01)  # the rotation waits for the round in flight
        assert not rotating.done()
        gate.release.set()
        await spinning
        revealed = (await rotating)["revealed"]["server_seed"]
        assert box.provider.seeds["pl-rotate"].server_seed != revealed  # in memory: fine
    async with sandbox(api, seed=2, journal=Journal(state)) as box:
        # After the restart the player's seed in use must not be one revealed to him.
        assert box.provider.seeds["pl-rotate"].server_seed != revealed


# -- 2. a win refused by something that is not the wallet is dropped, never resent ----------


class Unauthorized(httpx.AsyncBaseTransport):
    """The first ``win`` meets an unsigned, non-JSON 401 from something in front of the
    wallet (an auth proxy, a key rotated mid-round); everything else goes through."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.left = 1

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/win") and self.left:
            self.left -= 1
            return httpx.Response(401, text="unauthorized", request=request)
        return await self.inner.handle_async_request(request)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_win_refused_by_an_unsigned_401_is_resent_until_paid(api: Api) -> None:
    async with sandbox(api, seed=3) as box:
        session = await box.open("pl-owed")
        box.fix_seed("pl-owed", seed_where(pays=True))
        before = await box.cash("pl-owed")
        box.provider.client.http._transport = ChaosTransport(
            Unauthorized(wallet_transport(api)), box.chaos
        )
        r = await box.provider.spin(session, stake="1.00", params=DICE)
        assert r.payout > 0
        for _ in range(3):
            await box.provider.resend()
        assert await box.cash("pl-owed") == before - 100 + r.payout


# -- 3. certify: the reconciliation test's own sum miscounts a refunded bet ------------------


class AllBetAnswersLost(Chaos):
    """The reconciliation test's chaos, but every bet's answer is lost (the wallet took it)."""

    def set(self, endpoint: str, switch: Switch) -> None:
        if endpoint == "bet":
            switch = Switch(lost_answer=1.0)
        super().set(endpoint, switch)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_reconciliation_passes_a_correct_wallet_when_bets_are_refunded(
    croupier: Croupier, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(certify_module, "Chaos", AllBetAnswersLost)
    report = await certify(croupier.target(), only=["reconciliation"], repeat=1)
    assert failures(report) == {}


# -- 4. certify: tests that cannot fail for what they claim to check -------------------------


class RefusesWinsAfterRelaunch(BrokenWallet):
    """Breaks rule "wins settle after logout": once a player has launched a game again, the
    wins of their earlier rounds are refused (as if the old session had to be alive)."""

    def __init__(self, croupier: Croupier) -> None:
        super().__init__(croupier)
        self.launches: dict[str, int] = {}
        self.bets_at: dict[str, int] = {}
        self.inner_app = self.app

        async def watch(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope.get("path", "").endswith("/operator/v1/launch"):
                raw, more = b"", True
                while more:
                    message = await receive()
                    raw += message.get("body", b"")
                    more = message.get("more_body", False)
                player = json.loads(raw).get("player_id", "")
                self.launches[player] = self.launches.get(player, 0) + 1
                sent = False

                async def replay() -> dict[str, Any]:
                    nonlocal sent
                    if sent:
                        return {"type": "http.disconnect"}
                    sent = True
                    return {"type": "http.request", "body": raw, "more_body": False}

                await self.inner_app(scope, replay, send)
                return
            await self.inner_app(scope, receive, send)

        self.app = watch

    async def change(self, call: str, body: dict[str, Any]) -> dict[str, Any] | Reply | None:
        player = str(body.get("player_id", ""))
        if call == "bet":
            self.bets_at[str(body.get("round_id"))] = self.launches.get(player, 0)
        if call == "win" and self.launches.get(player, 0) > self.bets_at.get(
            str(body.get("round_id")), 0
        ):
            return Reply(409, {"status": "ERROR", "error": {
                "code": "SESSION_CLOSED", "message": "the session is closed",
                "retry_class": "final", "details": {}}})  # fmt: skip
        return None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_delayed_settlement_fails_a_wallet_that_refuses_wins_after_a_relaunch(
    croupier: Croupier, proxies: list[BrokenWallet]
) -> None:
    proxy = RefusesWinsAfterRelaunch(croupier)
    proxies.append(proxy)
    target = croupier.target(proxy)
    target.operator_transport = httpx.ASGITransport(app=proxy)  # it sees the launches
    report = await certify(target, only=["delayed_settlement"], repeat=1)
    assert proxy.launches  # the double saw every launch
    assert not report.passed, report.to_dict()


class RefusesWins(BrokenWallet):
    """Never pays a win: every win is refused with a final error."""

    async def change(self, call: str, body: dict[str, Any]) -> dict[str, Any] | Reply | None:
        if call != "win":
            return None
        return Reply(409, {"status": "ERROR", "error": {
            "code": "BET_ALREADY_SETTLED", "message": "no", "retry_class": "final",
            "details": {}}})  # fmt: skip


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_partial_outage_fails_a_wallet_that_refuses_every_win(
    croupier: Croupier, proxies: list[BrokenWallet]
) -> None:
    proxy = RefusesWins(croupier)
    proxies.append(proxy)
    report = await certify(croupier.target(proxy), only=["partial_outage"], repeat=2)
    assert proxy.changed
    assert not report.passed, report.to_dict()


# -- 5. verify-round: the money of a round event is never compared with its evidence ---------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_verify_round_refuses_an_event_that_paid_less_than_its_evidence(
    api: Api, tmp_path: Path
) -> None:
    from croupier.cli import app  # noqa: PLC0415

    async with sandbox(api, seed=5) as box:
        session = await box.open("pl-short")
        box.fix_seed("pl-short", seed_where(pays=True))
        r = await box.provider.spin(session, stake="1.00", params=DICE)
        assert r.payout > 0
        event = box.provider.round_event(r, "round")
        seed = (await box.provider.rotate("pl-short"))["revealed"]["server_seed"]
    event["win"]["amount"] = "0.01"  # the player was paid a cent; the evidence says more
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    result = CliRunner().invoke(app, ["verify-round", str(path), "--server-seed", seed, "--json"])
    assert result.exit_code == 1, result.output
