"""Reconciliation over the operator API (docs/reconciliation.md): run a feed, read runs and
their reports (JSON or HTML), work the cases. Handlers of OperatorApi's table: each returns
(status, payload), or a ready Response (the HTML report)."""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from croupier.adapters.recon_feeds import FileFeed, mapping_from_dict
from croupier.adapters.recon_reports import render_html
from croupier.api.app import query_int
from croupier.domain.catalogue import check_provider
from croupier.domain.errors import InvalidRequest, PayloadTooLarge, TransactionNotFound
from croupier.domain.money import parse_decimal
from croupier.domain.recon import CaseStatus, period_of
from croupier.services.recon import Case, CaseEvent, ReconService

Handler = Any
B = TypeVar("B")


class MoveBody(msgspec.Struct, forbid_unknown_fields=True):
    to: str
    note: str


class CorrectionBody(msgspec.Struct, forbid_unknown_fields=True):
    amount: str
    direction: str
    note: str


def case_out(c: Case, events: list[CaseEvent] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": c.id, "provider": c.provider, "kind": c.kind.value, "key": c.key,
        "currency": c.currency, "player_id": c.player_id, "status": c.status.value,
        "amount_difference_minor": c.amount_difference, "first_run": c.first_run,
        "last_run": c.last_run, "opened_at": c.opened_at.isoformat(),
        "updated_at": c.updated_at.isoformat(),
    }  # fmt: skip
    if events is not None:
        out["history"] = [
            {"at": e.at.isoformat(), "actor": e.actor,
             "from": e.from_status.value if e.from_status else None, "to": e.to_status.value,
             "note": e.note, "run_id": e.run_id, "tx_ref": e.tx_ref}
            for e in events
        ]  # fmt: skip
    return out


class ReconApi:
    def __init__(self, recon: ReconService, *, max_feed_bytes: int) -> None:
        self.recon = recon
        self.max_feed_bytes = max_feed_bytes
        self.read_body: Callable[[Request, type[Any]], Awaitable[Any]] | None = None
        """The operator API's JSON body reader (set by OperatorApi)."""

    async def _body(self, request: Request, kind: type[B]) -> B:
        assert self.read_body is not None  # noqa: S101 - OperatorApi sets it
        body: B = await self.read_body(request, kind)
        return body

    def table(self) -> list[tuple[str, str, str, Handler]]:
        return [
            ("POST", "/recon/runs", "recon:write", self.run),
            ("GET", "/recon/runs", "recon:read", self.runs),
            ("GET", "/recon/runs/{run_id}", "recon:read", self.report),
            ("GET", "/recon/runs/{run_id}/report.html", "recon:read", self.report_html),
            ("GET", "/recon/cases", "recon:read", self.cases),
            ("GET", "/recon/cases/{case_id}", "recon:read", self.case),
            ("POST", "/recon/cases/{case_id}/moves", "recon:write", self.move),
            ("POST", "/recon/cases/{case_id}/corrections", "recon:write", self.correct),
        ]

    async def run(self, request: Request) -> tuple[int, Any]:
        """The body is the feed (as the provider's stored mapping reads it); query:
        provider, date (YYYY-MM-DD), days (1), dry_run (false)."""
        provider = check_provider(request.query_params.get("provider", ""))
        period = period_of(
            request.query_params.get("date", ""), query_int(request, "days", 1, 1, 31)
        )
        dry = request.query_params.get("dry_run", "false")
        if dry not in ("true", "false"):
            raise InvalidRequest("dry_run is true or false", field="dry_run")
        mapping = mapping_from_dict(await self.recon.store.mapping(provider) or {})
        with tempfile.NamedTemporaryFile(suffix=".feed") as spool:
            size = 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > self.max_feed_bytes:
                    raise PayloadTooLarge(
                        f"a feed over the API is at most {self.max_feed_bytes} bytes; "
                        "use croupier reconcile for larger ones", limit=self.max_feed_bytes,
                    )  # fmt: skip
                spool.write(chunk)
            spool.flush()
            result = await self.recon.run(
                provider, period,
                FileFeed(Path(spool.name), mapping, self.recon.currencies),
                granularity=mapping.granularity, rollbacks=mapping.rollbacks,
                feed_name=request.query_params.get("name", "api")[:256],
                mapping_sha256=mapping.digest(), dry_run=dry == "true",
                actor=request.state.actor,
            )  # fmt: skip
        return 201 if result.run_id is not None else 200, {
            "run_id": result.run_id,
            "dry_run": dry == "true",
            "alerts": result.alerts,
            **result.report,
        }

    async def runs(self, request: Request) -> tuple[int, Any]:
        provider = request.query_params.get("provider") or None
        rows = await self.recon.store.runs(provider, query_int(request, "limit", 20, 1, 1000))
        return 200, {"items": list(rows)}

    async def _report(self, request: Request) -> dict[str, Any]:
        raw = request.path_params["run_id"]
        run_id = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else 0
        report = await self.recon.store.run_report(run_id) if run_id else None
        if report is None:
            raise TransactionNotFound(f"no reconciliation run {raw[:32]!r}", run_id=raw[:32])
        return report

    async def report(self, request: Request) -> tuple[int, Any]:
        return 200, await self._report(request)

    async def report_html(self, request: Request) -> Response:
        return HTMLResponse(render_html(await self._report(request)))

    async def cases(self, request: Request) -> tuple[int, Any]:
        status = request.query_params.get("status") or None
        if status is not None and status not in {s.value for s in CaseStatus}:
            raise InvalidRequest(
                "status is open, auto_resolved, in_review, escalated or resolved",
                field="status",
            )  # fmt: skip
        rows = await self.recon.store.cases(
            provider=request.query_params.get("provider") or None, status=status,
            limit=query_int(request, "limit", 50, 1, 1000),
        )  # fmt: skip
        return 200, {"items": [case_out(c) for c in rows]}

    def _case_id(self, request: Request) -> int:
        raw = request.path_params["case_id"]
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
            raise InvalidRequest("a case id is a whole number", field="case_id")
        return int(raw)

    async def case(self, request: Request) -> tuple[int, Any]:
        case, events = await self.recon.get_case(self._case_id(request))
        return 200, case_out(case, list(events))

    async def move(self, request: Request) -> tuple[int, Any]:
        body = await self._body(request, MoveBody)
        try:
            target = CaseStatus(body.to)
        except ValueError:
            raise InvalidRequest("to is in_review, escalated, resolved or open",
                                 field="to") from None  # fmt: skip
        case = await self.recon.move(self._case_id(request), target,
                                     actor=request.state.actor, note=body.note)  # fmt: skip
        return 200, case_out(case)

    async def correct(self, request: Request) -> tuple[int, Any]:
        body = await self._body(request, CorrectionBody)
        if body.direction not in ("credit", "debit"):
            raise InvalidRequest("direction is credit (to the player) or debit",
                                 field="direction")  # fmt: skip
        case_id = self._case_id(request)
        case, _ = await self.recon.get_case(case_id)
        amount = parse_decimal(body.amount, self.recon.currencies.get_currency(case.currency))
        moved = await self.recon.correct(case_id, amount=amount,
                                         credit=body.direction == "credit",
                                         actor=request.state.actor, note=body.note)  # fmt: skip
        return 200, case_out(moved)
