"""The documents that users read stay true to the code."""

from __future__ import annotations

from pathlib import Path

from croupier.domain.errors import all_error_types

DOCS = Path(__file__).parents[2] / "docs"


def test_wallet_page_lists_every_error_with_status_and_retry_class() -> None:
    page = (DOCS / "wallet.md").read_text()
    for error in all_error_types():
        row = f"| `{error.code}` | {error.http_status} | {error.retry_class.value} |"
        assert row in page, f"docs/wallet.md lacks or misstates {error.code}"
