"""Every error Croupier returns, as one tree: each with a stable code, HTTP status and retry class.

The retry class tells a caller what to do next (WALLET_SEMANTICS.md, "Retry classes"):

* ``retryable`` - a transient fault; send the same call again.
* ``final`` - the answer will not change (insufficient funds, invalid amount, unknown bet).
* ``fatal`` - the session or account is unusable (unknown or blocked player).
* ``success_equivalent`` - already done; a replay that matched.

Tree (code, HTTP status, retry class)::

    CroupierError                                  INTERNAL_ERROR          500 retryable
    +-- InvalidRequest                             INVALID_REQUEST         400 final
    |   +-- InvalidAmount                          AMOUNT_INVALID          400 final
    |   |   +-- AmountPrecisionError               AMOUNT_PRECISION        400 final
    |   |   +-- AmountOutOfRange                   AMOUNT_OUT_OF_RANGE     400 final
    |   +-- UnknownCurrency                        CURRENCY_UNKNOWN        400 final
    |   +-- CurrencyMismatch                       CURRENCY_MISMATCH       409 final
    |   +-- PayloadTooLarge                        PAYLOAD_TOO_LARGE       413 final
    |   +-- UnsupportedMediaType                   UNSUPPORTED_MEDIA_TYPE  415 final
    |   +-- RouteNotFound                          ROUTE_NOT_FOUND         404 final
    |   +-- MethodNotAllowed                       METHOD_NOT_ALLOWED      405 final
    |   +-- FeedInvalid                            FEED_INVALID            422 final
    +-- IdempotencyMismatch                        IDEMPOTENCY_MISMATCH    409 final
    +-- InsufficientFunds                          INSUFFICIENT_FUNDS      402 final
    +-- BalanceOverflow                            BALANCE_OVERFLOW        422 final
    +-- TransactionNotFound                        TRANSACTION_NOT_FOUND   404 final
    |   +-- BetNotFound                            BET_NOT_FOUND           404 final
    +-- TransactionRolledBack                      TRANSACTION_ROLLED_BACK 409 final
    +-- BetAlreadySettled                          BET_ALREADY_SETTLED     409 final
    +-- RollbackNotAllowed                         ROLLBACK_NOT_ALLOWED    409 final
    +-- RoundClosed                                ROUND_CLOSED            409 final
    +-- RoundMismatch                              ROUND_MISMATCH          409 final
    +-- PlayerNotFound                             PLAYER_NOT_FOUND        404 fatal
    +-- PlayerBlocked                              PLAYER_BLOCKED          403 fatal
    +-- PlayerExists                               PLAYER_EXISTS           409 final
    +-- HoldNotFound                               HOLD_NOT_FOUND          404 final
    +-- HoldNotPending                             HOLD_NOT_PENDING        409 final
    |   +-- HoldExpired                            HOLD_EXPIRED            409 final
    +-- HoldAmountExceeded                         HOLD_AMOUNT_EXCEEDED    409 final
    +-- AuthenticationFailed                       AUTHENTICATION_FAILED   401 final
    |   +-- SignatureInvalid                       SIGNATURE_INVALID       401 final
    |   +-- RequestExpired                         REQUEST_EXPIRED         401 final
    |   +-- NonceReplayed                          NONCE_REPLAYED          409 final
    +-- TokenInvalid                               TOKEN_INVALID           401 fatal
    |   +-- TokenExpired                           TOKEN_EXPIRED           401 fatal
    +-- SessionNotFound                            SESSION_NOT_FOUND       404 final
    +-- SessionClosed                              SESSION_CLOSED          403 fatal
    +-- IllegalTransition                          SESSION_TRANSITION_ILLEGAL 409 final
    +-- KeyNotFound                                KEY_NOT_FOUND           404 final
    +-- KeyStateError                              KEY_STATE               409 final
    +-- OperatorKeyInvalid                         OPERATOR_KEY_INVALID    401 final
    +-- ScopeNotGranted                            SCOPE_NOT_GRANTED       403 final
    +-- PlayerCurrencyLocked                       PLAYER_CURRENCY_LOCKED  409 final
    +-- ProviderNotFound                           PROVIDER_NOT_FOUND      404 final
    +-- GameNotFound                               GAME_NOT_FOUND          404 final
    +-- LaunchRefused                              LAUNCH_REFUSED          403 final
    |   +-- KycRequired                            KYC_REQUIRED            403 final
    |   +-- UnderAge                               UNDER_AGE               403 fatal
    |   +-- JurisdictionRefused                    JURISDICTION_REFUSED    403 final
    |   +-- GameUnavailable                        GAME_UNAVAILABLE        403 final
    +-- StakeCapExceeded                           STAKE_CAP_EXCEEDED      403 final
    +-- LimitReached                               LIMIT_REACHED           403 final
    |   +-- DepositLimitReached                    DEPOSIT_LIMIT_REACHED   403 final
    |   +-- LossLimitReached                       LOSS_LIMIT_REACHED      403 final
    |   +-- WagerLimitReached                      WAGER_LIMIT_REACHED     403 final
    |   +-- SessionTimeLimitReached                SESSION_TIME_LIMIT_REACHED 403 final
    |   +-- RoundTooSoon                           ROUND_TOO_SOON          403 final
    +-- PlayerExcluded                             PLAYER_EXCLUDED         403 fatal
    |   +-- SelfExcluded                           SELF_EXCLUDED           403 fatal
    |   +-- CoolingOff                             COOLING_OFF             403 final
    +-- CaseNotFound                               RECON_CASE_NOT_FOUND    404 final
    +-- CaseTransition                             RECON_CASE_TRANSITION   409 final
    +-- StorageConflict                            STORAGE_CONFLICT        503 retryable
    +-- StorageUnavailable                         STORAGE_UNAVAILABLE     503 retryable
    +-- ConfigurationError                         CONFIGURATION_ERROR     500 fatal
    +-- UnbalancedEntry                            LEDGER_UNBALANCED       500 final

A refusal that the wallet stored (insufficient funds on a bet, a bet on a closed round, a bet
whose id was rolled back first) is raised again on a replay with ``replay=True`` and the
balances of the original answer: a replay returns the original result, refusals included.
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar


class RetryClass(enum.StrEnum):
    """What a caller should do after an error; the four classes of Evolution's One Wallet."""

    RETRYABLE = "retryable"
    FINAL = "final"
    FATAL = "fatal"
    SUCCESS_EQUIVALENT = "success_equivalent"


