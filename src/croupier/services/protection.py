"""Player protection: cool-off, self-exclusion and limits.

An exclusion is never shortened or lifted (the table is append-only): a later, longer one
extends the protection. It takes effect at once, first in the player's limits row that every
bet and deposit reads under the wallet's lock (so they are refused, ``SELF_EXCLUDED`` or
``COOLING_OFF``, whatever session they come through), then by closing the player's live
sessions and refusing launches; wins and rollbacks of rounds in flight still settle. Limits
themselves are rules of the domain (``domain/limits.py``), changed here with an audit record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from croupier.domain.errors import CroupierError, InvalidRequest
from croupier.domain.limits import DEFAULT_COOLING, LIMIT_KINDS, TIME_LIMITS, LimitState
from croupier.domain.money import INT64_MAX
from croupier.services.operator_ports import Exclusion, OperatorStore
from croupier.services.sessions import SessionService

log = logging.getLogger("croupier.protection")

COOL_OFF_DAYS = (1, 42)
"""A cool-off (a "break") of one day to six weeks."""
SELF_EXCLUSION_MIN_DAYS = 180
"""Six months at least (GAMSTOP, the UK scheme, offers six months, one or five years), or
indefinite."""


class ProtectionService:
    def __init__(
        self,
        store: OperatorStore,
        sessions: SessionService,
        *,
        clock: Callable[[], datetime],
        cooling: timedelta = DEFAULT_COOLING,
    ) -> None:
        self.store = store
        self.sessions = sessions
        self.clock = clock
        self.cooling = cooling

    async def set_limit(
        self, player_id: str, kind: str, value: int | None, *, actor: str
    ) -> tuple[LimitState, datetime]:
        """One limit (minor units, or minutes for ``session_minutes`` and
        ``reality_check_minutes``; None removes it): a decrease or a new limit at once, an
        increase or a removal after the cooling period. The request is recorded
        (``protection_events``, append-only) once applied, with when it takes effect."""
        if kind not in LIMIT_KINDS:
            raise InvalidRequest(
                f"unknown limit {kind!r}; known: {', '.join(LIMIT_KINDS)}", field="kind"
            )
        if value is not None and not 0 < value <= INT64_MAX:
            raise InvalidRequest("a limit is a positive amount; null removes it", field="value")
        if kind in TIME_LIMITS and value is not None and value > 7 * 24 * 60:
            raise InvalidRequest("a time limit is at most a week of minutes", field="value")
        state, effective, previous = await self.sessions.wallet.set_limit(
            player_id, kind, value, cooling=self.cooling
        )
        # Recorded once applied, from what the locked change saw (a record written first
        # could state a change that then failed, or a "previous" read before the lock).
        await self.store.insert_protection_event(
            player_id, "limit", {"limit": kind, "value": value, "previous": previous,
                                 "effective_at": effective.isoformat(timespec="seconds")},
            actor, self.clock(),
        )  # fmt: skip
        return state, effective

    async def limits(self, player_id: str) -> LimitState:
        return await self.sessions.wallet.limits(player_id)

    async def events(self, player_id: str) -> Sequence[dict[str, object]]:
        return await self.store.protection_events(player_id)

    async def exclude(
        self, player_id: str, kind: str, *, days: int | None, actor: str, reason: str
    ) -> Exclusion:
        """Start a cool-off (``days`` 1-42) or a self-exclusion (``days`` >= 180, or None for
        indefinite) now; close the player's live sessions."""
        if kind == "cool_off":
            low, high = COOL_OFF_DAYS
            if days is None or not low <= days <= high:
                raise InvalidRequest(f"a cool-off lasts {low} to {high} days", field="days")
        elif kind == "self_exclusion":
            if days is not None and not SELF_EXCLUSION_MIN_DAYS <= days <= 36500:
                raise InvalidRequest(
                    f"a self-exclusion lasts at least {SELF_EXCLUSION_MIN_DAYS} days, or is "
                    "indefinite (no days)",
                    field="days",
                )
        else:
            raise InvalidRequest("kind is cool_off or self_exclusion", field="kind")
        if len(reason) > 500:
            raise InvalidRequest("reason is at most 500 characters", field="reason")
        now = self.clock()
        exclusion = Exclusion(
            player_id=player_id, kind=kind, starts_at=now,
            ends_at=now + timedelta(days=days) if days is not None else None,
            actor=actor, reason=reason, created_at=now,
        )  # fmt: skip
        # First where every bet and deposit reads it, under the wallet's lock: from here on
        # the player cannot play, whatever session a launch racing this one opens.
        await self.sessions.wallet.exclude(player_id, kind, exclusion.ends_at)
        await self.store.insert_exclusion(exclusion)
        for session in await self.sessions.store.live_sessions(player_id):
            try:  # ended sessions also tell the provider; a bet on one is refused anyway
                await self.sessions.close(
                    session.id, actor=f"protection:{actor}",
                    reason=f"player {kind.replace('_', '-')}",
                )  # fmt: skip
            except CroupierError:
                log.exception(
                    "session not closed after an exclusion", extra={"session": session.id}
                )
        return exclusion

    async def history(self, player_id: str) -> Sequence[Exclusion]:
        return await self.store.exclusions(player_id)

    async def current(self, player_id: str) -> Exclusion | None:
        """The active exclusion that ends last (an indefinite one before any other)."""
        now = self.clock()
        active = [e for e in await self.store.exclusions(player_id) if e.active(now)]
        if not active:
            return None
        return max(active, key=lambda e: (e.ends_at is None, e.ends_at or now, e.kind))

    async def check(self, player_id: str) -> None:
        """Refuse play while an exclusion is active (SELF_EXCLUDED before COOLING_OFF), from
        the same state every bet and deposit reads."""
        (await self.sessions.wallet.limits(player_id)).check_excluded(self.clock())
