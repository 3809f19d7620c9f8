"""Request and response signing of the native protocol (croupier.domain.signing).

The vectors in tests/vectors/native-signing.json were computed with openssl, not with this
code: reproducing them proves the canonical strings and the MAC are what docs/protocol.md
says. Then: every malformed header form is refused, the timestamp window's edges, a MAC
that differs in one character is refused, and a hypothesis property that signing then
verifying round-trips while any single change of body, path, nonce or timestamp breaks it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from croupier.domain import signing
from croupier.domain.errors import RequestExpired, SignatureInvalid

VECTORS_FILE = Path(__file__).resolve().parents[1] / "vectors" / "native-signing.json"
VECTORS: list[dict[str, Any]] = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))["vectors"]
REQUESTS = [v for v in VECTORS if v["kind"] == "request"]
RESPONSES = [v for v in VECTORS if v["kind"] == "response"]

MAC = "8812ebf03a778ee16a377cf6bff48c01a6a22f89444d099728ec789865037a60"
GOOD = {
    signing.KEY_HEADER: "k1",
    signing.TIMESTAMP_HEADER: "1795000000",
    signing.NONCE_HEADER: "n0nce-0000000000000001",
    signing.SIGNATURE_HEADER: f"v1={MAC}",
}


def test_the_vector_file_has_requests_and_responses() -> None:
    # Guards the parametrized tests below against an empty or renamed vector list.
    assert len(REQUESTS) >= 4
    assert len(RESPONSES) >= 2
    assert len({v["name"] for v in VECTORS}) == len(VECTORS)


# -- vectors --------------------------------------------------------------------------


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_body_digest_matches_the_vector(vector: dict[str, Any]) -> None:
    assert signing.body_digest(vector["body"].encode()) == vector["body_sha256"]


@pytest.mark.parametrize("vector", REQUESTS, ids=[v["name"] for v in REQUESTS])
def test_request_vector(vector: dict[str, Any]) -> None:
    body = vector["body"].encode()
    canonical = signing.canonical_request(
        vector["method"], vector["path"], vector["timestamp"], vector["nonce"], body
    )
    assert canonical == vector["canonical"].encode()
    assert signing.signature_header(vector["secret"], canonical) == vector["signature"]
    assert vector["signature"] == f"v1={signing.mac(vector['secret'], canonical)}"
    signing.verify(vector["secret"], canonical, vector["signature"].removeprefix("v1="))
    # The method is upper-cased: a client that signs "post" signs the same string.
    lower = signing.canonical_request(
        vector["method"].lower(), vector["path"], vector["timestamp"], vector["nonce"], body
    )
    assert lower == canonical


@pytest.mark.parametrize("vector", REQUESTS, ids=[v["name"] for v in REQUESTS])
def test_request_headers_reproduce_the_vector(vector: dict[str, Any]) -> None:
    headers = signing.request_headers(
        key_id="k1",
        secret=vector["secret"],
        path=vector["path"],
        body=vector["body"].encode(),
        timestamp=vector["timestamp"],
        nonce=vector["nonce"],
    )
    assert headers == {
        "x-croupier-key": "k1",
        "x-croupier-timestamp": str(vector["timestamp"]),
        "x-croupier-nonce": vector["nonce"],
        "x-croupier-signature": vector["signature"],
    }
    parsed = signing.parse_headers(headers)
    assert parsed == signing.SignedHeaders(
        key_id="k1",
        timestamp=vector["timestamp"],
        nonce=vector["nonce"],
        mac=vector["signature"].removeprefix("v1="),
    )


@pytest.mark.parametrize("vector", RESPONSES, ids=[v["name"] for v in RESPONSES])
def test_response_vector(vector: dict[str, Any]) -> None:
    body = vector["body"].encode()
    canonical = signing.canonical_response(
        vector["status"], vector["path"], vector["timestamp"], vector["nonce"], body
    )
    assert canonical == vector["canonical"].encode()
    assert signing.signature_header(vector["secret"], canonical) == vector["signature"]
    signing.verify(vector["secret"], canonical, vector["signature"].removeprefix("v1="))


def test_a_response_signature_is_bound_to_status_and_request_nonce() -> None:
    vector = next(v for v in RESPONSES if v["status"] == 200)
    body = vector["body"].encode()
    mac = vector["signature"].removeprefix("v1=")
    for status, nonce in ((201, vector["nonce"]), (200, "another-nonce-0000001")):
        canonical = signing.canonical_response(
            status, vector["path"], vector["timestamp"], nonce, body
        )
        with pytest.raises(SignatureInvalid):
            signing.verify(vector["secret"], canonical, mac)
    # A request MAC over the same fields is never a valid response MAC (the RESPONSE line).
    request = signing.canonical_request(
        "POST", vector["path"], vector["timestamp"], vector["nonce"], body
    )
    assert signing.mac(vector["secret"], request) != mac


def test_the_secret_is_used_as_its_utf8_bytes() -> None:
    vector = next(v for v in REQUESTS if v["name"] == "unicode-secret")
    canonical = vector["canonical"].encode()
    expected = hmac.new(vector["secret"].encode("utf-8"), canonical, hashlib.sha256).hexdigest()
    assert signing.mac(vector["secret"], canonical) == expected
    assert signing.mac(vector["secret"].encode("utf-8").decode("latin-1"), canonical) != expected


# -- header forms ---------------------------------------------------------------------


def test_well_formed_headers_parse() -> None:
    parsed = signing.parse_headers(GOOD)
    assert parsed == signing.SignedHeaders("k1", 1795000000, "n0nce-0000000000000001", MAC)
    edges = GOOD | {
        signing.KEY_HEADER: "K" * 64,
        signing.NONCE_HEADER: "a" * 16,
        signing.TIMESTAMP_HEADER: "9" * 12,
    }
    assert signing.parse_headers(edges).timestamp == 999_999_999_999
    assert signing.parse_headers(GOOD | {signing.NONCE_HEADER: "_-" * 64}).nonce == "_-" * 64
    assert signing.parse_headers(GOOD | {signing.KEY_HEADER: "a.b_c-D9"}).key_id == "a.b_c-D9"


MALFORMED: list[tuple[str, str]] = [
    # key id
    (signing.KEY_HEADER, ""),
    (signing.KEY_HEADER, "k 1"),
    (signing.KEY_HEADER, "k/1"),
    (signing.KEY_HEADER, "k1\n"),
    (signing.KEY_HEADER, " k1"),
    (signing.KEY_HEADER, "k" * 65),
    (signing.KEY_HEADER, "ключ"),
    (signing.KEY_HEADER, "k1\x00"),
    # timestamp
    (signing.TIMESTAMP_HEADER, ""),
    (signing.TIMESTAMP_HEADER, "-1795000000"),
    (signing.TIMESTAMP_HEADER, "+1795000000"),
    (signing.TIMESTAMP_HEADER, "1795000000.0"),
    (signing.TIMESTAMP_HEADER, " 1795000000"),
    (signing.TIMESTAMP_HEADER, "1795000000 "),
    (signing.TIMESTAMP_HEADER, "1795000000\n"),
    (signing.TIMESTAMP_HEADER, "1.795e9"),
    (signing.TIMESTAMP_HEADER, "0x6afcf380"),
    (signing.TIMESTAMP_HEADER, "1" * 13),
    # Arabic-Indic digits: int() would take them
    (signing.TIMESTAMP_HEADER, "\u0661\u0667\u0669\u0665" + "\u0660" * 6),
    (signing.TIMESTAMP_HEADER, "2026-01-01T12:00:00Z"),
    # nonce
    (signing.NONCE_HEADER, ""),
    (signing.NONCE_HEADER, "a" * 15),
    (signing.NONCE_HEADER, "a" * 129),
    (signing.NONCE_HEADER, "n0nce.0000000000000001"),
    (signing.NONCE_HEADER, "n0nce=0000000000000001"),
    (signing.NONCE_HEADER, "n0nce 0000000000000001"),
    (signing.NONCE_HEADER, "n0nce+000000000000001/"),
    (signing.NONCE_HEADER, "n0nce-000000000000001\n"),
    (signing.NONCE_HEADER, "ñ0nce-0000000000000001"),
    # signature
    (signing.SIGNATURE_HEADER, ""),
    (signing.SIGNATURE_HEADER, MAC),
    (signing.SIGNATURE_HEADER, f"v1={MAC[:-1]}"),
    (signing.SIGNATURE_HEADER, f"v1={MAC}0"),
    (signing.SIGNATURE_HEADER, f"v1={MAC.upper()}"),
    (signing.SIGNATURE_HEADER, f"V1={MAC}"),
    (signing.SIGNATURE_HEADER, f"v2={MAC}"),
    (signing.SIGNATURE_HEADER, f"v1:{MAC}"),
    (signing.SIGNATURE_HEADER, f"v1= {MAC}"),
    (signing.SIGNATURE_HEADER, f"v1={MAC} "),
    (signing.SIGNATURE_HEADER, f"sha256={MAC}"),
    (signing.SIGNATURE_HEADER, f"v1={MAC},v1={MAC}"),
    (signing.SIGNATURE_HEADER, "v1=" + "g" * 64),
    (signing.SIGNATURE_HEADER, "v1=" + "\u0660" * 64),
]


@pytest.mark.parametrize(("header", "value"), MALFORMED)
def test_a_malformed_header_is_refused(header: str, value: str) -> None:
    with pytest.raises(SignatureInvalid) as caught:
        signing.parse_headers(GOOD | {header: value})
    assert caught.value.code == "SIGNATURE_INVALID"
    assert caught.value.http_status == 401
    assert caught.value.details == {"header": header}


@pytest.mark.parametrize("header", sorted(GOOD))
def test_a_missing_header_is_refused(header: str) -> None:
    headers = {name: value for name, value in GOOD.items() if name != header}
    with pytest.raises(SignatureInvalid) as caught:
        signing.parse_headers(headers)
    assert caught.value.code == "SIGNATURE_INVALID"
    assert caught.value.details == {"header": header}
    assert header in caught.value.message


def test_header_names_are_the_lower_case_ones() -> None:
    # The adapter is handed lower-case names (Starlette's headers); other spellings are absent.
    shouted = {name.upper(): value for name, value in GOOD.items()}
    with pytest.raises(SignatureInvalid):
        signing.parse_headers(shouted)


# -- timestamp window -----------------------------------------------------------------

NOW = 1_795_000_000


@pytest.mark.parametrize("offset", [-30, -29, -1, 0, 1, 29, 30])
def test_a_timestamp_inside_the_window_is_accepted(offset: int) -> None:
    signing.check_timestamp(NOW + offset, float(NOW), 30)


@pytest.mark.parametrize("offset", [-31, 31, -3600, 3600, -NOW])
def test_a_timestamp_outside_the_window_is_refused(offset: int) -> None:
    with pytest.raises(RequestExpired) as caught:
        signing.check_timestamp(NOW + offset, float(NOW), 30)
    assert caught.value.code == "REQUEST_EXPIRED"
    assert caught.value.http_status == 401
    assert caught.value.details == {"server_time": NOW}


def test_the_window_follows_its_setting() -> None:
    signing.check_timestamp(NOW - 5, float(NOW), 5)
    with pytest.raises(RequestExpired):
        signing.check_timestamp(NOW - 6, float(NOW), 5)
    with pytest.raises(RequestExpired):
        signing.check_timestamp(NOW + 1, float(NOW), 0)
    signing.check_timestamp(NOW, float(NOW), 0)


# -- verify ---------------------------------------------------------------------------


def test_verify_accepts_the_right_mac_and_refuses_any_one_character_change() -> None:
    canonical = signing.canonical_request("POST", "/native/v1/acme/bet", NOW, "n" * 16, b"{}")
    good = signing.mac("secret", canonical)
    signing.verify("secret", canonical, good)
    for i, char in enumerate(good):
        changed = good[:i] + ("0" if char != "0" else "1") + good[i + 1 :]
        with pytest.raises(SignatureInvalid) as caught:
            signing.verify("secret", canonical, changed)
        assert caught.value.code == "SIGNATURE_INVALID"
    for wrong in ("", good[:-1], good + "0", good.upper(), "secret"):
        with pytest.raises(SignatureInvalid):
            signing.verify("secret", canonical, wrong)
    with pytest.raises(SignatureInvalid):
        signing.verify("secret2", canonical, good)


def test_verify_compares_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(signing.hmac, "compare_digest", spy)
    canonical = b"POST\n/p\n1\nnnnnnnnnnnnnnnnn\n" + b"0" * 64
    good = signing.mac("s", canonical)
    signing.verify("s", canonical, good)
    with pytest.raises(SignatureInvalid):
        signing.verify("s", canonical, "f" * 64)
    assert calls == [(good, good), (good, "f" * 64)]


# -- property: sign, verify, and any single change breaks it --------------------------

NONCES = st.from_regex(r"[A-Za-z0-9_\-]{16,128}", fullmatch=True)
PATHS = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=80
).map(lambda tail: "/native/v1/" + tail)
SECRETS = st.text(min_size=1, max_size=64)
TIMESTAMPS = st.integers(min_value=0, max_value=10**12 - 1)
NONCE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"


def _sign_and_parse(
    secret: str, path: str, body: bytes, timestamp: int, nonce: str
) -> signing.SignedHeaders:
    headers = signing.request_headers(
        key_id="k1", secret=secret, path=path, body=body, timestamp=timestamp, nonce=nonce
    )
    return signing.parse_headers(headers)


def _verifies(secret: str, path: str, body: bytes, *, timestamp: int, nonce: str, mac: str) -> bool:
    try:
        signing.verify(secret, signing.canonical_request("POST", path, timestamp, nonce, body), mac)
    except SignatureInvalid:
        return False
    return True


@settings(max_examples=200)
@given(secret=SECRETS, path=PATHS, body=st.binary(max_size=512), ts=TIMESTAMPS, nonce=NONCES)
def test_sign_then_verify_round_trips(
    secret: str, path: str, body: bytes, ts: int, nonce: str
) -> None:
    parsed = _sign_and_parse(secret, path, body, ts, nonce)
    assert (parsed.key_id, parsed.timestamp, parsed.nonce) == ("k1", ts, nonce)
    assert _verifies(
        secret, path, body, timestamp=parsed.timestamp, nonce=parsed.nonce, mac=parsed.mac
    )


@settings(max_examples=200)
@given(
    secret=SECRETS,
    path=PATHS,
    body=st.binary(min_size=1, max_size=512),
    ts=TIMESTAMPS,
    nonce=NONCES,
    data=st.data(),
)
def test_any_single_change_breaks_the_signature(
    secret: str, path: str, body: bytes, *, ts: int, nonce: str, data: st.DataObject
) -> None:
    mac = _sign_and_parse(secret, path, body, ts, nonce).mac
    what = data.draw(st.sampled_from(["body", "path", "nonce", "timestamp"]), label="what")
    if what == "body":
        i = data.draw(st.integers(0, len(body) - 1), label="index")
        new = data.draw(st.integers(0, 255).filter(lambda b: b != body[i]), label="byte")
        body = body[:i] + bytes([new]) + body[i + 1 :]
    elif what == "path":
        i = data.draw(st.integers(0, len(path) - 1), label="index")
        char = data.draw(
            st.characters(min_codepoint=0x21, max_codepoint=0x7E).filter(lambda c: c != path[i]),
            label="char",
        )
        path = path[:i] + char + path[i + 1 :]
    elif what == "nonce":
        i = data.draw(st.integers(0, len(nonce) - 1), label="index")
        char = data.draw(st.sampled_from(NONCE_CHARS).filter(lambda c: c != nonce[i]))
        nonce = nonce[:i] + char + nonce[i + 1 :]
    else:
        digits = str(ts)
        i = data.draw(st.integers(0, len(digits) - 1), label="index")
        digit = data.draw(st.sampled_from("0123456789").filter(lambda d: d != digits[i]))
        changed = digits[:i] + digit + digits[i + 1 :]
        # As the server would read the header: a changed digit is a different timestamp.
        ts = signing.parse_headers(GOOD | {signing.TIMESTAMP_HEADER: changed}).timestamp
    assert not _verifies(secret, path, body, timestamp=ts, nonce=nonce, mac=mac), what
