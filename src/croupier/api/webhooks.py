"""``POST /webhooks/{provider}``: the webhook inbox's door. A delivery is verified before any
business field is read (Standard Webhooks), stored raw and committed, then answered 200;
the same delivery again is answered 200 with ``duplicate: true`` and not stored twice.
Refusals are typed (401 signature, 401 expired, 413 too large) and leave a rejection record.
"""

from __future__ import annotations

import logging

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from croupier.api.app import CORRELATION_HEADER, correlation_id_of, error_body, read_limited
from croupier.api.metrics import Metrics
from croupier.domain.errors import CroupierError, PayloadTooLarge
from croupier.domain.webhooks import ID_HEADER
from croupier.services.inbox import InboxService

log = logging.getLogger("croupier.webhooks")


def signed_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-case names to values; a signature header (``webhook-*``, ``x-croupier-*``) sent
    more than once is dropped, so that the delivery fails verification: which copy a proxy
    checked is unknowable."""
    headers: dict[str, str] = {}
    repeated: set[str] = set()
    for key, value in raw:
        name = key.decode("latin-1").lower()
        if name in headers and name.startswith(("webhook-", "x-croupier-")):
            repeated.add(name)
        headers[name] = value.decode("latin-1")
    for name in repeated:
        del headers[name]
    return headers


def webhook_routes(inbox: InboxService, metrics: Metrics, max_body_bytes: int) -> list[BaseRoute]:
    async def receive(request: Request) -> Response:
        provider: str = request.path_params["provider"]
        headers = signed_headers(request.scope["headers"])
        correlation = {CORRELATION_HEADER: correlation_id_of(headers.get(CORRELATION_HEADER))}
        try:
            try:
                body = await read_limited(
                    request.stream(), headers.get("content-length"), max_body_bytes
                )
            except PayloadTooLarge as refusal:
                declared = headers.get("content-length", "")
                size = min(int(declared), 2**31 - 1) if declared.isdigit() else max_body_bytes + 1
                await inbox.reject(provider, refusal.code, headers.get(ID_HEADER), b"", size)
                raise
            raw_path = request.scope.get("raw_path") or request.url.path.encode()
            received = await inbox.receive(provider, headers, body, raw_path.decode("latin-1"))
        except CroupierError as error:
            metrics.webhooks.labels(error.code).inc()
            return Response(error_body(error), error.http_status, correlation,
                            media_type="application/json")  # fmt: skip
        except Exception:  # a bug: typed 500, logged; the sender retries
            metrics.internal_errors.inc()
            log.exception("unexpected error in the webhook inbox")
            bug = CroupierError("unexpected error; send the delivery again")
            return Response(error_body(bug), 500, correlation, media_type="application/json")
        metrics.webhooks.labels("DUPLICATE" if received.duplicate else "STORED").inc()
        body_out = {"status": "OK", "delivery_id": received.delivery_id,
                    "id": str(received.id), "duplicate": received.duplicate}  # fmt: skip
        return Response(orjson.dumps(body_out), 200, correlation, media_type="application/json")

    return [Route("/webhooks/{provider}", receive, methods=["POST"])]
