"""Sign a native v1 request with the standard library only; print curl -H options.

    python3 examples/sign_request.py SECRET KEY_ID PATH BODY [--timestamp T] [--nonce N]

    SECRET=csk_...    # printed once by: croupier keys add demo --key-id demo-key-2
    BODY='{"token":"cst_..."}'
    URL_PATH=/native/v1/demo/authenticate
    curl -s "http://127.0.0.1:8000$URL_PATH" -H content-type:application/json \
      $(python3 examples/sign_request.py "$SECRET" demo-key-2 "$URL_PATH" "$BODY") -d "$BODY"

The timestamp defaults to now and the nonce to a fresh random one; give both to reproduce a
test vector (tests/vectors/native-signing.json). The protocol: docs/protocol.md, "Signing".
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import secrets
import time


def canonical_request(method: str, path: str, timestamp: int, nonce: str, body: bytes) -> bytes:
    """METHOD, PATH, TIMESTAMP, NONCE and the hex SHA-256 of the body, joined by newlines."""
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join((method.upper(), path, str(timestamp), nonce, digest)).encode()


def canonical_response(status: int, path: str, timestamp: int, nonce: str, body: bytes) -> bytes:
    """What a response signature covers; ``nonce`` is the nonce of *your* request."""
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join(("RESPONSE", str(status), path, str(timestamp), nonce, digest)).encode()


def signature(secret: str, canonical: bytes) -> str:
    """The X-Croupier-Signature value: v1= and the hex HMAC-SHA256 keyed by the secret."""
    return "v1=" + hmac.new(secret.encode(), canonical, hashlib.sha256).hexdigest()


def request_headers(
    secret: str, key_id: str, path: str, body: bytes, *, timestamp: int, nonce: str
) -> dict[str, str]:
    """The four headers to send with a POST of ``body`` to ``path``."""
    canonical = canonical_request("POST", path, timestamp, nonce, body)
    return {
        "x-croupier-key": key_id,
        "x-croupier-timestamp": str(timestamp),
        "x-croupier-nonce": nonce,
        "x-croupier-signature": signature(secret, canonical),
    }


def response_verified(
    secret: str, path: str, request_nonce: str, *, status: int, headers: dict[str, str], body: bytes
) -> bool:
    """Whether a response was signed by Croupier as the answer to this request.

    ``headers`` maps lower-case header names to values; ``request_nonce`` is the nonce you sent.
    """
    stamp = headers.get("x-croupier-timestamp", "")
    if not stamp.isdigit():
        return False
    expected = signature(secret, canonical_response(status, path, int(stamp), request_nonce, body))
    return hmac.compare_digest(expected, headers.get("x-croupier-signature", ""))


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Print the signature headers of a native v1 request."
    )
    parser.add_argument("secret", help="the key's secret (croupier keys add prints it once)")
    parser.add_argument("key_id", help="the key's id, e.g. demo-key-2")
    parser.add_argument("path", help="the request path exactly as sent: /native/v1/demo/bet")
    parser.add_argument("body", help="the request body exactly as sent (signed byte for byte)")
    parser.add_argument("--timestamp", type=int, default=None, help="unix seconds; default now")
    parser.add_argument("--nonce", default=None, help="16-128 of A-Z a-z 0-9 _ -; default random")
    args = parser.parse_args()
    headers = request_headers(
        args.secret,
        args.key_id,
        args.path,
        args.body.encode(),
        timestamp=int(time.time()) if args.timestamp is None else args.timestamp,
        nonce=args.nonce or secrets.token_urlsafe(18),
    )
    print(" ".join(f"-H {name}:{value}" for name, value in headers.items()))


if __name__ == "__main__":
    main()
