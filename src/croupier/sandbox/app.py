"""The sandbox provider's HTTP face (its own process: ``croupier sandbox serve``).

- ``GET /launch?...``: the operator's signed launch URL, verified; the token authenticated
  with the wallet; answers the session and its seeds.
- ``POST /sessions/{id}/spin`` ``{"stake": "1.00", "game": "dice", "params": {...}}``: one
  round, paid through the wallet.
- ``POST /sessions/{id}/seed`` ``{"client_seed": "..."}`` (optional): rotate the player's
  seeds; the old server seed is revealed.
- ``GET /rounds/{id}``: a round and its fairness evidence (the server seed once revealed).
- ``POST /verify`` ``{"evidence": {...}, "server_seed": "..."}``: recompute a round.
- ``GET /feed/{YYYY-MM-DD}``: the day's transaction feed (CSV) for reconciliation.
- ``GET /chaos``, ``PUT /chaos/{endpoint}``, ``DELETE /chaos[/{endpoint}]``: the switches.
- ``GET /stats``: rounds, errors by code, latency p50/p99, what waits to be resent.
- ``GET /``: a page for people; ``GET /healthz``: liveness.
"""

from __future__ import annotations

import html
import json
from datetime import date
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from croupier.domain import fairness as fair
from croupier.sandbox.chaos import ENDPOINTS, ChaosError
from croupier.sandbox.players import Simulation
from croupier.sandbox.provider import Provider, SandboxError


def _error(exc: SandboxError) -> JSONResponse:
    return JSONResponse(exc.to_dict(), status_code=exc.status)


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):  # nested thousands deep
        raise SandboxError(400, "INVALID_REQUEST", "the body is not JSON") from None
    if not isinstance(body, dict):
        raise SandboxError(400, "INVALID_REQUEST", "the body is a JSON object")
    return body


class _Handlers:
    """The routes' handlers, on one provider (and its simulated players, if any)."""

    def __init__(self, provider: Provider, simulation: Simulation | None) -> None:
        self.provider = provider
        self.simulation = simulation

    async def launch(self, request: Request) -> Response:
        return JSONResponse(await self.provider.launch(request.url.query))

    async def spin(self, request: Request) -> Response:
        body = await _json(request)
        stake, game, params = body.get("stake"), body.get("game"), body.get("params", {})
        if not isinstance(stake, str):
            raise SandboxError(400, "AMOUNT_INVALID", 'stake is a decimal string, as "1.00"')
        if game is not None and not isinstance(game, str):
            raise SandboxError(400, "INVALID_REQUEST", "game is a string")
        if not isinstance(params, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in params.items()
        ):
            raise SandboxError(400, "INVALID_REQUEST", "params is an object of strings")
        r = await self.provider.spin(
            request.path_params["session_id"], game=game, stake=stake, params=params
        )
        return JSONResponse(self.provider.round_out(r))

    async def seed(self, request: Request) -> Response:
        body = await _json(request)
        session = self.provider.session(request.path_params["session_id"])
        client_seed = body.get("client_seed")
        if client_seed is not None and not isinstance(client_seed, str):
            raise SandboxError(400, "SEED_INVALID", "client_seed is a string")
        return JSONResponse(await self.provider.rotate(session.player_id, client_seed))

    async def round_(self, request: Request) -> Response:
        r = self.provider.rounds.get(request.path_params["round_id"])
        if r is None:
            raise SandboxError(404, "ROUND_NOT_FOUND", "no such round")
        return JSONResponse(self.provider.round_out(r))

    async def verify(self, request: Request) -> Response:
        body = await _json(request)
        document = body.get("document", body.get("evidence", body))
        given = body.get("server_seed")
        evidence = document.get("fairness", document) if isinstance(document, dict) else None
        if isinstance(evidence, dict) and given is None:
            given = self.provider.revealed.get(str(evidence.get("server_seed_hash")))
        seed = given if isinstance(given, str) else None
        return JSONResponse(fair.verify_document(document, server_seed=seed).to_dict())

    async def feed(self, request: Request) -> Response:
        try:
            day = date.fromisoformat(request.path_params["day"])
        except ValueError:
            raise SandboxError(400, "INVALID_REQUEST", "the day is YYYY-MM-DD") from None
        return Response(self.provider.feed_csv(day), media_type="text/csv")

    async def chaos(self, request: Request) -> Response:
        endpoint = request.path_params.get("endpoint")
        if endpoint is not None and endpoint not in ENDPOINTS:
            raise SandboxError(
                404, "CHAOS_INVALID", f"unknown endpoint; known: {', '.join(ENDPOINTS)}"
            )
        try:
            if request.method == "PUT" and endpoint is not None:
                self.provider.chaos.update(endpoint, await _json(request))
            elif request.method == "DELETE":
                self.provider.chaos.clear(endpoint)
        except ChaosError as exc:
            raise SandboxError(400, "CHAOS_INVALID", str(exc)) from None
        return JSONResponse(self.provider.chaos.snapshot())

    async def players(self, request: Request) -> Response:
        sim = self.simulation
        if sim is None:
            raise SandboxError(404, "NO_PLAYERS", "this sandbox runs no simulated players")
        action = request.path_params.get("action")
        if action == "pause":
            await sim.pause()
        elif action == "resume":
            sim.resume()
        elif action is not None:
            raise SandboxError(404, "ROUTE_NOT_FOUND", "POST /players/pause or /players/resume")
        return JSONResponse(
            {"paused": sim.paused, "in_flight": sim.in_flight, **sim.summary.to_dict()}
        )

    async def stats(self, _: Request) -> Response:
        return JSONResponse(self.provider.stats())

    async def home(self, _: Request) -> Response:
        return HTMLResponse(page(self.provider))

    async def healthz(self, _: Request) -> Response:
        return JSONResponse({"status": "OK"})


