"""The stuck-money report as JSON, for the operator API (``GET /operator/v1/stuck``) and
``croupier stuck --json``: amounts as decimal strings in their currency, times in UTC ISO
8601, each item's age in seconds."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from croupier.domain.money import CurrencyTable, format_decimal
from croupier.services.stuck import CATEGORIES, UNKNOWN_CURRENCY, StuckReport


def _ts(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def render_stuck(report: StuckReport, currencies: CurrencyTable) -> dict[str, Any]:
    now = report.as_of

    def amount(minor: int, currency: str | None) -> str | None:
        """Decimal; minor units as text for a currency no longer configured; None when the
        currency is unknown (a dead delivery whose body does not parse)."""
        if currency is None or currency == UNKNOWN_CURRENCY:
            return None
        known = currencies.get(currency)
        return format_decimal(minor, known) if known else str(minor)

    def since(moment: datetime) -> dict[str, Any]:
        return {"since": _ts(moment), "age_seconds": int((now - moment).total_seconds())}

    return {
        "as_of": _ts(now),
        "limit": report.limit,
        "holds": [
            {"reference": h.reference, "player_id": h.player_id, "currency": h.currency,
             "amount": amount(h.amount, h.currency), **since(h.since),
             "expires_at": _ts(h.expires_at), "expired": h.expired}
            for h in report.holds
        ],
        "rounds": [
            {"provider": r.provider, "round_id": r.round_ref, "player_id": r.player_id,
             "game_code": r.game_code, "currency": r.currency,
             "amount": amount(r.amount, r.currency), **since(r.since),
             "bets": r.bets_live, "flagged": r.flagged,
             "threshold_seconds": r.threshold_seconds}
            for r in report.rounds
        ],
        "sessions": [
            {"session_id": s.id, "provider": s.provider, "player_id": s.player_id,
             "game_code": s.game_code, "currency": s.currency,
             "amount": amount(s.amount, s.currency), "open_rounds": s.open_rounds,
             **since(s.since)}
            for s in report.sessions
        ],
        "dead_webhooks": [
            {"id": str(d.id), "provider": d.provider, "delivery_id": d.delivery_id,
             **since(d.since), "attempts": d.attempts, "last_error": d.last_error,
             "event_type": d.event_type, "event_id": d.event_id, "player_id": d.player_id,
             "currency": d.currency,
             "amount": amount(d.amount, d.currency) if d.event_type else None}
            for d in report.dead_webhooks
        ],
        "totals": {
            category: {
                currency: {"count": t.count, "amount": amount(t.amount, currency)}
                for currency, t in sorted(report.totals[category].items())
            }
            for category in CATEGORIES
        },
        "truncated": {category: report.truncated(category) for category in CATEGORIES},
        "expired_holds": report.expired_holds,
    }  # fmt: skip
