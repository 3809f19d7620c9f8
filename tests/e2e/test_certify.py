"""The go-live certification run (croupier.sandbox.certify) against Croupier itself: the whole
run passes on SQLite and on PostgreSQL; wallets broken on purpose (a proxy in front of the
real app) fail the test that covers what they break, and only the tests that depend on it;
`croupier certify` end to end against a `croupier run` process.

Everything in process goes through HTTP on the ASGI app (no socket), signed with a key of
provider ``certify``; signature timestamps come from the tests' FakeClock, as the server's.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from croupier.adapters.db.migrate import upgrade
from croupier.adapters.db.recon import SqlReconStore
from croupier.adapters.providers.native import NativeV1
from croupier.adapters.recon_feeds import mapping_from_dict
from croupier.api.app import create_app
from croupier.api.metrics import Metrics
from croupier.api.operator import OperatorApi
from croupier.api.recon import ReconApi
from croupier.bootstrap import row_spill
from croupier.cli_sandbox import FEED_MAPPING
from croupier.domain import signing
from croupier.sandbox.certify import TESTS, Report, Result, Target, certify
from croupier.sandbox.client import Credentials
from croupier.services.gateway_ports import ProviderKey
from croupier.services.ports import WalletStore
from croupier.services.recon import ReconService
from tests.conftest import assert_ledger_ok
from tests.e2e.conftest import Api

PROVIDER = "certify"
BASE = "http://croupier"
HOP_HEADERS = ("content-length", "content-encoding", "transfer-encoding")


@dataclass
class Croupier:
    """The in-process app (as the ``api`` fixture wires it) and a signing key of ``certify``."""

    app: ASGIApp
    api: Api
    key: ProviderKey

    def target(self, wallet: ASGIApp | None = None) -> Target:
        """The run's target: the wallet calls through ``wallet`` (default: Croupier itself),
        the operator API calls straight to Croupier."""
        return Target(
            wallet_url=BASE, credentials=Credentials(PROVIDER, self.key.key_id, self.key.secret),
            operator_url=BASE, operator_key=self.api.operator_token,
            wallet_transport=httpx.ASGITransport(app=wallet or self.app),
            operator_transport=httpx.ASGITransport(app=self.app),
            clock=lambda: self.api.clock().timestamp(),
        )  # fmt: skip


@pytest.fixture
async def croupier(api: Api, store: WalletStore) -> Croupier:
    """The app of the ``api`` fixture's services, but with a feed limit of the operator's
    reconciliation API (1 MiB) that the run's feed fits in (the fixture's is 4 KiB), and the
    sandbox feed's mapping stored for ``certify`` (what ``croupier certify`` provisions)."""
    assert api.operator_keys is not None
    assert api.players is not None
    assert api.catalogue is not None
    assert api.launcher is not None
    assert api.protection is not None
    assert api.stuck is not None
    assert api.alerts is not None
    metrics = Metrics()
    native = NativeV1(
        wallet=api.wallet, sessions=api.sessions, keys=api.keys, nonces=api.gateway_store,
        currencies=api.wallet.currencies, window_seconds=30,
        wall_clock=lambda: api.clock().timestamp(),
    )  # fmt: skip
    recon = ReconService(
        SqlReconStore(store), api.wallet, spill=row_spill, clock=api.clock,  # type: ignore[arg-type]
        alerts=api.alerts,
    )  # fmt: skip
    operator = OperatorApi(
        keys=api.operator_keys, players=api.players, catalogue=api.catalogue, wallet=api.wallet,
        launcher=api.launcher, protection=api.protection, metrics=metrics,
        max_body_bytes=65536, stuck=api.stuck, recon=ReconApi(recon, max_feed_bytes=1 << 20),
    )  # fmt: skip
    app = create_app(
        [native], metrics=metrics, access_log=False, known_provider=api.keys.known,
        routes=operator.routes(), on_refusal=api.alerts.refused,
    )  # fmt: skip
    key = await api.keys.add(PROVIDER)
    await recon.store.set_mapping(PROVIDER, mapping_from_dict(FEED_MAPPING).to_dict(), api.clock())
    return Croupier(app, api, key)


def failures(report: Report) -> dict[str, str]:
    return {r.name: r.detail for r in report.results if not r.passed}


# -- the whole run -------------------------------------------------------------------------


