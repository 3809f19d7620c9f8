"""Game sessions: tokens, the state machine (domain/sessions.py) and its event record.

A session is opened for a player and a game (by the operator's launch, issue 4; today by
``croupier session open``). Its token is short-lived (``token_seconds``, default 15 min) and
refreshable; only the SHA-256 of a token is stored. A bet needs an unexpired token of a
session that takes bets; a win, rollback or end round is never refused for the token's age
(the money contract, rule 9). Sessions that ended are moved on by ``sweep``: to
``pending_settlement`` while a round is open, then ``settled`` (or ``reversed`` when every
bet was rolled back, ``cancelled`` when there was none).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from croupier.domain.errors import (
    IllegalTransition,
    SessionClosed,
    SessionNotFound,
    StakeCapExceeded,
    TokenExpired,
    TokenInvalid,
)
from croupier.domain.jurisdictions import BetRules
from croupier.domain.sessions import (
    GameSession,
    SessionEvent,
    SessionState,
    check_transition,
    closing_state,
)
from croupier.domain.wallet import check_ref
from croupier.services import context as call_context
from croupier.services.gateway_ports import SessionStore, SessionSummary
from croupier.services.ports import SessionFound
from croupier.services.wallet import WalletService, utc_now

S = SessionState
MAX_TOKEN_LENGTH = 128


MAX_EVENT_TX_IDS = 1000
"""A session event lists at most this many wallet transaction ids (the first ones); every
transaction also names its session, so the full list is one query away."""


def _capped(tx_ids: Sequence[int]) -> Sequence[int]:
    return tx_ids[:MAX_EVENT_TX_IDS]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def checked_token(token: object) -> str:
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise TokenInvalid("token is missing or malformed")
    return token


class MoneyCallGuard:
    """SessionGuard of one money call; after it passed, ``session`` is the call's session."""

    def __init__(
        self,
        service: SessionService,
        token: str,
        provider: str,
        player_id: str,
        game_code: str | None,
        *,
        bet: bool,
        stake: int | None = None,
    ) -> None:
        self.token_hash = token_hash(checked_token(token))
        self._stake = stake
        self._service = service
        self._provider = provider
        self.player_id = player_id
        self._game_code = game_code
        self._bet = bet
        self.session: GameSession | None = None
        self.owner_verified = False
        """The token is this player's: an answer may state the player's balance."""

    def note(self, found: SessionFound | None) -> None:
        """For a repeat (answered before any session check): note whether the token is this
        player's, so that its answer may state the balance. Never refuses."""
        self.owner_verified = (
            found is not None
            and found[0].provider == self._provider
            and found[0].player_id == self.player_id
        )

    def __call__(self, found: SessionFound | None) -> None:
        # Whose token first: an expired or closed session's refusal states the balance of
        # the player, which only the holder of that player's token may learn.
        session, expires = self._service.check_found(found, self._provider)
        SessionService.check_owner(session, self.player_id, self._game_code)
        self.owner_verified = True
        if self._bet:
            self._service.check_unexpired(session, expires)
            if not session.state.takes_bets:
                raise SessionClosed(f"session {session.id!r} is {session.state}; no more bets",
                                    state=session.state.value)  # fmt: skip
            cap = session.stake_cap
            if cap is not None and self._stake is not None and self._stake > cap:
                raise StakeCapExceeded(
                    f"a stake of {self._stake} is over this session's cap of {cap} "
                    f"({session.stake_cap_rule})",
                    rule=session.stake_cap_rule, stake_cap=cap,
                )  # fmt: skip
        self.session = session
        call_context.bind(session_id=session.id)  # stored with the transaction


