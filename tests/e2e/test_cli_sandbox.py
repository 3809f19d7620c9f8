"""`croupier sandbox ...` and `croupier verify-round` as a user runs them: `sandbox setup` on
a migrated SQLite file (the provider's key, webhook secret, a narrow operator key and the feed
mapping, a provider's own mapping kept); every command that talks to a sandbox with nothing
listening (exit 1, one message naming the URL, no traceback); `verify-round` on files fair,
not yet verifiable, tampered, missing and not JSON; and `sandbox chaos`, `sandbox pause` and
`verify-round --sandbox-url` against a sandbox served on a real socket."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner, Result

from croupier.adapters.recon_feeds import load_mapping, mapping_from_dict
from croupier.bootstrap import gateway
from croupier.cli import app
from croupier.cli_sandbox import FEED_MAPPING, SANDBOX_SCOPES
from croupier.config import Settings
from croupier.domain import fairness as fair
from croupier.domain.errors import OperatorKeyInvalid, ScopeNotGranted
from croupier.sandbox.app import create_app
from croupier.sandbox.client import Credentials, WalletClient
from croupier.sandbox.provider import Provider

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
ACME_MAPPING = ROOT / "examples" / "recon" / "acme-mapping.toml"
NAMES = ("KEY_ID", "SECRET", "WEBHOOK_SECRET", "OPERATOR_KEY")
DICE = {"target": "49.50", "direction": "under"}
SEED = "ab" * 32


@pytest.fixture
def url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sqlite_template: Path) -> str:
    """A SQLite file migrated to head (a copy of the session's template)."""
    shutil.copy(sqlite_template, tmp_path / "croupier.db")
    db = f"sqlite:///{tmp_path}/croupier.db"
    monkeypatch.setenv("CROUPIER_DATABASE_URL", db)
    for name in NAMES:
        monkeypatch.delenv(f"CROUPIER_SANDBOX_{name}", raising=False)
    return db


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(app, list(args), env=env)


def ok(*args: str) -> str:
    result = invoke(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def failed(result: Result) -> str:
    """The one message of a command that exited 1 on purpose (not a crash), on one line."""
    assert result.exit_code == 1, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception  # typer.Exit, no crash
    assert "Traceback" not in result.output
    return " ".join(result.output.split())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def exports(stdout: str) -> dict[str, str]:
    lines = stdout.splitlines()
    assert len(lines) == 4, stdout
    out: dict[str, str] = {}
    for line in lines:
        assert line.startswith("export CROUPIER_SANDBOX_"), line
        name, _, value = line.removeprefix("export CROUPIER_SANDBOX_").partition("=")
        assert value, line
        out[name] = value
    assert tuple(out) == NAMES
    return out


async def _stored(db: str, provider: str, operator_keys: list[str]) -> dict[str, Any]:
    """What the database keeps for ``provider``: its primary key and secret, its recon
    mapping, and the scopes each of ``operator_keys`` is let through with."""
    async with gateway(Settings(database_url=db)) as gw:
        key_id, secret = await gw.keys.primary_secret(provider)
        granted: list[dict[str, bool]] = []
        for token in operator_keys:
            scopes: dict[str, bool] = {}
            for scope in ("players:write", "cashier", "launch", "catalogue:write",
                          "protection", "recon:write", "history:read"):  # fmt: skip
                try:
                    await gw.operator_keys.authenticate(f"Bearer {token}", scope)
                    scopes[scope] = True
                except ScopeNotGranted:
                    scopes[scope] = False
            granted.append(scopes)
        return {
            "key": (key_id, secret), "mapping": await gw.recon.store.mapping(provider),
            "granted": granted, "webhook": await gw.inbox.store.webhook_secrets(provider),
        }  # fmt: skip


def stored(db: str, provider: str, operator_keys: list[str] | None = None) -> dict[str, Any]:
    return asyncio.run(_stored(db, provider, operator_keys or []))


# -- sandbox setup ------------------------------------------------------------------------------


def test_setup_prints_the_exports_and_reuses_all_but_the_operator_key(url: str) -> None:
    first = exports(ok("sandbox", "setup", "--provider", "p1"))
    second = exports(ok("sandbox", "setup", "--provider", "p1"))
    for name in ("KEY_ID", "SECRET", "WEBHOOK_SECRET"):
        assert first[name] == second[name], name
    assert first["OPERATOR_KEY"] != second["OPERATOR_KEY"]
    assert first["WEBHOOK_SECRET"].startswith("whsec_")
    assert all(second[n].startswith("cok_") for n in ("OPERATOR_KEY",))

    keys = json.loads(ok("operator-keys", "list", "--json"))
    mine = [k for k in keys if k["label"] == "p1 sandbox"]
    assert len(mine) == 2
    for key in mine:
        assert key["scopes"].split() == sorted(SANDBOX_SCOPES)
        assert set(key["scopes"].split()) == {"players:write", "cashier", "launch",
                                              "catalogue:write"}  # fmt: skip
        assert key["status"] == "active"
    ids = {k["key_id"] for k in mine}
    assert {first["OPERATOR_KEY"][4:16], second["OPERATOR_KEY"][4:16]} == ids

    db = stored(url, "p1", [first["OPERATOR_KEY"], second["OPERATOR_KEY"]])
    assert db["key"] == (first["KEY_ID"], first["SECRET"])
    assert db["webhook"] == [first["WEBHOOK_SECRET"]]
    assert db["mapping"] == mapping_from_dict(FEED_MAPPING).to_dict()
    for granted in db["granted"]:  # both keys work, for what the players need only
        assert {s for s, yes in granted.items() if yes} == set(SANDBOX_SCOPES)


def test_setup_keeps_a_providers_own_mapping(url: str) -> None:
    ok("recon", "mapping-set", "p2", str(ACME_MAPPING))
    own = load_mapping(ACME_MAPPING).to_dict()
    assert own != mapping_from_dict(FEED_MAPPING).to_dict()  # acme's has a JACKPOT kind
    exports(ok("sandbox", "setup", "--provider", "p2"))
    assert stored(url, "p2")["mapping"] == own


def test_a_revoked_setup_key_is_refused(url: str) -> None:
    made = exports(ok("sandbox", "setup", "--provider", "p3"))
    ok("operator-keys", "revoke", made["OPERATOR_KEY"][4:16])
    with pytest.raises(OperatorKeyInvalid):
        stored(url, "p3", [made["OPERATOR_KEY"]])


# -- nothing listening --------------------------------------------------------------------------


@pytest.fixture
def nowhere() -> str:
    return f"http://127.0.0.1:{free_port()}"


def test_every_command_names_a_sandbox_that_does_not_answer(nowhere: str, tmp_path: Path) -> None:
    round_file = tmp_path / "round.json"
    round_file.write_text(json.dumps(fair_round(revealed=False)), "utf-8")
    wallet = f"http://127.0.0.1:{free_port()}"
    commands: list[tuple[list[str], dict[str, str] | None]] = [
        (["sandbox", "chaos", "--url", nowhere], None),
        (["sandbox", "chaos", "bet", "--set", "reorder=0.5", "--url", nowhere], None),
        (["sandbox", "pause", "--url", nowhere], None),
        (["sandbox", "resume", "--url", nowhere], None),
        (["sandbox", "players", "--url", nowhere, "--wallet-url", wallet, "--rounds", "1"],
         {"CROUPIER_SANDBOX_OPERATOR_KEY": "x"}),
        (["verify-round", str(round_file), "--sandbox-url", nowhere], None),
    ]  # fmt: skip
    for args, env in commands:
        message = failed(invoke(*args, env=env))
        assert "did not answer at" in message, (args, message)
        assert nowhere in message, (args, message)


def test_a_sandbox_that_does_not_answer_is_one_line_on_stderr(nowhere: str) -> None:
    """The real process: no traceback, one line (on a terminal wide enough for it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROUPIER_")}
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "croupier", "sandbox", "chaos", "--url", nowhere],
        env=env | {"COLUMNS": "200"}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"the sandbox did not answer at {nowhere}:")


def test_players_without_an_operator_key_is_a_usage_error(url: str, nowhere: str) -> None:
    result = invoke("sandbox", "players", "--url", nowhere)
    assert result.exit_code == 2, result.output
    assert "missing CROUPIER_SANDBOX_OPERATOR_KEY" in " ".join(result.output.split())


def test_chaos_set_without_an_endpoint_or_with_no_value_is_a_usage_error(nowhere: str) -> None:
    assert invoke("sandbox", "chaos", "--set", "reorder=0.5", "--url", nowhere).exit_code == 2
    assert invoke("sandbox", "chaos", "bet", "--set", "reorder", "--url", nowhere).exit_code == 2


# -- verify-round -------------------------------------------------------------------------------


def fair_round(*, revealed: bool = True, payout: str | None = None) -> dict[str, Any]:
    """A round of dice as the sandbox answers it (``fairness``, stake and payout), its server
    seed in the evidence if ``revealed``."""
    outcome = fair.play("dice", server_seed=SEED, client_seed="cli-tests", nonce=3, stake=100,
                        params=DICE)  # fmt: skip
    evidence = fair.evidence(
        outcome, server_seed_hash=fair.commitment(SEED), client_seed="cli-tests", nonce=3,
        server_seed=SEED if revealed else None, exponent=2,
    )  # fmt: skip
    if payout is not None:
        evidence["payout"] = payout
    return {"id": "r-1", "game": "dice", "stake": evidence["stake"],
            "payout": evidence["payout"], "fairness": evidence}  # fmt: skip


def write(tmp_path: Path, document: Any, name: str = "round.json") -> str:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document), "utf-8")
    return str(path)


def test_verify_round_says_fair_of_a_fair_round(tmp_path: Path) -> None:
    out = ok("verify-round", write(tmp_path, fair_round()))
    assert "fair" in out
    assert "NOT fair" not in out
    assert "not verifiable" not in out
    verdict = json.loads(ok("verify-round", write(tmp_path, fair_round()), "--json"))
    assert verdict["fair"] is True
    assert {c["check"] for c in verdict["checks"]} >= {"commitment", "result", "payout", "money"}
    assert all(c["passed"] for c in verdict["checks"])
    assert verdict["recomputed"]["game"] == "dice"


def test_verify_round_of_the_bare_evidence_or_with_the_seed_given(tmp_path: Path) -> None:
    evidence = fair_round()["fairness"]
    assert json.loads(ok("verify-round", write(tmp_path, evidence), "--json"))["fair"] is True
    hidden = write(tmp_path, fair_round(revealed=False))
    assert json.loads(ok("verify-round", hidden, "--server-seed", SEED, "--json"))["fair"]


def test_verify_round_without_the_seed_is_not_verifiable_yet(tmp_path: Path) -> None:
    path = write(tmp_path, fair_round(revealed=False))
    result = invoke("verify-round", path)
    assert result.exit_code == 1, result.output
    assert "not verifiable yet" in result.stdout
    result = invoke("verify-round", path, "--json")
    assert result.exit_code == 1
    verdict = json.loads(result.stdout)
    assert verdict["fair"] is False
    waiting = {"check": "seed revealed", "passed": False,
               "detail": "no server seed: rotate the seed to reveal it"}  # fmt: skip
    assert waiting in verdict["checks"]


def test_verify_round_says_not_fair_of_a_tampered_round(tmp_path: Path) -> None:
    honest = fair_round()
    tampered = fair_round(payout="1000.00" if honest["payout"] == "0.00" else "0.00")
    result = invoke("verify-round", write(tmp_path, tampered))
    assert result.exit_code == 1, result.output
    assert "NOT fair" in result.stdout
    unrevealed = write(tmp_path, fair_round(revealed=False), "unrevealed.json")
    wrong_seed = invoke("verify-round", unrevealed, "--server-seed", "cd" * 32)
    assert wrong_seed.exit_code == 1
    assert "NOT fair" in wrong_seed.stdout  # sha256 of the seed given is not the commitment


@pytest.mark.parametrize("case", ["malformed revealed seed", "contradicted revealed seed"])
def test_verify_round_of_a_bad_revealed_seed_is_not_fair(tmp_path: Path, case: str) -> None:
    document = fair_round()
    args: list[str] = []
    if case == "malformed revealed seed":  # the provider "revealed" something not a seed
        document["fairness"]["server_seed"] = "not-a-server-seed"
    else:
        args = ["--server-seed", "cd" * 32]
    result = invoke("verify-round", write(tmp_path, document), *args)
    assert result.exit_code == 1, result.output
    assert "not verifiable yet" not in result.stdout
    assert "NOT fair" in result.stdout


def test_verify_round_reads_stdin(tmp_path: Path) -> None:
    result = runner.invoke(app, ["verify-round", "-", "--json"], input=json.dumps(fair_round()))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["fair"] is True


@pytest.mark.parametrize(
    ("content", "says"),
    [("not json {", "not JSON"), ("", "not JSON"), ("[1, 2]", "NOT fair"), ("{}", "NOT fair")],
)
def test_verify_round_of_a_file_that_is_not_a_round(
    tmp_path: Path, content: str, says: str
) -> None:
    assert says in failed(invoke("verify-round", write(tmp_path, content)))


def test_verify_round_of_a_missing_or_unreadable_file(tmp_path: Path) -> None:
    assert "cannot read" in failed(invoke("verify-round", str(tmp_path / "none.json")))
    assert "cannot read" in failed(invoke("verify-round", str(tmp_path)))  # a directory
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert "cannot read" in failed(invoke("verify-round", str(binary)))


# -- a running sandbox --------------------------------------------------------------------------


@pytest.fixture
def running() -> Iterator[str]:
    """The sandbox's app (no simulated players; its wallet nowhere) served on a free port."""
    port = free_port()
    client = WalletClient(f"http://127.0.0.1:{free_port()}", Credentials("p1", "k1", "s" * 32))
    server = uvicorn.Server(uvicorn.Config(
        create_app(Provider(client, prefix="cli")), host="127.0.0.1", port=port,
        lifespan="off", log_config=None, access_log=False,
    ))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "the sandbox did not start"
        assert time.monotonic() < deadline, "the sandbox did not start in time"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_chaos_switches_of_a_running_sandbox(running: str) -> None:
    assert json.loads(ok("sandbox", "chaos", "--url", running))["switches"] == {}
    flipped = json.loads(ok("sandbox", "chaos", "bet", "--set", "reorder=0.5",
                            "--set", "latency_ms=5", "--url", running))  # fmt: skip
    assert flipped["switches"]["bet"]["reorder"] == 0.5
    assert flipped["switches"]["bet"]["latency_ms"] == 5
    shown = json.loads(ok("sandbox", "chaos", "--url", running))
    assert shown["switches"]["bet"]["reorder"] == 0.5
    bad = failed(invoke("sandbox", "chaos", "win", "--set", "reorder=0.5", "--url", running))
    assert "CHAOS_INVALID" in bad
    assert "CHAOS_INVALID" in failed(
        invoke("sandbox", "chaos", "bet", "--set", "reorder=2", "--url", running)
    )
    unknown = invoke("sandbox", "chaos", "nothing", "--clear", "--url", running)
    assert unknown.exit_code == 2  # refused before asking the sandbox
    assert "unknown endpoint nothing" in unknown.output
    one = json.loads(ok("sandbox", "chaos", "bet", "--url", running))
    assert list(one["switches"]) == ["bet"]  # one endpoint asked for: that one alone
    assert "bet" in json.loads(ok("sandbox", "chaos", "--url", running))["switches"]
    assert json.loads(ok("sandbox", "chaos", "bet", "--clear", "--url", running))["switches"] == {}
    cleared = json.loads(ok("sandbox", "chaos", "--clear", "--url", running))
    assert cleared["switches"] == {}


def test_pause_of_a_sandbox_without_players(running: str) -> None:
    for action in ("pause", "resume"):
        assert "NO_PLAYERS" in failed(invoke("sandbox", action, "--url", running))


def test_verify_round_through_a_running_sandbox(running: str, tmp_path: Path) -> None:
    revealed = write(tmp_path, fair_round(), "revealed.json")
    assert json.loads(ok("verify-round", revealed, "--sandbox-url", running, "--json"))["fair"]
    # A seed this sandbox never revealed: it cannot tell yet.
    hidden = write(tmp_path, fair_round(revealed=False), "hidden.json")
    result = invoke("verify-round", hidden, "--sandbox-url", running)
    assert result.exit_code == 1, result.output
    assert "not verifiable yet" in result.stdout