class CroupierError(Exception):
    """An unexpected error (a bug, logged and counted): send the call again, repeats are safe.

    The root of every error Croupier raises: its subclasses are the answers on purpose."""

    code: ClassVar[str] = "INTERNAL_ERROR"
    http_status: ClassVar[int] = 500
    retry_class: ClassVar[RetryClass] = RetryClass.RETRYABLE

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details

    def to_dict(self) -> dict[str, Any]:
        """The error as it goes on the wire and into the idempotency store."""
        return {
            "code": self.code,
            "message": self.message,
            "retry_class": self.retry_class.value,
            "details": self.details,
        }


class InvalidRequest(CroupierError):
    """The call itself is malformed; nothing was written."""

    code = "INVALID_REQUEST"
    http_status = 400
    retry_class = RetryClass.FINAL


class InvalidAmount(InvalidRequest):
    """An amount is not a non-negative integer or plain decimal string."""

    code = "AMOUNT_INVALID"


class AmountPrecisionError(InvalidAmount):
    """An amount has digits finer than its currency allows; Croupier never rounds."""

    code = "AMOUNT_PRECISION"


class AmountOutOfRange(InvalidAmount):
    """An amount is negative or larger than the configured maximum for one call."""

    code = "AMOUNT_OUT_OF_RANGE"


class UnknownCurrency(InvalidRequest):
    """A currency code that is not in the currency table."""

    code = "CURRENCY_UNKNOWN"


class CurrencyMismatch(InvalidRequest):
    """A call's currency is not the player's (or the session's) currency."""

    code = "CURRENCY_MISMATCH"
    http_status = 409


class PayloadTooLarge(InvalidRequest):
    """A request body larger than the configured limit; it was not read to the end."""

    code = "PAYLOAD_TOO_LARGE"
    http_status = 413