async def test_the_whole_certification_passes_against_croupier(
    croupier: Croupier, database_url: str
) -> None:
    seen: list[Result] = []
    report = await certify(croupier.target(), repeat=3, on_result=seen.append)

    assert failures(report) == {}, json.dumps(report.to_dict(), indent=1)[:6000]
    assert report.passed
    assert [r.name for r in report.results] == list(TESTS)
    assert seen == report.results
    assert report.provider == PROVIDER
    for r in report.results:
        assert r.evidence, r.name
        assert r.detail, r.name
        assert r.seconds >= 0, r.name
    by_name = {r.name: r for r in report.results}
    assert by_name["reconciliation"].evidence["recon_differences"] == []
    assert "reconciliation of the feed found no difference" in by_name["reconciliation"].detail
    assert by_name["loss_limit"].evidence["refused"].get("LOSS_LIMIT_REACHED")
    assert by_name["concurrent_bets"].evidence["taken"] == 10

    out = json.loads(json.dumps(report.to_dict()))  # no default=: plain JSON throughout
    assert out["passed"] is True
    assert out["counts"] == {"pass": len(TESTS), "fail": 0}
    assert [t["verdict"] for t in out["tests"]] == ["pass"] * len(TESTS)
    page = report.to_html()
    assert "Certification PASSED" in page
    assert "FAIL" not in page
    for name in TESTS:
        assert f"<td>{name}</td>" in page
    assert_ledger_ok(database_url)


async def test_an_unknown_test_name_is_refused_before_anything_runs() -> None:
    target = Target(BASE, Credentials(PROVIDER, "k", "s" * 32), BASE, "op")
    with pytest.raises(ValueError, match="unknown test 'nope'"):
        await certify(target, only=["concurrency_same_bet", "nope"])


# -- broken wallets ------------------------------------------------------------------------


@dataclass
class Reply:
    """An answer the broken wallet makes up (signed) instead of asking Croupier."""

    status: int
    payload: dict[str, Any]


class BrokenWallet:
    """An ASGI proxy in front of the in-process Croupier: each signed native call goes to
    ``change``, which leaves it alone (forwarded untouched, answer untouched), rewrites its
    body (forwarded signed afresh, Croupier's answer re-signed for the original request), or
    answers it itself (signed). Unsigned or badly signed calls and the operator API pass
    straight through."""

    def __init__(self, croupier: Croupier) -> None:
        self.app = croupier.app
        self.key = croupier.key
        self.clock = croupier.api.clock
        self.currencies = croupier.api.wallet.currencies
        self.upstream = httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app),
                                          base_url=BASE)  # fmt: skip
        self.changed: dict[str, int] = {}

    async def change(self, call: str, body: dict[str, Any]) -> dict[str, Any] | Reply | None:
        """The call's body to forward instead, an answer of its own, or None: as it came."""
        raise NotImplementedError

    def now(self) -> int:
        return int(self.clock().timestamp())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/native/v1/"):
            await self.app(scope, receive, send)
            return
        raw, more = b"", True
        while more:
            message = await receive()
            raw += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        sent = {k: v for k, v in headers.items()
                if k == "content-type" or k.startswith("x-croupier-")}  # fmt: skip
        nonce = headers.get(signing.NONCE_HEADER, "")
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError:
            parsed = None
        change = None
        if isinstance(parsed, dict) and self.signed(path, raw, headers):
            change = await self.change(path.rsplit("/", 1)[-1], parsed)
        if change is None:
            response = await self.upstream.post(path, content=raw, headers=sent)
            status, content = response.status_code, response.content
            out = {k: v for k, v in response.headers.items() if k not in HOP_HEADERS}
        else:
            self.changed[path] = self.changed.get(path, 0) + 1
            if isinstance(change, Reply):
                status, content = change.status, orjson.dumps(change.payload)
            else:
                body = orjson.dumps(change)
                resigned = signing.request_headers(
                    key_id=self.key.key_id, secret=self.key.secret, path=path, body=body,
                    timestamp=self.now(), nonce=secrets.token_urlsafe(18),
                )  # fmt: skip
                response = await self.upstream.post(
                    path, content=body, headers={"content-type": "application/json"} | resigned
                )
                status, content = response.status_code, response.content
            stamp = self.now()
            canonical = signing.canonical_response(status, path, stamp, nonce, content)
            out = {
                "content-type": "application/json",
                signing.TIMESTAMP_HEADER: str(stamp),
                signing.SIGNATURE_HEADER: signing.signature_header(self.key.secret, canonical),
            }
        out["content-length"] = str(len(content))
        await send({"type": "http.response.start", "status": status,
                    "headers": [(k.encode(), v.encode()) for k, v in out.items()]})  # fmt: skip
        await send({"type": "http.response.body", "body": content})

    def signed(self, path: str, raw: bytes, headers: dict[str, str]) -> bool:
        try:
            got = signing.parse_headers(headers)
        except Exception:  # noqa: BLE001 - any form error: not a call the proxy touches
            return False
        canonical = signing.canonical_request("POST", path, got.timestamp, got.nonce, raw)
        return got.key_id == self.key.key_id and signing.mac(self.key.secret, canonical) == got.mac


