"""The ASGI app: provider protocol routes, health, metrics and the OpenAPI document. Thin.

Provider calls take a plain ASGI fast path (``ProviderFastPath``): the request is read
(bounded), handed to its protocol adapter as bytes, and the adapter's rendered reply is sent
as is; no Starlette request, response, routing or middleware, no per-request object graph.
Everything else (other paths and methods, /metrics, /healthz, /openapi.json) is Starlette.
JSON is decoded by msgspec and encoded by orjson in the adapter. Why this and not FastAPI
and pydantic: docs/benchmarks.md, "The HTTP layer: the choice".
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from croupier.adapters.providers.native import Reply
from croupier.api.metrics import Metrics
from croupier.api.openapi import openapi_document
from croupier.domain.errors import (
    CroupierError,
    InvalidRequest,
    MethodNotAllowed,
    PayloadTooLarge,
    RouteNotFound,
)
from croupier.services import context as call_context

log = logging.getLogger("croupier.api")

CORRELATION_HEADER = "x-request-id"
_CORRELATION = re.compile(r"[A-Za-z0-9._:\-]{1,128}")


class ProviderAdapter(Protocol):
    name: str
    prefix: str

    async def handle(
        self, provider: str, call: str, path: str, headers: dict[str, str], body: bytes
    ) -> Reply: ...


def error_body(error: CroupierError) -> bytes:
    return orjson.dumps({"status": "ERROR", "error": error.to_dict()})


def error_response(error: CroupierError, correlation_id: str | None = None) -> Response:
    headers = {CORRELATION_HEADER: correlation_id} if correlation_id else None
    return Response(
        error_body(error),
        status_code=error.http_status,
        media_type="application/json",
        headers=headers,
    )


async def read_limited(chunks: AsyncIterator[bytes], declared: str | None, limit: int) -> bytes:
    """The body, refusing (413) past ``limit`` bytes, by its declared length or as it comes,
    without reading the rest."""
    if declared is not None and (
        not (declared.isascii() and declared.isdigit()) or int(declared) > limit
    ):
        raise PayloadTooLarge(f"body is larger than {limit} bytes", limit=limit)
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body is larger than {limit} bytes", limit=limit)
        parts.append(chunk)
    return b"".join(parts)


def query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    """A whole-number query parameter in [low, high], else INVALID_REQUEST naming it."""
    value = request.query_params.get(name, str(default))
    number = int(value) if value.isascii() and value.isdigit() and len(value) <= 9 else -1
    if not low <= number <= high:
        raise InvalidRequest(f"{name} must be a whole number from {low} to {high}", field=name)
    return number


def correlation_id_of(given: str | None) -> str:
    """The caller's X-Request-Id if well-formed, else a new one."""
    return given if given and _CORRELATION.fullmatch(given) else call_context.new_correlation_id()


def read_headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    """Lower-case names to values. A signature header sent twice is dropped, so that the
    request fails verification: which copy a proxy checked or logged is unknowable."""
    headers: dict[str, str] = {}
    repeated: set[str] = set()
    for k, v in raw:
        name = k.decode("latin-1").lower()
        if name in headers and name.startswith("x-croupier-"):
            repeated.add(name)
        headers[name] = v.decode("latin-1")
    for name in repeated:
        del headers[name]
    return headers


class ProviderFastPath:
    """The ASGI app: ``POST <prefix>/<provider>/<call>`` goes straight to its adapter, with no
    Starlette request, response, routing or middleware (measured: a fifth of a call's CPU);
    another method there is 405. Every other path (/metrics, /openapi.json, unknown ones)
    goes to Starlette."""

    def __init__(self, adapters: Sequence[ProviderAdapter], serve: Any, fallback: Any) -> None:
        self._adapters = [(a.prefix + "/", a) for a in adapters]
        self._serve = serve
        self.fallback = fallback

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            for prefix, adapter in self._adapters:
                if path.startswith(prefix):
                    parts = path[len(prefix) :].split("/")
                    if len(parts) == 2 and all(parts):
                        if scope["method"] == "POST":
                            await self._call(adapter, (parts[0], parts[1]), scope, receive, send)
                        else:
                            await self._refuse_method(scope, send)
                        return
        await self.fallback(scope, receive, send)

    @staticmethod
    async def _refuse_method(scope: Any, send: Any) -> None:
        given = read_headers(scope["headers"]).get(CORRELATION_HEADER)
        error = MethodNotAllowed("method not allowed; calls are POST")
        headers = {CORRELATION_HEADER: correlation_id_of(given), "allow": "POST"}
        await _send(send, error.http_status, headers, error_body(error))

    async def _call(
        self, adapter: ProviderAdapter, route: tuple[str, str], scope: Any, receive: Any, send: Any
    ) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _Disconnected
                yield message.get("body", b"")
                if not message.get("more_body", False):
                    return

        try:
            status, headers, body = await self._serve(
                adapter, route, scope.get("raw_path") or scope["path"].encode(),
                scope["headers"], chunks(),
            )  # fmt: skip
        except _Disconnected:
            return
        await _send(send, status, headers, body)


