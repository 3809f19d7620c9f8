"""The context of the call being served: correlation id and game session.

Set by the API layer once per request and read where a record is written (wallet
transactions, session events), so that every row can be traced back to the request that
made it. A context variable, so concurrent requests on one event loop never mix.
"""

from __future__ import annotations

import secrets
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CallContext:
    correlation_id: str | None = None
    session_id: str | None = None


_current: ContextVar[CallContext] = ContextVar("croupier_call", default=CallContext())  # noqa: B039 - frozen


def current() -> CallContext:
    return _current.get()


def bind(*, correlation_id: str | None = None, session_id: str | None = None) -> None:
    """Set fields of the current call's context (those given; the others keep their value)."""
    now = _current.get()
    _current.set(
        CallContext(
            correlation_id=correlation_id if correlation_id is not None else now.correlation_id,
            session_id=session_id if session_id is not None else now.session_id,
        )
    )


def reset() -> None:
    _current.set(CallContext())


def new_correlation_id() -> str:
    return secrets.token_hex(12)
