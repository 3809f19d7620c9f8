"""The error catalogue: stable codes, statuses and retry classes, stored refusals that rebuild
exactly, and the documented table in croupier.domain.errors that cannot drift from the code."""

from __future__ import annotations

import inspect
import re

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

import croupier.domain.errors as errors_module
import croupier.domain.ledger
import croupier.services.wallet  # noqa: F401 - every module that may define an error
from croupier.domain.errors import (
    CroupierError,
    InsufficientFunds,
    RetryClass,
    all_error_types,
    error_from_dict,
)


def croupier_errors() -> list[type[CroupierError]]:
    """The catalogue as Croupier defines it (ignoring any subclass a test may have made)."""
    return [cls for cls in all_error_types() if cls.__module__.startswith("croupier.")]


ERRORS = croupier_errors()
ERROR_IDS = [cls.__name__ for cls in ERRORS]

# One documented row: tree drawing, class name, code, HTTP status, retry class.
_ROW = re.compile(r"^(?P<indent>[ |+\-]*?)(?P<name>[A-Z]\w+)\s+(?P<code>[A-Z_]+)\s+"
                  r"(?P<status>\d{3})\s+(?P<retry>[a-z_]+)\s*$")  # fmt: skip


def documented_rows() -> dict[str, tuple[str, int, str, str | None]]:
    """name -> (code, status, retry class, parent name) parsed from the module docstring."""
    doc = inspect.getdoc(errors_module)
    assert doc is not None
    rows: dict[str, tuple[str, int, str, str | None]] = {}
    stack: list[tuple[int, str]] = []  # (column of the name, name)
    for line in doc.splitlines():
        match = _ROW.match(line)
        if match is None:
            continue
        column = match.start("name")
        while stack and stack[-1][0] >= column:
            stack.pop()
        parent = stack[-1][1] if stack else None
        name = match["name"]
        assert name not in rows, f"{name} documented twice"
        rows[name] = (match["code"], int(match["status"]), match["retry"], parent)
        stack.append((column, name))
    return rows


def test_the_catalogue_is_the_whole_tree() -> None:
    assert ERRORS[0] is CroupierError
    assert len(ERRORS) == len(set(ERRORS))
    defined = {
        obj
        for _, obj in inspect.getmembers(errors_module, inspect.isclass)
        if issubclass(obj, CroupierError)
    }
    assert defined <= set(ERRORS)


def test_codes_are_unique() -> None:
    codes = [cls.code for cls in ERRORS]
    duplicates = sorted({code for code in codes if codes.count(code) > 1})
    assert duplicates == []


@pytest.mark.parametrize("cls", ERRORS, ids=ERROR_IDS)
def test_every_error_is_fully_described(cls: type[CroupierError]) -> None:
    assert re.fullmatch(r"[A-Z][A-Z_]+", cls.code)
    assert 400 <= cls.http_status <= 599
    assert isinstance(cls.retry_class, RetryClass)
    assert cls.__doc__
    assert cls.__doc__.strip()
    assert "__doc__" in vars(cls), f"{cls.__name__} inherits its docstring"


@pytest.mark.parametrize("cls", ERRORS, ids=ERROR_IDS)
def test_retry_class_agrees_with_the_status(cls: type[CroupierError]) -> None:
    if cls.retry_class is RetryClass.RETRYABLE:
        assert cls.http_status >= 500
    if cls.http_status < 500:
        assert cls.retry_class is not RetryClass.RETRYABLE


@pytest.mark.parametrize("cls", ERRORS, ids=ERROR_IDS)
@pytest.mark.parametrize("replay", [True, False])
def test_error_from_dict_rebuilds_the_same_error(cls: type[CroupierError], replay: bool) -> None:
    original = cls("it went wrong", currency="EUR", cash=10, bonus=0, nested={"a": [1, 2]})
    stored = orjson.loads(orjson.dumps(original.to_dict()))
    rebuilt = error_from_dict(stored, replay=replay)
    assert type(rebuilt) is cls
    assert rebuilt.message == "it went wrong"
    assert str(rebuilt) == "it went wrong"
    assert rebuilt.details == {**original.details, "replay": replay}
    assert rebuilt.code == cls.code
    assert rebuilt.retry_class is cls.retry_class
    assert "replay" not in original.details


def test_to_dict_shape() -> None:
    error = InsufficientFunds("no money", currency="EUR", cash=1, bonus=2)
    assert error.to_dict() == {
        "code": "INSUFFICIENT_FUNDS",
        "message": "no money",
        "retry_class": "final",
        "details": {"currency": "EUR", "cash": 1, "bonus": 2},
    }


def test_unknown_code_rebuilds_as_the_root() -> None:
    rebuilt = error_from_dict({"code": "NO_SUCH_CODE", "message": "m"}, replay=True)
    assert type(rebuilt) is CroupierError
    assert rebuilt.details == {"replay": True}


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


@given(
    st.sampled_from(ERRORS),
    st.text(max_size=50),
    st.dictionaries(
        st.from_regex(r"[a-z_][a-z0-9_]{0,11}", fullmatch=True).filter(lambda k: k != "message"),
        JSON,
        max_size=5,
    ),
    st.booleans(),
)
def test_error_round_trip_property(
    cls: type[CroupierError], message: str, details: dict[str, object], replay: bool
) -> None:
    original = cls(message, **details)
    rebuilt = error_from_dict(orjson.loads(orjson.dumps(original.to_dict())), replay=replay)
    assert type(rebuilt) is cls
    assert rebuilt.message == message
    assert rebuilt.details == {**details, "replay": replay}


def test_the_documented_table_matches_the_code() -> None:
    """Every error is in the module docstring's table with its code, status, retry class and
    place in the tree; nothing is documented that does not exist."""
    rows = documented_rows()
    by_name = {cls.__name__: cls for cls in ERRORS}
    assert set(rows) == set(by_name), (
        f"undocumented: {sorted(set(by_name) - set(rows))}; "
        f"documented but missing: {sorted(set(rows) - set(by_name))}"
    )
    for name, (code, status, retry, parent) in rows.items():
        cls = by_name[name]
        assert (code, status, retry) == (cls.code, cls.http_status, cls.retry_class.value), name
        base = cls.__bases__[0]
        assert parent == (None if cls is CroupierError else base.__name__), name


def test_every_code_is_documented() -> None:
    doc = inspect.getdoc(errors_module)
    assert doc is not None
    documented = {row[0] for row in documented_rows().values()}
    assert documented == {cls.code for cls in ERRORS}