class UnsupportedMediaType(InvalidRequest):
    """A body that is not ``application/json``."""

    code = "UNSUPPORTED_MEDIA_TYPE"
    http_status = 415


class RouteNotFound(InvalidRequest):
    """No such endpoint (an unknown call, version or provider path)."""

    code = "ROUTE_NOT_FOUND"
    http_status = 404


class MethodNotAllowed(InvalidRequest):
    """The endpoint exists but not for this HTTP method."""

    code = "METHOD_NOT_ALLOWED"
    http_status = 405


class FeedInvalid(InvalidRequest):
    """A reconciliation feed with malformed lines; ``details.lines`` lists them (line number
    and problem). Nothing of it was used."""

    code = "FEED_INVALID"
    http_status = 422


class IdempotencyMismatch(CroupierError):
    """The same transaction id arrived again with different content; nothing changed."""

    code = "IDEMPOTENCY_MISMATCH"
    http_status = 409
    retry_class = RetryClass.FINAL


class InsufficientFunds(CroupierError):
    """The stake is larger than cash plus bonus; reports the balance at the time."""

    code = "INSUFFICIENT_FUNDS"
    http_status = 402
    retry_class = RetryClass.FINAL


class BalanceOverflow(CroupierError):
    """A credit would take a balance past the signed 64-bit range."""

    code = "BALANCE_OVERFLOW"
    http_status = 422
    retry_class = RetryClass.FINAL


class TransactionNotFound(CroupierError):
    """A referenced transaction is unknown."""

    code = "TRANSACTION_NOT_FOUND"
    http_status = 404
    retry_class = RetryClass.FINAL


class BetNotFound(TransactionNotFound):
    """A win that no accepted bet of its round can carry (win without a bet)."""

    code = "BET_NOT_FOUND"


class TransactionRolledBack(CroupierError):
    """The bet this call needs was rolled back (or its rollback arrived first)."""

    code = "TRANSACTION_ROLLED_BACK"
    http_status = 409
    retry_class = RetryClass.FINAL


class BetAlreadySettled(CroupierError):
    """A rollback of a bet whose round already has a win or is closed: first resolution wins."""

    code = "BET_ALREADY_SETTLED"
    http_status = 409
    retry_class = RetryClass.FINAL


class RollbackNotAllowed(CroupierError):
    """A rollback that references something other than a bet."""

    code = "ROLLBACK_NOT_ALLOWED"
    http_status = 409
    retry_class = RetryClass.FINAL


class RoundClosed(CroupierError):
    """A bet or win on a round that is already closed."""

    code = "ROUND_CLOSED"
    http_status = 409
    retry_class = RetryClass.FINAL


class RoundMismatch(CroupierError):
    """A round id that belongs to another player, currency or game."""

    code = "ROUND_MISMATCH"
    http_status = 409
    retry_class = RetryClass.FINAL


class PlayerNotFound(CroupierError):
    """No wallet for this player."""

    code = "PLAYER_NOT_FOUND"
    http_status = 404
    retry_class = RetryClass.FATAL


class PlayerBlocked(CroupierError):
    """The player's wallet is blocked; bets and cashier moves are refused."""

    code = "PLAYER_BLOCKED"
    http_status = 403
    retry_class = RetryClass.FATAL


class PlayerExists(CroupierError):
    """A wallet for this player exists already, in another currency."""

    code = "PLAYER_EXISTS"
    http_status = 409
    retry_class = RetryClass.FINAL


class HoldNotFound(CroupierError):
    """No hold with this id."""

    code = "HOLD_NOT_FOUND"
    http_status = 404
    retry_class = RetryClass.FINAL


class HoldNotPending(CroupierError):
    """The hold was already posted, voided or expired in another way."""

    code = "HOLD_NOT_PENDING"
    http_status = 409
    retry_class = RetryClass.FINAL


class HoldExpired(HoldNotPending):
    """The hold passed its expiry and was released."""

    code = "HOLD_EXPIRED"


class HoldAmountExceeded(CroupierError):
    """A post of more than the hold reserved."""

    code = "HOLD_AMOUNT_EXCEEDED"
    http_status = 409
    retry_class = RetryClass.FINAL


