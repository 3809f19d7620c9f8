"""The gateway commands of `croupier`: provider keys, sessions, signing and the OpenAPI document."""

from __future__ import annotations

import json
import shlex
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from croupier.adapters.db.sqlite import connect
from croupier.adapters.providers.native import CALLS
from croupier.cli import app
from croupier.domain import signing
from croupier.services.sessions import token_hash

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "var" / "croupier.db"
    monkeypatch.setenv("CROUPIER_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.delenv("CROUPIER_REDIS_URL", raising=False)
    monkeypatch.delenv("CROUPIER_SIGNING_SECRET", raising=False)
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    return path


def ok(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def fails(code: str, *args: str) -> dict[str, Any]:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 1, result.output
    error: dict[str, Any] = json.loads(result.stderr)["error"]
    assert error["code"] == code, result.stderr
    return error


# -- keys ------------------------------------------------------------------------------------


def test_keys_add_prints_the_secret_once_and_list_never_shows_it(db: Path) -> None:
    first = ok("keys", "add", "acme")
    assert first["provider"] == "acme"
    assert first["status"] == "primary"
    assert first["secret"].startswith("csk_")
    assert len(first["secret"]) >= 32
    second = ok("keys", "add", "acme", "--key-id", "k2")
    assert (second["key_id"], second["status"]) == ("k2", "active")
    assert second["secret"] != first["secret"]

    listed = ok("keys", "list", "--json")
    assert [(k["key_id"], k["status"]) for k in listed] == [
        (first["key_id"], "primary"),
        ("k2", "active"),
    ]
    assert all("secret" not in row for row in listed)
    for args in (["keys", "list"], ["keys", "list", "acme"], ["keys", "list", "--json"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        for secret in (first["secret"], second["secret"]):
            assert secret not in result.output
            assert secret[4:16] not in result.output  # not even a piece of it
    assert "k2" in runner.invoke(app, ["keys", "list"]).stdout
    assert ok("keys", "list", "other", "--json") == []


def test_keys_add_refuses_a_duplicate_key_id(db: Path) -> None:
    ok("keys", "add", "acme", "--key-id", "k1")
    fails("KEY_STATE", "keys", "add", "acme", "--key-id", "k1")


def test_keys_promote_and_revoke_follow_the_rotation(db: Path) -> None:
    ok("keys", "add", "acme", "--key-id", "k1")
    ok("keys", "add", "acme", "--key-id", "k2")
    error = fails("KEY_STATE", "keys", "revoke", "acme", "k1")  # k1 is primary
    assert "primary" in error["message"]
    promoted = ok("keys", "promote", "acme", "k2")
    assert (promoted["key_id"], promoted["status"]) == ("k2", "primary")
    assert "secret" not in promoted
    statuses = {k["key_id"]: k["status"] for k in ok("keys", "list", "acme", "--json")}
    assert statuses == {"k1": "active", "k2": "primary"}
    fails("KEY_STATE", "keys", "revoke", "acme", "k2")
    revoked = ok("keys", "revoke", "acme", "k1")
    assert revoked["status"] == "revoked"
    fails("KEY_STATE", "keys", "promote", "acme", "k1")
    fails("KEY_NOT_FOUND", "keys", "promote", "acme", "nope")
    statuses = {k["key_id"]: k["status"] for k in ok("keys", "list", "acme", "--json")}
    assert statuses == {"k1": "revoked", "k2": "primary"}


def test_revoking_the_primary_key_fails_with_key_state_on_stderr(db: Path) -> None:
    key = ok("keys", "add", "acme")
    result = runner.invoke(app, ["keys", "revoke", "acme", key["key_id"]])
    assert result.exit_code == 1
    assert "KEY_STATE" in result.stderr
    assert "KEY_STATE" not in result.stdout
    assert json.loads(result.stderr)["error"]["retry_class"] == "final"
    assert ok("keys", "list", "--json")[0]["status"] == "primary"


# -- sessions --------------------------------------------------------------------------------


def test_session_open_show_and_close(db: Path) -> None:
    ok("wallet", "open", "p", "EUR")
    opened = ok("session", "open", "--provider", "acme", "--player", "p", "--game", "dice")
    token = opened["token"]
    assert token.startswith("cst_")
    assert opened["id"].startswith("gs_")
    assert (opened["provider"], opened["player_id"], opened["game_code"]) == ("acme", "p", "dice")
    assert (opened["state"], opened["currency"]) == ("created", "EUR")
    assert opened["token_expires_at"]
    with connect(str(db)) as conn:  # only the token's hash is stored, under this session
        rows = conn.execute("SELECT token_hash, session_id FROM session_tokens").fetchall()
    assert rows == [(token_hash(token), opened["id"])]
    assert all(token not in str(v) for row in rows for v in row)

    shown = ok("session", "show", opened["id"])
    assert shown["state"] == "created"
    assert [(e["from"], e["to"], e["actor"]) for e in shown["events"]] == [(None, "created", "cli")]
    assert shown["events"][0]["reason"] == "session opened"
    assert shown["events"][0]["at"]

    closed = ok("session", "close", opened["id"], "--reason", "player left")
    assert closed["state"] == "cancelled"
    shown = ok("session", "show", opened["id"])
    assert shown["state"] == "cancelled"
    assert [(e["from"], e["to"], e["actor"], e["reason"]) for e in shown["events"]] == [
        (None, "created", "cli", "session opened"),
        ("created", "cancelled", "cli", "player left"),
    ]
    fails("SESSION_TRANSITION_ILLEGAL", "session", "close", opened["id"])
    fails("SESSION_TRANSITION_ILLEGAL", "session", "fail", opened["id"])


def test_session_fail_sweep_and_refusals(db: Path) -> None:
    ok("wallet", "open", "p", "EUR")
    opened = ok("session", "open", "--provider", "acme", "--player", "p", "--game", "dice")
    failed = ok("session", "fail", opened["id"], "--reason", "launcher crashed")
    assert failed["state"] == "failed"
    events = ok("session", "show", opened["id"])["events"]
    assert (events[-1]["to"], events[-1]["reason"]) == ("failed", "launcher crashed")
    assert ok("session", "sweep") == {}  # the other tokens are fresh
    fails("SESSION_NOT_FOUND", "session", "show", "gs_nope")
    fails("SESSION_NOT_FOUND", "session", "close", "gs_nope")
    fails("PLAYER_NOT_FOUND", "session", "open", "--provider", "acme", "--player", "ghost",
          "--game", "dice")  # fmt: skip


def test_session_open_requires_a_migrated_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CROUPIER_DATABASE_URL", f"sqlite:///{tmp_path}/fresh.db")
    result = runner.invoke(
        app, ["session", "open", "--provider", "acme", "--player", "p", "--game", "dice"]
    )
    assert result.exit_code == 1
    assert "croupier migrate" in result.stderr


# -- signing and the OpenAPI document --------------------------------------------------------


def _curl_headers(output: str) -> dict[str, str]:
    words = shlex.split(output)
    assert words[0::2] == ["-H"] * 4, output
    return dict(word.split(":", 1) for word in words[1::2])


def test_sign_curl_prints_four_headers_that_verify(db: Path) -> None:
    key = ok("keys", "add", "acme")
    result = runner.invoke(app, ["sign", "acme", "balance", "{}", "--curl"])
    assert result.exit_code == 0, result.output
    headers = _curl_headers(result.stdout.strip())
    assert set(headers) == {
        signing.KEY_HEADER, signing.TIMESTAMP_HEADER, signing.NONCE_HEADER,
        signing.SIGNATURE_HEADER,
    }  # fmt: skip
    parsed = signing.parse_headers(headers)
    assert parsed.key_id == key["key_id"]
    assert abs(parsed.timestamp - time.time()) < 60
    canonical = signing.canonical_request(
        "POST", "/native/v1/acme/balance", parsed.timestamp, parsed.nonce, b"{}"
    )
    signing.verify(key["secret"], canonical, parsed.mac)  # raises if it does not verify
    other_body = signing.canonical_request(
        "POST", "/native/v1/acme/balance", parsed.timestamp, parsed.nonce, b"{ }"
    )
    assert signing.mac(key["secret"], other_body) != parsed.mac
    other_call = signing.canonical_request(
        "POST", "/native/v1/acme/bet", parsed.timestamp, parsed.nonce, b"{}"
    )
    assert signing.mac(key["secret"], other_call) != parsed.mac

    again = _curl_headers(runner.invoke(app, ["sign", "acme", "balance", "{}", "--curl"]).stdout)
    assert again[signing.NONCE_HEADER] != headers[signing.NONCE_HEADER]


def test_sign_uses_the_primary_key_or_the_one_given(db: Path) -> None:
    ok("keys", "add", "acme", "--key-id", "k1")
    k2 = ok("keys", "add", "acme", "--key-id", "k2")
    ok("keys", "promote", "acme", "k2")
    plain = runner.invoke(app, ["sign", "acme", "bet", '{"a":1}'])
    assert plain.exit_code == 0, plain.output
    lines = dict(line.split(": ", 1) for line in plain.stdout.strip().splitlines())
    parsed = signing.parse_headers(lines)
    assert parsed.key_id == "k2"
    canonical = signing.canonical_request(
        "POST", "/native/v1/acme/bet", parsed.timestamp, parsed.nonce, b'{"a":1}'
    )
    signing.verify(k2["secret"], canonical, parsed.mac)

    secret = "s" * 40
    given = runner.invoke(
        app, ["sign", "acme", "bet", "{}", "--curl", "--key-id", "mine", "--secret", secret]
    )
    assert given.exit_code == 0, given.output
    parsed = signing.parse_headers(_curl_headers(given.stdout))
    assert parsed.key_id == "mine"
    canonical = signing.canonical_request(
        "POST", "/native/v1/acme/bet", parsed.timestamp, parsed.nonce, b"{}"
    )
    signing.verify(secret, canonical, parsed.mac)

    half = runner.invoke(app, ["sign", "acme", "bet", "{}", "--key-id", "k2"])
    assert half.exit_code == 2
    fails("KEY_NOT_FOUND", "sign", "nobody", "balance", "{}")


def test_openapi_prints_the_seven_native_paths() -> None:
    result = runner.invoke(app, ["openapi"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["openapi"].startswith("3.")
    native = {p for p in document["paths"] if p.startswith("/native/v1/")}
    expected = {
        f"/native/v1/{{provider}}/{call}"
        for call in ("authenticate", "balance", "refresh", "bet", "win", "rollback", "end_round")
    }
    assert native == expected
    assert set(CALLS) == {p.rsplit("/", 1)[1] for p in expected}
    for path in expected:
        operation = document["paths"][path]["post"]
        assert operation["operationId"] == path.rsplit("/", 1)[1]
        headers = {p["name"].lower() for p in operation["parameters"] if p["in"] == "header"}
        assert {signing.KEY_HEADER, signing.TIMESTAMP_HEADER, signing.NONCE_HEADER,
                signing.SIGNATURE_HEADER} <= headers  # fmt: skip


NEW_COMMANDS = [
    ("keys",),
    ("keys", "add"),
    ("keys", "list"),
    ("keys", "promote"),
    ("keys", "revoke"),
    ("session",),
    ("session", "open"),
    ("session", "show"),
    ("session", "close"),
    ("session", "fail"),
    ("session", "sweep"),
    ("sign",),
    ("call",),
    ("openapi",),
]


@pytest.mark.parametrize("path", NEW_COMMANDS, ids=" ".join)
def test_help_of_every_gateway_command(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.stdout
    assert " ".join(path) in result.stdout
