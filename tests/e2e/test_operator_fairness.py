"""`POST /operator/v1/rounds/verify`: the operator verifies a provider's round from its
fairness evidence, a webhook delivery the inbox stored or a document sent."""

from __future__ import annotations

from typing import Any

import pytest

from croupier.domain import fairness
from tests.e2e.conftest import Api
from tests.e2e.sandbox_fixtures import sandbox, seed_where

DICE = {"target": "50.00", "direction": "under"}


async def _verify(api: Api, body: dict[str, Any], token: str | None = None) -> Any:
    return await api.op("POST", "/rounds/verify", body, token=token)


async def test_a_stored_round_event_is_verified_once_its_seed_is_revealed(api: Api) -> None:
    assert api.inbox is not None
    async with sandbox(api, webhook=True, seed=21) as box:
        session = await box.open("pl-fair")
        box.fix_seed("pl-fair", seed_where(pays=True))
        r = await box.provider.spin(session, stake="1.00", params=DICE)
        rows = await api.inbox.store.deliveries(status=None, provider=api.provider, limit=10)
        [delivery] = [int(str(d["id"])) for d in rows]
        waiting = await _verify(api, {"delivery": delivery})
        assert waiting.status_code == 200
        assert waiting.json()["fair"] is False
        assert [c["check"] for c in waiting.json()["checks"]][-1] == "seed revealed"
        revealed = (await box.provider.rotate("pl-fair"))["revealed"]["server_seed"]
    answer = await _verify(api, {"delivery": delivery, "server_seed": revealed})
    body = answer.json()
    assert answer.status_code == 200, body
    assert body["fair"] is True, body["checks"]
    assert body["checks"][-1] == {
        "check": "money", "passed": True,
        "detail": f"moved stake 1.00 and payout {r.public()['payout']}, as the evidence proves",
    }  # fmt: skip
    wrong = await _verify(api, {"delivery": delivery, "server_seed": "ab" * 32})
    assert wrong.json()["fair"] is False


async def test_a_document_paid_less_than_its_evidence_is_not_fair(api: Api) -> None:
    seed = seed_where(pays=True)
    outcome = fairness.play("dice", server_seed=seed, client_seed="sandbox-tests", nonce=0,
                            stake=100, params=DICE)  # fmt: skip
    evidence = fairness.evidence(
        outcome, server_seed_hash=fairness.commitment(seed), client_seed="sandbox-tests",
        nonce=0, server_seed=seed, exponent=2,
    )  # fmt: skip
    event = {"bet": {"tx_id": "b", "amount": "1.00"}, "win": {"tx_id": "w", "amount": "0.50"},
             "fairness": evidence}  # fmt: skip
    short = (await _verify(api, {"document": event})).json()
    assert short["fair"] is False
    assert short["checks"][-1]["check"] == "money"
    assert not short["checks"][-1]["passed"]
    fair_event = event | {"win": {"tx_id": "w", "amount": evidence["payout"]}}
    assert (await _verify(api, {"document": fair_event})).json()["fair"] is True


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "INVALID_REQUEST"),
        ({"delivery": 1, "document": {}}, 400, "INVALID_REQUEST"),
        ({"delivery": 999_999}, 404, "TRANSACTION_NOT_FOUND"),
        ({"delivery": "1"}, 400, "INVALID_REQUEST"),
        ({"document": {}, "extra": 1}, 400, "INVALID_REQUEST"),
    ],
)  # fmt: skip
async def test_bad_requests_are_typed(
    api: Api, body: dict[str, Any], status: int, code: str
) -> None:
    answer = await _verify(api, body)
    assert answer.status_code == status
    assert answer.json()["error"]["code"] == code


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_it_needs_the_history_scope(api: Api) -> None:
    assert api.operator_keys is not None
    _, cashier = await api.operator_keys.add(["cashier"], "no history")
    answer = await _verify(api, {"document": {}}, token=cashier)
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "SCOPE_NOT_GRANTED"
    assert (await _verify(api, {"document": {}}, token="")).status_code == 401
    garbage = await _verify(api, {"document": {"fairness": "x"}})
    assert garbage.status_code == 200
    assert garbage.json()["fair"] is False
