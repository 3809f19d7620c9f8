"""The sandbox's memory across restarts: three append-only JSON Lines files in a directory of
its own (``var/sandbox/<provider>/`` by default).

- ``seeds.jsonl``: each player's seed pair as it changes (created, a nonce used, rotated), and
  each server seed revealed. The server seeds in use are secrets: the directory is the
  provider's, as its database would be.
- ``rounds.jsonl``: each round as it ends (and again if a resend settles it later).
- ``feed.jsonl``: each line of the transaction feed (and again when a resent rollback changes
  what a bet became).
- ``pending.jsonl``: each call or delivery still owed (a win, a rollback, an end of round, a
  round event the wallet has not decided), and when it was decided: a restart resends what
  is still owed.

Reading replays the files, the last record of a key winning. A line cut short by a crash is
skipped. Writes are flushed, not fsynced: the sandbox is a rehearsal partner, the wallet is
the system of record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

FILES = ("seeds", "rounds", "feed", "pending")


@dataclass
class Restored:
    seeds: dict[str, dict[str, Any]] = field(default_factory=dict)
    revealed: dict[str, str] = field(default_factory=dict)
    rounds: dict[str, dict[str, Any]] = field(default_factory=dict)
    feed: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: int = 0


class Journal:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # seeds in use are secrets
        directory.chmod(0o700)  # also when it was there before
        self._files: dict[str, IO[str]] = {}

    def _file(self, name: str) -> IO[str]:
        handle = self._files.get(name)
        if handle is None:
            path = self.directory / f"{name}.jsonl"
            path.touch(mode=0o600, exist_ok=True)
            handle = path.open("a", encoding="utf-8")
            self._files[name] = handle
        return handle

    def write(self, name: str, record: dict[str, Any]) -> None:
        handle = self._file(name)
        handle.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
        handle.flush()

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files.clear()

    def read(self) -> Restored:
        out = Restored()
        for name in FILES:
            path = self.directory / f"{name}.jsonl"
            if not path.exists():
                continue
            with path.open(encoding="utf-8") as lines:
                for line in lines:
                    try:
                        record = json.loads(line)
                    except ValueError:
                        out.skipped += 1
                        continue
                    try:
                        self._apply(out, name, record)
                    except (KeyError, TypeError, AttributeError):
                        out.skipped += 1
        return out

    @staticmethod
    def _apply(out: Restored, name: str, record: dict[str, Any]) -> None:
        if name == "seeds" and "revealed" in record:
            out.revealed[str(record["revealed"])] = str(record["server_seed"])
        elif name == "seeds":
            out.seeds[str(record["player_id"])] = record
        elif name == "rounds":
            out.rounds[str(record["id"])] = record
        elif name == "pending":
            out.pending[str(record["key"])] = record
        else:
            out.feed[str(record["tx_id"])] = record