class DoubleDebit(BrokenWallet):
    """No idempotency on bets: a bet id it has seen before is sent on as a new bet (wins,
    rollbacks and round ends stay exactly-once)."""

    def __init__(self, croupier: Croupier) -> None:
        super().__init__(croupier)
        self.bets: set[str] = set()

    async def change(self, call: str, body: dict[str, Any]) -> dict[str, Any] | Reply | None:
        tx = body.get("tx_id")
        if call != "bet" or not isinstance(tx, str):
            return None
        if tx not in self.bets:
            self.bets.add(tx)
            return None
        return body | {"tx_id": f"{tx}-again"}


class RollbackOrder(BrokenWallet):
    """A rollback of a bet it has not seen is answered OK as a tombstone, but nothing is
    remembered: the bet that comes after it is taken."""

    def __init__(self, croupier: Croupier) -> None:
        super().__init__(croupier)
        self.bets: set[str] = set()

    async def change(self, call: str, body: dict[str, Any]) -> dict[str, Any] | Reply | None:
        if call == "bet" and isinstance(body.get("tx_id"), str):
            self.bets.add(body["tx_id"])
        if call != "rollback" or body.get("bet_tx_id") in self.bets:
            return None
        return Reply(200, {
            "status": "OK", "currency": body.get("currency"),
            "transaction": {"id": f"fake-{secrets.token_hex(3)}", "reference": body.get("tx_id"),
                            "kind": "rollback", "cash_amount": "0.00", "bonus_amount": "0.00",
                            "round_closed": False, "outcome": "tombstone", "replay": False},
        })  # fmt: skip


class Truncating(BrokenWallet):
    """No precision check: an amount finer than its currency is cut to the currency's
    decimals (1.005 EUR becomes 1.00) and taken."""

    async def change(self, call: str, body: dict[str, Any]) -> dict[str, Any] | Reply | None:
        amount, currency = body.get("amount"), body.get("currency")
        if call not in ("bet", "win") or not isinstance(amount, str):
            return None
        if not isinstance(currency, str) or currency not in self.currencies:
            return None
        exponent = self.currencies[currency].exponent
        digits = re.fullmatch(r"([0-9]+)\.([0-9]+)", amount)
        if digits is None or len(digits.group(2)) <= exponent:
            return None
        whole, fraction = digits.group(1), digits.group(2)[:exponent]
        return body | {"amount": f"{whole}.{fraction}" if exponent else whole}


@pytest.fixture
async def proxies(croupier: Croupier) -> AsyncIterator[list[BrokenWallet]]:
    made: list[BrokenWallet] = []
    yield made
    for proxy in made:
        await proxy.upstream.aclose()


async def run_broken(
    croupier: Croupier, proxies: list[BrokenWallet], kind: type[BrokenWallet], only: list[str]
) -> tuple[Report, BrokenWallet]:
    proxy = kind(croupier)
    proxies.append(proxy)
    report = await certify(croupier.target(proxy), only=only, repeat=2)
    assert [r.name for r in report.results] == [t for t in TESTS if t in only]
    assert not report.passed
    return report, proxy


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_wallet_that_debits_a_repeated_bet_again_fails_the_idempotency_tests(
    croupier: Croupier, proxies: list[BrokenWallet]
) -> None:
    only = ["concurrency_same_bet", "timeout_rollback_after", "duplicate_callbacks",
            "concurrent_bets"]  # fmt: skip
    report, proxy = await run_broken(croupier, proxies, DoubleDebit, only)
    failed = failures(report)
    assert set(failed) == {"concurrency_same_bet", "timeout_rollback_after"}, failed
    assert (
        "8 of 8 copies answered OK, 2 as new, 2 transaction ids" in failed["concurrency_same_bet"]
    )
    assert "after the lost bet, its rollback and the bet resent" in failed["timeout_rollback_after"]
    assert proxy.changed  # the double did its harm; the rest passed through it
    assert "FAILED" in report.to_html()
    assert report.to_dict()["counts"] == {"pass": 2, "fail": 2}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_wallet_that_forgets_a_rollback_before_its_bet_fails_that_test(
    croupier: Croupier, proxies: list[BrokenWallet]
) -> None:
    only = ["timeout_rollback_before", "timeout_rollback_after", "duplicate_callbacks"]
    report, _ = await run_broken(croupier, proxies, RollbackOrder, only)
    failed = failures(report)
    assert set(failed) == {"timeout_rollback_before"}, failed
    assert failed["timeout_rollback_before"] == "the bet that arrived after its rollback was taken"
    evidence = report.results[0].evidence
    assert evidence["rollback"]["outcome"] == "tombstone"
    assert evidence["rollback"]["signed"] is True  # the made-up answer verifies: a fair test
    assert evidence["late_bet"]["outcome"] == "applied"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_wallet_that_truncates_amounts_fails_the_precision_test(
    croupier: Croupier, proxies: list[BrokenWallet]
) -> None:
    only = ["concurrency_same_bet", "malformed_payloads", "currency_precision"]
    report, _ = await run_broken(croupier, proxies, Truncating, only)
    failed = failures(report)
    assert set(failed) == {"currency_precision"}, failed
    assert failed["currency_precision"] == "EUR 1.005 was not refused for its precision (None)"
    answers = report.results[-1].evidence["answers"]["EUR"]
    assert answers["too_fine"]["outcome"] == "applied"
    assert answers["too_fine"]["signed"] is True