class AuthenticationFailed(CroupierError):
    """A request that could not be proven to come from a known provider; nothing was read."""

    code = "AUTHENTICATION_FAILED"
    http_status = 401
    retry_class = RetryClass.FINAL


class SignatureInvalid(AuthenticationFailed):
    """Signature headers missing or malformed, an unknown or revoked key, or a wrong MAC."""

    code = "SIGNATURE_INVALID"


class RequestExpired(AuthenticationFailed):
    """The request's timestamp is outside the accepted window: sign it afresh and resend."""

    code = "REQUEST_EXPIRED"


class NonceReplayed(AuthenticationFailed):
    """The nonce was seen before: a replayed request. Unsigned; sign afresh to resend."""

    code = "NONCE_REPLAYED"
    http_status = 409


class TokenInvalid(CroupierError):
    """A session token that is unknown, or belongs to another provider or player."""

    code = "TOKEN_INVALID"
    http_status = 401
    retry_class = RetryClass.FATAL


class TokenExpired(TokenInvalid):
    """The session token has expired: bets are refused, wins and rollbacks are not."""

    code = "TOKEN_EXPIRED"


class SessionNotFound(CroupierError):
    """No game session with this id."""

    code = "SESSION_NOT_FOUND"
    http_status = 404
    retry_class = RetryClass.FINAL


class SessionClosed(CroupierError):
    """The session no longer takes bets (settled, cancelled, failed, reversed or ending)."""

    code = "SESSION_CLOSED"
    http_status = 403
    retry_class = RetryClass.FATAL


class IllegalTransition(CroupierError):
    """A session state change that the state machine does not allow from its current state."""

    code = "SESSION_TRANSITION_ILLEGAL"
    http_status = 409
    retry_class = RetryClass.FINAL


class KeyNotFound(CroupierError):
    """No signing key with this id for the provider."""

    code = "KEY_NOT_FOUND"
    http_status = 404
    retry_class = RetryClass.FINAL


class KeyStateError(CroupierError):
    """A key rotation step out of order (revoking the primary key, promoting a revoked one)."""

    code = "KEY_STATE"
    http_status = 409
    retry_class = RetryClass.FINAL


class OperatorKeyInvalid(CroupierError):
    """The operator API key is missing, malformed, unknown or revoked; nothing was read."""

    code = "OPERATOR_KEY_INVALID"
    http_status = 401
    retry_class = RetryClass.FINAL


class ScopeNotGranted(CroupierError):
    """The operator API key is valid but lacks the scope this call needs."""

    code = "SCOPE_NOT_GRANTED"
    http_status = 403
    retry_class = RetryClass.FINAL


class PlayerCurrencyLocked(CroupierError):
    """The wallet's currency cannot change: it has been used (transactions, holds, limits or
    game sessions)."""

    code = "PLAYER_CURRENCY_LOCKED"
    http_status = 409
    retry_class = RetryClass.FINAL


class ProviderNotFound(CroupierError):
    """No game provider with this code in the catalogue."""

    code = "PROVIDER_NOT_FOUND"
    http_status = 404
    retry_class = RetryClass.FINAL


class GameNotFound(CroupierError):
    """No game with this code from this provider in the catalogue."""

    code = "GAME_NOT_FOUND"
    http_status = 404
    retry_class = RetryClass.FINAL


class LaunchRefused(CroupierError):
    """A game launch refused by a rule; ``details.rule`` names it (``GB.min_age``)."""

    code = "LAUNCH_REFUSED"
    http_status = 403
    retry_class = RetryClass.FINAL


class KycRequired(LaunchRefused):
    """The player's jurisdiction requires verified identity (KYC) before play."""

    code = "KYC_REQUIRED"


class UnderAge(LaunchRefused):
    """The player is under the jurisdiction's minimum age, or has no birth date on file."""

    code = "UNDER_AGE"
    retry_class = RetryClass.FATAL


class JurisdictionRefused(LaunchRefused):
    """The game may not be offered where the player is (no rule pack, not allowed by the
    provider, the game or the pack, or a stake cap in a currency the wallet is not in)."""

    code = "JURISDICTION_REFUSED"


