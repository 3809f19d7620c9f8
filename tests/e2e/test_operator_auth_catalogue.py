"""Operator API keys, the game catalogue, and hostile requests to every operator route, on
SQLite and PostgreSQL.

A key is refused (401, one message for every failure of the key itself) unless it is an
active key with the right secret; a key lacking a route's scope is refused (403) naming it;
a revoked key is refused from its next request; secrets are stored hashed. The catalogue is
edited in place, validated field by field. Whatever arrives at an operator route, the answer
is a typed JSON error with the status of its code, never a 500, and a refusal writes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest

from croupier.domain.errors import all_error_types
from croupier.services.operator_keys import SCOPES
from tests.e2e.conftest import Api

STATUS = {cls.code: cls.http_status for cls in all_error_types()}
LIMIT = 65536
WRITTEN_TABLES = (
    "players", "accounts", "wallet_transactions", "catalogue_providers", "games",
)  # fmt: skip

# -- helpers ---------------------------------------------------------------------------------


def typed_error(response: httpx.Response, code: str | None = None) -> dict[str, Any]:
    """A well-formed refusal (of ``code`` if given), with the HTTP status of its code."""
    assert response.status_code != 500, response.text
    assert response.headers.get("content-type", "").startswith("application/json"), (
        response.status_code, response.headers, response.content[:200],
    )  # fmt: skip
    payload = response.json()
    assert isinstance(payload, dict), payload
    assert payload.get("status") == "ERROR", payload
    error: dict[str, Any] = payload["error"]
    assert set(error) == {"code", "message", "retry_class", "details"}, error
    assert error["message"]
    assert error["code"] in STATUS, error
    assert response.status_code == STATUS[error["code"]], (response.status_code, error)
    if code is not None:
        assert error["code"] == code, (code, error)
    return error


def names_field(error: dict[str, Any], field: str) -> bool:
    """The error is about ``field``: in its details (a value refused by the domain), or in a
    body decoder's message (a wrong type, `$.field...`; an unknown field, `field`)."""
    message = error["message"]
    return bool(
        error["details"].get("field") == field or f"`$.{field}" in message
        or f"`{field}`" in message
    )  # fmt: skip


async def counts(api: Api) -> dict[str, int]:
    found = {}
    for table in WRITTEN_TABLES:
        rows = await api.wallet.store.fetch(f"SELECT count(*) FROM {table}")  # type: ignore[attr-defined]  # noqa: S608 - constant names
        found[table] = int(rows[0][0])
    return found


def provider_body(**change: Any) -> dict[str, Any]:
    return {"name": "Demo", "launch_url": "https://demo.example/launch",
            "jurisdictions": ["GB", "CA-ON"]} | change  # fmt: skip


def game_body(**change: Any) -> dict[str, Any]:
    return {"name": "Dice", "category": "table", "rtp": "99.00",
            "jurisdictions": ["*"]} | change  # fmt: skip


@dataclass
class World:
    """A player with money and a session, provider demo and its game dice."""

    player_id: str
    session_id: str

    def path(self, template: str) -> str:
        return template.format(pid=self.player_id, sid=self.session_id)


@pytest.fixture
async def world(api: Api) -> World:
    r = await api.op("POST", "/players", {"brand": "casino-a", "external_ref": "u1",
                                          "currency": "EUR"})  # fmt: skip
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    body = {"reference": "d0", "amount": "50.00", "currency": "EUR"}
    assert (await api.op("POST", f"/players/{pid}/deposits", body)).status_code == 201
    assert (await api.op("PUT", "/catalogue/providers/demo", provider_body())).status_code == 200
    assert (await api.op("PUT", "/catalogue/games/demo/dice", game_body())).status_code == 200
    session_id, _ = await api.session(pid)
    return World(pid, session_id)


