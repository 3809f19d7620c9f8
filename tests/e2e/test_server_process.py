"""`croupier run` as a real process: it serves on a socket, answers a signed call from its own
demo, and stops cleanly on SIGTERM (what systemd and Kubernetes send)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from croupier.adapters.db.migrate import upgrade
from croupier.domain import signing
from tests.conftest import truncate_postgres


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_serves_the_demo_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """The demo also starts the sandbox provider (its own process) with simulated players,
    who play through this wallet; SIGTERM stops both."""
    url = f"sqlite:///{tmp_path}/croupier.db"
    upgrade(url)
    port, sandbox_port = _free_port(), _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROUPIER_")}
    env["CROUPIER_DATABASE_URL"] = url
    env["CROUPIER_SANDBOX_PORT"] = str(sandbox_port)
    env["CROUPIER_DEMO_PLAYERS"] = "2"
    env["CROUPIER_LOG_LEVEL"] = "INFO"  # the demo mutes per-call logs unless it is set
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        server = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "croupier", "run", "--demo", "--port", str(port)],
            stdout=stdout, stderr=stderr, env=env, cwd=tmp_path,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, err.read_text()
                time.sleep(0.1)
            while "croupier call demo bet" not in out.read_text():
                assert time.monotonic() < deadline, out.read_text()
                time.sleep(0.1)
            printed = out.read_text()
            bet = re.search(r"croupier call demo bet '([^']+)'", printed)
            assert bet is not None, printed
            call = subprocess.run(  # noqa: S603
                [sys.executable, "-m", "croupier", "call", "demo", "bet", bet.group(1),
                 "--url", f"http://127.0.0.1:{port}"],
                capture_output=True, text=True, env=env, cwd=tmp_path, check=False,
            )  # fmt: skip
            assert call.returncode == 0, call.stderr
            assert "signature verified" in call.stderr
            assert json.loads(call.stdout)["balance"]["cash"] == "98.50"
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            assert (
                'croupier_wallet_call_seconds_count{call="bet",outcome="OK",provider="demo"}'
                in (metrics)
            )
            sandbox = _sandbox_played(server.pid, sandbox_port, out, err)
        finally:
            server.send_signal(signal.SIGTERM)
            code = server.wait(timeout=30)
    assert code == 0, err.read_text()
    assert "croupier stopped" in out.read_text()
    assert not any(Path(f"/proc/{pid}").exists() for pid in sandbox), "the sandbox outlived run"
    log_lines = [json.loads(line) for line in err.read_text().splitlines() if line.startswith("{")]
    calls = [line for line in log_lines if line.get("msg") == "wallet call"]
    demo_calls = [line for line in calls if line.get("provider") == "demo"]
    assert demo_calls, err.read_text()
    assert demo_calls[-1]["call"] == "bet"
    assert demo_calls[-1]["correlation_id"]
    assert any(line.get("provider") == "sandbox" for line in calls)


def _sandbox_played(pid: int, port: int, out: Path, err: Path) -> set[int]:
    """The demo's sandbox: announced, a child process of ``pid``, its players' rounds settled
    through the wallet with no error and no anomaly. Its pid(s)."""
    assert f"sandbox: a reference game provider at http://127.0.0.1:{port}" in out.read_text()
    sandbox = _children(pid)
    assert len(sandbox) == 1, sandbox

    def played() -> bool:
        try:
            got = httpx.get(f"http://127.0.0.1:{port}/stats").json()
        except httpx.TransportError:
            return False
        return bool(got["by_status"].get("settled", 0) >= 2)

    _wait_for(played, err)
    stats = httpx.get(f"http://127.0.0.1:{port}/stats").json()
    assert stats["errors"] == {}, stats
    assert stats["anomalies"] == [], stats
    return sandbox


def _start(argv: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.Popen[bytes]:
    with (tmp_path / "out.txt").open("wb") as out, (tmp_path / "err.txt").open("wb") as err:
        return subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "croupier", "run", *argv],
            stdout=out, stderr=err, env=env, cwd=tmp_path,
        )  # fmt: skip


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if stat.rpartition(") ")[2].split()[1] == str(pid):
                found.add(int(entry.name))
    return found


def _wait_for(condition: object, what: Path, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what.read_text()
        time.sleep(0.1)


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
    except httpx.TransportError:
        return False


@pytest.mark.postgres
def test_workers_share_the_port_and_stop_together(tmp_path: Path, postgres_url: str) -> None:
    """`--workers 2` on PostgreSQL: two server processes answer signed calls on one port;
    SIGTERM to the parent stops both (exit 0); a worker that dies takes the rest down with a
    non-zero status, for the supervisor to restart the whole."""
    truncate_postgres(postgres_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROUPIER_")}
    env["CROUPIER_DATABASE_URL"] = postgres_url
    env["CROUPIER_SANDBOX_PORT"] = str(_free_port())
    port = _free_port()
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    server = _start(["--demo", "--workers", "2", "--port", str(port)], env, tmp_path)
    try:
        _wait_for(lambda: "croupier call demo bet" in out.read_text(), err)
        assert len(_children(server.pid)) == 2
        secret = re.search(r"secret (\S+)", out.read_text())
        token = re.search(r'"token":"([^"]+)"', out.read_text())
        assert secret is not None, out.read_text()
        assert token is not None, out.read_text()
        path = "/native/v1/demo/balance"
        for i in range(20):  # a new connection each: the kernel spreads them over the workers
            body = json.dumps({"player_id": "demo-player", "token": token.group(1)}).encode()
            headers = signing.request_headers(
                key_id="demo-key", secret=secret.group(1), path=path, body=body,
                timestamp=int(time.time()), nonce=f"workers-nonce-{i:04d}",
            )  # fmt: skip
            reply = httpx.post(
                f"http://127.0.0.1:{port}{path}", content=body,
                headers={**headers, "content-type": "application/json"},
            )  # fmt: skip
            assert reply.status_code == 200, reply.text
            assert reply.json()["balance"]["cash"] == "100.00"
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=30)
    assert code == 0, err.read_text()
    assert "croupier stopped" in out.read_text()

    port = _free_port()
    server = _start(["--workers", "2", "--port", str(port)], env, tmp_path)
    try:
        _wait_for(lambda: _healthy(port) and len(_children(server.pid)) == 2, err)
        workers = _children(server.pid)
        killed = min(workers)
        os.kill(killed, signal.SIGKILL)
        code = server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
    assert code == 1, err.read_text()
    assert "stopping all" in err.read_text()
    for pid in workers - {killed}:  # the survivor was stopped, not orphaned
        _wait_for(lambda pid=pid: not Path(f"/proc/{pid}").exists(), err, seconds=10)


def test_workers_on_sqlite_are_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/croupier.db"
    upgrade(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROUPIER_")}
    env["CROUPIER_DATABASE_URL"] = url
    run = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "croupier", "run", "--workers", "2", "--port", str(_free_port())],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 1
    assert "CONFIGURATION_ERROR" in run.stderr
    assert "SQLite has one writer" in run.stderr


def run_example(script: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """examples/<script> as a user runs it, next to `croupier run` on a fresh SQLite file."""
    repo = Path(__file__).resolve().parents[2]
    url = f"sqlite:///{tmp_path}/croupier.db"
    upgrade(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROUPIER_")}
    env["CROUPIER_DATABASE_URL"] = url
    wrapper = tmp_path / "croupier"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m croupier "$@"\n')
    wrapper.chmod(0o755)
    port = _free_port()
    server = _start(["--port", str(port)], env, tmp_path)
    try:
        _wait_for(lambda: _healthy(port), tmp_path / "err.txt")
        return subprocess.run(  # noqa: S603 - our own example
            [str(repo / "examples" / script)],
            capture_output=True, text=True, cwd=repo, timeout=120, check=False,
            env=env | {"CROUPIER": str(wrapper), "CROUPIER_URL": f"http://127.0.0.1:{port}"},
        )  # fmt: skip
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def test_the_operator_walkthrough_runs_against_a_server(tmp_path: Path) -> None:
    """examples/operator_walkthrough.sh (docs/operator-api.md) as a user runs it: from a new
    player to a launched game, against `croupier run`."""
    walk = run_example("operator_walkthrough.sh", tmp_path)
    assert walk.returncode == 0, walk.stdout + walk.stderr
    lines = walk.stdout.splitlines()
    launch = json.loads(next(line for line in lines if line.startswith('{"mode"')))
    assert launch["rules"]["stake_cap"] == "5.00"
    assert launch["url"].startswith("https://games.acme.example/launch?")
    history = json.loads(lines[-1])
    assert [t["kind"] for t in history["items"]] == ["deposit"]


def test_the_webhook_walkthrough_runs_against_a_server(tmp_path: Path) -> None:
    """examples/webhook_walkthrough.sh (docs/webhooks.md) as a user runs it: signed events,
    one twice, one out of order, applied by the worker of `croupier run`."""
    walk = run_example("webhook_walkthrough.sh", tmp_path)
    assert walk.returncode == 0, walk.stdout + walk.stderr
    answers = [json.loads(line) for line in walk.stdout.splitlines() if line.startswith('{"st')]
    assert [a["duplicate"] for a in answers] == [False, True, False, False, False, False]
    balance = json.loads(walk.stdout[walk.stdout.rindex("{\n") :])
    assert (balance["cash"], balance["bonus"]) == ("111.50", "3.00")
    assert "applied" in walk.stdout
    assert "dead" not in walk.stdout


def _demo_env(tmp_path: Path, sandbox_port: int) -> dict[str, str]:
    url = f"sqlite:///{tmp_path}/croupier.db"
    upgrade(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROUPIER_")}
    env |= {"CROUPIER_DATABASE_URL": url, "CROUPIER_SANDBOX_PORT": str(sandbox_port),
            "CROUPIER_DEMO_PLAYERS": "1"}  # fmt: skip
    return env


def _operator_keys(env: dict[str, str], tmp_path: Path) -> list[dict[str, str]]:
    listed = subprocess.run(
        [sys.executable, "-m", "croupier", "operator-keys", "list", "--json"],
        capture_output=True, text=True, env=env, cwd=tmp_path, check=True,
    )  # fmt: skip
    keys: list[dict[str, str]] = json.loads(listed.stdout)
    return keys


def test_the_demo_says_so_when_the_sandbox_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env = _demo_env(tmp_path, taken.getsockname()[1])
        port = _free_port()
        server = _start(["--demo", "--port", str(port)], env, tmp_path)
        err = tmp_path / "err.txt"
        try:
            _wait_for(lambda: "sandbox: did not start on port" in err.read_text(), err)
            assert _healthy(port)  # the wallet serves on without it
            keys = _operator_keys(env, tmp_path)
            assert keys, "the sandbox's operator key was made"
            assert all(k["status"] == "revoked" for k in keys), keys
        finally:
            server.send_signal(signal.SIGTERM)
            assert server.wait(timeout=30) == 0, err.read_text()


def test_the_demo_sandbox_stops_when_run_is_killed(tmp_path: Path) -> None:
    """SIGKILL leaves no handler to run: the sandbox notices its standard input close."""
    sandbox_port = _free_port()
    env = _demo_env(tmp_path, sandbox_port)
    server = _start(["--demo", "--port", str(_free_port())], env, tmp_path)
    err = tmp_path / "err.txt"
    try:
        _wait_for(lambda: _healthy(sandbox_port), err)
        [sandbox] = _children(server.pid)
    finally:
        server.kill()
        server.wait(timeout=30)
    _wait_for(lambda: not Path(f"/proc/{sandbox}").exists(), err, seconds=15)


def test_sigterm_while_the_demo_sandbox_starts_stops_cleanly(tmp_path: Path) -> None:
    """A signal that comes before the wallet serves (the demo still starting its sandbox)
    means: do not serve. Exit 0, no sandbox left, its operator key revoked."""
    sandbox_port = _free_port()
    env = _demo_env(tmp_path, sandbox_port)
    server = _start(["--demo", "--port", str(_free_port())], env, tmp_path)
    out, err = tmp_path / "out.txt", tmp_path / "err.txt"
    try:
        _wait_for(lambda: "croupier call demo bet" in out.read_text(), err)  # then the sandbox
        started = _children(server.pid)
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
    assert code == 0, err.read_text()
    assert "croupier stopped" in out.read_text()
    for pid in started:
        _wait_for(lambda pid=pid: not Path(f"/proc/{pid}").exists(), err, seconds=10)
    assert all(k["status"] == "revoked" for k in _operator_keys(env, tmp_path))
