"""The domain is pure: it imports the standard library and itself, nothing else.

import-linter (in `make lint`) forbids the project's own outer layers and the packages it
names; this test closes the gap for any third-party package added later.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

DOMAIN = Path(__file__).parents[2] / "src" / "croupier" / "domain"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", sorted(DOMAIN.glob("*.py")), ids=lambda p: p.name)
def test_domain_imports_only_the_standard_library(path: Path) -> None:
    outside = {
        name
        for name in _imports(path)
        if name.split(".")[0] not in sys.stdlib_module_names
        and not name.startswith("croupier.domain")
        and name != "__future__"
    }
    assert not outside, f"{path.name} imports {sorted(outside)}"
