"""Provider signing keys and their staged rotation: add, accept both, promote, revoke.

1. ``add``: a new key, ``active``: requests signed with it are accepted; the provider
   installs it. (A provider's first key is made ``primary`` at once.)
2. Both keys verify requests for as long as the provider needs to switch.
3. ``promote``: the new key becomes ``primary`` (what Croupier signs outgoing calls and
   launch URLs with); the old one stays ``active``.
4. ``revoke``: the old key stops verifying. The primary key cannot be revoked: promote
   another first, so that no step leaves a provider without a working key.

Responses are signed with the key that signed the request, so the provider can always
verify them. Lookups are cached for ``cache_seconds`` (default 5): a revocation takes effect
on every replica within that time.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from croupier.domain.errors import InvalidRequest, KeyNotFound, KeyStateError, SignatureInvalid
from croupier.services.gateway_ports import KeyStore, ProviderKey
from croupier.services.wallet import utc_now

_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def check_name(what: str, value: str) -> str:
    if not _NAME.fullmatch(value):
        raise InvalidRequest(f"{what} must be 1 to 64 characters of A-Z a-z 0-9 _ . -", field=what)
    return value


class KeyService:
    def __init__(
        self,
        store: KeyStore,
        *,
        cache_seconds: float = 5.0,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.cache_seconds = cache_seconds
        self.clock = clock
        self.monotonic = monotonic
        self._cache: dict[str, tuple[float, dict[str, ProviderKey]]] = {}

    async def add(
        self, provider: str, *, key_id: str | None = None, secret: str | None = None
    ) -> ProviderKey:
        check_name("provider", provider)
        existing = await self.store.keys(provider)
        key_id = check_name("key_id", key_id or f"k{self.clock():%Y%m%d}-{secrets.token_hex(3)}")
        if secret is not None and len(secret) < 32:
            raise InvalidRequest("a secret must be at least 32 characters", field="secret")
        live = [k for k in existing if k.status != "revoked"]
        now = self.clock()
        key = ProviderKey(
            provider=provider,
            key_id=key_id,
            status="active" if live else "primary",
            created_at=now,
            updated_at=now,
            secret=secret or "csk_" + secrets.token_urlsafe(32),
        )
        if not await self.store.insert_key(key):
            raise KeyStateError(f"provider {provider!r} has a key {key_id!r} already")
        self._cache.pop(provider, None)
        return key

    async def list(self, provider: str | None = None) -> Sequence[ProviderKey]:
        return await self.store.keys(provider)

    async def promote(self, provider: str, key_id: str) -> ProviderKey:
        key = await self._get(provider, key_id)
        if key.status == "revoked":
            raise KeyStateError(f"key {key_id!r} is revoked; add a new key instead")
        if key.status != "primary":
            await self.store.set_key_status(provider, key_id, "primary", self.clock())
        self._cache.pop(provider, None)
        return await self._get(provider, key_id)

    async def revoke(self, provider: str, key_id: str) -> ProviderKey:
        key = await self._get(provider, key_id)
        if key.status == "primary":
            raise KeyStateError(
                f"key {key_id!r} is the primary key of {provider!r}; promote another key first"
            )
        if key.status != "revoked":
            await self.store.set_key_status(provider, key_id, "revoked", self.clock())
        self._cache.pop(provider, None)
        return await self._get(provider, key_id)

    async def _get(self, provider: str, key_id: str) -> ProviderKey:
        for key in await self.store.keys(provider):
            if key.key_id == key_id:
                return key
        raise KeyNotFound(f"provider {provider!r} has no key {key_id!r}")

    def known(self, provider: str) -> bool:
        """Whether this provider has keys (as last loaded): used to keep metric labels bounded."""
        return provider in self._cache

    async def verifying_secret(self, provider: str, key_id: str) -> str:
        """The secret of a key that may verify requests now; SignatureInvalid otherwise."""
        now = self.monotonic()
        cached = self._cache.get(provider)
        if cached is None or now - cached[0] > self.cache_seconds:
            keys = {k.key_id: k for k in await self.store.keys(provider)}
            cached = (now, keys)
            if keys:  # unknown providers (any path a caller makes up) are not cached
                self._cache[provider] = cached
        key = cached[1].get(key_id)
        if key is None or key.status == "revoked":
            raise SignatureInvalid("unknown or revoked key", key_id=key_id)
        return key.secret

    async def primary_secret(self, provider: str) -> tuple[str, str]:
        """(key id, secret) of the provider's primary key."""
        for key in await self.store.keys(provider):
            if key.status == "primary":
                return key.key_id, key.secret
        raise KeyNotFound(f"provider {provider!r} has no primary key; run: croupier keys add")
