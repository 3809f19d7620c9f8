"""The timeout job: rounds left open beyond their provider's threshold are closed, voided or
flagged by the provider's policy (domain/timeouts.py); sessions stuck in
``pending_settlement`` are counted. Every action is recorded before its money moves, under
wallet transaction ids derived from the round, so a job that dies halfway, or two replicas
running it at once, finish the same action and never move money twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from croupier.domain.catalogue import check_provider
from croupier.domain.errors import CroupierError, RetryClass, RoundClosed, TransactionNotFound
from croupier.domain.signals import Alert, AlertKind
from croupier.domain.timeouts import (
    JOB_ACTOR,
    OpenRound,
    TimeoutAction,
    TimeoutPolicy,
    TimeoutRecord,
    decide,
    tx_ref,
)
from croupier.domain.wallet import EndRound, Rollback, check_ref, provider_scope
from croupier.services.ports import AlertSink
from croupier.services.wallet import WalletService

log = logging.getLogger("croupier.timeouts")


@dataclass(frozen=True, slots=True)
class StuckSession:
    id: str
    provider: str
    player_id: str
    since: datetime


class TimeoutStore(Protocol):
    async def timeout_policies(self) -> Mapping[str, TimeoutPolicy]: ...

    async def set_timeout_policy(
        self, provider: str, policy: TimeoutPolicy | None, now: datetime
    ) -> None:
        """Set (or, with None, remove) a provider's policy."""

    async def open_rounds(
        self, *, before: datetime, providers: Sequence[str], others: bool, limit: int
    ) -> Sequence[OpenRound]:
        """Open rounds opened before ``before`` and not flagged yet: of ``providers``, or,
        with ``others``, of every provider but those; oldest first."""

    async def open_round(self, provider: str, round_ref: str) -> OpenRound | None: ...

    async def flagged_rounds(self, limit: int) -> Sequence[OpenRound]:
        """Open rounds flagged for review (waiting for ``resolve``), oldest first."""

    async def live_bets(self, provider: str, round_ref: str, player_id: str) -> Sequence[str]:
        """The round's accepted bets (their ids), rolled back or not."""

    async def round_sessions(self, provider: str, round_ref: str, player_id: str) -> list[str]: ...

    async def record_timeout(self, record: TimeoutRecord) -> bool:
        """Append; False when the job recorded this action for this round already."""

    async def timeout_records(
        self, *, provider: str | None, round_ref: str | None, limit: int
    ) -> Sequence[TimeoutRecord]: ...

    async def stuck_sessions(
        self, *, before: datetime, providers: Sequence[str], others: bool, limit: int
    ) -> Sequence[StuckSession]:
        """Sessions in pending_settlement, unchanged since before ``before``: of
        ``providers``, or, with ``others``, of every provider but those."""


@dataclass
class TimeoutReport:
    actions: dict[str, int] = field(default_factory=dict)
    """How many rounds each action resolved in this pass (close, void, flag)."""
    stuck_sessions: dict[str, int] = field(default_factory=dict)
    """Per provider: sessions in pending_settlement beyond its threshold."""
    failed: int = 0
    """Rounds left for the next pass (the database went away, or a bug: logged)."""

    @property
    def total(self) -> int:
        return sum(self.actions.values())