# Every operator route, written out (not read from the app): a route that disappears fails.
# (method, path, scope, a body that is accepted, or None for a route that takes no body)
Route = tuple[str, str, str, dict[str, Any] | None]
ROUTES: list[Route] = [
    ("POST", "/players", "players:write",
     {"brand": "casino-a", "external_ref": "u2", "currency": "EUR"}),
    ("GET", "/players?brand=casino-a&external_ref=u1", "players:read", None),
    ("GET", "/players/{pid}", "players:read", None),
    ("PATCH", "/players/{pid}", "players:write", {"kyc_status": "verified"}),
    ("POST", "/players/{pid}/block", "players:write", None),
    ("POST", "/players/{pid}/unblock", "players:write", None),
    ("POST", "/players/{pid}/deposits", "cashier",
     {"reference": "d1", "amount": "1.00", "currency": "EUR"}),
    ("POST", "/players/{pid}/withdrawals", "cashier",
     {"reference": "w1", "amount": "1.00", "currency": "EUR"}),
    ("GET", "/players/{pid}/transactions", "history:read", None),
    ("GET", "/players/{pid}/rounds", "history:read", None),
    ("GET", "/sessions/{sid}/transactions", "history:read", None),
    ("GET", "/catalogue/providers", "catalogue:read", None),
    ("GET", "/catalogue/providers/demo", "catalogue:read", None),
    ("PUT", "/catalogue/providers/demo", "catalogue:write", provider_body(name="Demo 2")),
    ("PATCH", "/catalogue/providers/demo", "catalogue:write", {"enabled": False}),
    ("GET", "/catalogue/games", "catalogue:read", None),
    ("GET", "/catalogue/games/demo/dice", "catalogue:read", None),
    ("PUT", "/catalogue/games/demo/dice", "catalogue:write", game_body(rtp="98.00")),
    ("PATCH", "/catalogue/games/demo/dice", "catalogue:write", {"enabled": False}),
]  # fmt: skip
ROUTE_IDS = [f"{m} {p.partition('?')[0]}" for m, p, _, _ in ROUTES]
BODY_ROUTES = [(m, p, b) for m, p, _, b in ROUTES if b is not None]
BODY_IDS = [f"{m} {p}" for m, p, _ in BODY_ROUTES]
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(path: str) -> set[str]:
    template = path.partition("?")[0]
    return {m for m, p, _, _ in ROUTES if p.partition("?")[0] == template}


# -- the routes exist and answer ----------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
async def test_each_route_answers_its_valid_call_with_a_key_of_only_its_scope(
    api: Api, world: World, route: Route
) -> None:
    method, path, scope, body = route
    assert api.operator_keys is not None
    _, token = await api.operator_keys.add([scope], "one scope")

    r = await api.op(method, world.path(path), body, token=token)

    assert r.status_code in (200, 201), r.text
    assert r.headers["content-type"].startswith("application/json")
    assert isinstance(r.json(), dict)


# -- keys -----------------------------------------------------------------------------------


async def test_missing_or_malformed_authorization_is_refused(api: Api, world: World) -> None:
    assert api.operator_keys is not None
    key, token = await api.operator_keys.add(["all"], "good")
    secret = token.partition(".")[2]
    path = world.path("/players/{pid}")
    before = await counts(api)

    for header in (None, "", "Bearer", "Bearer ", token, f"Token {token}", f"Bearer{token}",
                   "Bearer cok_123", f"Bearer {token}x", f"Bearer {token[:-1]}",
                   f"Bearer {token.upper()}", f"Bearer {token}.{secret}",
                   "Basic dXNlcjpwYXNzd29yZA==", f"Basic {token}",
                   f"Bearer cok_{key.key_id}", f"Bearer {secret}"):  # fmt: skip
        headers = {} if header is None else {"authorization": header}
        for method, body in (("GET", None), ("PATCH", {"kyc_status": "verified"})):
            r = await api.op(method, path, body, token="", headers=headers)
            typed_error(r, "OPERATOR_KEY_INVALID")
            assert r.status_code == 401

    assert await counts(api) == before
    assert (await api.op("GET", path, token=token)).status_code == 200
    lower = await api.op("GET", path, token="", headers={"authorization": f"bearer {token}"})
    assert lower.status_code == 200, lower.text  # the scheme is case-insensitive (RFC 9110)