async def _send(send: Any, status: int, headers: dict[str, str], body: bytes) -> None:
    """One JSON response, in two ASGI messages."""
    raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    raw_headers.append((b"content-length", str(len(body)).encode()))
    if "content-type" not in headers:
        raw_headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


class _Disconnected(Exception):
    """The client went away before its body arrived: nothing to answer."""


def create_app(
    adapters: Sequence[ProviderAdapter],
    *,
    metrics: Metrics,
    max_body_bytes: int = 65536,
    access_log: bool = True,
    known_provider: Any = None,
    routes: Sequence[BaseRoute] = (),
    on_refusal: Callable[[str, str], Awaitable[None]] | None = None,
) -> ProviderFastPath:
    """The API. ``known_provider(code) -> bool`` keeps unknown path segments out of metric
    labels (a caller can make up any provider name)."""

    def provider_label(provider: str) -> str:
        return provider if known_provider is None or known_provider(provider) else "unknown"

    async def serve(
        adapter: ProviderAdapter,
        route: tuple[str, str],
        raw_path: bytes,
        raw_headers: list[tuple[bytes, bytes]],
        body_chunks: AsyncIterator[bytes],
    ) -> tuple[int, dict[str, str], bytes]:
        """One provider call, framework aside: (status, headers, body) to send."""
        provider, call = route
        started = time.perf_counter()
        headers = read_headers(raw_headers)
        correlation_id = correlation_id_of(headers.get(CORRELATION_HEADER))
        call_context.reset()
        call_context.bind(correlation_id=correlation_id)
        try:
            body = await read_limited(body_chunks, headers.get("content-length"), max_body_bytes)
            # The signature covers the path exactly as sent, percent-encoding included.
            reply = await adapter.handle(provider, call, raw_path.decode("latin-1"), headers, body)
        except CroupierError as error:  # refused before the adapter: too large
            return error.http_status, {CORRELATION_HEADER: correlation_id}, error_body(error)
        except Exception:  # a bug: typed 500, logged, counted; never a stack to the caller
            metrics.internal_errors.inc()
            log.exception("unexpected error", extra={"call": call[:32]})
            bug = CroupierError("unexpected error; the call may be sent again")
            return bug.http_status, {CORRELATION_HEADER: correlation_id}, error_body(bug)
        elapsed = time.perf_counter() - started
        label = provider_label(provider)
        metrics.wallet_call_seconds.labels(label, reply.call, reply.outcome).observe(elapsed)
        if reply.replay:
            metrics.replays.labels(label, reply.call).inc()
        if reply.extra.get("mismatch"):
            metrics.mismatches.labels(label, reply.call).inc()
        if reply.extra.get("signature_failure"):
            metrics.signature_failures.labels(label, reply.outcome).inc()
        if on_refusal is not None and reply.status >= 400 and label != "unknown":
            try:  # the refusal-burst signal: losing it must not lose the answer
                await on_refusal(label, reply.outcome)
            except Exception:
                log.exception("refusal not counted", extra={"provider": label})
        if access_log:
            log.info(
                "wallet call",
                extra={
                    "protocol": adapter.name,
                    "provider": provider[:64],
                    "call": reply.call[:32],
                    "status": reply.status,
                    "outcome": reply.outcome,
                    "replay": reply.replay,
                    "player_id": reply.player_id,
                    "ms": round(elapsed * 1000, 3),
                },
            )
        return reply.status, {**reply.headers, CORRELATION_HEADER: correlation_id}, reply.body

    async def metrics_endpoint(_: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "OK"})

    document = orjson.dumps(openapi_document())

    async def openapi(_: Request) -> Response:
        return Response(document, media_type="application/json")

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)  # noqa: S101 - registered for HTTPException only
        correlation_id = correlation_id_of(request.headers.get(CORRELATION_HEADER))
        if exc.status_code == 405:
            allowed = "" if request.url.path.startswith("/operator/") else "; calls are POST"
            return error_response(MethodNotAllowed(f"method not allowed{allowed}"), correlation_id)
        return error_response(RouteNotFound("no such endpoint"), correlation_id)

    routes = [
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/healthz", health, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        *routes,
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    # A redirect to the path without its trailing slash cannot help a signed call (the
    # signature covers the path): answer 404 like any unknown path.
    app.router.redirect_slashes = False
    return ProviderFastPath(adapters, serve, app)
