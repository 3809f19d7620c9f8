"""Webhook events: the raw body of a delivery, validated against the JSON Schema kept in the
repository (``croupier/schemas/webhook-event.v1.json``), its checksum checked, its amounts
converted exactly, into a domain event. Every failure is InvalidRequest: a delivery that
will never apply (it goes to the dead letters at once)."""

from __future__ import annotations

import json
from datetime import datetime
from importlib import resources
from typing import Any

import jsonschema

from croupier.domain.errors import CroupierError, InvalidRequest
from croupier.domain.money import CurrencyTable, parse_decimal
from croupier.domain.wallet import CreditReason
from croupier.domain.webhook_events import (
    CreditEvent,
    RollbackEvent,
    RoundEvent,
    WebhookEvent,
    checksum,
)

SCHEMA_NAME = "webhook-event.v1.json"
SCHEMA: dict[str, Any] = json.loads(
    (resources.files("croupier") / "schemas" / SCHEMA_NAME).read_text("utf-8")
)
EVENT_TYPES = ("round", "rollback", "jackpot", "promotion")
_VALIDATORS = {
    name: jsonschema.Draft202012Validator({"$ref": f"#/$defs/{name}", "$defs": SCHEMA["$defs"]})
    for name in EVENT_TYPES
}


class WebhookEventParser:
    def __init__(self, currencies: CurrencyTable) -> None:
        self.currencies = currencies

    def __call__(self, body: bytes) -> WebhookEvent:
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            raise InvalidRequest("the delivery's body is not JSON (or nested too deep)") from None
        try:
            # A lone surrogate ("\ud800") is valid JSON but not text: refused here, before
            # the checksum or an id can trip on it.
            json.dumps(document, ensure_ascii=False).encode()
        except (UnicodeEncodeError, RecursionError):
            raise InvalidRequest("the delivery's body holds text that is not Unicode") from None
        kind = document.get("type") if isinstance(document, dict) else None
        if kind not in _VALIDATORS:
            raise InvalidRequest(
                f"not a webhook event ({SCHEMA_NAME}): type must be one of {', '.join(EVENT_TYPES)}"
            )
        problems = sorted(_VALIDATORS[kind].iter_errors(document), key=lambda e: list(e.path))
        if problems:
            first = problems[0]
            where = "/".join(str(p) for p in first.path) or "the event"
            raise InvalidRequest(
                f"not a {kind} event ({SCHEMA_NAME}): {where}: {first.message}",
                problems=[f"{'/'.join(map(str, e.path))}: {e.message}" for e in problems][:10],
            )
        if checksum(document) != document["checksum"]:
            raise InvalidRequest("the event's checksum does not match its content")
        try:
            datetime.fromisoformat(document["timestamp"])
        except ValueError:
            raise InvalidRequest("the event's timestamp is not an ISO 8601 date-time") from None
        try:
            return self._event(kind, document)
        except CroupierError as exc:
            raise InvalidRequest(f"the event's amounts or currency: {exc.message}") from None

    def _event(self, kind: str, d: dict[str, Any]) -> WebhookEvent:
        currency = self.currencies.get_currency(d["currency"])

        def minor(text: str) -> int:
            return parse_decimal(text, currency)

        common = {"event_id": d["event_id"], "player_id": d["player_id"],
                  "currency": d["currency"], "finalized": d["finalized"]}  # fmt: skip
        if kind == "round":
            win = d.get("win")
            return RoundEvent(
                **common, round_id=d["round_id"], round_type=d["round_type"],
                game_code=d["game_code"], bet_tx_id=d["bet"]["tx_id"],
                bet_amount=minor(d["bet"]["amount"]),
                win_tx_id=win["tx_id"] if win else None,
                win_amount=minor(win["amount"]) if win else 0,
            )  # fmt: skip
        if kind == "rollback":
            return RollbackEvent(
                **common, tx_id=d["tx_id"], bet_tx_id=d["bet_tx_id"],
                amount=minor(d["amount"]) if "amount" in d else 0,
                round_id=d.get("round_id"), game_code=d.get("game_code"),
            )  # fmt: skip
        jackpot = kind == "jackpot"
        return CreditEvent(
            **common, reason=CreditReason.JACKPOT if jackpot else CreditReason.PROMOTION,
            tx_id=d["tx_id"], amount=minor(d["amount"]),
            source=d["jackpot_id"] if jackpot else d["campaign_id"],
            round_id=d.get("round_id"), game_code=d.get("game_code"),
            to_bonus=d.get("balance") == "bonus",
        )  # fmt: skip
