"""Hostile and malformed requests to every call of the native protocol, properly signed, on
both databases.

Whatever arrives, the answer is never a 500: it is a JSON body
``{"status": "ERROR", "error": {code, message, retry_class, details}}`` with a stable code,
an HTTP status that is the code's own, and nothing written to wallet_transactions.
"""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from croupier.adapters.providers.native import CALLS, REQUEST_TYPES
from croupier.domain import signing
from croupier.domain.errors import all_error_types
from tests.e2e.conftest import Api

STATUS = {cls.code: cls.http_status for cls in all_error_types()}
RETRY = {cls.code: cls.retry_class.value for cls in all_error_types()}
LIMIT = 65536
AMOUNT_CALLS = ("bet", "win", "rollback")


@pytest.fixture
async def ctx(api: Api) -> dict[str, Any]:
    """p1 with 100.00 EUR, a session, and bet b0 on round r0: every call has a valid body."""
    await api.player("p1", "100.00")
    _, token = await api.session("p1")
    r = await api.post("bet", bet_body(token, tx_id="b0"))
    assert r.status_code == 200, r.text
    return {"token": token, "bodies": valid_bodies(token)}


def bet_body(token: str, tx_id: str = "b1") -> dict[str, Any]:
    return {"player_id": "p1", "token": token, "tx_id": tx_id, "round_id": "r0",
            "game_code": "dice", "amount": "1.00", "currency": "EUR"}  # fmt: skip


def valid_bodies(token: str) -> dict[str, dict[str, Any]]:
    """A body for each call that is accepted (200) after the fixture, every field present."""
    return {
        "authenticate": {"token": token},
        "balance": {"player_id": "p1", "token": token},
        "refresh": {"token": token},
        "bet": bet_body(token),
        "win": {"player_id": "p1", "tx_id": "w1", "round_id": "r0", "game_code": "dice",
                "amount": "2.00", "currency": "EUR", "token": token, "bet_tx_id": "b0",
                "close_round": False},
        "rollback": {"player_id": "p1", "tx_id": "rb1", "bet_tx_id": "b0", "currency": "EUR",
                     "amount": "1.00", "round_id": "r0", "game_code": "dice", "token": token},
        "end_round": {"player_id": "p1", "tx_id": "e1", "round_id": "r0", "game_code": "dice",
                      "currency": "EUR", "token": token},
    }  # fmt: skip


async def transactions(api: Api) -> int:
    rows = await api.wallet.store.fetch("SELECT count(*) FROM wallet_transactions")  # type: ignore[attr-defined]
    return int(rows[0][0])


def assert_error(response: httpx.Response, code: str | None = None) -> dict[str, Any]:
    """The response is a well-formed refusal (of ``code`` if given); its error object."""
    assert response.status_code != 500, response.text
    assert response.headers.get("content-type", "").startswith("application/json"), (
        response.status_code,
        response.headers,
        response.content[:200],
    )
    payload = response.json()
    assert isinstance(payload, dict), payload
    assert payload.get("status") == "ERROR", payload
    assert set(payload) <= {"status", "error", "currency", "balance", "replay"}, payload
    error = payload["error"]
    assert set(error) == {"code", "message", "retry_class", "details"}, error
    assert isinstance(error["message"], str)
    assert error["message"]
    assert isinstance(error["details"], dict)
    assert error["code"] in STATUS, error
    assert response.status_code == STATUS[error["code"]], (response.status_code, error)
    assert error["retry_class"] == RETRY[error["code"]], error
    if code is not None:
        assert error["code"] == code, (code, error)
    return error


