"""Webhook signatures, checked before any business field of a delivery is read.

Standard Webhooks 1.0 (https://www.standardwebhooks.com): headers ``webhook-id``,
``webhook-timestamp`` (Unix seconds) and ``webhook-signature``, a space-separated list of
``v1,<base64 HMAC-SHA256>`` (several during a secret's rotation: any valid one passes). The
key is the base64-decoded secret without its ``whsec_`` prefix; the signed content is
``id.timestamp.raw_body``. A timestamp more than five minutes from now, either way, is
refused.

Pure: the caller gives the secrets, the headers, the raw body and the time.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping

from croupier.domain.errors import AuthenticationFailed, RequestExpired, SignatureInvalid

TOLERANCE_SECONDS = 300
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
_ID = re.compile(r"[A-Za-z0-9_.:\-]{1,128}")


def valid_id(value: str) -> bool:
    """A delivery id: 1 to 128 of A-Z a-z 0-9 _ . : -."""
    return bool(_ID.fullmatch(value))


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret; ValueError if it is not one."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a Standard Webhooks secret starts with whsec_")
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except binascii.Error as exc:
        raise ValueError("a whsec_ secret is base64 after its prefix") from exc
    if len(key) < 16:
        raise ValueError("a whsec_ secret holds at least 16 bytes")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` signature of a delivery (what a sender puts in the header)."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    secrets: Iterable[str], headers: Mapping[str, str], body: bytes, *, now: int,
    tolerance: int = TOLERANCE_SECONDS,
) -> str:  # fmt: skip
    """The delivery's id, if one of its signatures is valid under one of ``secrets`` and its
    timestamp is within ``tolerance`` seconds of ``now``; a typed refusal otherwise."""
    msg_id = headers.get(ID_HEADER, "")
    stamp = headers.get(TIMESTAMP_HEADER, "")
    given = headers.get(SIGNATURE_HEADER, "")
    if not msg_id or not stamp or not given:
        raise AuthenticationFailed(
            "a webhook needs webhook-id, webhook-timestamp and webhook-signature headers"
        )
    if not _ID.fullmatch(msg_id):
        raise AuthenticationFailed("webhook-id is 1 to 128 of A-Z a-z 0-9 _ . : -")
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        raise AuthenticationFailed("webhook-timestamp is Unix seconds")
    timestamp = int(stamp)
    if abs(now - timestamp) > tolerance:
        raise RequestExpired(
            f"webhook-timestamp is more than {tolerance} s from now", tolerance=tolerance
        )
    offered = [
        part.removeprefix("v1,")
        for part in given.split()
        if part.startswith("v1,") and part.isascii()
    ]
    for secret in secrets:
        expected = sign(secret, msg_id, timestamp, body).removeprefix("v1,")
        if any(hmac.compare_digest(expected, candidate) for candidate in offered):
            return msg_id
    raise SignatureInvalid("no webhook-signature matches a secret of this provider")
