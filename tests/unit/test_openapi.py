"""The published protocol stays true to the code: docs/openapi.json is what the API serves,
every native call has a path, and the standalone signing example reproduces the vectors."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from croupier.adapters.providers.native import CALLS, PREFIX
from croupier.api.openapi import openapi_document

ROOT = Path(__file__).resolve().parents[2]
OPENAPI_FILE = ROOT / "docs" / "openapi.json"
SIGN_SCRIPT = ROOT / "examples" / "sign_request.py"
VECTORS: list[dict[str, Any]] = json.loads(
    (ROOT / "tests" / "vectors" / "native-signing.json").read_text(encoding="utf-8")
)["vectors"]
REQUEST_VECTORS = [v for v in VECTORS if v["kind"] == "request"]
RESPONSE_VECTORS = [v for v in VECTORS if v["kind"] == "response"]


def test_docs_openapi_json_is_the_served_document() -> None:
    published = json.loads(OPENAPI_FILE.read_text(encoding="utf-8"))
    assert published == openapi_document(), (
        "docs/openapi.json is out of date; run: croupier openapi > docs/openapi.json"
    )


@pytest.mark.parametrize("call", CALLS)
def test_every_native_call_has_a_path(call: str) -> None:
    path = f"{PREFIX}/{{provider}}/{call}"
    assert path in openapi_document()["paths"], f"no OpenAPI path for the native call {call!r}"


@pytest.mark.parametrize("vector", REQUEST_VECTORS, ids=[v["name"] for v in REQUEST_VECTORS])
def test_sign_request_example_reproduces_the_request_vectors(vector: dict[str, Any]) -> None:
    out = subprocess.run(  # noqa: S603 - our own script, run with this interpreter
        [
            sys.executable,
            str(SIGN_SCRIPT),
            vector["secret"],
            "key-1",
            vector["path"],
            vector["body"],
            "--timestamp",
            str(vector["timestamp"]),
            "--nonce",
            vector["nonce"],
        ],
        capture_output=True,
        text=True,
        check=True,
        encoding="utf-8",
    ).stdout.split()
    assert out == [
        "-H",
        "x-croupier-key:key-1",
        "-H",
        f"x-croupier-timestamp:{vector['timestamp']}",
        "-H",
        f"x-croupier-nonce:{vector['nonce']}",
        "-H",
        f"x-croupier-signature:{vector['signature']}",
    ]


def _sign_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sign_request", SIGN_SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("vector", RESPONSE_VECTORS, ids=[v["name"] for v in RESPONSE_VECTORS])
def test_sign_request_example_verifies_the_response_vectors(vector: dict[str, Any]) -> None:
    script = _sign_script()
    headers = {
        "x-croupier-timestamp": str(vector["timestamp"]),
        "x-croupier-signature": vector["signature"],
    }
    body = vector["body"].encode()

    def verified(nonce: str) -> bool:
        return bool(
            script.response_verified(
                vector["secret"], vector["path"], nonce,
                status=vector["status"], headers=headers, body=body,
            )
        )  # fmt: skip

    assert verified(vector["nonce"])
    assert not verified("another-nonce-0001")  # a response is bound to its request's nonce
