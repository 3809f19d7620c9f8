"""Standard Webhooks signatures: the public vector reproduced, and every refusal typed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from croupier.domain import webhooks
from croupier.domain.errors import AuthenticationFailed, RequestExpired, SignatureInvalid

VECTOR: dict[str, Any] = json.loads(
    (Path(__file__).parents[2] / "tests" / "vectors" / "standard-webhooks.json").read_text()
)


def headers(
    signature: str, *, msg_id: str | None = None, stamp: int | None = None
) -> dict[str, str]:
    return {
        "webhook-id": msg_id or VECTOR["webhook_id"],
        "webhook-timestamp": str(stamp if stamp is not None else VECTOR["webhook_timestamp"]),
        "webhook-signature": signature,
    }


BODY = VECTOR["raw_body"].encode()
NOW = VECTOR["webhook_timestamp"]


def test_the_public_vector_is_reproduced() -> None:
    signed = webhooks.sign(VECTOR["secret"], VECTOR["webhook_id"], NOW, BODY)
    assert signed == VECTOR["valid_signature"]
    assert (
        webhooks.verify([VECTOR["secret"]], headers(signed), BODY, now=NOW) == VECTOR["webhook_id"]
    )


def test_the_vectors_invalid_signature_is_refused() -> None:
    with pytest.raises(SignatureInvalid):
        webhooks.verify([VECTOR["secret"]], headers(VECTOR["invalid_signature"]), BODY, now=NOW)


def test_any_of_several_signatures_and_secrets_passes_during_rotation() -> None:
    new = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
    both = f"v1,AAAA {VECTOR['valid_signature']}"
    assert webhooks.verify([new, VECTOR["secret"]], headers(both), BODY, now=NOW)
    with pytest.raises(SignatureInvalid):
        webhooks.verify([new], headers(both), BODY, now=NOW)


@pytest.mark.parametrize("skew", [-301, 301])
def test_a_timestamp_more_than_five_minutes_off_is_refused(skew: int) -> None:
    with pytest.raises(RequestExpired):
        webhooks.verify(
            [VECTOR["secret"]], headers(VECTOR["valid_signature"]), BODY, now=NOW + skew
        )
    assert webhooks.verify([VECTOR["secret"]], headers(VECTOR["valid_signature"]), BODY,
                           now=NOW + (300 if skew > 0 else -300))  # fmt: skip


def test_a_changed_body_or_id_is_refused() -> None:
    with pytest.raises(SignatureInvalid):
        webhooks.verify(
            [VECTOR["secret"]], headers(VECTOR["valid_signature"]), BODY + b" ", now=NOW
        )
    with pytest.raises(SignatureInvalid):
        webhooks.verify([VECTOR["secret"]], headers(VECTOR["valid_signature"], msg_id="msg_x"),
                        BODY, now=NOW)  # fmt: skip


@pytest.mark.parametrize("bad", [
    {"webhook-id": ""}, {"webhook-timestamp": "soon"}, {"webhook-signature": ""},
    {"webhook-id": "a b"}, {"webhook-timestamp": "-1"},
])  # fmt: skip
def test_missing_or_malformed_headers_are_refused(bad: dict[str, str]) -> None:
    sent = headers(VECTOR["valid_signature"]) | bad
    with pytest.raises(AuthenticationFailed):
        webhooks.verify([VECTOR["secret"]], sent, BODY, now=NOW)


@pytest.mark.parametrize("secret", ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_!!!", "whsec_YWJj"])
def test_a_malformed_secret_is_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="whsec_"):
        webhooks.secret_key(secret)


def test_the_standard_library_example_reproduces_the_vector() -> None:
    """examples/sign_webhook.py (docs/webhooks.md) signs as Croupier verifies."""
    import importlib.util  # noqa: PLC0415 - loading an example file, not a module

    path = Path(__file__).parents[2] / "examples" / "sign_webhook.py"
    spec = importlib.util.spec_from_file_location("sign_webhook", path)
    assert spec is not None
    assert spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    got = example.signature(VECTOR["secret"], VECTOR["webhook_id"], NOW, BODY)
    assert got == VECTOR["valid_signature"]