# -- the CLI against a server process ------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    except httpx.TransportError:
        return False


def test_croupier_certify_passes_against_croupier_run(tmp_path: Path) -> None:
    """`croupier certify` with no keys given provisions its own in the database, runs every
    test against `croupier run --demo` (the demo `make run` starts: the sandbox and its
    players play beside the run) over a socket and writes both reports; exit 0; its operator
    key is revoked after. An unknown --only is a usage error (exit 2)."""
    url = f"sqlite:///{tmp_path}/croupier.db"
    upgrade(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROUPIER_")}
    env |= {"CROUPIER_DATABASE_URL": url, "CROUPIER_SANDBOX_PORT": str(_free_port()),
            "CROUPIER_DEMO_PLAYERS": "2"}  # fmt: skip
    port = _free_port()
    err = tmp_path / "server-err.txt"
    with (tmp_path / "server-out.txt").open("wb") as out, err.open("wb") as errors:
        server = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "croupier", "run", "--demo", "--port", str(port)],
            stdout=out, stderr=errors, env=env, cwd=tmp_path,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not _healthy(port):
            assert server.poll() is None, err.read_text()
            assert time.monotonic() < deadline, err.read_text()
            time.sleep(0.1)
        wallet = f"http://127.0.0.1:{port}"
        folder = tmp_path / "rep"
        run = subprocess.run(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "croupier", "certify", "--wallet-url", wallet,
             "--repeat", "2", "--out", str(folder)],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120, check=False,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        report = json.loads((folder / "report.json").read_text())
        assert report["passed"] is True, run.stdout
        assert [t["name"] for t in report["tests"]] == list(TESTS)
        assert report["counts"] == {"pass": len(TESTS), "fail": 0}
        assert report["wallet_url"] == wallet
        assert report["provider"] == "certify"
        assert "Certification PASSED" in (folder / "report.html").read_text()
        assert "reconciliation of the feed found no difference" in json.dumps(report)
        keys = subprocess.run(
            [sys.executable, "-m", "croupier", "operator-keys", "list", "--json"],
            capture_output=True, text=True, env=env, cwd=tmp_path, check=True,
        )  # fmt: skip
        certify_keys = [k for k in json.loads(keys.stdout) if k["label"] == "certify sandbox"]
        assert certify_keys, keys.stdout
        assert all(k["status"] == "revoked" for k in certify_keys), certify_keys

        bad = subprocess.run(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "croupier", "certify", "--wallet-url", wallet,
             "--only", "nonexistent", "--out", str(tmp_path / "bad")],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False,
        )  # fmt: skip
        assert bad.returncode == 2, bad.stdout + bad.stderr
        assert "unknown test nonexistent" in bad.stderr
        assert not (tmp_path / "bad").exists()
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=30)
    assert code == 0, err.read_text()


class GarbledBalance(BrokenWallet):
    """Balances written as no decimal amount ("1e3"): the run's own reading of them fails."""

    async def change(self, call: str, body: dict[str, Any]) -> dict[str, Any] | Reply | None:
        if call != "balance" or "player_id" not in body:
            return None
        return Reply(200, {"status": "OK", "currency": "EUR",
                           "balance": {"cash": "1e3", "bonus": "0.00"}})  # fmt: skip


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_test_that_raises_anything_is_a_fail_and_the_run_goes_on(
    croupier: Croupier, proxies: list[BrokenWallet]
) -> None:
    only = ["concurrency_same_bet", "malformed_payloads"]
    report, _ = await run_broken(croupier, proxies, GarbledBalance, only)
    failed = failures(report)
    assert set(failed) == set(only), failed
    for detail in failed.values():
        assert detail == "SandboxError: '1e3' is not a decimal amount"