async def test_unknown_key_and_wrong_secret_get_the_same_answer(api: Api, world: World) -> None:
    assert api.operator_keys is not None
    key, token = await api.operator_keys.add(["all"], "good")
    secret = token.partition(".")[2]
    other_secret = ("A" if secret[0] != "A" else "B") + secret[1:]
    path = world.path("/players/{pid}")

    unknown = await api.op("GET", path, token=f"cok_{'0' * 12}.{secret}")
    wrong = await api.op("GET", path, token=f"cok_{key.key_id}.{other_secret}")

    unknown_error = typed_error(unknown, "OPERATOR_KEY_INVALID")
    wrong_error = typed_error(wrong, "OPERATOR_KEY_INVALID")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown_error == wrong_error
    assert key.key_id not in unknown.text + wrong.text
    assert secret not in unknown.text + wrong.text


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
async def test_a_key_without_the_routes_scope_is_refused_naming_it(
    api: Api, world: World, route: Route
) -> None:
    method, path, scope, body = route
    assert api.operator_keys is not None
    _, token = await api.operator_keys.add(set(SCOPES) - {scope}, "all but one")
    before = await counts(api)

    r = await api.op(method, world.path(path), body, token=token)

    error = typed_error(r, "SCOPE_NOT_GRANTED")
    assert r.status_code == 403
    assert error["details"] == {"scope": scope}
    assert repr(scope) in error["message"]
    assert await counts(api) == before


async def test_a_scope_check_comes_before_the_body(api: Api, world: World) -> None:
    assert api.operator_keys is not None
    _, token = await api.operator_keys.add(["players:read"], "reader")
    r = await api.op("POST", "/players", b"{not json", token=token)
    typed_error(r, "SCOPE_NOT_GRANTED")
    r = await api.op("POST", "/players", b"{not json", token="")
    typed_error(r, "OPERATOR_KEY_INVALID")


async def test_a_revoked_key_is_refused_on_its_next_request(api: Api, world: World) -> None:
    assert api.operator_keys is not None
    key, token = await api.operator_keys.add(["all"], "to revoke")
    path = world.path("/players/{pid}")
    assert (await api.op("GET", path, token=token)).status_code == 200

    await api.operator_keys.revoke(key.key_id)

    revoked = await api.op("GET", path, token=token)
    unknown = await api.op("GET", path, token=f"cok_{'0' * 12}.{token.partition('.')[2]}")
    assert typed_error(revoked, "OPERATOR_KEY_INVALID") == typed_error(unknown)
    before = await counts(api)
    for method, route, body in (
        ("POST", "/players", {"brand": "casino-a", "external_ref": "u9", "currency": "EUR"}),
        ("POST", world.path("/players/{pid}/deposits"),
         {"reference": "d9", "amount": "1.00", "currency": "EUR"}),
        ("POST", world.path("/players/{pid}/block"), None),
        ("PUT", "/catalogue/providers/other", provider_body()),
        ("PATCH", "/catalogue/games/demo/dice", {"enabled": False}),
    ):  # fmt: skip
        typed_error(await api.op(method, route, body, token=token), "OPERATOR_KEY_INVALID")
    assert await counts(api) == before
    assert (await api.op("GET", path)).json()["status"] == "active"
    assert (await api.op("GET", "/catalogue/games/demo/dice")).json()["enabled"] is True
    assert (await api.op("GET", path)).status_code == 200  # other keys still work


async def test_refused_keys_write_nothing(api: Api, world: World) -> None:
    assert api.operator_keys is not None
    _, reader = await api.operator_keys.add(["players:read", "catalogue:read"], "reader")
    before = await counts(api)
    bodies = [(m, world.path(p), b) for m, p, _, b in ROUTES if m != "GET"]

    for token in ("", f"cok_{'0' * 12}.{'A' * 43}", reader):
        for method, path, body in bodies:
            r = await api.op(method, path, body, token=token)
            assert r.status_code in (401, 403), (method, path, r.text)
            typed_error(r)

    assert await counts(api) == before
    player = (await api.op("GET", world.path("/players/{pid}"))).json()
    assert (player["status"], player["kyc_status"], player["balance"]["cash"]) == (
        "active", "none", "50.00",
    )  # fmt: skip
    assert (await api.op("GET", "/catalogue/providers/demo")).json()["name"] == "Demo"


