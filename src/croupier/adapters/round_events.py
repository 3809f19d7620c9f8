"""Round events: the raw body of a delivery, validated against the JSON Schema kept in the
repository (``croupier/schemas/round-event.v1.json``), its checksum checked, its amounts
converted exactly, into a domain RoundEvent. Every failure is InvalidRequest: a delivery
that will never apply (it goes to the dead letters at once)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

import jsonschema

from croupier.domain.errors import CroupierError, InvalidRequest
from croupier.domain.money import CurrencyTable, parse_decimal
from croupier.domain.round_events import RoundEvent, checksum

SCHEMA: dict[str, Any] = json.loads(
    (resources.files("croupier") / "schemas" / "round-event.v1.json").read_text("utf-8")
)
_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


class RoundEventParser:
    def __init__(self, currencies: CurrencyTable) -> None:
        self.currencies = currencies

    def __call__(self, body: bytes) -> RoundEvent:
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise InvalidRequest("the delivery's body is not JSON") from None
        problems = sorted(_VALIDATOR.iter_errors(document), key=lambda e: list(e.path))
        if problems:
            first = problems[0]
            where = "/".join(str(p) for p in first.path) or "the event"
            raise InvalidRequest(
                f"not a round event (round-event.v1.json): {where}: {first.message}",
                problems=[f"{'/'.join(map(str, e.path))}: {e.message}" for e in problems][:10],
            )
        if checksum(document) != document["checksum"]:
            raise InvalidRequest("the event's checksum does not match its content")
        try:
            currency = self.currencies.get_currency(document["currency"])
            win = document.get("win")
            return RoundEvent(
                event_id=document["event_id"],
                player_id=document["player_id"],
                round_id=document["round_id"],
                round_type=document["round_type"],
                game_code=document["game_code"],
                currency=document["currency"],
                bet_tx_id=document["bet"]["tx_id"],
                bet_amount=parse_decimal(document["bet"]["amount"], currency),
                win_tx_id=win["tx_id"] if win else None,
                win_amount=parse_decimal(win["amount"], currency) if win else 0,
                finalized=document["finalized"],
            )
        except CroupierError as exc:
            raise InvalidRequest(f"the event's amounts or currency: {exc.message}") from None
