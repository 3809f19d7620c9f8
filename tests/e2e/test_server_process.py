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

from croupier.adapters.db.migrate import upgrade


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_serves_the_demo_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/croupier.db"
    upgrade(url)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CROUPIER_")}
    env["CROUPIER_DATABASE_URL"] = url
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
        finally:
            server.send_signal(signal.SIGTERM)
            code = server.wait(timeout=30)
    assert code == 0, err.read_text()
    assert "croupier stopped" in out.read_text()
    log_lines = [json.loads(line) for line in err.read_text().splitlines() if line.startswith("{")]
    calls = [line for line in log_lines if line.get("msg") == "wallet call"]
    assert calls, err.read_text()
    assert calls[-1]["call"] == "bet"
    assert calls[-1]["correlation_id"]