async def test_operator_keys_are_stored_hashed(api: Api) -> None:
    assert api.operator_keys is not None
    tokens = [api.operator_token]
    for scopes in (["all"], ["cashier"], ["catalogue:read", "catalogue:write"]):
        tokens.append((await api.operator_keys.add(scopes, "label"))[1])
    rows = await api.wallet.store.fetch("SELECT * FROM operator_keys")  # type: ignore[attr-defined]
    stored = " ".join(str(value) for row in rows for value in row)

    assert len(rows) == len(tokens)
    for token in tokens:
        key_id, _, secret = token.removeprefix("cok_").partition(".")
        assert key_id in stored  # the id is stored as is ...
        assert len(secret) == 43
        assert secret not in stored  # ... the secret is not, nor a piece of it
        assert secret[:16] not in stored
        assert secret[-16:] not in stored


# -- the catalogue --------------------------------------------------------------------------


async def test_providers_and_games_are_put_listed_read_and_disabled(api: Api) -> None:
    put = await api.op("PUT", "/catalogue/providers/acme-slots", provider_body(
        name="Acme Slots", launch_url="http://acme.example/launch",
        jurisdictions=["GB", "MT", "GB"],
    ))  # fmt: skip
    assert put.status_code == 200, put.text
    assert put.json() == {"code": "acme-slots", "name": "Acme Slots", "enabled": True,
                          "launch_url": "http://acme.example/launch",
                          "jurisdictions": ["GB", "MT"]}  # fmt: skip
    assert (await api.op("PUT", "/catalogue/providers/demo", provider_body())).status_code == 200
    for provider, code, rtp in (("acme-slots", "fruit", "96.1"), ("acme-slots", "roulette",
                                "97.30"), ("demo", "dice", "100")):  # fmt: skip
        r = await api.op("PUT", f"/catalogue/games/{provider}/{code}",
                         game_body(name=code.title(), rtp=rtp, category="slots"))  # fmt: skip
        assert r.status_code == 200, r.text

    providers = (await api.op("GET", "/catalogue/providers")).json()["items"]
    assert [p["code"] for p in providers] == ["acme-slots", "demo"]
    every = (await api.op("GET", "/catalogue/games")).json()["items"]
    assert [(g["provider"], g["code"]) for g in every] == [
        ("acme-slots", "fruit"), ("acme-slots", "roulette"), ("demo", "dice"),
    ]  # fmt: skip
    acme = (await api.op("GET", "/catalogue/games?provider=acme-slots")).json()["items"]
    assert [g["code"] for g in acme] == ["fruit", "roulette"]
    fruit = await api.op("GET", "/catalogue/games/acme-slots/fruit")
    assert fruit.json() == {"provider": "acme-slots", "code": "fruit", "name": "Fruit",
                            "category": "slots", "rtp": "96.10", "enabled": True,
                            "jurisdictions": ["*"]}  # fmt: skip
    assert (await api.op("GET", "/catalogue/games/demo/dice")).json()["rtp"] == "100.00"

    off = await api.op("PATCH", "/catalogue/games/acme-slots/fruit", {"enabled": False})
    assert off.status_code == 200, off.text
    assert off.json() == {**fruit.json(), "enabled": False}
    assert (await api.op("GET", "/catalogue/games/acme-slots/fruit")).json()["enabled"] is False
    p_off = await api.op("PATCH", "/catalogue/providers/demo", {"enabled": False})
    assert p_off.json()["enabled"] is False
    assert (await api.op("GET", "/catalogue/providers/demo")).json()["enabled"] is False
    assert (await api.op("GET", "/catalogue/games/demo/dice")).json()["enabled"] is True
    on = await api.op("PATCH", "/catalogue/games/acme-slots/fruit", {"enabled": True})
    assert on.json()["enabled"] is True


async def test_put_again_updates_in_place(api: Api) -> None:
    assert (await api.op("PUT", "/catalogue/providers/demo", provider_body())).status_code == 200
    assert (await api.op("PUT", "/catalogue/games/demo/dice", game_body())).status_code == 200

    p = await api.op("PUT", "/catalogue/providers/demo", provider_body(
        name="Demo v2", launch_url="https://v2.demo.example/", jurisdictions=["*"],
        enabled=False,
    ))  # fmt: skip
    g = await api.op("PUT", "/catalogue/games/demo/dice", game_body(
        name="Dice v2", category="other", rtp="97.5", jurisdictions=["DE"], enabled=False,
    ))  # fmt: skip

    assert p.status_code == g.status_code == 200
    assert (await api.op("GET", "/catalogue/providers")).json()["items"] == [p.json()]
    assert (await api.op("GET", "/catalogue/games")).json()["items"] == [g.json()]
    assert g.json() == {"provider": "demo", "code": "dice", "name": "Dice v2",
                        "category": "other", "rtp": "97.50", "enabled": False,
                        "jurisdictions": ["DE"]}  # fmt: skip
    assert (p.json()["name"], p.json()["enabled"]) == ("Demo v2", False)
    assert (await counts(api))["catalogue_providers"] == 1
    assert (await counts(api))["games"] == 1


