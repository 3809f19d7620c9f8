"""Request and response signing of the native wallet protocol (docs/protocol.md, "Signing").

A request is signed with HMAC-SHA256, keyed by the provider's secret (its UTF-8 bytes), over
five lines joined by ``\\n``::

    METHOD            upper case, e.g. POST
    PATH              the request path exactly as sent, e.g. /native/v1/acme/bet
    TIMESTAMP         unix seconds, decimal digits, as in the X-Croupier-Timestamp header
    NONCE             as in the X-Croupier-Nonce header
    BODY-SHA256       lower-case hex SHA-256 of the raw body bytes (of b"" when empty)

A response is signed with the same key over ``RESPONSE``, the HTTP status, the request path,
the response timestamp, the *request's* nonce and the SHA-256 of the response body, so that a
response cannot be replayed as the answer to another request. The signature header carries
``v1=`` and the lower-case hex MAC. Test vectors: ``tests/vectors/native-signing.json``.

Everything here is pure; the caller supplies the clock and the key lookup.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from croupier.domain.errors import RequestExpired, SignatureInvalid

KEY_HEADER = "x-croupier-key"
TIMESTAMP_HEADER = "x-croupier-timestamp"
NONCE_HEADER = "x-croupier-nonce"
SIGNATURE_HEADER = "x-croupier-signature"
SCHEME = "v1"

_KEY_ID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_NONCE = re.compile(r"[A-Za-z0-9_\-]{16,128}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v1=([0-9a-f]{64})")


@dataclass(frozen=True, slots=True)
class SignedHeaders:
    key_id: str
    timestamp: int
    nonce: str
    mac: str


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def canonical_request(method: str, path: str, timestamp: int, nonce: str, body: bytes) -> bytes:
    return "\n".join((method.upper(), path, str(timestamp), nonce, body_digest(body))).encode()


def canonical_response(status: int, path: str, timestamp: int, nonce: str, body: bytes) -> bytes:
    return "\n".join(
        ("RESPONSE", str(status), path, str(timestamp), nonce, body_digest(body))
    ).encode()


def mac(secret: str, canonical: bytes) -> str:
    return hmac.new(secret.encode(), canonical, hashlib.sha256).hexdigest()


def signature_header(secret: str, canonical: bytes) -> str:
    return f"{SCHEME}={mac(secret, canonical)}"


def parse_headers(get: dict[str, str]) -> SignedHeaders:
    """The four signature headers, each checked for form; SignatureInvalid names what is wrong.

    ``get`` maps lower-case header names to values.
    """
    values = {}
    for name in (KEY_HEADER, TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER):
        value = get.get(name)
        if value is None:
            raise SignatureInvalid(f"missing header {name}", header=name)
        values[name] = value
    if not _KEY_ID.fullmatch(values[KEY_HEADER]):
        raise SignatureInvalid("malformed key id", header=KEY_HEADER)
    if not _TIMESTAMP.fullmatch(values[TIMESTAMP_HEADER]):
        raise SignatureInvalid("timestamp must be unix seconds", header=TIMESTAMP_HEADER)
    if not _NONCE.fullmatch(values[NONCE_HEADER]):
        raise SignatureInvalid(
            "nonce must be 16 to 128 characters of A-Z a-z 0-9 _ -", header=NONCE_HEADER
        )
    match = _SIGNATURE.fullmatch(values[SIGNATURE_HEADER])
    if match is None:
        raise SignatureInvalid("signature must be v1=<64 hex digits>", header=SIGNATURE_HEADER)
    return SignedHeaders(
        key_id=values[KEY_HEADER],
        timestamp=int(values[TIMESTAMP_HEADER]),
        nonce=values[NONCE_HEADER],
        mac=match.group(1),
    )


def check_timestamp(timestamp: int, now: float, window_seconds: int) -> None:
    if abs(now - timestamp) > window_seconds:
        raise RequestExpired(
            f"timestamp is more than {window_seconds} s away from the server's clock",
            server_time=int(now),
        )


def verify(secret: str, canonical: bytes, given_mac: str) -> None:
    """SignatureInvalid unless ``given_mac`` is the MAC of ``canonical`` (constant-time)."""
    if not hmac.compare_digest(mac(secret, canonical), given_mac):
        raise SignatureInvalid("signature does not match")


def request_headers(
    *, key_id: str, secret: str, path: str, body: bytes, timestamp: int, nonce: str
) -> dict[str, str]:
    """The four headers a client sends (what ``croupier sign`` prints)."""
    canonical = canonical_request("POST", path, timestamp, nonce, body)
    return {
        KEY_HEADER: key_id,
        TIMESTAMP_HEADER: str(timestamp),
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: signature_header(secret, canonical),
    }
