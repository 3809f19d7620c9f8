"""Add the checksum to a webhook event, standard library only: reads the event's JSON
(without ``checksum``) on stdin, prints it compact with ``checksum`` added.

    BODY=$(python3 examples/event_checksum.py <<'JSON'
    {"event_id": "e-1", "type": "jackpot", "player_id": "alice", ...}
    JSON
    )

The checksum is the hex SHA-256 of the event's JSON without that field, keys sorted, no
spaces, UTF-8 (docs/webhooks.md, src/croupier/schemas/webhook-event.v1.json).
"""

from __future__ import annotations

import hashlib
import json
import sys


def checksum(event: dict[str, object]) -> str:
    rest = {k: v for k, v in event.items() if k != "checksum"}
    text = json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def main() -> None:
    event = json.load(sys.stdin)
    event["checksum"] = checksum(event)
    print(json.dumps(event, separators=(",", ":"), ensure_ascii=False))


if __name__ == "__main__":
    main()