async def test_unknown_providers_and_games_are_not_found(api: Api) -> None:
    r = await api.op("PUT", "/catalogue/games/nobody/dice", game_body())
    assert typed_error(r, "PROVIDER_NOT_FOUND")["details"] == {"provider": "nobody"}
    assert (await counts(api))["games"] == 0
    assert (await api.op("PUT", "/catalogue/providers/demo", provider_body())).status_code == 200

    typed_error(await api.op("GET", "/catalogue/providers/nobody"), "PROVIDER_NOT_FOUND")
    typed_error(await api.op("PATCH", "/catalogue/providers/nobody", {"enabled": False}),
                "PROVIDER_NOT_FOUND")  # fmt: skip
    typed_error(await api.op("GET", "/catalogue/games?provider=nobody"), "PROVIDER_NOT_FOUND")
    typed_error(await api.op("GET", "/catalogue/games/demo/nothing"), "GAME_NOT_FOUND")
    typed_error(await api.op("GET", "/catalogue/games/nobody/dice"), "GAME_NOT_FOUND")
    typed_error(await api.op("PATCH", "/catalogue/games/demo/nothing", {"enabled": False}),
                "GAME_NOT_FOUND")  # fmt: skip
    assert (await api.op("GET", "/catalogue/games?provider=demo")).json() == {"items": []}
    assert (await counts(api))["games"] == 0


INVALID_GAMES = [
    ({"rtp": "96.505"}, "rtp"),
    ({"rtp": "101"}, "rtp"),
    ({"rtp": "100.01"}, "rtp"),
    ({"rtp": "-1"}, "rtp"),
    ({"rtp": ""}, "rtp"),
    ({"rtp": "96.5%"}, "rtp"),
    ({"rtp": "9650"}, "rtp"),
    ({"rtp": 96.5}, "rtp"),
    ({"rtp": 96}, "rtp"),
    ({"category": "poker"}, "category"),
    ({"category": "SLOTS"}, "category"),
    ({"category": ""}, "category"),
    ({"jurisdictions": ["gb"]}, "jurisdictions"),
    ({"jurisdictions": ["GBR"]}, "jurisdictions"),
    ({"jurisdictions": ["G"]}, "jurisdictions"),
    ({"jurisdictions": ["CA-"]}, "jurisdictions"),
    ({"jurisdictions": ["GB", "**"]}, "jurisdictions"),
    ({"jurisdictions": "GB"}, "jurisdictions"),
    ({"name": ""}, "name"),
    ({"name": "n" * 257}, "name"),
    ({"enabled": "no"}, "enabled"),
    ({"studio": "x"}, "studio"),
]


@pytest.mark.parametrize(("change", "field"), INVALID_GAMES)
async def test_invalid_games_are_refused_and_change_nothing(
    api: Api, change: dict[str, Any], field: str
) -> None:
    assert (await api.op("PUT", "/catalogue/providers/demo", provider_body())).status_code == 200
    first = await api.op("PUT", "/catalogue/games/demo/dice", game_body())
    before = await counts(api)

    for code in ("dice", "crash"):  # an update, and a new game
        r = await api.op("PUT", f"/catalogue/games/demo/{code}", game_body(**change))
        error = typed_error(r, "INVALID_REQUEST")
        assert r.status_code == 400
        assert names_field(error, field), error

    assert await counts(api) == before
    assert (await api.op("GET", "/catalogue/games/demo/dice")).json() == first.json()