class TimeoutService:
    def __init__(
        self,
        store: TimeoutStore,
        wallet: WalletService,
        *,
        default: TimeoutPolicy,
        clock: Callable[[], datetime],
        alerts: AlertSink | None = None,
        observe: Callable[[TimeoutReport], None] | None = None,
    ) -> None:
        self.store = store
        self.wallet = wallet
        self.default = default
        """For providers without a policy of their own."""
        self.clock = clock
        self.alerts = alerts
        self.observe = observe
        """Called with each pass's report (the metrics)."""

    async def set_policy(self, provider: str, policy: TimeoutPolicy | None) -> None:
        check_provider(provider)
        await self.store.set_timeout_policy(provider, policy, self.clock())

    async def policies(self) -> Mapping[str, TimeoutPolicy]:
        return await self.store.timeout_policies()

    def _groups(
        self, policies: Mapping[str, TimeoutPolicy]
    ) -> list[tuple[list[str], bool, TimeoutPolicy]]:
        """(providers, all others instead, policy): each provider with a policy of its own,
        then everyone else under the default."""
        groups = [([p], False, policy) for p, policy in sorted(policies.items())]
        groups.append((sorted(policies), True, self.default))
        return groups

    async def sweep(self, *, limit: int = 200) -> TimeoutReport:
        """One pass: each provider's rounds beyond its threshold, then everyone else's. A
        round that fails is logged and left for the next pass; the others go on."""
        now = self.clock()
        report = TimeoutReport()
        try:
            policies = await self.store.timeout_policies()
            for providers, others, policy in self._groups(policies):
                before = now - timedelta(seconds=policy.after_seconds)
                for round_ in await self.store.open_rounds(
                    before=before, providers=providers, others=others, limit=limit
                ):
                    try:
                        record, done = await self._resolve(
                            round_, policy.action, actor=JOB_ACTOR,
                            reason=f"open beyond {policy.after_seconds}s",
                        )  # fmt: skip
                    except Exception:
                        log.exception("round timeout left for the next pass",
                                      extra={"provider": round_.provider,
                                             "round_id": round_.round_ref})  # fmt: skip
                        report.failed += 1
                        continue
                    if done:
                        name = record.action.value
                        report.actions[name] = report.actions.get(name, 0) + 1
            for session in await self.stuck_sessions(policies, limit=1000):
                report.stuck_sessions[session.provider] = (
                    report.stuck_sessions.get(session.provider, 0) + 1
                )
        finally:
            if self.observe is not None:
                self.observe(report)
        return report

    async def stuck_sessions(
        self, policies: Mapping[str, TimeoutPolicy] | None = None, *, limit: int = 200
    ) -> list[StuckSession]:
        """Sessions in pending_settlement beyond their provider's threshold."""
        now = self.clock()
        if policies is None:
            policies = await self.store.timeout_policies()
        found: list[StuckSession] = []
        for providers, others, policy in self._groups(policies):
            found += await self.store.stuck_sessions(
                before=now - timedelta(seconds=policy.after_seconds),
                providers=providers, others=others, limit=limit,
            )  # fmt: skip
        return found

    async def awaiting_review(
        self, limit: int = 200
    ) -> tuple[Sequence[OpenRound], Sequence[StuckSession]]:
        """Rounds flagged and still open; sessions in pending_settlement beyond their
        provider's threshold."""
        return await self.store.flagged_rounds(limit), await self.stuck_sessions(limit=limit)

    async def resolve(
        self, provider: str, round_ref: str, action: TimeoutAction, *, actor: str, reason: str
    ) -> TimeoutRecord:
        """A person resolves a round (flagged, or any open one): close or void it now."""
        check_provider(provider)
        check_ref("round_id", round_ref)
        round_ = await self.store.open_round(provider, round_ref)
        if round_ is None:
            raise TransactionNotFound(f"no round {round_ref!r} of {provider!r}", round_id=round_ref)
        if action is TimeoutAction.FLAG:
            raise RoundClosed("a round is resolved by close or void, not flag")
        await self._resolve(round_, action, actor=actor, reason=reason, strict=True)
        newest = await self.store.timeout_records(provider=provider, round_ref=round_ref, limit=1)
        return newest[0]  # as stored, with its id

    async def _resolve(
        self, round_: OpenRound, wanted: TimeoutAction, *, actor: str, reason: str,
        strict: bool = False,
    ) -> tuple[TimeoutRecord, bool]:  # fmt: skip
        """Record, then act; a final refusal of the wallet turns the action into a flag.
        Returns the record and whether this call did the action (closed the round, or
        flagged it first): only that call counts it and raises its alert, so a second
        replica, or a pass finishing what a dead one began, adds neither."""
        action, why = decide(wanted, round_)
        if strict and action is wanted:
            why = f"{action.value} by hand"
        if strict and action is not wanted:
            raise RoundClosed(f"round {round_.round_ref!r}: {why}", round_id=round_.round_ref)
        refs: list[str] = []
        bets: Sequence[str] = ()
        if action is TimeoutAction.VOID:
            bets = await self.store.live_bets(round_.provider, round_.round_ref, round_.player_id)
            refs = [tx_ref("void", bet) for bet in bets]
        if action is not TimeoutAction.FLAG:
            refs.append(tx_ref("close", round_.round_ref))
        record = TimeoutRecord(
            provider=round_.provider, round_ref=round_.round_ref, player_id=round_.player_id,
            action=action, reason=f"{reason}; {why}", actor=actor, at=self.clock(),
            opened_at=round_.opened_at, tx_refs=tuple(refs),
        )  # fmt: skip
        # Recorded first: a job that dies after this line does the same action next pass
        # (the same transaction ids: what was done already replays).
        created = await self.store.record_timeout(record)
        done = created
        try:
            if action is TimeoutAction.VOID:
                await self._void(round_, bets)
            if action is not TimeoutAction.FLAG:
                closed = await self.wallet.end_round(EndRound(
                    tx_id=refs[-1], player_id=round_.player_id, currency=round_.currency,
                    provider=round_.provider, round_id=round_.round_ref,
                    game_code=round_.game_code,
                ))  # fmt: skip
                done = not closed.replay and closed.outcome == "applied"
        except CroupierError as refused:
            if refused.retry_class is RetryClass.RETRYABLE:
                raise
            # The round moved on meanwhile (a win came, it closed): a person looks at it.
            record = self._flag(
                round_, actor, f"{action.value} refused: {refused.code}: {refused.message}"
            )
            done = await self.store.record_timeout(record)
            if done:
                await self._alert(round_, record)
            if strict:
                raise
            return record, done
        if done and action is TimeoutAction.VOID:
            state = await self.wallet.round_state(provider_scope(round_.provider),
                                                  round_.round_ref)  # fmt: skip
            if state is not None and state.bets_live:
                # A bet came between the last look and the close: it stands, as a loss.
                late = self._flag(round_, actor, "a bet arrived while the round was voided: "
                                  "it stands; review it")  # fmt: skip
                await self.store.record_timeout(late)
                await self._alert(round_, late)
        if done:
            await self._alert(round_, record)
        return record, done

    def _flag(self, round_: OpenRound, actor: str, reason: str) -> TimeoutRecord:
        return TimeoutRecord(
            provider=round_.provider, round_ref=round_.round_ref, player_id=round_.player_id,
            action=TimeoutAction.FLAG, reason=reason, actor=actor, at=self.clock(),
            opened_at=round_.opened_at,
        )  # fmt: skip

    async def _void(self, round_: OpenRound, bets: Sequence[str]) -> None:
        """Roll back the listed bets, then any that came meanwhile (looked for once more)."""
        done: set[str] = set()
        for _ in range(2):
            for bet in bets:
                if bet in done:
                    continue
                await self.wallet.rollback(Rollback(
                    tx_id=tx_ref("void", bet), amount=0, bet_tx_id=bet,
                    player_id=round_.player_id, currency=round_.currency,
                    provider=round_.provider, round_id=round_.round_ref,
                    game_code=round_.game_code,
                ))  # fmt: skip
                done.add(bet)
            bets = await self.store.live_bets(round_.provider, round_.round_ref, round_.player_id)

    async def _alert(self, round_: OpenRound, record: TimeoutRecord) -> None:
        """Log, store and count; a failure to store is logged, never undoes the action."""
        try:
            await self._raise_alert(round_, record)
        except Exception:
            where = {"provider": round_.provider, "round_id": round_.round_ref}
            log.exception("round timeout alert not recorded", extra=where)

    async def _raise_alert(self, round_: OpenRound, record: TimeoutRecord) -> None:
        log.warning(
            "round timeout",
            extra={"provider": round_.provider, "round_id": round_.round_ref,
                   "action": record.action.value, "reason": record.reason},
        )  # fmt: skip
        if self.alerts is None:
            return
        sessions = await self.store.round_sessions(
            round_.provider, round_.round_ref, round_.player_id
        )
        await self.alerts.record([Alert(
            AlertKind.ROUND_TIMEOUT, record.at, round_.player_id, round_.provider,
            {"round_id": round_.round_ref, "action": record.action.value,
             "reason": record.reason, "actor": record.actor,
             "opened_at": round_.opened_at.isoformat(), "sessions": sessions,
             "transactions": list(record.tx_refs)},
        )])  # fmt: skip
