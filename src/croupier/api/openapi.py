"""The OpenAPI 3.1 document of the native protocol, built from the adapter's own structs.

Served at ``/openapi.json`` and kept in the repository as ``docs/openapi.json``
(``croupier openapi > docs/openapi.json``; a test fails when the two differ).
"""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import msgspec

from croupier.adapters.providers import native
from croupier.domain.errors import all_error_types

_CALL_SUMMARIES = {
    "authenticate": "Resolve a session token to the player; the session becomes launched.",
    "balance": "The player's cash and bonus balances (needs an unexpired token).",
    "refresh": "A new session token for a live session (the old one keeps its expiry).",
    "bet": "Take a stake; opens the round if new. Needs an unexpired token.",
    "win": "Pay a win against a bet of the round; never refused for the token's age.",
    "rollback": "Reverse one earlier bet (before or after it arrived); token optional.",
    "end_round": "Close a round with no further money; token optional.",
}

_DECIMAL = {"type": "string", "pattern": r"^(0|[1-9][0-9]*)(\.[0-9]+)?$", "examples": ["1.50"]}

_BALANCE = {
    "type": "object",
    "required": ["cash", "bonus"],
    "properties": {"cash": _DECIMAL, "bonus": _DECIMAL},
}

_OK = {
    "type": "object",
    "required": ["status"],
    "properties": {
        "status": {"const": "OK"},
        "player_id": {"type": "string"},
        "currency": {"type": "string"},
        "balance": _BALANCE,
        "session": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "state": {"type": "string"},
                "game_code": {"type": "string"},
                "token_expires_at": {"type": "string", "format": "date-time"},
                "token": {"type": "string", "description": "refresh only"},
            },
        },
        "reality_check": {
            "type": "object",
            "description": "present on a bet's answer when the player's reality check is "
            "due: the game shows it before the next round",
            "properties": {
                "due": {"const": True},
                "interval_minutes": {"type": "integer"},
                "net_loss_today": _DECIMAL,
            },
        },
        "transaction": {
            "type": "object",
            "properties": {
                "id": {"type": "string", "description": "Croupier's id of the transaction"},
                "reference": {"type": "string", "description": "your tx_id"},
                "kind": {"type": "string"},
                "cash_amount": _DECIMAL,
                "bonus_amount": _DECIMAL,
                "round_closed": {"type": "boolean"},
                "outcome": {"type": "string"},
                "replay": {"type": "boolean", "description": "true on a repeat of a call"},
            },
        },
    },
}

_ERROR = {
    "type": "object",
    "required": ["status", "error"],
    "properties": {
        "status": {"const": "ERROR"},
        "error": {
            "type": "object",
            "required": ["code", "message", "retry_class", "details"],
            "properties": {
                "code": {"enum": sorted({e.code for e in all_error_types()})},
                "message": {"type": "string"},
                "retry_class": {"enum": ["retryable", "final", "fatal", "success_equivalent"]},
                "details": {"type": "object"},
            },
        },
        "currency": {"type": "string"},
        "balance": _BALANCE,
        "replay": {"type": "boolean"},
    },
}

_SIGNED_HEADERS = [
    ("X-Croupier-Key", "Id of the signing key (croupier keys list)."),
    ("X-Croupier-Timestamp", "Unix seconds; accepted within the window (default 30 s)."),
    ("X-Croupier-Nonce", "16-128 characters of A-Z a-z 0-9 _ -, never reused."),
    ("X-Croupier-Signature", "v1=<hex HMAC-SHA256 of the canonical request>."),
]


def _json_ref(name: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}


def openapi_document() -> dict[str, Any]:
    kinds = list(native.REQUEST_TYPES.values())
    schemas, components = msgspec.json.schema_components(
        kinds, ref_template="#/components/schemas/{name}"
    )
    for name in components:
        if "amount" in components[name].get("properties", {}):
            components[name]["properties"]["amount"] = {
                **components[name]["properties"]["amount"],
                "description": "decimal string in major units; JSON numbers are refused",
            }
    components["OkResponse"] = _OK
    components["ErrorResponse"] = _ERROR
    parameters = [
        {"name": name, "in": "header", "required": True, "description": text,
         "schema": {"type": "string"}}
        for name, text in _SIGNED_HEADERS
    ] + [
        {"name": "X-Request-Id", "in": "header", "required": False,
         "description": "correlation id, echoed back and stored with the transaction",
         "schema": {"type": "string"}},
        {"name": "provider", "in": "path", "required": True, "description": "your provider code",
         "schema": {"type": "string"}},
    ]  # fmt: skip
    paths: dict[str, Any] = {}
    for (call, summary), schema in zip(_CALL_SUMMARIES.items(), schemas, strict=True):
        paths[f"{native.PREFIX}/{{provider}}/{call}"] = {
            "post": {
                "operationId": call,
                "summary": summary,
                "parameters": parameters,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": schema}},
                },
                "responses": {
                    "200": {
                        "description": "OK, signed (X-Croupier-Timestamp, X-Croupier-Signature)",
                        "content": _json_ref("OkResponse"),
                    },
                    "default": {
                        "description": "A typed error: its code, HTTP status and retry class",
                        "content": _json_ref("ErrorResponse"),
                    },
                },
            }
        }  # fmt: skip
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Croupier native wallet protocol",
            "version": f"{native.VERSION} (croupier {version('croupier')})",
            "description": "Provider-facing seamless wallet API. See docs/protocol.md.",
        },
        "paths": paths,
        "components": {"schemas": components},
    }