INVALID_PROVIDERS = [
    ({"launch_url": "ftp://demo.example/launch"}, "launch_url"),
    ({"launch_url": "javascript:alert(1)"}, "launch_url"),
    ({"launch_url": "demo.example/launch"}, "launch_url"),
    ({"launch_url": ""}, "launch_url"),
    ({"launch_url": "https://x.example/" + "a" * 2048}, "launch_url"),
    ({"jurisdictions": ["gb"]}, "jurisdictions"),
    ({"jurisdictions": ["GBR"]}, "jurisdictions"),
    ({"jurisdictions": [1]}, "jurisdictions"),
    ({"name": ""}, "name"),
    ({"name": None}, "name"),
    ({"code": "demo"}, "code"),
]


@pytest.mark.parametrize(("change", "field"), INVALID_PROVIDERS)
async def test_invalid_providers_are_refused_and_change_nothing(
    api: Api, change: dict[str, Any], field: str
) -> None:
    first = await api.op("PUT", "/catalogue/providers/demo", provider_body())
    before = await counts(api)

    for code in ("demo", "other"):
        r = await api.op("PUT", f"/catalogue/providers/{code}", provider_body(**change))
        error = typed_error(r, "INVALID_REQUEST")
        assert names_field(error, field), error

    assert await counts(api) == before
    assert (await api.op("GET", "/catalogue/providers/demo")).json() == first.json()


async def test_codes_in_the_path_are_checked(api: Api) -> None:
    for path, body in (
        ("/catalogue/providers/bad%20code", provider_body()),
        ("/catalogue/providers/-lead", provider_body()),
        ("/catalogue/providers/" + "p" * 129, provider_body()),
    ):
        error = typed_error(await api.op("PUT", path, body), "INVALID_REQUEST")
        assert error["details"]["field"] == "code"
    assert (await api.op("PUT", "/catalogue/providers/demo", provider_body())).status_code == 200
    r = await api.op("PUT", "/catalogue/games/demo/bad%20game", game_body())
    assert typed_error(r, "INVALID_REQUEST")["details"]["field"] == "code"
    assert (await counts(api))["catalogue_providers"] == 1
    assert (await counts(api))["games"] == 0


async def test_patch_enabled_takes_only_a_boolean(api: Api) -> None:
    assert (await api.op("PUT", "/catalogue/providers/demo", provider_body())).status_code == 200
    assert (await api.op("PUT", "/catalogue/games/demo/dice", game_body())).status_code == 200
    for path in ("/catalogue/providers/demo", "/catalogue/games/demo/dice"):
        for body in ({}, {"enabled": "false"}, {"enabled": 0}, {"enabled": None},
                     {"enabled": False, "name": "x"}):  # fmt: skip
            typed_error(await api.op("PATCH", path, body), "INVALID_REQUEST")
        assert (await api.op("GET", path)).json()["enabled"] is True


# -- hostile requests to every route --------------------------------------------------------