class Refused:
    """Counts wallet_transactions around a block of refusals."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.before = -1

    async def __aenter__(self) -> Refused:
        self.before = await transactions(self.api)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if exc[0] is None:
            assert await transactions(self.api) == self.before, "a refused call wrote"


def fields_of(call: str) -> list[msgspec.structs.FieldInfo]:
    return list(msgspec.structs.fields(REQUEST_TYPES[call]))


def id_fields(call: str) -> list[str]:
    return [f.name for f in fields_of(call) if f.name not in ("amount", "close_round")]


def code_for_text(call: str, field: str) -> str:
    """The refusal of bad text in ``field`` of ``call`` (ids are checked before the session)."""
    if field == "token":
        return "TOKEN_INVALID"
    if field == "currency":
        return "CURRENCY_UNKNOWN"
    return "INVALID_REQUEST"


# -- the valid bodies are accepted: every refusal below is the input's doing -----------------


@pytest.mark.parametrize("call", CALLS)
async def test_the_valid_body_of_each_call_is_accepted(
    api: Api, ctx: dict[str, Any], call: str
) -> None:
    r = await api.post(call, ctx["bodies"][call])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "OK"
    assert api.response_verified(r)


# -- syntax -------------------------------------------------------------------------------

BROKEN_JSON = [
    b"",
    b" ",
    b"{",
    b"}",
    b'{"token": ',
    b'{"token": "abc}',
    b"{'token': 'abc'}",
    b'{"token": "abc",}',
    b'{"token" "abc"}',
    b'{"token": "abc"} {}',
    b'{"token": "abc"}x',
    b'{"token": "abc"}\x00',
    b"not json",
    b"\x00",
    b'{"amount": NaN}',
    b'{"amount": Infinity}',
    b'{"amount": 01}',
    b"\xef\xbb\xbf{}",  # a UTF-8 byte order mark
    '{"token": "abc"}'.encode("utf-16"),
    b'{"token": "abc" /* comment */}',
]
NOT_OBJECTS = [
    b"[]",
    b"[{}]",
    b"null",
    b"true",
    b"0",
    b"1.5",
    b'"token"',
    b"{}",
    b"[" * 30000 + b"]" * 30000,  # deep, but inside the size limit
    b'{"token": ' + b"[" * 30000 + b"]" * 30000 + b"}",
]


@pytest.mark.parametrize("call", CALLS)
async def test_malformed_json_is_refused(api: Api, ctx: dict[str, Any], call: str) -> None:
    async with Refused(api):
        for raw in BROKEN_JSON:
            r = await api.post(call, raw)
            assert_error(r, "INVALID_REQUEST")
            assert api.response_verified(r), raw


@pytest.mark.parametrize("call", CALLS)
async def test_a_json_value_that_is_not_the_object_is_refused(
    api: Api, ctx: dict[str, Any], call: str
) -> None:
    body = ctx["bodies"][call]
    async with Refused(api):
        for raw in [*NOT_OBJECTS, orjson.dumps([body]), orjson.dumps({"body": body})]:
            assert_error(await api.post(call, raw), "INVALID_REQUEST")


@pytest.mark.parametrize("call", CALLS)
async def test_invalid_utf8_is_refused(api: Api, ctx: dict[str, Any], call: str) -> None:
    body = orjson.dumps(ctx["bodies"][call])
    async with Refused(api):
        for bad in (b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\x80", b"\xe2\x82"):
            # Bytes that are not UTF-8, inside a string value and as a key.
            raw = body.replace(b'"EUR"', b'"EU' + bad + b'"') if b'"EUR"' in body else body
            raw = raw.replace(b'"p1"', b'"p' + bad + b'"').replace(b'"token"', b'"t' + bad + b'"')
            assert raw != body
            assert_error(await api.post(call, raw), "INVALID_REQUEST")


# -- types, missing and unknown fields ----------------------------------------------------


def wrong_values(info: msgspec.structs.FieldInfo) -> list[Any]:
    if info.name == "close_round":
        return ["true", "false", 1, 0, None, [], {}, "yes"]
    values: list[Any] = [1, 0, -1, 1.5, True, False, [], {}, ["x"], {"x": "y"}]
    if info.required:
        values.append(None)
    return values


@pytest.mark.parametrize("call", CALLS)
async def test_a_wrong_type_in_any_field_is_refused(
    api: Api, ctx: dict[str, Any], call: str
) -> None:
    body = ctx["bodies"][call]
    async with Refused(api):
        for info in fields_of(call):
            for value in wrong_values(info):
                r = await api.post(call, body | {info.name: value})
                if info.name == "amount":
                    error = assert_error(r, "AMOUNT_INVALID")
                    assert error["details"] == {"field": "amount"}
                else:
                    error = assert_error(r, "INVALID_REQUEST")
                    assert error["details"] == {"field": info.name}, (info.name, value, error)


@pytest.mark.parametrize("call", CALLS)
async def test_a_missing_required_field_is_refused(
    api: Api, ctx: dict[str, Any], call: str
) -> None:
    body = ctx["bodies"][call]
    required = [f.name for f in fields_of(call) if f.required]
    assert required
    async with Refused(api):
        for name in required:
            missing = {k: v for k, v in body.items() if k != name}
            error = assert_error(await api.post(call, missing), "INVALID_REQUEST")
            assert name in error["message"]


UNKNOWN_FIELDS: list[dict[str, Any]] = [
    {"extra": 1},
    {"extra": None},
    {"": ""},
    {"__proto__": {"admin": True}},
    {"constructor": {}},
    {"Token": "x"},
    {"player_id ": "p1"},
    {"amount_minor": 100},
    {"balance": {"cash": "1000000.00"}},
]


@pytest.mark.parametrize("call", CALLS)
async def test_an_unknown_field_is_refused(api: Api, ctx: dict[str, Any], call: str) -> None:
    body = ctx["bodies"][call]
    async with Refused(api):
        for extra in UNKNOWN_FIELDS:
            error = assert_error(await api.post(call, body | extra), "INVALID_REQUEST")
            assert "unknown field" in error["message"], error


# -- size -------------------------------------------------------------------------------


def padded(body: dict[str, Any], size: int) -> bytes:
    """The body as JSON, padded with whitespace to exactly ``size`` bytes."""
    raw = orjson.dumps(body)
    assert len(raw) < size
    return raw[:-1] + b" " * (size - len(raw)) + b"}"


@pytest.mark.parametrize("call", CALLS)
async def test_a_huge_body_is_refused(api: Api, ctx: dict[str, Any], call: str) -> None:
    body = ctx["bodies"][call]
    big = padded(body, LIMIT + 1)
    huge_id = orjson.dumps(body | {"player_id": "p" * 200_000})
    async with Refused(api):
        for raw in (big, padded(body, 4 * LIMIT), huge_id, b"[" * (LIMIT + 10)):
            r = await api.post(call, raw)
            error = assert_error(r, "PAYLOAD_TOO_LARGE")
            assert error["details"] == {"limit": LIMIT}
        # A content-length that lies: small declared, large sent; large declared, small sent.
        for raw, declared in ((big, "100"), (big, str(LIMIT)), (b"{}", "99999999999")):
            r = await api.post(call, raw, headers={"content-length": declared})
            assert_error(r, "PAYLOAD_TOO_LARGE")


async def test_a_body_of_exactly_the_limit_is_read(api: Api, ctx: dict[str, Any]) -> None:
    r = await api.post("balance", padded(ctx["bodies"]["balance"], LIMIT))
    assert r.status_code == 200, r.text
    r = await api.post("balance", padded(ctx["bodies"]["balance"], LIMIT + 1))
    assert_error(r, "PAYLOAD_TOO_LARGE")


# -- unicode tricks in ids ----------------------------------------------------------------

SURROGATES = [rb"a\ud800b", rb"\udc00", rb"\udfff\ud83d", rb"x\ud83d"]
"""Lone or reversed surrogate escapes: valid JSON syntax, but no Unicode text."""

BAD_TEXT = {
    "nul": "a\x00b",
    "control": "a\x1fb",
    "newline": "a\nb",
    "del": "a\x7fb",
    "escape": "\x1b[31mred",
    "ascii-129-bytes": "a" * 129,
    "emoji-33-chars-132-bytes": "\U0001f3b0" * 33,
    "accents-65-chars-130-bytes": "é" * 65,
    "huge": "x" * 10_000,
    "empty": "",
}


@pytest.mark.parametrize("call", CALLS)
async def test_lone_surrogates_in_any_string_field_are_refused(
    api: Api, ctx: dict[str, Any], call: str
) -> None:
    body = ctx["bodies"][call]
    names = [f.name for f in fields_of(call) if f.name != "close_round"]
    async with Refused(api):
        for name in names:
            marked = orjson.dumps(body | {name: "SURROGATE-HERE"})
            for escape in SURROGATES:
                raw = marked.replace(b"SURROGATE-HERE", escape)
                error = assert_error(await api.post(call, raw), "INVALID_REQUEST")
                assert error["details"] == {}, (name, escape, error)


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("trick", sorted(BAD_TEXT))
async def test_bad_text_in_any_id_is_refused(
    api: Api, ctx: dict[str, Any], call: str, trick: str
) -> None:
    body = ctx["bodies"][call]
    async with Refused(api):
        for name in id_fields(call):
            r = await api.post(call, body | {name: BAD_TEXT[trick]})
            code = code_for_text(call, name)
            if trick == "empty" and name == "currency":
                code = "CURRENCY_UNKNOWN"
            error = assert_error(r, code)
            if code == "INVALID_REQUEST":
                # player_id is checked by the adapter; the others by the wallet as written
                expected = "reference" if name == "tx_id" else name
                assert error["details"] == {"field": expected}, (name, error)


@pytest.mark.parametrize("call", ["win", "rollback", "end_round"])
async def test_bad_text_in_any_id_is_refused_without_a_token(
    api: Api, ctx: dict[str, Any], call: str
) -> None:
    """Settlement calls may come without a token: then no session vouches for any field, and
    every id the provider sends is still checked, used or not."""
    body = {k: v for k, v in ctx["bodies"][call].items() if k != "token"}
    accepted: list[tuple[str, str]] = []
    async with Refused(api):
        for trick, text in sorted(BAD_TEXT.items()):
            for name in (n for n in id_fields(call) if n != "token"):
                r = await api.post(call, body | {name: text})
                if r.status_code == 200:
                    accepted.append((name, trick))
                    continue
                code = "CURRENCY_UNKNOWN" if name == "currency" else "INVALID_REQUEST"
                assert_error(r, code)
        assert accepted == []


async def test_lookalike_ids_are_distinct_data_not_tricks(api: Api, ctx: dict[str, Any]) -> None:
    """Ids are text without control characters: RTL overrides and emoji are allowed, stored
    byte for byte, and an id that merely looks the same is another transaction."""
    token = ctx["token"]
    ids = ["b\u202e1", "b1\u202e", "\U0001f3b0", "e\u0301", "\u00e9", "b\u200b1", "b1 "]
    for tx_id in ids:
        r = await api.post("bet", bet_body(token, tx_id=tx_id))
        assert r.status_code == 200, (tx_id, r.text)
        assert r.json()["transaction"]["replay"] is False
        assert r.json()["transaction"]["reference"] == tx_id
    rows = await api.wallet.store.fetch(  # type: ignore[attr-defined]
        "SELECT reference FROM wallet_transactions WHERE kind = $1", "bet"
    )
    assert sorted(r[0] for r in rows) == sorted(["b0", *ids])
    r = await api.post("bet", bet_body(token, tx_id="b\u202e1"))
    assert r.json()["transaction"]["replay"] is True
    # A player id that only looks like p1 is not p1.
    async with Refused(api):
        for player in ("p1\u202e", "\u202ep1", "p\u200b1", "P1", "p1 ", "\uff501"):
            r = await api.post("bet", bet_body(token, tx_id="b9") | {"player_id": player})
            assert_error(r, "TOKEN_INVALID")


# -- amounts ------------------------------------------------------------------------------

JSON_NUMBERS: list[Any] = [1.5, 1e2, 150, 0, -1, 0.1, 2**63 - 1, -(2**63), True, False]
AMOUNT_STRINGS: dict[str, str] = {
    "NaN": "AMOUNT_INVALID",
    "nan": "AMOUNT_INVALID",
    "Infinity": "AMOUNT_INVALID",
    "-Infinity": "AMOUNT_INVALID",
    "inf": "AMOUNT_INVALID",
    "1e2": "AMOUNT_INVALID",
    "1E2": "AMOUNT_INVALID",
    "1.5e0": "AMOUNT_INVALID",
    " 1.50": "AMOUNT_INVALID",
    "1.50 ": "AMOUNT_INVALID",
    "1.50\n": "AMOUNT_INVALID",
    "+1.50": "AMOUNT_INVALID",
    "0x10": "AMOUNT_INVALID",
    "0b1": "AMOUNT_INVALID",
    "\u0661\u0662": "AMOUNT_INVALID",  # Arabic-Indic digits: Python's int() would take them
    "\uff11\uff12": "AMOUNT_INVALID",  # full-width digits
    "1,50": "AMOUNT_INVALID",
    "1_000": "AMOUNT_INVALID",
    "1.5.0": "AMOUNT_INVALID",
    ".5": "AMOUNT_INVALID",
    "5.": "AMOUNT_INVALID",
    "01.50": "AMOUNT_INVALID",
    "": "AMOUNT_INVALID",
    "1" * 41: "AMOUNT_INVALID",
    "1.50\x00": "AMOUNT_INVALID",
    "-1.50": "AMOUNT_OUT_OF_RANGE",
    "99999999999999999999": "AMOUNT_OUT_OF_RANGE",
    "1.505": "AMOUNT_PRECISION",
    "0.001": "AMOUNT_PRECISION",
}


@pytest.mark.parametrize("call", AMOUNT_CALLS)
async def test_an_amount_that_is_not_a_plain_decimal_string_is_refused(
    api: Api, ctx: dict[str, Any], call: str
) -> None:
    body = ctx["bodies"][call]
    async with Refused(api):
        for number in JSON_NUMBERS:
            r = await api.post(call, body | {"amount": number})
            assert_error(r, "AMOUNT_INVALID")
        for raw_number in (b"1e400", b"-0.0", b"123456789012345678901234567890", b"1.0E+2"):
            raw = orjson.dumps(body | {"amount": "AMOUNT"}).replace(b'"AMOUNT"', raw_number)
            assert_error(await api.post(call, raw), "AMOUNT_INVALID")
        for text, code in AMOUNT_STRINGS.items():
            r = await api.post(call, body | {"amount": text})
            assert_error(r, code)
    assert (await api.wallet.balance("p1")).cash == 99_00


# -- media type, method and route ----------------------------------------------------------

MEDIA_TYPES = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/jsonp",
    "application/json-seq",
    "application/problem+json",
    "text/json",
    "application/xml",
    "json",
    "",
]


@pytest.mark.parametrize("call", CALLS)
async def test_a_body_that_is_not_declared_json_is_refused(
    api: Api, ctx: dict[str, Any], call: str
) -> None:
    body = ctx["bodies"][call]
    async with Refused(api):
        for media in MEDIA_TYPES:
            r = await api.post(call, body, headers={"content-type": media})
            assert_error(r, "UNSUPPORTED_MEDIA_TYPE")
            assert r.status_code == 415
        # No content-type header at all.
        raw = orjson.dumps(body)
        path = f"/native/v1/acme/{call}"
        headers = signing.request_headers(
            key_id=api.key_id, secret=api.secret, path=path, body=raw,
            timestamp=int(api.clock().timestamp()), nonce="no-content-type-at-all",
        )  # fmt: skip
        r = await api.http.post(path, content=raw, headers=headers)
        assert_error(r, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize("media", ["application/json; charset=utf-8", "Application/JSON"])
async def test_json_media_type_parameters_and_case_are_accepted(
    api: Api, ctx: dict[str, Any], media: str
) -> None:
    r = await api.post("balance", ctx["bodies"]["balance"], headers={"content-type": media})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("call", CALLS)
async def test_other_methods_are_refused(api: Api, ctx: dict[str, Any], call: str) -> None:
    path = f"/native/v1/acme/{call}"
    async with Refused(api):
        for method in ("GET", "PUT", "PATCH", "DELETE", "OPTIONS"):
            r = await api.http.request(method, path, content=orjson.dumps(ctx["bodies"][call]))
            assert_error(r, "METHOD_NOT_ALLOWED")
            assert r.status_code == 405


UNKNOWN_PATHS = [
    "/native/v1/acme/deposit",
    "/native/v1/acme/withdraw",
    "/native/v1/acme/BET",
    "/native/v1/acme/bet%00",
    "/native/v1/acme/bet/extra",
    "/native/v1/acme/bet/",
    "/native/v1/acme/",
    "/native/v1/acme",
    "/native/v1/",
    "/native/v2/acme/bet",
    "/native/v0/acme/bet",
    "/native/V1/acme/bet",
    "/native/1/acme/bet",
    "/native/v1.1/acme/bet",
    "/native/acme/bet",
    "/hub88/v1/acme/bet",
    "/v1/acme/bet",
    "/native/v1/ac%20me/bet",
    "/native/v1/%C3%A9/bet",
    "/native/v1/" + "a" * 65 + "/bet",
    "/",
]


@pytest.mark.parametrize("path", UNKNOWN_PATHS)
async def test_an_unknown_route_is_refused(api: Api, ctx: dict[str, Any], path: str) -> None:
    body = ctx["bodies"]["bet"] | {"tx_id": "b-route"}
    async with Refused(api):
        r = await api.post("bet", body, path=path)  # signed for the path it is sent to
        assert_error(r, "ROUTE_NOT_FOUND")
        r = await api.post("bet", body, path=path, sign=False)
        assert_error(r, "ROUTE_NOT_FOUND")


# -- hypothesis: whatever JSON arrives, never a 500 ---------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
HYPOTHESIS = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def _check(response: httpx.Response) -> None:
    if response.status_code == 200:
        assert response.json()["status"] == "OK"
    else:
        assert_error(response)


@pytest.mark.parametrize("call", ["bet", "win"])
@HYPOTHESIS
@given(value=JSON_VALUES)
async def test_any_json_value_as_the_body_is_never_a_500(
    api: Api, ctx: dict[str, Any], call: str, value: Any
) -> None:
    async with Refused(api):
        assert_error(await api.post(call, orjson.dumps(value)))


def _one_field_changed(call: str) -> st.SearchStrategy[tuple[str, Any]]:
    names = [f.name for f in fields_of(call)] + ["extra"]
    return st.tuples(st.sampled_from(names), JSON_VALUES)


@pytest.mark.parametrize("call", ["bet", "win"])
@HYPOTHESIS
@given(data=st.data())
async def test_any_json_value_in_any_field_is_never_a_500(
    api: Api, ctx: dict[str, Any], call: str, data: st.DataObject
) -> None:
    name, value = data.draw(_one_field_changed(call))
    body = ctx["bodies"][call] | {"tx_id": f"tx-{data.draw(st.uuids())}", name: value}
    _check(await api.post(call, body))


BYTES = st.binary(max_size=256)
"""Any bytes, alone and inside a JSON string where a decoder must treat them as text."""
RAW_BODIES = BYTES | BYTES.map(lambda b: b'{"player_id": "' + b + b'", "token": "t"}')


@pytest.mark.parametrize("call", ["bet", "win"])
@HYPOTHESIS
@given(raw=RAW_BODIES)
async def test_any_bytes_as_the_body_are_never_a_500(
    api: Api, ctx: dict[str, Any], call: str, raw: bytes
) -> None:
    async with Refused(api):
        assert_error(await api.post(call, raw))


def test_every_call_of_the_protocol_is_covered() -> None:
    assert set(CALLS) == set(valid_bodies("t")) == set(REQUEST_TYPES)
