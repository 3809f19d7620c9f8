"""The few operator API calls the sandbox's players and the certification run need (create a
player, deposit, launch, set a limit, put the catalogue entries), over HTTP with an operator
key (docs/operator-api.md)."""

from __future__ import annotations

from typing import Any

import httpx

# A rule pack with no stake cap and no least time between rounds, so that fast simulated
# play meets only the limits a test sets.
COUNTRY, SUBDIVISION = "CA", "CA-ON"


class OperatorError(RuntimeError):
    def __init__(self, method: str, path: str, response: httpx.Response) -> None:
        self.status = response.status_code
        try:
            self.body: Any = response.json()
        except ValueError:
            self.body = response.text[:200]
        super().__init__(f"{method} {path}: HTTP {self.status} {self.body}")


class OperatorClient:
    def __init__(
        self, base_url: str, key: str, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/operator/v1",
            transport=transport,
            headers={"authorization": f"Bearer {key}"},
            timeout=30.0,
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.http.request(method, path, json=body)
        if response.status_code >= 300:
            raise OperatorError(method, path, response)
        return response.json()

    async def put_catalogue(self, provider: str, launch_url: str, games: dict[str, str]) -> None:
        """The provider and its games (code: category), offered everywhere."""
        await self.request("PUT", f"/catalogue/providers/{provider}", {
            "name": f"{provider} (sandbox)", "launch_url": launch_url, "jurisdictions": ["*"],
        })  # fmt: skip
        for code, category in games.items():
            await self.request("PUT", f"/catalogue/games/{provider}/{code}", {
                "name": code, "category": category, "rtp": "96.00", "jurisdictions": ["*"],
            })  # fmt: skip

    async def player(self, ref: str, currency: str, deposit: str | None = None) -> str:
        """A verified adult player in Ontario (created, or found by ``ref``), funded once."""
        out = await self.request("POST", "/players", {
            "brand": "sandbox", "external_ref": ref, "currency": currency,
            "country": COUNTRY, "subdivision": SUBDIVISION, "birth_date": "1990-01-01",
            "kyc_status": "verified",
        })  # fmt: skip
        player_id = str(out["id"])
        if deposit is not None:
            await self.request("POST", f"/players/{player_id}/deposits", {
                # One first deposit per player and amount: a rerun with another finds its own.
                "reference": f"{ref}-deposit-{deposit}", "amount": deposit, "currency": currency,
            })  # fmt: skip
        return player_id

    async def launch(self, player_id: str, provider: str, game: str) -> dict[str, Any]:
        out: dict[str, Any] = await self.request(
            "POST", "/launch", {"player_id": player_id, "provider": provider, "game": game}
        )
        return out

    async def set_limit(self, player_id: str, limit: str, value: str | int | None) -> None:
        await self.request("PUT", f"/players/{player_id}/limits/{limit}", {"value": value})