BROKEN_JSON = [
    b"", b" ", b"{", b"}", b"not json", b"{'a': 1}", b'{"a": 1,}', b'{"a" 1}', b'{"a": 1} {}',
    b'{"a": NaN}', b"\x00", b"\xef\xbb\xbf{}", '{"a": 1}'.encode("utf-16"), b'{"a": "\xff"}',
]  # fmt: skip
NOT_OBJECTS = [
    b"[]", b"[{}]", b"null", b"true", b"0", b"1.5", b'"text"',
    b"[" * 30000 + b"]" * 30000, b'{"name": ' + b"[" * 30000 + b"]" * 30000 + b"}",
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body"), BODY_ROUTES, ids=BODY_IDS)
async def test_malformed_json_and_non_objects_are_refused(
    api: Api, world: World, method: str, path: str, body: dict[str, Any]
) -> None:
    before = await counts(api)

    for raw in [*BROKEN_JSON, *NOT_OBJECTS, orjson.dumps([body]), orjson.dumps({"b": body})]:
        r = await api.op(method, world.path(path), raw)
        typed_error(r, "INVALID_REQUEST")

    assert await counts(api) == before


@pytest.mark.parametrize(("method", "path", "body"), BODY_ROUTES, ids=BODY_IDS)
async def test_a_body_over_the_limit_is_payload_too_large(
    api: Api, world: World, method: str, path: str, body: dict[str, Any]
) -> None:
    raw = orjson.dumps(body)
    padded = raw[:-1] + b" " * (LIMIT - len(raw)) + b"}"
    assert len(padded) == LIMIT
    before = await counts(api)

    over = await api.op(method, world.path(path), padded[:-1] + b" }")
    typed_error(over, "PAYLOAD_TOO_LARGE")
    assert over.json()["error"]["details"] == {"limit": LIMIT}
    huge = await api.op(method, world.path(path), b"{" + b" " * (10 * LIMIT) + b"}")
    typed_error(huge, "PAYLOAD_TOO_LARGE")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        for _ in range(LIMIT // 1024 + 1):
            yield b" " * 1024

    streamed = await api.http.request(
        method, f"/operator/v1{world.path(path)}", content=chunks(),
        headers={"authorization": f"Bearer {api.operator_token}",
                 "content-type": "application/json"},
    )  # fmt: skip
    typed_error(streamed, "PAYLOAD_TOO_LARGE")
    assert await counts(api) == before

    at_limit = await api.op(method, world.path(path), padded)
    assert at_limit.status_code in (200, 201), at_limit.text  # the limit itself is allowed


@pytest.mark.parametrize(("method", "path", "body"), BODY_ROUTES, ids=BODY_IDS)
async def test_a_wrong_content_type_is_unsupported_media_type(
    api: Api, world: World, method: str, path: str, body: dict[str, Any]
) -> None:
    raw = orjson.dumps(body)
    before = await counts(api)

    for content_type in ("", "text/plain", "application/x-www-form-urlencoded",
                         "multipart/form-data; boundary=x", "application/jsonx",
                         "application/problem+json", "text/json"):  # fmt: skip
        r = await api.op(method, world.path(path), raw, headers={"content-type": content_type})
        typed_error(r, "UNSUPPORTED_MEDIA_TYPE")
        assert r.status_code == 415

    assert await counts(api) == before
    ok = await api.op(method, world.path(path), raw,
                      headers={"content-type": "application/json; charset=utf-8"})  # fmt: skip
    assert ok.status_code in (200, 201), ok.text


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
async def test_a_wrong_method_is_method_not_allowed(api: Api, world: World, route: Route) -> None:
    _, path, _, body = route
    wrong = [m for m in METHODS if m not in allowed_methods(path)]
    assert wrong
    before = await counts(api)

    for other in wrong:
        for token in (None, ""):  # with a valid key, and with none
            r = await api.op(other, world.path(path), body, token=token)
            typed_error(r, "METHOD_NOT_ALLOWED")
            assert r.status_code == 405

    assert await counts(api) == before


@pytest.mark.parametrize("route", ROUTES, ids=ROUTE_IDS)
async def test_garbage_to_any_route_never_gets_a_500(api: Api, world: World, route: Route) -> None:
    """Routes without a body ignore one; whatever is sent, the answer is JSON and no 500."""
    method, path, _, _ = route
    for raw in (b"{", b"[]", b"\xff\xfe", b" " * (LIMIT + 1)):
        for headers in ({}, {"content-type": "text/plain"}, {"x-request-id": "\n" * 3}):
            r = await api.op(method, world.path(path), raw, headers=headers)
            assert r.status_code != 500, r.text
            assert r.headers["content-type"].startswith("application/json")
            payload = r.json()
            assert isinstance(payload, dict)
            if r.status_code >= 400:
                typed_error(r)


async def test_unknown_operator_paths_are_route_not_found(api: Api) -> None:
    for method, path in (
        ("GET", "/nothing"), ("GET", "/players/p1/nothing"), ("POST", "/catalogue"),
        ("GET", "/players/"), ("GET", "/catalogue/games/demo"), ("DELETE", "/operator-keys"),
    ):  # fmt: skip
        typed_error(await api.op(method, path), "ROUTE_NOT_FOUND")


@pytest.mark.parametrize(
    "path", sorted({p for m, p, _, _ in ROUTES if m == "GET"}), ids=lambda p: p.partition("?")[0]
)
async def test_head_on_a_get_route_answers_without_a_500(api: Api, world: World, path: str) -> None:
    got = await api.op("GET", world.path(path))

    head = await api.op("HEAD", world.path(path))

    assert head.status_code in (got.status_code, 405), head.status_code
    assert head.status_code != 500
    assert head.headers["content-type"].startswith("application/json")