class GameUnavailable(LaunchRefused):
    """The game or its provider is disabled in the catalogue."""

    code = "GAME_UNAVAILABLE"


class StakeCapExceeded(CroupierError):
    """A bet over the stake cap the jurisdiction sets for this game and player; stored, so a
    resend answers the same."""

    code = "STAKE_CAP_EXCEEDED"
    http_status = 403
    retry_class = RetryClass.FINAL


class LimitReached(CroupierError):
    """A responsible-gaming limit refuses the call; ``details.limit`` names it."""

    code = "LIMIT_REACHED"
    http_status = 403
    retry_class = RetryClass.FINAL


class DepositLimitReached(LimitReached):
    """The deposit would pass one of the player's deposit limits."""

    code = "DEPOSIT_LIMIT_REACHED"


class LossLimitReached(LimitReached):
    """The stake, if lost, would pass one of the player's loss limits."""

    code = "LOSS_LIMIT_REACHED"


class WagerLimitReached(LimitReached):
    """The stake would pass one of the player's wager limits."""

    code = "WAGER_LIMIT_REACHED"


class SessionTimeLimitReached(LimitReached):
    """The game session has lasted as long as the player's session-time limit allows."""

    code = "SESSION_TIME_LIMIT_REACHED"


class RoundTooSoon(LimitReached):
    """A new round before the least time between rounds the jurisdiction sets has passed."""

    code = "ROUND_TOO_SOON"


class PlayerExcluded(CroupierError):
    """The player is excluded from play for now; wins and rollbacks still settle."""

    code = "PLAYER_EXCLUDED"
    http_status = 403
    retry_class = RetryClass.FATAL


class SelfExcluded(PlayerExcluded):
    """The player self-excluded (for a period or indefinitely)."""

    code = "SELF_EXCLUDED"


class CoolingOff(PlayerExcluded):
    """The player is in a cool-off period."""

    code = "COOLING_OFF"
    retry_class = RetryClass.FINAL


class CaseNotFound(CroupierError):
    """No reconciliation case with that id."""

    code = "RECON_CASE_NOT_FOUND"
    http_status = 404
    retry_class = RetryClass.FINAL


class CaseTransition(CroupierError):
    """A reconciliation case cannot move to that status from its own (or is closed)."""

    code = "RECON_CASE_TRANSITION"
    http_status = 409
    retry_class = RetryClass.FINAL


class StorageConflict(CroupierError):
    """Concurrent writers kept colliding past the retry budget; the call may be sent again."""

    code = "STORAGE_CONFLICT"
    http_status = 503
    retry_class = RetryClass.RETRYABLE


class StorageUnavailable(CroupierError):
    """The database could not be reached or timed out; nothing was committed."""

    code = "STORAGE_UNAVAILABLE"
    http_status = 503
    retry_class = RetryClass.RETRYABLE


class ConfigurationError(CroupierError):
    """Settings that would make money unsafe (overflowing precision, bad currency table)."""

    code = "CONFIGURATION_ERROR"
    http_status = 500
    retry_class = RetryClass.FATAL


class UnbalancedEntry(CroupierError):
    """A bug, caught before writing: an entry whose postings do not sum to zero per currency."""

    code = "LEDGER_UNBALANCED"
    http_status = 500
    retry_class = RetryClass.FINAL


def all_error_types() -> list[type[CroupierError]]:
    """Every error class, root first, in a stable order (for docs and the catalogue test)."""
    seen: list[type[CroupierError]] = []
    stack: list[type[CroupierError]] = [CroupierError]
    while stack:
        cls = stack.pop(0)
        seen.append(cls)
        stack[0:0] = cls.__subclasses__()
    return seen


def error_from_dict(data: dict[str, Any], *, replay: bool) -> CroupierError:
    """Rebuild a stored refusal so that a replay raises the original error again."""
    by_code = {cls.code: cls for cls in all_error_types()}
    cls = by_code.get(str(data["code"]), CroupierError)
    details = dict(data.get("details", {}))
    details["replay"] = replay
    return cls(str(data["message"]), **details)