class SessionService:
    def __init__(
        self,
        store: SessionStore,
        wallet: WalletService,
        *,
        token_seconds: int = 900,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.store = store
        self.wallet = wallet
        self.token_seconds = token_seconds
        self.clock = clock

    def _event(
        self,
        session: GameSession,
        to_state: SessionState,
        *,
        actor: str,
        reason: str,
        round_ref: str | None = None,
        tx_ids: Sequence[int] = (),
        first: bool = False,
    ) -> SessionEvent:
        return SessionEvent(
            session_id=session.id,
            from_state=None if first else session.state,
            to_state=to_state,
            actor=actor,
            reason=reason,
            at=self.clock(),
            round_ref=round_ref,
            tx_ids=tuple(tx_ids),
            correlation_id=call_context.current().correlation_id,
        )

    def _new_token(self) -> tuple[str, datetime]:
        return "cst_" + secrets.token_urlsafe(32), self.clock() + timedelta(
            seconds=self.token_seconds
        )

    # -- opening and tokens -------------------------------------------------------------

    async def open(
        self,
        *,
        provider: str,
        player_id: str,
        game_code: str,
        actor: str = "operator",
        rules: BetRules | None = None,
    ) -> tuple[GameSession, str, datetime]:
        """A new session in ``created`` and its first token; ``rules`` (from a launch) are
        checked on each of its bets."""
        check_ref("provider", provider)
        check_ref("game_code", game_code)
        balances = await self.wallet.balance(player_id)  # PlayerNotFound if no wallet
        now = self.clock()
        session = GameSession(
            id="gs_" + secrets.token_hex(12),
            provider=provider,
            player_id=player_id,
            currency=balances.currency,
            game_code=game_code,
            state=S.CREATED,
            created_at=now,
            updated_at=now,
            version=1,
            jurisdiction=rules.jurisdiction if rules else None,
            stake_cap=rules.stake_cap if rules else None,
            stake_cap_rule=rules.stake_cap_rule if rules else None,
            min_round_ms=rules.min_round_ms if rules else None,
            min_round_rule=rules.min_round_rule if rules else None,
        )
        token, expires = self._new_token()
        event = self._event(session, S.CREATED, actor=actor, reason="session opened", first=True)
        await self.store.create_session(session, token_hash(token), expires, event)
        return session, token, expires

    async def resolve(self, provider: str, token: str) -> tuple[GameSession, datetime]:
        """The session of an unexpired token of this provider; TokenInvalid or TokenExpired."""
        found = await self.store.session_by_token(token_hash(checked_token(token)))
        session, expires = self.check_found(found, provider)
        self.check_unexpired(session, expires)
        return session, expires

    @staticmethod
    def check_found(found: SessionFound | None, provider: str) -> SessionFound:
        """A session was found for the token, and it is this provider's."""
        if found is None or found[0].provider != provider:
            raise TokenInvalid("unknown session token")
        return found

    def check_unexpired(self, session: GameSession, expires: datetime) -> None:
        if expires <= self.clock():
            raise TokenExpired("session token has expired; relaunch the game for a new one",
                               session_id=session.id)  # fmt: skip

    def guard(
        self,
        provider: str,
        token: str,
        player_id: str,
        game_code: str | None,
        *,
        bet: bool,
        stake: int | None = None,
    ) -> MoneyCallGuard:
        """The session check a money call runs inside its transaction (wallet service).

        A bet needs an unexpired token of a session that takes bets, and a ``stake`` within
        the session's cap (set by the launch from the jurisdiction's rules); a win, rollback
        or end round only a token of this provider, player (and game, if named), of any
        age."""
        return MoneyCallGuard(self, token, provider, player_id, game_code, bet=bet, stake=stake)

    async def authenticate(self, provider: str, token: str) -> tuple[GameSession, datetime]:
        """The game client loaded: created -> launched (a repeat is harmless)."""
        session, expires = await self.resolve(provider, token)
        if not session.state.takes_bets:
            raise SessionClosed(f"session {session.id!r} is {session.state}", state=session.state)
        if session.state is S.CREATED:
            session = await self.move(session, S.LAUNCHED, actor=f"provider:{provider}",
                                      reason="provider authenticated the token")  # fmt: skip
        return session, expires

    async def refresh(self, provider: str, token: str) -> tuple[GameSession, str, datetime]:
        """A new token for a live session; the old one keeps its own expiry."""
        session, _ = await self.resolve(provider, token)
        if not session.state.takes_bets:
            raise SessionClosed(f"session {session.id!r} is {session.state}", state=session.state)
        new, expires = self._new_token()
        await self.store.add_token(session.id, token_hash(new), self.clock(), expires)
        return session, new, expires

    @staticmethod
    def check_owner(session: GameSession, player_id: str, game_code: str | None) -> None:
        if session.player_id != player_id:
            raise TokenInvalid("the token belongs to another player")
        if game_code is not None and session.game_code != game_code:
            raise TokenInvalid(f"the token is for game {session.game_code!r}",
                               game_code=session.game_code)  # fmt: skip

    # -- transitions --------------------------------------------------------------------

    async def move(
        self,
        session: GameSession,
        target: SessionState,
        *,
        actor: str,
        reason: str,
        round_ref: str | None = None,
        tx_ids: Sequence[int] = (),
    ) -> GameSession:
        """One transition, stored as an event; IllegalTransition if the machine forbids it.

        If another writer moved the session meanwhile, the move is checked again against
        the state it found (and is a no-op if that writer already made it)."""
        for _ in range(8):
            if session.state is target:
                return session
            check_transition(session.id, session.state, target)
            event = self._event(session, target, actor=actor, reason=reason,
                                round_ref=round_ref, tx_ids=tx_ids)  # fmt: skip
            if await self.store.transition(session, event):
                return replace(session, state=target, version=session.version + 1,
                               updated_at=event.at)  # fmt: skip
            session = await self.get(session.id)
        raise IllegalTransition(f"session {session.id!r} kept changing; try again")

    async def bet_placed(self, session: GameSession, *, round_ref: str, tx_id: int) -> GameSession:
        """The first accepted bet makes a session active."""
        if session.state in (S.CREATED, S.LAUNCHED):
            try:
                return await self.move(session, S.ACTIVE, actor=f"provider:{session.provider}",
                                       reason="first bet accepted", round_ref=round_ref,
                                       tx_ids=[tx_id])  # fmt: skip
            except IllegalTransition:
                return await self.get(session.id)  # closed meanwhile; the bet stands
        return session

    async def get(self, session_id: str) -> GameSession:
        session = await self.store.get_session(session_id)
        if session is None:
            raise SessionNotFound(f"no session {session_id!r}")
        return session

    async def events(self, session_id: str) -> Sequence[SessionEvent]:
        await self.get(session_id)
        return await self.store.events(session_id)

    async def close(self, session_id: str, *, actor: str, reason: str) -> GameSession:
        """The player left (or the operator ended it): where it goes depends on its money.

        Runs with the session locked: a bet in flight commits first and is counted, a bet
        after it finds the session closed."""

        def plan(
            session: GameSession, summary: SessionSummary, tx_ids: Sequence[int]
        ) -> list[SessionEvent]:
            if session.state is S.PENDING_SETTLEMENT:
                return self._settlement(session, summary, tx_ids, actor=actor)
            if not session.state.takes_bets:
                check_transition(session.id, session.state, S.CANCELLED)  # raises: final
            events = []
            if summary.bets and session.state in (S.CREATED, S.LAUNCHED):
                # Its first bet committed, but the move to active did not follow (a crash
                # between the two, or this close overtook it): record it now.
                events.append(self._event(session, S.ACTIVE, actor=actor,
                                          reason="a bet was recorded before the session "
                                          "was marked active"))  # fmt: skip
                session = replace(session, state=S.ACTIVE)
            target = closing_state(had_bets=summary.bets > 0, open_rounds=summary.open_rounds,
                                   live_bets=summary.live_bets)  # fmt: skip
            check_transition(session.id, session.state, target)
            events.append(self._event(session, target, actor=actor, reason=reason,
                                      tx_ids=_capped(tx_ids)))  # fmt: skip
            return events

        return await self._close_with(session_id, plan)

    async def fail(self, session_id: str, *, actor: str, reason: str) -> GameSession:
        """A launch that failed: only for a session that took no bet (else close it)."""

        def plan(
            session: GameSession, summary: SessionSummary, _tx_ids: Sequence[int]
        ) -> list[SessionEvent]:
            if summary.bets:
                raise IllegalTransition(
                    f"session {session.id!r} took bets: close it, it cannot fail",
                    session_id=session.id, state=session.state.value, target=S.FAILED.value,
                )  # fmt: skip
            if session.state is S.FAILED:
                return []
            check_transition(session.id, session.state, S.FAILED)
            return [self._event(session, S.FAILED, actor=actor, reason=reason)]

        return await self._close_with(session_id, plan)

    async def _close_with(
        self,
        session_id: str,
        plan: Callable[[GameSession, SessionSummary, Sequence[int]], Sequence[SessionEvent]],
    ) -> GameSession:
        session = await self.store.close_session(session_id, plan)
        if session is None:
            raise SessionNotFound(f"no session {session_id!r}")
        return session

    def _settlement(
        self,
        session: GameSession,
        summary: SessionSummary,
        tx_ids: Sequence[int],
        *,
        actor: str,
    ) -> list[SessionEvent]:
        """pending_settlement -> settled (or reversed) once no round is open; else nothing."""
        if summary.open_rounds:
            return []
        target = S.SETTLED if summary.live_bets else S.REVERSED
        return [self._event(session, target, actor=actor,
                            reason="every round of the session is closed",
                            tx_ids=_capped(tx_ids))]  # fmt: skip

    async def _settle_if_done(self, session: GameSession, *, actor: str) -> GameSession:
        def plan(
            locked: GameSession, summary: SessionSummary, tx_ids: Sequence[int]
        ) -> list[SessionEvent]:
            if locked.state is not S.PENDING_SETTLEMENT:
                return []  # moved on meanwhile
            return self._settlement(locked, summary, tx_ids, actor=actor)

        return await self._close_with(session.id, plan)

    async def sweep(self, *, grace_seconds: int = 0, limit: int = 500) -> dict[str, int]:
        """Close sessions whose tokens all expired; settle ended sessions whose rounds closed.

        Returns how many sessions went to each state."""
        moved: dict[str, int] = {}
        cutoff = self.clock() - timedelta(seconds=grace_seconds)
        live = (S.CREATED, S.LAUNCHED, S.ACTIVE)
        for session in await self.store.due_sessions(live, cutoff, limit):
            try:
                after = await self.close(session.id, actor="job:sessions",
                                         reason="session token expired")  # fmt: skip
            except IllegalTransition:
                continue
            moved[after.state.value] = moved.get(after.state.value, 0) + 1
        for session in await self.store.settleable_sessions(limit):
            after = await self._settle_if_done(session, actor="job:sessions")
            if after.state is not S.PENDING_SETTLEMENT:
                moved[after.state.value] = moved.get(after.state.value, 0) + 1
        return moved
