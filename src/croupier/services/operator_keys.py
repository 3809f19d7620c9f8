"""Operator API keys: hashed at rest, scoped, revocable at once.

A key is shown once, as ``cok_<key id>.<secret>``, and sent as ``Authorization: Bearer
<key>``. Only the SHA-256 of the secret is stored: the secret is 32 random bytes, so a hash
that is fast to compute is enough (there is nothing to guess), and a stolen table opens
nothing. Every request reads the key row: a revocation holds from the next request on.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from croupier.domain.errors import InvalidRequest, KeyNotFound, OperatorKeyInvalid, ScopeNotGranted
from croupier.services.operator_ports import OperatorKey, OperatorStore
from croupier.services.wallet import utc_now

SCOPES = {
    "players:read": "read player profiles, balances, limits and exclusions",
    "players:write": "create players, change their profile, block and unblock them",
    "cashier": "deposits and withdrawals",
    "catalogue:read": "read providers and games",
    "catalogue:write": "add and change providers and games, enable and disable them",
    "launch": "launch games for players (and in demo mode)",
    "protection": "start cool-offs and self-exclusions, set limits",
    "history:read": "read transaction, round and session history, and alerts",
    "recon:read": "read reconciliation runs, reports and cases",
    "recon:write": "run reconciliations, move and correct their cases",
}
"""Every scope an operator key may hold, and what it allows."""

PREFIX = "cok_"
_TOKEN = re.compile(r"cok_([0-9a-f]{12})\.([A-Za-z0-9_\-]{43})")
_LABEL = re.compile(r"[^\x00-\x1f\x7f]{0,128}")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_scopes(scopes: Iterable[str]) -> frozenset[str]:
    wanted = frozenset(scopes)
    if "all" in wanted:
        wanted = (wanted - {"all"}) | frozenset(SCOPES)
    unknown = sorted(wanted - SCOPES.keys())
    if unknown or not wanted:
        raise InvalidRequest(
            f"unknown scopes {unknown}; known: {', '.join(SCOPES)} (or all)"
            if unknown
            else "a key needs at least one scope",
            field="scopes",
        )
    return wanted


class OperatorKeyService:
    def __init__(self, store: OperatorStore, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.store = store
        self.clock = clock

    async def add(self, scopes: Iterable[str], label: str = "") -> tuple[OperatorKey, str]:
        """A new key and its token, which is shown this once and never stored."""
        if not _LABEL.fullmatch(label):
            raise InvalidRequest("a label is at most 128 characters, no control characters")
        key = OperatorKey(
            key_id=secrets.token_hex(6),
            scopes=check_scopes(scopes),
            label=label,
            status="active",
            created_at=self.clock(),
        )
        secret = secrets.token_urlsafe(32)
        if not await self.store.insert_operator_key(key, hash_secret(secret)):
            raise InvalidRequest("key id collision; try again")  # 2^-48: never, in practice
        return key, f"{PREFIX}{key.key_id}.{secret}"

    async def list(self) -> Sequence[OperatorKey]:
        return await self.store.operator_keys()

    async def revoke(self, key_id: str) -> OperatorKey:
        if not await self.store.revoke_operator_key(key_id, self.clock()):
            found = await self.store.operator_key(key_id)
            if found is None:
                raise KeyNotFound(f"no operator key {key_id!r}")
            return found[0]  # revoked already: the same end state
        found = await self.store.operator_key(key_id)
        assert found is not None  # noqa: S101 - just updated
        return found[0]

    async def authenticate(self, authorization: str | None, scope: str) -> OperatorKey:
        """The key behind an ``Authorization: Bearer cok_...`` header, if it is active and
        holds ``scope``. The same error for every failure of the key itself, so that a
        caller learns nothing about which keys exist."""
        scheme, _, token = (authorization or "").partition(" ")
        match = _TOKEN.fullmatch(token.strip()) if scheme.lower() == "bearer" else None
        if match is None:
            raise OperatorKeyInvalid("send Authorization: Bearer cok_<key id>.<secret>")
        found = await self.store.operator_key(match.group(1))
        # Compared even for an unknown id, so that timing does not tell which ids exist.
        same = hmac.compare_digest(found[1] if found else "0" * 64, hash_secret(match.group(2)))
        if found is None or not same or found[0].status != "active":
            raise OperatorKeyInvalid("unknown or revoked operator key")
        key = found[0]
        if scope not in key.scopes:
            raise ScopeNotGranted(f"this key lacks the scope {scope!r}", scope=scope)
        return key
