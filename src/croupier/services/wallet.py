"""Wallet use cases: bet, win, rollback, end round, cashier moves, holds. One transaction each.

Each call reads as a story: validate the command, lock the player's wallet, look for an
earlier call with the same key (replay or mismatch), decide by the money contract, write one
balanced entry with its idempotency record, commit. A refusal that must replay the same way
(insufficient funds, closed round) is stored and committed before it is raised.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from croupier.domain.errors import (
    AmountOutOfRange,
    BalanceOverflow,
    BetAlreadySettled,
    BetNotFound,
    CroupierError,
    CurrencyMismatch,
    HoldAmountExceeded,
    HoldExpired,
    HoldNotFound,
    HoldNotPending,
    IdempotencyMismatch,
    InsufficientFunds,
    InvalidRequest,
    LimitReached,
    PlayerBlocked,
    PlayerExcluded,
    PlayerExists,
    PlayerNotFound,
    RollbackNotAllowed,
    RoundClosed,
    RoundMismatch,
    SessionClosed,
    StakeCapExceeded,
    StorageConflict,
    TokenExpired,
    TransactionNotFound,
    TransactionRolledBack,
    error_from_dict,
)
from croupier.domain.ledger import OPERATOR_OWNER, AccountType, EntryKind, JournalEntry, transfer
from croupier.domain.limits import LimitState
from croupier.domain.money import INT64_MAX, CurrencyTable, check_minor
from croupier.domain.signals import Alert, AlertKind, SignalRules
from croupier.domain.wallet import (
    CASHIER_SCOPE,
    MAX_SCOPE_LENGTH,
    Adjustment,
    Balances,
    Bet,
    BonusGrant,
    BonusPolicy,
    CashierCommand,
    Command,
    Credit,
    Deposit,
    EndRound,
    HoldResult,
    ReserveHold,
    Rollback,
    RoundCommand,
    TxKind,
    TxStatus,
    WalletResult,
    Win,
    Withdrawal,
    check_ref,
    split_stake,
    split_win,
)
from croupier.services import context as call_context
from croupier.services.ports import (
    AlertSink,
    HoldResolution,
    HoldState,
    NewHold,
    PlayerWallet,
    RoundChange,
    RoundState,
    SessionGuard,
    StoredTx,
    TxRecord,
    WalletStore,
    WalletTransaction,
    Write,
    WriteConflict,
)

T = TypeVar("T")
log = logging.getLogger("croupier.wallet")
Outcome = WalletResult | CroupierError
"""What one attempt returns: a result, or a stored refusal to raise once committed."""

MAX_HOLD_SECONDS = 90 * 24 * 3600


def _reality(limits: LimitState, now: datetime) -> dict[str, object]:
    """The reality check a bet's answer carries when one is due: the interval, and the net
    loss of the day so far (minor units; negative when the player is ahead)."""
    return {
        "due": True,
        "interval_minutes": limits.limits.get("reality_check_minutes"),
        "at": now.isoformat(timespec="seconds"),
        "net_loss_today": limits.usage.get("loss_day", 0),
    }


def utc_now() -> datetime:
    return datetime.now(UTC)


class WalletService:
    """The only way money moves: every path ends here, in one transaction and one entry."""

    def __init__(
        self,
        *,
        store: WalletStore,
        currencies: CurrencyTable,
        policy: BonusPolicy | None = None,
        clock: Callable[[], datetime] = utc_now,
        max_attempts: int = 8,
        signals: SignalRules | None = None,
        alerts: AlertSink | None = None,
    ) -> None:
        self.store = store
        self.currencies = currencies
        self.policy = policy or BonusPolicy()
        self.clock = clock
        self.max_attempts = max_attempts
        self.signals = signals or SignalRules()
        self.alerts = alerts
        """Where anomaly signals go once their call committed (stored, logged, counted)."""

    async def _raise(self, alerts: Sequence[Alert], result: WalletResult) -> None:
        """Signals of a call that committed (not of a replay); they never fail the call."""
        if not alerts or result.replay or self.alerts is None:
            return
        try:
            await self.alerts.record(alerts)
        except Exception:  # an alert lost is logged, a bet answered is kept
            log.exception("alerts not recorded", extra={"alerts": [a.kind for a in alerts]})

    # -- plumbing -------------------------------------------------------------------------

    async def _run(self, attempt: Callable[[WalletTransaction], Awaitable[T]]) -> T:
        """Run one unit of work, again from the start when a concurrent writer won a race."""
        for _ in range(self.max_attempts):
            try:
                async with self.store.transaction() as tx:
                    return await attempt(tx)
            except WriteConflict:
                continue
        raise StorageConflict("concurrent writers kept colliding; send the call again")

    async def _money_call(
        self,
        cmd: Command,
        decide: Callable[[WalletTransaction, PlayerWallet], Awaitable[Outcome]],
        *,
        refuse_blocked: bool = False,
        session: SessionGuard | None = None,
    ) -> WalletResult:
        """Validate, lock, replay or decide. ``refuse_blocked``: a blocked player's call is a
        stored refusal (bets, cashier moves, holds); wins and rollbacks settle regardless.
        ``session``: the game-session check of a provider call, read with the lock and run
        after the replay lookup, so a repeat of an accepted call answers as it did (rule 1)
        even once its token has expired."""
        self.validate(cmd)

        async def attempt(tx: WalletTransaction) -> Outcome:
            try:
                return await one_pass(tx, fresh=False)
            except CroupierError:
                # A refusal that is raised, not stored, may rest on a lookup older than the
                # lock (a bet committed while this call waited for it): decide once more on
                # fresh reads before answering. Writes come last, so nothing was written.
                return await one_pass(tx, fresh=True)

        async def one_pass(tx: WalletTransaction, *, fresh: bool) -> Outcome:
            loaded = await tx.load(
                cmd.player_id,
                cmd.scope,
                cmd.reference,
                getattr(cmd, "round_id", None),
                session.token_hash if session else None,
                fresh=fresh,
            )
            wallet, existing = loaded.wallet, loaded.existing
            if wallet is None and session is None:
                raise PlayerNotFound(f"no wallet for player {cmd.player_id!r}")
            if existing is not None:
                if session is not None:
                    session.note(loaded.session)
                return self._replay(existing, cmd)
            if session is not None:  # a token of another player: TOKEN_INVALID, not NOT_FOUND
                try:
                    session(loaded.session)
                except (TokenExpired, SessionClosed, StakeCapExceeded) as refusal:
                    if not refuse_blocked or wallet is None:
                        raise
                    # Stored, like a blocked player's bet: a resend with a new token answers
                    # the same, and never takes money the caller was told it would not.
                    stored = type(refusal)(refusal.message, **refusal.details, **_bal(wallet))
                    return await self._refuse(tx, cmd, stored)
            if wallet is None:
                raise PlayerNotFound(f"no wallet for player {cmd.player_id!r}")
            if wallet.currency != cmd.currency:
                raise CurrencyMismatch(
                    f"call is in {cmd.currency}, the player's wallet in {wallet.currency}",
                    currency=cmd.currency,
                    wallet_currency=wallet.currency,
                )
            if refuse_blocked and not wallet.is_active:
                # Stored: a re-sent call answers the same after an unblock, never takes money
                # the caller was told it would not.
                blocked = PlayerBlocked(f"player {cmd.player_id!r} is blocked", **_bal(wallet))
                return await self._refuse(tx, cmd, blocked)
            return await decide(tx, wallet)

        outcome = await self._run(attempt)
        if isinstance(outcome, CroupierError):
            raise outcome
        return outcome

    def validate(self, cmd: Command) -> None:
        """Refuse a malformed command before anything is read or written (rule 11)."""
        check_ref("player_id", cmd.player_id)
        check_ref("reference", cmd.reference)
        for name in ("round_id", "game_code", "bet_tx_id", "provider", "source"):
            value = getattr(cmd, name, None)
            if value is not None:
                check_ref(name, value)
        if len(cmd.scope.encode()) > MAX_SCOPE_LENGTH:
            raise InvalidRequest(
                f"provider code makes a scope longer than {MAX_SCOPE_LENGTH} bytes",
                field="provider",
            )
        currency = self.currencies.get_currency(cmd.currency)
        check_minor(cmd.amount, currency)

    @staticmethod
    def _replay(existing: StoredTx, cmd: Command) -> Outcome:
        if existing.status is TxStatus.TOMBSTONE:
            if cmd.kind is TxKind.BET:
                return TransactionRolledBack(
                    f"bet {cmd.reference!r} was rolled back before it arrived; no money taken",
                    rollback_tx_id=existing.ref_tx,
                )
            raise IdempotencyMismatch(
                f"id {cmd.reference!r} belongs to a rolled-back bet", existing_kind="tombstone"
            )
        if existing.fingerprint != cmd.fingerprint():
            raise IdempotencyMismatch(
                f"transaction {cmd.reference!r} was already received with different content",
                existing_kind=existing.kind.value,
            )
        if existing.status is TxStatus.REFUSED:
            return error_from_dict(existing.result, replay=True)
        return WalletResult.from_dict(existing.result, transaction_id=existing.id, replay=True)

    @staticmethod
    def _record(
        cmd: Command, status: TxStatus, result: dict[str, object], **extra: str | None
    ) -> TxRecord:
        context = call_context.current()
        return TxRecord(
            scope=cmd.scope,
            reference=cmd.reference,
            kind=cmd.kind,
            status=status,
            player_id=cmd.player_id,
            amount=cmd.amount,
            currency=cmd.currency,
            fingerprint=cmd.fingerprint(),
            result=result,
            round_ref=getattr(cmd, "round_id", None),
            ref_tx=extra.get("ref_tx"),
            session_id=context.session_id,
            correlation_id=context.correlation_id,
        )

    async def _refuse(self, tx: WalletTransaction, cmd: Command, error: CroupierError) -> Outcome:
        """Store a refusal so that a replay answers the same, then hand it back to raise."""
        await tx.write(
            Write(tx=self._record(cmd, TxStatus.REFUSED, error.to_dict())), now=self.clock()
        )
        return error

    async def _apply(
        self, tx: WalletTransaction, write: Write, result: WalletResult
    ) -> WalletResult:
        assert write.tx is not None  # noqa: S101 - every money write carries its record
        tx_id, _ = await tx.write(write, now=self.clock())
        assert tx_id is not None  # noqa: S101
        return replace(result, transaction_id=tx_id)

    @staticmethod
    def _limits(wallet: PlayerWallet, now: datetime) -> LimitState:
        """The player's responsible-gaming state as of now (read with the lock)."""
        return (wallet.limits or LimitState()).at(now)

    @staticmethod
    def _credit_check(balance: int, amount: int, currency: str) -> None:
        if balance + amount > INT64_MAX:
            raise BalanceOverflow(
                f"a credit of {amount} would overflow the {currency} balance", currency=currency
            )

    @staticmethod
    def _check_round(round_: RoundState, cmd: RoundCommand) -> None:
        if (round_.player_id, round_.currency, round_.game_code) != (
            cmd.player_id,
            cmd.currency,
            cmd.game_code,
        ):
            raise RoundMismatch(
                f"round {cmd.round_id!r} belongs to another player, currency or game",
                round_id=cmd.round_id,
            )

    # -- players ------------------------------------------------------------------------

    async def open_wallet(self, player_id: str, currency: str) -> Balances:
        """Create a player's wallet (cash, bonus, held accounts); idempotent for one currency."""
        check_ref("player_id", player_id)
        self.currencies.get_currency(currency)

        async def attempt(tx: WalletTransaction) -> Balances:
            wallet = await tx.lock_wallet(player_id)
            if wallet is None:
                await tx.create_wallet(player_id, currency, now=self.clock())
                return Balances(currency, 0, 0, 0)
            if wallet.currency != currency:
                raise PlayerExists(
                    f"player {player_id!r} has a {wallet.currency} wallet already",
                    currency=wallet.currency,
                )
            return wallet.balances

        return await self._run(attempt)

    async def set_blocked(self, player_id: str, *, blocked: bool) -> None:
        check_ref("player_id", player_id)

        async def attempt(tx: WalletTransaction) -> None:
            if not await tx.set_player_status(player_id, "blocked" if blocked else "active"):
                raise PlayerNotFound(f"no wallet for player {player_id!r}")

        await self._run(attempt)

    async def limits(self, player_id: str) -> LimitState:
        """The player's responsible-gaming state as of now."""
        check_ref("player_id", player_id)

        async def attempt(tx: WalletTransaction) -> LimitState:
            wallet = await tx.lock_wallet(player_id)
            if wallet is None:
                raise PlayerNotFound(f"no wallet for player {player_id!r}")
            return self._limits(wallet, self.clock())

        return await self._run(attempt)

    async def exclude(self, player_id: str, kind: str, until: datetime | None) -> LimitState:
        """Record a cool-off or self-exclusion where every bet and deposit reads it, with the
        wallet locked: from the commit on, the player's bets and deposits are refused,
        whatever session or replica they come through."""
        check_ref("player_id", player_id)

        async def attempt(tx: WalletTransaction) -> LimitState:
            wallet = await tx.lock_wallet(player_id)
            if wallet is None:
                raise PlayerNotFound(f"no wallet for player {player_id!r}")
            now = self.clock()
            state = self._limits(wallet, now).exclude(kind, until)
            await tx.write(Write(limits=state, limits_player=player_id), now=now)
            return state

        return await self._run(attempt)

    async def set_limit(
        self, player_id: str, kind: str, value: int | None, *, cooling: timedelta
    ) -> tuple[LimitState, datetime, int | None]:
        """Set (None: remove) one limit, with the wallet locked: stricter at once, looser
        after ``cooling``. The state, when the change takes effect, and the limit before."""
        check_ref("player_id", player_id)

        async def attempt(tx: WalletTransaction) -> tuple[LimitState, datetime, int | None]:
            wallet = await tx.lock_wallet(player_id)
            if wallet is None:
                raise PlayerNotFound(f"no wallet for player {player_id!r}")
            now = self.clock()
            before = self._limits(wallet, now)
            state, effective = before.set_limit(kind, value, now, cooling)
            await tx.write(Write(limits=state, limits_player=player_id), now=now)
            return state, effective, before.limits.get(kind)

        return await self._run(attempt)

    async def recorded(self, cmd: Command) -> StoredTx | None:
        """The transaction stored under a command's key (its scope and reference), if any."""

        async def attempt(tx: WalletTransaction) -> StoredTx | None:
            return await tx.find_tx(cmd.scope, cmd.reference)

        return await self._run(attempt)

    async def round_state(self, scope: str, round_ref: str) -> RoundState | None:
        """A round as stored (its stakes, live and rolled-back bets, wins), if any."""

        async def attempt(tx: WalletTransaction) -> RoundState | None:
            return await tx.find_round(scope, round_ref)

        return await self._run(attempt)

    async def balance(self, player_id: str) -> Balances:
        check_ref("player_id", player_id)
        wallet = await self.store.read_balances(player_id)
        if wallet is None:
            raise PlayerNotFound(f"no wallet for player {player_id!r}")
        return wallet.balances

    # -- provider calls -----------------------------------------------------------------

    async def place_bet(self, cmd: Bet, *, session: SessionGuard | None = None) -> WalletResult:
        """Take a stake, cash first then bonus (per policy); opens the round if new."""
        alerts: list[Alert] = []

        async def decide(tx: WalletTransaction, wallet: PlayerWallet) -> Outcome:
            alerts.clear()  # of an attempt that lost a race
            round_ = await tx.find_round(cmd.scope, cmd.round_id)
            if round_ is not None:
                self._check_round(round_, cmd)
                staked = round_.cash_staked + round_.bonus_staked
                self._credit_check(staked, cmd.amount, cmd.currency)
                if not round_.is_open:
                    return await self._refuse(
                        tx, cmd, RoundClosed(f"round {cmd.round_id!r} is closed", **_bal(wallet))
                    )
            now = self.clock()
            limits = self._limits(wallet, now)
            played = session.session if session is not None else None
            try:
                limits.check_bet(
                    cmd.amount, now, new_round=round_ is None,
                    session_started=played.created_at if played else None,
                    min_round_ms=played.min_round_ms if played else None,
                    pace_rule=played.min_round_rule if played else None,
                )  # fmt: skip
                cash, bonus = split_stake(cmd.amount, wallet.balances, self.policy)
            except (LimitReached, PlayerExcluded) as refusal:  # stored, like funds
                return await self._refuse(
                    tx, cmd, type(refusal)(refusal.message, **refusal.details, **_bal(wallet))
                )
            except InsufficientFunds as refusal:
                return await self._refuse(tx, cmd, refusal)
            limits, reality_due = limits.after_bet(cmd.amount, now, new_round=round_ is None)
            if limits.minute_bets == self.signals.bets_per_minute + 1:  # once a window
                alerts.append(Alert(
                    AlertKind.BET_RATE, now, cmd.player_id, cmd.provider,
                    {"bets_in_a_minute": limits.minute_bets,
                     "threshold": self.signals.bets_per_minute},
                ))  # fmt: skip
            clearing = await tx.house_account(
                AccountType.PROVIDER_CLEARING, cmd.provider, cmd.currency
            )
            entry = transfer(
                EntryKind.BET,
                currency=cmd.currency,
                debits={wallet.cash_account: cash, wallet.bonus_account: bonus},
                credits={clearing: cmd.amount},
            )
            before = wallet.balances
            result = WalletResult(
                transaction_id=0,
                kind=TxKind.BET,
                reference=cmd.tx_id,
                balances=Balances(
                    cmd.currency, before.cash - cash, before.bonus - bonus, before.held
                ),
                cash_amount=cash,
                bonus_amount=bonus,
                extra={"reality_check": _reality(limits, now)} if reality_due else {},
            )
            change = RoundChange(
                scope=cmd.scope,
                round_ref=cmd.round_id,
                player_id=cmd.player_id,
                currency=cmd.currency,
                game_code=cmd.game_code,
                expected_version=round_.version if round_ else 0,
                cash_staked=cash,
                bonus_staked=bonus,
                bets_live=1,
            )
            write = Write(
                tx=self._record(cmd, TxStatus.OK, result.to_dict()), entry=entry, round=change,
                limits=limits, limits_player=cmd.player_id,
            )  # fmt: skip
            return await self._apply(tx, write, result)

        result = await self._money_call(cmd, decide, refuse_blocked=True, session=session)
        await self._raise(alerts, result)
        return result

    async def settle_win(self, cmd: Win, *, session: SessionGuard | None = None) -> WalletResult:
        """Pay a win against a live bet of its round; no session or limit check (rule 9)."""
        alerts: list[Alert] = []

        async def decide(tx: WalletTransaction, wallet: PlayerWallet) -> Outcome:
            alerts.clear()
            round_ = await tx.find_round(cmd.scope, cmd.round_id)
            if round_ is None:
                raise BetNotFound(f"no bet in round {cmd.round_id!r}", round_id=cmd.round_id)
            self._check_round(round_, cmd)
            if cmd.bet_tx_id is not None:
                await self._check_named_bet(tx, cmd, cmd.bet_tx_id)
            if round_.bets_live == 0:
                if round_.bets_rolled_back:
                    raise TransactionRolledBack(
                        f"every bet of round {cmd.round_id!r} was rolled back"
                    )
                raise BetNotFound(f"no bet in round {cmd.round_id!r}", round_id=cmd.round_id)
            if not round_.is_open:
                raise RoundClosed(f"round {cmd.round_id!r} is closed", round_id=cmd.round_id)
            cash, bonus = split_win(
                cmd.amount,
                cash_staked=round_.cash_staked,
                bonus_staked=round_.bonus_staked,
                policy=self.policy,
            )
            before = wallet.balances
            self._credit_check(before.cash, cash, cmd.currency)
            self._credit_check(before.bonus, bonus, cmd.currency)
            # SQLite would turn an overflowing integer into a float: refuse before it can.
            self._credit_check(round_.win_total, cmd.amount, cmd.currency)
            clearing = await tx.house_account(
                AccountType.PROVIDER_CLEARING, cmd.provider, cmd.currency
            )
            entry = transfer(
                EntryKind.WIN,
                currency=cmd.currency,
                debits={clearing: cmd.amount},
                credits={wallet.cash_account: cash, wallet.bonus_account: bonus},
            )
            result = WalletResult(
                transaction_id=0,
                kind=TxKind.WIN,
                reference=cmd.tx_id,
                balances=Balances(
                    cmd.currency, before.cash + cash, before.bonus + bonus, before.held
                ),
                cash_amount=cash,
                bonus_amount=bonus,
                round_closed=cmd.close_round,
            )
            change = RoundChange(
                scope=cmd.scope,
                round_ref=cmd.round_id,
                player_id=cmd.player_id,
                currency=cmd.currency,
                game_code=cmd.game_code,
                expected_version=round_.version,
                win_count=1,
                win_total=cmd.amount,
                close=cmd.close_round,
            )
            write = Write(
                tx=self._record(cmd, TxStatus.OK, result.to_dict(), ref_tx=cmd.bet_tx_id),
                entry=entry,
                round=change,
                limits=self._limits(wallet, self.clock()).after_credit(cmd.amount),
                limits_player=cmd.player_id,
            )
            big = self.signals.big_win(
                amount=cmd.amount, stake=round_.cash_staked + round_.bonus_staked,
                currency=cmd.currency, player_id=cmd.player_id, provider=cmd.provider,
                round_id=cmd.round_id, at=self.clock(),
            )  # fmt: skip
            if big is not None:
                alerts.append(big)
            return await self._apply(tx, write, result)

        result = await self._money_call(cmd, decide, session=session)
        await self._raise(alerts, result)
        return result

    @staticmethod
    async def _check_named_bet(tx: WalletTransaction, cmd: Win, bet_ref: str) -> None:
        bet = await tx.find_tx(cmd.scope, bet_ref)
        if bet is not None and bet.status is TxStatus.TOMBSTONE:
            raise TransactionRolledBack(f"bet {bet_ref!r} was rolled back")
        if (
            bet is None
            or bet.kind is not TxKind.BET
            or bet.status is not TxStatus.OK
            or bet.round_ref != cmd.round_id
            or bet.player_id != cmd.player_id
        ):
            raise BetNotFound(f"no accepted bet {bet_ref!r} in round {cmd.round_id!r}")
        if await tx.find_rollback_of(cmd.scope, bet_ref) is not None:
            raise TransactionRolledBack(f"bet {bet_ref!r} was rolled back")

    async def rollback(self, cmd: Rollback, *, session: SessionGuard | None = None) -> WalletResult:
        """Reverse one bet exactly once; before its bet arrives, leave a tombstone (rule 4)."""

        async def decide(tx: WalletTransaction, wallet: PlayerWallet) -> Outcome:
            earlier = await tx.find_rollback_of(cmd.scope, cmd.bet_tx_id)
            bet = await tx.find_tx(cmd.scope, cmd.bet_tx_id)
            if earlier is not None and earlier.player_id == cmd.player_id:
                # Rolling a bet back twice (under another id) is a replay, not a second refund,
                # provided it describes the same bet. Another player's call falls through to
                # the checks below and is refused.
                if bet is not None and bet.kind is TxKind.BET:
                    self._check_rollback_content(cmd, bet)
                    await self._check_rollback_game(tx, cmd, bet)
                return WalletResult.from_dict(
                    earlier.result, transaction_id=earlier.id, replay=True
                )
            before = wallet.balances
            if bet is None:
                if cmd.bet_tx_id == cmd.tx_id:
                    # Its tombstone would need the rollback's own key: a unique-key clash on
                    # every attempt, answered as a retryable conflict forever. Refuse instead.
                    raise RollbackNotAllowed(f"rollback {cmd.tx_id!r} names itself as its bet")
                return await self._settle_rollback(tx, cmd, before, outcome="tombstone")
            if bet.kind is not TxKind.BET or bet.status is TxStatus.TOMBSTONE:
                raise RollbackNotAllowed(f"{cmd.bet_tx_id!r} is a {bet.kind.value}, not a bet")
            if bet.player_id != cmd.player_id or bet.currency != cmd.currency:
                raise RollbackNotAllowed(f"bet {cmd.bet_tx_id!r} belongs to another player")
            self._check_rollback_content(cmd, bet)
            await self._check_rollback_game(tx, cmd, bet)
            if bet.status is TxStatus.REFUSED:
                return await self._settle_rollback(tx, cmd, before, outcome="nothing_to_reverse")
            assert bet.round_ref is not None  # noqa: S101 - every bet has a round
            round_ = await tx.find_round(cmd.scope, bet.round_ref)
            assert round_ is not None  # noqa: S101 - an accepted bet wrote its round
            if round_.win_count or not round_.is_open:
                raise BetAlreadySettled(
                    f"round {bet.round_ref!r} is already settled; the first resolution stands"
                )
            cash, bonus = int(bet.result["cash_amount"]), int(bet.result["bonus_amount"])
            self._credit_check(before.cash, cash, cmd.currency)
            self._credit_check(before.bonus, bonus, cmd.currency)
            provider = cmd.scope.removeprefix("provider:")
            clearing = await tx.house_account(AccountType.PROVIDER_CLEARING, provider, cmd.currency)
            entry = transfer(
                EntryKind.ROLLBACK,
                currency=cmd.currency,
                debits={clearing: cash + bonus},
                credits={wallet.cash_account: cash, wallet.bonus_account: bonus},
                reverses_entry_id=bet.entry_id,
            )
            change = RoundChange(
                scope=cmd.scope,
                round_ref=round_.round_ref,
                player_id=round_.player_id,
                currency=round_.currency,
                game_code=round_.game_code,
                expected_version=round_.version,
                cash_staked=-cash,
                bonus_staked=-bonus,
                bets_live=-1,
                bets_rolled_back=1,
            )
            after = Balances(cmd.currency, before.cash + cash, before.bonus + bonus, before.held)
            return await self._settle_rollback(
                tx, cmd, after, outcome="applied", entry=entry, change=change,
                amounts=(cash, bonus),
                limits=self._limits(wallet, self.clock()).after_refund(
                    cash + bonus, bet.created_at
                ),
            )  # fmt: skip

        return await self._money_call(cmd, decide, session=session)

    @staticmethod
    async def _check_rollback_game(tx: WalletTransaction, cmd: Rollback, bet: StoredTx) -> None:
        """A rollback that names a game must name its bet's (the round records it)."""
        if cmd.game_code is None or bet.round_ref is None:
            return
        round_ = await tx.find_round(cmd.scope, bet.round_ref)
        if round_ is not None and round_.game_code != cmd.game_code:
            raise RoundMismatch(
                f"bet {cmd.bet_tx_id!r} was placed in game {round_.game_code!r}",
                round_id=bet.round_ref,
            )

    @staticmethod
    def _check_rollback_content(cmd: Rollback, bet: StoredTx) -> None:
        """A rollback's round and amount, where it gives them, must be its bet's."""
        if cmd.round_id is not None and bet.round_ref != cmd.round_id:
            raise RoundMismatch(f"bet {cmd.bet_tx_id!r} is not in round {cmd.round_id!r}")
        if cmd.amount and cmd.amount != bet.amount:
            raise RollbackNotAllowed(
                f"rollback amount of {cmd.amount} minor units differs from the bet's {bet.amount}"
            )

    async def _settle_rollback(
        self,
        tx: WalletTransaction,
        cmd: Rollback,
        balances: Balances,
        *,
        outcome: str,
        entry: JournalEntry | None = None,
        change: RoundChange | None = None,
        amounts: tuple[int, int] = (0, 0),
        limits: LimitState | None = None,
    ) -> WalletResult:
        result = WalletResult(
            transaction_id=0,
            kind=TxKind.ROLLBACK,
            reference=cmd.tx_id,
            balances=balances,
            cash_amount=amounts[0],
            bonus_amount=amounts[1],
            outcome=outcome,
        )
        tombstone = None
        if outcome == "tombstone":
            tombstone = TxRecord(
                scope=cmd.scope,
                reference=cmd.bet_tx_id,
                kind=TxKind.TOMBSTONE,
                status=TxStatus.TOMBSTONE,
                player_id=cmd.player_id,
                amount=0,
                currency=cmd.currency,
                fingerprint=None,
                result={},
                round_ref=cmd.round_id,
                ref_tx=cmd.tx_id,
                session_id=call_context.current().session_id,
                correlation_id=call_context.current().correlation_id,
            )
        write = Write(
            tx=self._record(cmd, TxStatus.OK, result.to_dict(), ref_tx=cmd.bet_tx_id),
            entry=entry,
            round=change,
            tombstone=tombstone,
            limits=limits,
            limits_player=cmd.player_id if limits else None,
        )
        return await self._apply(tx, write, result)

    async def end_round(
        self, cmd: EndRound, *, session: SessionGuard | None = None
    ) -> WalletResult:
        """Close a round with no further money; closing a closed round is a success."""

        async def decide(tx: WalletTransaction, wallet: PlayerWallet) -> Outcome:
            if cmd.amount:
                raise AmountOutOfRange("end round moves no money; amount must be 0")
            round_ = await tx.find_round(cmd.scope, cmd.round_id)
            if round_ is None:
                raise TransactionNotFound(f"unknown round {cmd.round_id!r}", round_id=cmd.round_id)
            self._check_round(round_, cmd)
            result = WalletResult(
                transaction_id=0,
                kind=TxKind.END_ROUND,
                reference=cmd.tx_id,
                balances=wallet.balances,
                round_closed=True,
                outcome="applied" if round_.is_open else "already_closed",
            )
            change = None
            if round_.is_open:
                change = RoundChange(
                    scope=cmd.scope,
                    round_ref=cmd.round_id,
                    player_id=cmd.player_id,
                    currency=cmd.currency,
                    game_code=cmd.game_code,
                    expected_version=round_.version,
                    close=True,
                )
            write = Write(tx=self._record(cmd, TxStatus.OK, result.to_dict()), round=change)
            return await self._apply(tx, write, result)

        return await self._money_call(cmd, decide, session=session)

    async def credit(self, cmd: Credit) -> WalletResult:
        """Pay a jackpot or a promotion: from the provider's clearing account to the player's
        cash (bonus where the promotion says). No bet is needed and no session or limit
        refuses it (a credit, like a win, settles regardless: rule 9); a round it names must
        be the player's, when Croupier knows it."""
        alerts: list[Alert] = []

        async def decide(tx: WalletTransaction, wallet: PlayerWallet) -> Outcome:
            alerts.clear()
            if cmd.amount <= 0:
                raise AmountOutOfRange("a credit must be positive")
            if cmd.round_id is not None:
                round_ = await tx.find_round(cmd.scope, cmd.round_id)
                if round_ is not None and (round_.player_id, round_.currency) != (
                    cmd.player_id, cmd.currency,
                ):  # fmt: skip
                    raise RoundMismatch(
                        f"round {cmd.round_id!r} belongs to another player or currency",
                        round_id=cmd.round_id,
                    )
            cash, bonus = (0, cmd.amount) if cmd.to_bonus else (cmd.amount, 0)
            before = wallet.balances
            self._credit_check(before.cash, cash, cmd.currency)
            self._credit_check(before.bonus, bonus, cmd.currency)
            clearing = await tx.house_account(
                AccountType.PROVIDER_CLEARING, cmd.provider, cmd.currency
            )
            entry = transfer(
                EntryKind.CREDIT,
                currency=cmd.currency,
                debits={clearing: cmd.amount},
                credits={wallet.cash_account: cash, wallet.bonus_account: bonus},
            )
            result = WalletResult(
                transaction_id=0,
                kind=TxKind.CREDIT,
                reference=cmd.tx_id,
                balances=Balances(
                    cmd.currency, before.cash + cash, before.bonus + bonus, before.held
                ),
                cash_amount=cash,
                bonus_amount=bonus,
                extra={"reason": cmd.reason.value, "source": cmd.source},
            )
            write = Write(
                tx=self._record(cmd, TxStatus.OK, result.to_dict()),
                entry=entry,
                limits=self._limits(wallet, self.clock()).after_credit(cmd.amount),
                limits_player=cmd.player_id,
            )
            big = self.signals.big_win(
                amount=cmd.amount, stake=0, currency=cmd.currency, player_id=cmd.player_id,
                provider=cmd.provider, round_id=cmd.round_id or "", at=self.clock(),
            )  # fmt: skip
            if big is not None:
                alerts.append(big)
            return await self._apply(tx, write, result)

        result = await self._money_call(cmd, decide)
        await self._raise(alerts, result)
        return result

    async def adjust(self, cmd: Adjustment) -> WalletResult:
        """A reconciliation correction: cash from the provider's clearing account to the
        player (credit) or back (debit, refused as INSUFFICIENT_FUNDS past the player's
        cash). Idempotent by its id like every call; no limit or block refuses it."""

        async def decide(tx: WalletTransaction, wallet: PlayerWallet) -> Outcome:
            if cmd.amount <= 0:
                raise AmountOutOfRange("an adjustment must be positive")
            check_ref("reason", cmd.reason)
            before = wallet.balances
            if cmd.credit:
                self._credit_check(before.cash, cmd.amount, cmd.currency)
            elif cmd.amount > before.cash:
                raise InsufficientFunds(
                    f"a debit of {cmd.amount} exceeds the player's cash {before.cash}",
                    **_bal(wallet),
                )
            clearing = await tx.house_account(
                AccountType.PROVIDER_CLEARING, cmd.provider, cmd.currency
            )
            source, target = (clearing, wallet.cash_account)
            if not cmd.credit:
                source, target = target, source
            entry = transfer(
                EntryKind.ADJUSTMENT, currency=cmd.currency,
                debits={source: cmd.amount}, credits={target: cmd.amount},
            )  # fmt: skip
            sign = 1 if cmd.credit else -1
            result = WalletResult(
                transaction_id=0, kind=TxKind.ADJUSTMENT, reference=cmd.tx_id,
                balances=Balances(cmd.currency, before.cash + sign * cmd.amount, before.bonus,
                                  before.held),
                cash_amount=cmd.amount, extra={"credit": cmd.credit, "reason": cmd.reason},
            )  # fmt: skip
            write = Write(tx=self._record(cmd, TxStatus.OK, result.to_dict()), entry=entry)
            return await self._apply(tx, write, result)

        return await self._money_call(cmd, decide)

    # -- operator cashier -----------------------------------------------------------------

    async def deposit(self, cmd: Deposit) -> WalletResult:
        return await self._cashier(cmd, EntryKind.DEPOSIT, AccountType.OPERATOR_CASH, inbound=True)

    async def grant_bonus(self, cmd: BonusGrant) -> WalletResult:
        return await self._cashier(
            cmd, EntryKind.BONUS_GRANT, AccountType.BONUS_FUNDING, inbound=True
        )

    async def withdraw(self, cmd: Withdrawal) -> WalletResult:
        """Pay out withdrawable cash only: never bonus, never held funds."""
        return await self._cashier(
            cmd, EntryKind.WITHDRAWAL, AccountType.OPERATOR_CASH, inbound=False
        )

    async def _cashier(
        self, cmd: CashierCommand, kind: EntryKind, house: AccountType, *, inbound: bool
    ) -> WalletResult:
        async def decide(tx: WalletTransaction, wallet: PlayerWallet) -> Outcome:
            before = wallet.balances
            bonus = kind is EntryKind.BONUS_GRANT
            player_account = wallet.bonus_account if bonus else wallet.cash_account
            if inbound:
                self._credit_check(before.bonus if bonus else before.cash, cmd.amount, cmd.currency)
            elif cmd.amount > before.cash:
                return await self._refuse(
                    tx,
                    cmd,
                    InsufficientFunds(
                        f"withdrawal {cmd.amount} exceeds withdrawable cash {before.cash}",
                        **_bal(wallet),
                    ),
                )
            limits = None
            if kind is EntryKind.DEPOSIT:
                limits = self._limits(wallet, self.clock())
                try:
                    limits.check_deposit(cmd.amount, self.clock())
                except (LimitReached, PlayerExcluded) as refusal:
                    return await self._refuse(
                        tx, cmd, type(refusal)(refusal.message, **refusal.details, **_bal(wallet))
                    )
                limits = limits.after_deposit(cmd.amount)
            house_id = await tx.house_account(house, OPERATOR_OWNER, cmd.currency)
            source, target = (house_id, player_account) if inbound else (player_account, house_id)
            entry = transfer(
                kind,
                currency=cmd.currency,
                debits={source: cmd.amount},
                credits={target: cmd.amount},
            )
            sign = 1 if inbound else -1
            cash_delta = 0 if bonus else sign * cmd.amount
            bonus_delta = cmd.amount if bonus else 0
            result = WalletResult(
                transaction_id=0,
                kind=cmd.kind,
                reference=cmd.reference,
                balances=Balances(
                    cmd.currency, before.cash + cash_delta, before.bonus + bonus_delta, before.held
                ),
                cash_amount=abs(cash_delta),
                bonus_amount=bonus_delta,
            )
            write = Write(
                tx=self._record(cmd, TxStatus.OK, result.to_dict()), entry=entry,
                limits=limits, limits_player=cmd.player_id if limits else None,
            )  # fmt: skip
            return await self._apply(tx, write, result)

        return await self._money_call(cmd, decide, refuse_blocked=True)

    # -- two-phase holds ------------------------------------------------------------------

    async def reserve_hold(self, cmd: ReserveHold) -> WalletResult:
        """Move cash into held until the hold is posted, voided or expires."""
        if not 0 < cmd.expires_in_seconds <= MAX_HOLD_SECONDS:
            raise InvalidRequest(
                f"a hold expires within 1..{MAX_HOLD_SECONDS} seconds", field="expires_in_seconds"
            )

        async def decide(tx: WalletTransaction, wallet: PlayerWallet) -> Outcome:
            before = wallet.balances
            if cmd.amount > before.cash:
                return await self._refuse(
                    tx,
                    cmd,
                    InsufficientFunds(
                        f"hold {cmd.amount} exceeds available cash {before.cash}", **_bal(wallet)
                    ),
                )
            if cmd.amount == 0:
                raise AmountOutOfRange("a hold must reserve a positive amount")
            now = self.clock()
            destination = await tx.house_account(
                AccountType.OPERATOR_CASH, OPERATOR_OWNER, cmd.currency
            )
            entry = transfer(
                EntryKind.HOLD_RESERVE,
                currency=cmd.currency,
                debits={wallet.cash_account: cmd.amount},
                credits={wallet.held_account: cmd.amount},
            )
            expires_at = now + timedelta(seconds=cmd.expires_in_seconds)
            result = WalletResult(
                transaction_id=0,
                kind=TxKind.HOLD_RESERVE,
                reference=cmd.reference,
                balances=Balances(
                    cmd.currency, before.cash - cmd.amount, before.bonus, before.held + cmd.amount
                ),
                cash_amount=cmd.amount,
                extra={"expires_at": expires_at.isoformat()},
            )
            hold = NewHold(
                reference=cmd.reference,
                player_id=cmd.player_id,
                currency=cmd.currency,
                amount=cmd.amount,
                destination_account=destination,
                expires_at=expires_at,
            )
            write = Write(
                tx=self._record(cmd, TxStatus.OK, result.to_dict()), entry=entry, new_hold=hold
            )
            return await self._apply(tx, write, result)

        return await self._money_call(cmd, decide, refuse_blocked=True)

    async def post_hold(self, reference: str, amount: int | None = None) -> HoldResult:
        """Post a hold, fully (amount None) or partly; the rest returns to cash. Exactly once."""
        return await self._resolve_hold(reference, "posted", amount)

    async def void_hold(self, reference: str) -> HoldResult:
        """Release a hold back to cash. Exactly once."""
        return await self._resolve_hold(reference, "voided", None)

    async def hold_state(self, reference: str) -> HoldState:
        """A hold as stored (for display and for parsing a partial post in its currency)."""

        async def attempt(tx: WalletTransaction) -> HoldState:
            hold = await tx.lock_hold(reference)
            if hold is None:
                raise HoldNotFound(f"no hold {reference!r}")
            return hold

        return await self._run(attempt)

    async def expire_holds(self, *, limit: int = 1000) -> int:
        """Release every pending hold past its expiry; returns how many were released."""
        async with self.store.transaction() as tx:
            due = await tx.expired_holds(self.clock(), limit)
        expired = 0
        for reference, _player in due:
            try:
                await self._resolve_hold(reference, "expired", None)
            except HoldExpired:
                expired += 1
            except HoldNotPending:
                continue  # resolved by someone else since we listed it
        return expired

    async def _resolve_hold(self, reference: str, status: str, amount: int | None) -> HoldResult:
        check_ref("reference", reference)

        async def attempt(tx: WalletTransaction) -> HoldResult | CroupierError:
            state = status
            hold = await tx.lock_hold(reference)
            if hold is None:
                raise HoldNotFound(f"no hold {reference!r}")
            posted = hold.amount if amount is None else amount
            if hold.status != "pending":
                return self._hold_replay(hold, state, posted if state == "posted" else 0)
            wallet = await tx.lock_wallet(hold.player_id)
            assert wallet is not None  # noqa: S101 - a hold's player exists
            now = self.clock()
            if state != "expired" and hold.expires_at <= now:
                state = "expired"
            if state == "posted":
                check_minor(posted, self.currencies.get_currency(hold.currency))
                if posted > hold.amount:
                    raise HoldAmountExceeded(
                        f"post of {posted} exceeds the hold's {hold.amount}", amount=hold.amount
                    )
            else:
                posted = 0
            back = hold.amount - posted
            entry = transfer(
                {
                    "posted": EntryKind.HOLD_POST,
                    "voided": EntryKind.HOLD_VOID,
                    "expired": EntryKind.HOLD_EXPIRE,
                }[state],
                currency=hold.currency,
                debits={wallet.held_account: hold.amount},
                credits={hold.destination_account: posted, wallet.cash_account: back},
            )
            before = wallet.balances
            result = HoldResult(
                reference=reference,
                status=state,
                amount=hold.amount,
                posted_amount=posted,
                balances=Balances(
                    hold.currency, before.cash + back, before.bonus, before.held - hold.amount
                ),
            )
            resolution = HoldResolution(hold.id, state, posted, result.to_dict())
            await tx.write(Write(entry=entry, hold_resolution=resolution), now=now)
            if state == "expired":
                return HoldExpired(f"hold {reference!r} expired", **result.to_dict())
            return result

        outcome = await self._run(attempt)
        if isinstance(outcome, CroupierError):
            raise outcome
        return outcome

    @staticmethod
    def _hold_replay(hold: HoldState, status: str, posted: int) -> HoldResult | CroupierError:
        if hold.status == status and hold.posted_amount == posted:
            return HoldResult.from_dict(hold.result, replay=True)
        if hold.status == "expired":
            return HoldExpired(f"hold {hold.reference!r} expired", **hold.result)
        return HoldNotPending(
            f"hold {hold.reference!r} is {hold.status} already", status=hold.status
        )


def _bal(wallet: PlayerWallet) -> dict[str, object]:
    """The balance a refusal reports (rule 8)."""
    b = wallet.balances
    return {"currency": b.currency, "cash": b.cash, "bonus": b.bonus}


__all__ = ["CASHIER_SCOPE", "WalletService"]
