"""Sign a webhook delivery the Standard Webhooks way, standard library only; print curl -H
options for it.

    python3 examples/sign_webhook.py SECRET MSG_ID BODY [--timestamp T]

    SECRET=whsec_...  # printed once by: croupier webhooks secret-add acme
    BODY='{"event":"round","id":"e-1"}'
    curl -s http://127.0.0.1:8000/webhooks/acme -H content-type:application/json \
      $(python3 examples/sign_webhook.py "$SECRET" msg_1 "$BODY") -d "$BODY"

The timestamp defaults to now; give it to reproduce the public test vector
(tests/vectors/standard-webhooks.json). The scheme: docs/webhooks.md.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import time


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,`` and the base64 HMAC-SHA256 of ``msg_id.timestamp.body``, keyed with the
    base64-decoded secret after ``whsec_``."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("secret")
    parser.add_argument("msg_id")
    parser.add_argument("body")
    parser.add_argument("--timestamp", type=int, default=None)
    args = parser.parse_args()
    stamp = args.timestamp if args.timestamp is not None else int(time.time())
    sig = signature(args.secret, args.msg_id, stamp, args.body.encode())
    print(f"-H webhook-id:{args.msg_id} -H webhook-timestamp:{stamp} -H webhook-signature:{sig}")


if __name__ == "__main__":
    main()