async def _sandbox_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, SandboxError)  # noqa: S101 - registered for this class only
    return _error(exc)


def create_app(provider: Provider, simulation: Simulation | None = None) -> Starlette:
    h = _Handlers(provider, simulation)
    return Starlette(
        routes=[
            Route("/", h.home),
            Route("/healthz", h.healthz),
            Route("/launch", h.launch),
            Route("/sessions/{session_id}/spin", h.spin, methods=["POST"]),
            Route("/sessions/{session_id}/seed", h.seed, methods=["POST"]),
            Route("/rounds/{round_id}", h.round_),
            Route("/verify", h.verify, methods=["POST"]),
            Route("/feed/{day}", h.feed),
            Route("/chaos", h.chaos, methods=["GET", "DELETE"]),
            Route("/chaos/{endpoint}", h.chaos, methods=["PUT", "DELETE"]),
            Route("/stats", h.stats),
            Route("/players", h.players),
            Route("/players/{action}", h.players, methods=["POST"]),
        ],
        exception_handlers={SandboxError: _sandbox_error},
    )


def page(provider: Provider) -> str:
    s = provider.stats()
    rows = "".join(
        f"<tr><td>{html.escape(r.id)}</td><td>{html.escape(r.player_id)}</td>"
        f"<td>{html.escape(r.game)}</td><td>{r.public()['stake']}</td>"
        f"<td>{r.public()['payout']}</td><td>{html.escape(r.status)}</td>"
        f"<td>{html.escape(r.error or '')}</td></tr>"
        for r in list(provider.rounds.values())[-25:][::-1]
    )
    pre = html.escape(json.dumps({k: s[k] for k in ("by_status", "errors", "calls",
                                                     "latency_ms", "pending", "chaos")},
                                 indent=2))  # fmt: skip
    return (
        "<!doctype html><meta charset=utf-8><title>Croupier sandbox provider</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px}"
        "table{border-collapse:collapse}tr:nth-child(even){background:#f3f3f3}</style>"
        f"<h1>Sandbox provider</h1><p>{s['rounds']} rounds, {s['sessions']} sessions. "
        "JSON: <a href=/stats>/stats</a>, <a href=/chaos>/chaos</a>.</p>"
        "<h2>Latest rounds</h2><table><tr><th>round</th><th>player</th><th>game</th>"
        f"<th>stake</th><th>payout</th><th>status</th><th>error</th></tr>{rows}</table>"
        f"<h2>Counters</h2><pre>{pre}</pre>"
    )
