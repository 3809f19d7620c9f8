"""Provider feeds (adapters/recon_feeds.py): mappings checked value by value, CSV, JSON Lines
and JSON read through them into canonical rows, amounts exact or refused line by line, times
with a zone, malformed lines reported by number (the first 100 listed, all counted), the
file's digest; and the external sort (adapters/spill.py) that orders rows in bounded memory."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from croupier.adapters.recon_feeds import (
    MAX_REPORTED_LINES,
    FeedReader,
    FileFeed,
    Mapping,
    load_mapping,
    mapping_from_dict,
)
from croupier.adapters.spill import Spill
from croupier.bootstrap import currency_table
from croupier.config import Settings
from croupier.domain.errors import InvalidRequest
from croupier.domain.money import CurrencyTable
from croupier.domain.recon import Kind, Row, Status

CURRENCIES: CurrencyTable = currency_table(Settings())
AT = datetime(2026, 1, 1, 10, 30, tzinfo=UTC)

ACME = {
    "format": "csv",
    "fields": {"tx_id": "TransactionId", "round_id": "RoundId", "player_id": "PlayerId",
               "kind": "Type", "amount": "Amount", "currency": "Currency",
               "status": "Status", "at": "Time"},
    "kinds": {"BET": "bet", "WIN": "win", "REFUND": "rollback", "JACKPOT": "credit",
              "INFO": "ignore"},
    "statuses": {"OK": "ok", "CANCELLED": "rolled_back", "FAILED": "failed"},
}  # fmt: skip
HEADER = "TransactionId,RoundId,PlayerId,Type,Amount,Currency,Status,Time"


def mapping(**changes: Any) -> Mapping:
    return mapping_from_dict({**ACME, **changes})


def read(path: Path, m: Mapping) -> tuple[list[Row], FeedReader]:
    reader = FeedReader(m, CURRENCIES)
    return list(reader.rows(path)), reader


def csv_file(tmp_path: Path, *lines: str, name: str = "feed.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *lines]) + "\n", "utf-8")
    return path


def one(tmp_path: Path, m: Mapping, record: dict[str, Any]) -> tuple[list[Row], FeedReader]:
    """One JSON Lines record through the mapping (its format set to jsonl)."""
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(record) + "\n", "utf-8")
    return read(path, Mapping(**{**m.to_dict(), "format": "jsonl"}))


def record(**changes: Any) -> dict[str, Any]:
    base = {"TransactionId": "t1", "RoundId": "r1", "PlayerId": "p1", "Type": "BET",
            "Amount": "12.34", "Currency": "EUR", "Status": "OK",
            "Time": "2026-01-01T10:30:00Z"}  # fmt: skip
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


# -- mappings ----------------------------------------------------------------------------------


def test_an_empty_mapping_takes_every_default() -> None:
    m = mapping_from_dict({})
    assert (m.format, m.granularity, m.amount_unit, m.time_format, m.rollbacks) == (
        "csv", "transaction", "major", "iso", "rows",
    )  # fmt: skip
    assert (m.fields, m.kinds, m.statuses) == ({}, {}, {})
    assert m.column("amount") == "amount"


def test_a_mapping_round_trips_through_its_dict_and_its_digest_follows_content() -> None:
    m = mapping(amount_unit="scale:100", rollbacks="status", provider="acme")
    assert mapping_from_dict(m.to_dict()) == m
    assert m.digest() == mapping_from_dict(m.to_dict()).digest()
    assert m.digest() != mapping().digest()
    assert len(m.digest()) == 64
    assert m.column("amount") == "Amount"


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"formt": "csv", "zzz": 1}, "mapping", "unknown mapping keys: formt, zzz"),
        ({"amount_unit": "cents"}, "amount_unit", "major, minor or scale:N"),
        ({"amount_unit": "scale:0"}, "amount_unit", "major, minor or scale:N"),
        ({"amount_unit": "scale:"}, "amount_unit", "major, minor or scale:N"),
        ({"amount_unit": "scale:-10"}, "amount_unit", "major, minor or scale:N"),
        ({"amount_unit": "scale:1.5"}, "amount_unit", "major, minor or scale:N"),
        ({"amount_unit": 100}, "amount_unit", "major, minor or scale:N"),
        ({"kinds": {"BET": "bet", "BONUS": "bonus"}}, "kinds", "not bonus"),
        ({"kinds": {"RND": "round"}}, "kinds", "not round"),
        ({"statuses": {"X": "pending"}}, "statuses", "not pending"),
        ({"fields": {"tx_id": "Id", "bet": "Stake"}}, "fields", "mapping fields has no bet"),
        ({"granularity": "round", "fields": {"tx_id": "Id", "kind": "T"}}, "fields",
         "mapping fields has no kind, tx_id"),
        ({"fields": {"tx_id": 5}}, "fields", "a table of strings"),
        ({"fields": ["tx_id"]}, "fields", "a table of strings"),
        ({"format": "xml"}, "format", "csv, jsonl, json"),
        ({"granularity": "hand"}, "granularity", "transaction, round"),
        ({"time_format": "epoch_us"}, "time_format", "iso, epoch_s, epoch_ms"),
        ({"rollbacks": "both"}, "rollbacks", "rows, status"),
    ],
)  # fmt: skip
def test_a_wrong_mapping_is_refused_naming_what_is_wrong(
    data: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        mapping_from_dict(data)
    assert caught.value.details["field"] == field
    assert message in caught.value.message


def test_a_round_mapping_takes_bet_and_win_fields() -> None:
    m = mapping_from_dict({"granularity": "round", "fields": {"bet": "Stake", "win": "Won"}})
    assert (m.column("bet"), m.column("win"), m.column("round_id")) == ("Stake", "Won", "round_id")


def test_load_mapping_reads_toml_and_json(tmp_path: Path) -> None:
    toml = tmp_path / "acme.toml"
    toml.write_text(
        'format = "jsonl"\namount_unit = "minor"\n[fields]\ntx_id = "Id"\n'
        '[kinds]\nSPIN = "bet"\n[statuses]\nDONE = "ok"\n',
        "utf-8",
    )
    m = load_mapping(toml)
    assert (m.format, m.amount_unit, m.fields, m.kinds, m.statuses) == (
        "jsonl", "minor", {"tx_id": "Id"}, {"SPIN": "bet"}, {"DONE": "ok"},
    )  # fmt: skip
    as_json = tmp_path / "acme.json"
    as_json.write_text(json.dumps(m.to_dict()), "utf-8")
    assert load_mapping(as_json) == m


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("bad.toml", "format = ", "cannot read the mapping"),
        ("bad.json", "{", "cannot read the mapping"),
        ("list.json", "[1, 2]", "a mapping is a table"),
        ("wrong.toml", 'format = "xml"', "csv, jsonl, json"),
    ],
)
def test_load_mapping_refuses_an_unreadable_file(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    with pytest.raises(InvalidRequest, match=message):
        load_mapping(path)
    with pytest.raises(InvalidRequest, match="cannot read the mapping"):
        load_mapping(tmp_path / "absent.toml")


# -- parsing: CSV, JSON Lines, JSON ------------------------------------------------------------

EXPECTED = [
    Row("b1", Kind.BET, 200, "EUR", AT, Status.OK, "p1", "r1", line=1),
    Row("w1", Kind.WIN, 550, "EUR", AT, Status.OK, "p1", "r1", line=2),
    Row("b2", Kind.BET, 150, "EUR", AT, Status.ROLLED_BACK, "p2", "r2", line=3),
    Row("rb2", Kind.ROLLBACK, 150, "EUR", AT, Status.OK, "p2", "", line=4),
    Row("c1", Kind.CREDIT, 1000, "USD", AT, Status.OK, "p3", "", line=5),
    Row("b3", Kind.BET, 5000, "JPY", AT, Status.FAILED, "p4", "r4", line=7),
]
RECORDS = [
    {"TransactionId": "b1", "RoundId": "r1", "PlayerId": "p1", "Type": "BET", "Amount": "2.00",
     "Currency": "EUR", "Status": "OK", "Time": "2026-01-01T10:30:00Z"},
    {"TransactionId": "w1", "RoundId": "r1", "PlayerId": "p1", "Type": "WIN", "Amount": "5.5",
     "Currency": "EUR", "Status": "OK", "Time": "2026-01-01T11:30:00+01:00"},
    {"TransactionId": "b2", "RoundId": "r2", "PlayerId": "p2", "Type": "BET", "Amount": "1.50",
     "Currency": "EUR", "Status": "CANCELLED", "Time": "2026-01-01T05:30:00-05:00"},
    {"TransactionId": "rb2", "RoundId": "", "PlayerId": "p2", "Type": "REFUND",
     "Amount": "1.500", "Currency": "EUR", "Status": "", "Time": "2026-01-01T10:30:00Z"},
    {"TransactionId": "c1", "RoundId": "", "PlayerId": "p3", "Type": "JACKPOT",
     "Amount": "10", "Currency": "USD", "Status": "ok", "Time": "2026-01-01T10:30:00.000Z"},
    {"TransactionId": "i1", "RoundId": "r4", "PlayerId": "p4", "Type": "INFO", "Amount": "0",
     "Currency": "JPY", "Status": "OK", "Time": "2026-01-01T10:30:00Z"},
    {"TransactionId": "b3", "RoundId": "r4", "PlayerId": "p4", "Type": "BET", "Amount": "5000",
     "Currency": "JPY", "Status": "FAILED", "Time": "2026-01-01T10:30:00Z"},
]  # fmt: skip


def test_csv_through_a_mapping(tmp_path: Path) -> None:
    lines = [",".join(r[c] for c in HEADER.split(",")) for r in RECORDS]
    rows, reader = read(csv_file(tmp_path, *lines), mapping())
    assert rows == EXPECTED
    assert reader.ignored == 1
    assert reader.errors.count == 0


def test_json_lines_through_a_mapping_with_blank_lines_skipped(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    text = (
        "\n".join(json.dumps(r) for r in RECORDS[:3])
        + "\n\n"
        + "\n".join(json.dumps(r) for r in RECORDS[3:])
    )
    path.write_text(text + "\n", "utf-8")
    rows, reader = read(path, mapping(format="jsonl"))
    # the blank line keeps its number: lines are the file's
    assert rows == [r if r.line <= 3 else Row(**{**_fields(r), "line": r.line + 1})
                    for r in EXPECTED]  # fmt: skip
    assert (reader.ignored, reader.errors.count) == (1, 0)


def _fields(r: Row) -> dict[str, Any]:
    return {name: getattr(r, name) for name in Row.__slots__}


def test_a_json_array_through_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "feed.json"
    path.write_text(json.dumps(RECORDS), "utf-8")
    rows, reader = read(path, mapping(format="json"))
    assert rows == EXPECTED
    assert (reader.ignored, reader.errors.count) == (1, 0)


def test_canonical_names_need_no_mapping(tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_text("tx_id,kind,amount,currency,at\nt1,win,3.20,EUR,2026-01-01T10:30:00Z\n")
    rows, _ = read(path, mapping_from_dict({}))
    assert rows == [Row("t1", Kind.WIN, 320, "EUR", AT, Status.OK, line=1)]


def test_json_integers_are_accepted_as_text(tmp_path: Path) -> None:
    rows, _ = one(tmp_path, mapping(amount_unit="minor"), record(Amount=1234))
    assert [r.amount for r in rows] == [1234]
    rows, _ = one(tmp_path, mapping(), record(Amount=12))
    assert [r.amount for r in rows] == [1200]


@pytest.mark.parametrize("value", [12.5, True, None, [1], {"v": 1}])
def test_json_values_that_are_not_text_or_an_integer_are_malformed(
    tmp_path: Path, value: object
) -> None:
    rec = record()
    rec["Amount"] = value
    rows, reader = one(tmp_path, mapping(), rec)
    assert rows == []
    assert reader.errors.count == 1


def test_a_per_round_feed(tmp_path: Path) -> None:
    path = tmp_path / "rounds.csv"
    path.write_text(
        "Round,Player,Cur,When,Stake,Won\nr1,p1,EUR,2026-01-01T10:30:00Z,2.00,5.50\n"
        "r2,p2,EUR,2026-01-01T10:30:00Z,0,0\n",
        "utf-8",
    )
    m = mapping_from_dict({"granularity": "round", "fields": {
        "round_id": "Round", "player_id": "Player", "currency": "Cur", "at": "When",
        "bet": "Stake", "win": "Won"}})  # fmt: skip
    rows, reader = read(path, m)
    assert rows == [
        Row("r1", Kind.ROUND, 200, "EUR", AT, Status.OK, "p1", "r1", win=550, line=1),
        Row("r2", Kind.ROUND, 0, "EUR", AT, Status.OK, "p2", "r2", win=0, line=2),
    ]
    assert reader.errors.count == 0


# -- amounts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "text", "currency", "minor"),
    [
        ("major", "12.34", "EUR", 1234),
        ("major", "12.3", "EUR", 1230),
        ("major", "12", "EUR", 1200),
        ("major", "1.500", "EUR", 150),
        ("major", "0.01", "EUR", 1),
        ("major", "1500", "JPY", 1500),
        ("major", "1.005", "KWD", 1005),
        ("minor", "1234", "EUR", 1234),
        ("minor", "0", "EUR", 0),
        ("scale:100", "1234", "EUR", 1234),
        ("scale:100", "1500", "JPY", 15),
        ("scale:1000", "12340", "EUR", 1234),
        ("scale:1000", "1230", "EUR", 123),
        ("scale:1", "12", "EUR", 1200),
    ],
)
def test_amounts_are_converted_exactly(
    tmp_path: Path, unit: str, text: str, currency: str, minor: int
) -> None:
    rows, reader = one(tmp_path, mapping(amount_unit=unit), record(Amount=text, Currency=currency))
    assert reader.errors.lines == []
    assert [r.amount for r in rows] == [minor]


@pytest.mark.parametrize(
    ("unit", "text", "currency", "problem"),
    [
        ("major", "1.005", "EUR", "more decimal places than EUR allows"),
        ("major", "1.5", "JPY", "more decimal places than JPY allows"),
        ("major", "-1.00", "EUR", "must not be negative"),
        ("major", "1e3", "EUR", "not a plain decimal"),
        ("major", "1,50", "EUR", "not a plain decimal"),
        ("minor", "12.34", "EUR", "whole number of minor units"),
        ("minor", "-5", "EUR", "whole number of minor units"),
        ("minor", "\uff11\uff12", "EUR", "whole number of minor units"),
        ("scale:1000", "1005", "EUR", "Amount 1005 in 1/1000 is finer than EUR's precision"),
        ("scale:100", "1550", "JPY", "finer than JPY's precision"),
        ("scale:100", "1.5", "EUR", "whole number of scale:100 units"),
        ("major", "1.00", "XXX1", "XXX1"),
    ],
)
def test_amounts_that_are_not_exact_are_refused_line_by_line(
    tmp_path: Path, unit: str, text: str, currency: str, problem: str
) -> None:
    rows, reader = one(tmp_path, mapping(amount_unit=unit), record(Amount=text, Currency=currency))
    assert rows == []
    assert reader.errors.count == 1
    [error] = reader.errors.lines
    assert error["line"] == 1
    assert problem in error["problem"]


@pytest.mark.parametrize(
    ("unit", "text"), [("minor", "99999999999999999999999"), ("scale:100", "10000000000001")]
)
def test_minor_and_scaled_amounts_are_range_checked_like_major(
    tmp_path: Path, unit: str, text: str
) -> None:
    major, _ = one(tmp_path, mapping(), record(Amount="1000000000.01"))  # over EUR's largest
    assert major == []
    rows, reader = one(tmp_path, mapping(amount_unit=unit), record(Amount=text))
    assert rows == []
    assert "exceeds the largest EUR amount" in reader.errors.lines[0]["problem"]


# -- times -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("time_format", "text", "at"),
    [
        ("iso", "2026-01-01T10:30:00Z", AT),
        ("iso", "2026-01-01T12:30:00+02:00", AT),
        ("iso", "2026-01-01 10:30:00.250000+00:00", AT.replace(microsecond=250_000)),
        ("epoch_s", str(int(AT.timestamp())), AT),
        ("epoch_ms", str(int(AT.timestamp()) * 1000 + 250), AT.replace(microsecond=250_000)),
        ("epoch_s", "0", datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_times(tmp_path: Path, time_format: str, text: str, at: datetime) -> None:
    rows, reader = one(tmp_path, mapping(time_format=time_format), record(Time=text))
    assert reader.errors.lines == []
    assert [r.at for r in rows] == [at]
    assert rows[0].at.tzinfo is not None
    assert rows[0].at.utcoffset() == UTC.utcoffset(None)


@pytest.mark.parametrize(
    ("time_format", "text", "problem"),
    [
        ("iso", "2026-01-01T10:30:00", "Time has no time zone: '2026-01-01T10:30:00'"),
        ("iso", "2026-01-01", "has no time zone"),
        ("iso", "yesterday", "Time is not a iso time"),
        ("epoch_s", "1767263400.5", "is not a epoch_s time"),
        ("epoch_s", "2026-01-01T10:30:00Z", "is not a epoch_s time"),
        ("epoch_ms", "99999999999999999999999", "is not a epoch_ms time"),
    ],
)
def test_bad_times_are_refused(tmp_path: Path, time_format: str, text: str, problem: str) -> None:
    rows, reader = one(tmp_path, mapping(time_format=time_format), record(Time=text))
    assert rows == []
    assert problem in reader.errors.lines[0]["problem"]


# -- kinds, statuses, malformed lines ----------------------------------------------------------


def test_kinds_mapped_to_ignore_are_counted_not_read(tmp_path: Path) -> None:
    lines = [f"i{n},r1,p1,INFO,1.00,EUR,OK,2026-01-01T10:30:00Z" for n in range(5)]
    lines.append("b1,r1,p1,BET,1.00,EUR,OK,2026-01-01T10:30:00Z")
    rows, reader = read(csv_file(tmp_path, *lines), mapping())
    assert [r.key for r in rows] == ["b1"]
    assert reader.ignored == 5
    assert reader.errors.count == 0


def test_ignored_kinds_are_ignored_before_their_amount_is_read(tmp_path: Path) -> None:
    _, reader = read(csv_file(tmp_path, "i1,r1,p1,INFO,n/a,EUR,OK,2026-01-01T10:30:00Z"),
                     mapping())  # fmt: skip
    assert (reader.ignored, reader.errors.count) == (1, 0)


def test_malformed_lines_are_reported_with_their_numbers(tmp_path: Path) -> None:
    good = "b{n},r1,p1,BET,1.00,EUR,OK,2026-01-01T10:30:00Z"
    lines = [
        good.format(n=1),
        "b2,r1,p1,BET,1.005,EUR,OK,2026-01-01T10:30:00Z",  # 2: precision
        good.format(n=3),
        "b4,r1,p1,SPIN,1.00,EUR,OK,2026-01-01T10:30:00Z",  # 4: unknown type
        "b5,r1,p1,BET,1.00,EUR,OK",  # 5: too few values
        "b6,r1,p1,BET,1.00,EUR,OK,2026-01-01T10:30:00Z,extra",  # 6: too many values
        ",r1,p1,BET,1.00,EUR,OK,2026-01-01T10:30:00Z",  # 7: no id
        "b8,r1,p1,BET,1.00,EUR,MAYBE,2026-01-01T10:30:00Z",  # 8: unknown status
        "b9,r1,p1,BET,1.00,,OK,2026-01-01T10:30:00Z",  # 9: no currency
        "b10,r1,p1,round,1.00,EUR,OK,2026-01-01T10:30:00Z",  # 10: a round line
        good.format(n=11),
    ]
    rows, reader = read(csv_file(tmp_path, *lines), mapping())
    assert [r.key for r in rows] == ["b1", "b3", "b11"]
    assert [e["line"] for e in reader.errors.lines] == [2, 4, 5, 6, 7, 8, 9, 10]
    assert reader.errors.count == 8
    problems = {e["line"]: e["problem"] for e in reader.errors.lines}
    assert "unknown type 'SPIN'" in problems[4]
    assert problems[5] == "Time is missing"
    assert problems[6] == "more values than columns"
    assert problems[7] == "TransactionId is missing"
    assert "unknown status 'MAYBE'" in problems[8]
    assert problems[9] == "Currency is missing"
    assert problems[10] == "a round line in a per-transaction feed"


def test_malformed_json_lines_are_reported_with_their_numbers(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_text(
        json.dumps(record(TransactionId="a")) + "\n{not json\n[1, 2]\n\n"
        + json.dumps(record(TransactionId="b", Amount="x")) + "\n"
        + json.dumps(record(TransactionId="c")) + "\n",
        "utf-8",
    )  # fmt: skip
    rows, reader = read(path, mapping(format="jsonl"))
    assert [(r.key, r.line) for r in rows] == [("a", 1), ("c", 6)]
    assert [e["line"] for e in reader.errors.lines] == [2, 3, 5]
    assert reader.errors.lines[0]["problem"].startswith("not JSON")
    assert reader.errors.lines[1]["problem"] == "not an object"


@pytest.mark.parametrize(
    ("text", "problem"),
    [("{bad", "not JSON"), ('{"a": 1}', "a JSON feed is an array of objects")],
)
def test_a_json_feed_that_is_not_an_array_is_one_error_at_line_0(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "feed.json"
    path.write_text(text, "utf-8")
    rows, reader = read(path, mapping(format="json"))
    assert rows == []
    assert reader.errors.count == 1
    assert reader.errors.lines[0]["line"] == 0
    assert reader.errors.lines[0]["problem"].startswith(problem)


def test_items_of_a_json_array_that_are_not_objects_are_malformed(tmp_path: Path) -> None:
    path = tmp_path / "feed.json"
    path.write_text(json.dumps([record(TransactionId="a"), 5, "x", record(TransactionId="d")]))
    rows, reader = read(path, mapping(format="json"))
    assert [(r.key, r.line) for r in rows] == [("a", 1), ("d", 4)]
    assert [e["line"] for e in reader.errors.lines] == [2, 3]


def test_a_file_that_is_not_utf8_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "feed.csv"
    path.write_bytes((HEADER + "\nb1,r1,p1,BET,1.00,EUR,OK,2026-01-01T10:30:00Z\n").encode()
                     + b"\xff\xfe\n")  # fmt: skip
    _, reader = read(path, mapping())
    assert reader.errors.count == 1
    assert reader.errors.lines[0]["line"] == 0
    assert reader.errors.lines[0]["problem"].startswith("unreadable")


def test_a_csv_with_a_byte_order_mark_reads_like_one_without(tmp_path: Path) -> None:
    """A spreadsheet's "CSV UTF-8" starts with a byte-order mark: not part of a column."""
    path = tmp_path / "feed.csv"
    path.write_bytes(
        ("\ufeff" + HEADER + "\nb1,r1,p1,BET,1.00,EUR,OK,2026-01-01T10:30:00Z\n").encode()
    )
    rows, reader = read(path, mapping())
    assert [r.key for r in rows] == ["b1"]
    assert reader.errors.count == 0


def test_malformed_lines_are_all_counted_but_the_first_100_listed(tmp_path: Path) -> None:
    lines = [f"b{n},r1,p1,BET,bad,EUR,OK,2026-01-01T10:30:00Z" for n in range(1, 251)]
    lines.insert(100, "ok1,r1,p1,BET,1.00,EUR,OK,2026-01-01T10:30:00Z")
    rows, reader = read(csv_file(tmp_path, *lines), mapping())
    assert [r.key for r in rows] == ["ok1"]
    assert reader.errors.count == 250
    assert MAX_REPORTED_LINES == 100
    assert [e["line"] for e in reader.errors.lines] == list(range(1, 101))


# -- digest -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_the_digest_is_the_sha256_of_the_file_bytes(tmp_path: Path, fmt: str) -> None:
    rng = random.Random(7)  # noqa: S311 - a reproducible order, no secret
    recs = [record(TransactionId=f"t{n:06d}", Amount=f"{rng.randrange(1, 10**6)}.{n % 100:02d}",
                   PlayerId=f"player-é-{n % 13}") for n in range(4000)]  # fmt: skip
    path = tmp_path / f"feed.{fmt}"
    if fmt == "csv":
        text = (
            HEADER
            + "\r\n"
            + "".join(",".join(r[c] for c in HEADER.split(",")) + "\r\n" for r in recs)
        )
    elif fmt == "jsonl":
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs)
    else:
        text = json.dumps(recs, ensure_ascii=False, indent=1)
    path.write_text(text, "utf-8", newline="")
    assert path.stat().st_size > 200_000  # several buffers' worth

    feed = FileFeed(path, mapping(format=fmt), CURRENCIES)
    rows = list(feed.rows())

    assert len(rows) == 4000
    assert feed.error_count == 0
    assert feed.error_lines == []
    assert feed.ignored == 0
    assert feed.digest == hashlib.sha256(path.read_bytes()).hexdigest()


def test_file_feed_reports_its_errors(tmp_path: Path) -> None:
    path = csv_file(tmp_path, "b1,r1,p1,BET,x,EUR,OK,2026-01-01T10:30:00Z",
                    "i1,r1,p1,INFO,1,EUR,OK,2026-01-01T10:30:00Z")  # fmt: skip
    feed = FileFeed(path, mapping(), CURRENCIES)
    assert list(feed.rows()) == []
    assert (feed.error_count, feed.ignored) == (1, 1)
    assert feed.error_lines[0]["line"] == 1


# -- spill: an external sort -------------------------------------------------------------------


def test_spill_sorts_250k_rows_in_chunks_of_1000_like_sorted() -> None:
    rng = random.Random(2026)  # noqa: S311 - a reproducible order, no secret
    items = [(f"k{rng.randrange(60_000):05d}", n) for n in range(250_000)]
    rng.shuffle(items)
    spill: Spill[tuple[str, int]] = Spill(key=lambda t: t, chunk=1000)
    for item in items:
        spill.add(item)
    assert spill.count == 250_000
    assert len(spill._files) == 250  # spilled to disk, not held

    out = list(spill.sorted())

    assert out == sorted(items)
    assert spill._files == []  # the temporary files are closed
    assert list(spill.sorted()) == []  # given back once


def test_spill_gives_back_rows_as_they_were_by_key_and_line() -> None:
    """Rows (the reconciliation's own items) survive the temporary files unchanged."""
    rng = random.Random(11)  # noqa: S311 - a reproducible order, no secret
    rows = [
        Row(f"k{rng.randrange(3_000):04d}", rng.choice(list(Kind)), rng.randrange(10**12),
            rng.choice(["EUR", "JPY", "BTC"]), AT, rng.choice(list(Status)), f"p{n % 7}",
            f"r{n}", win=rng.randrange(100), line=n)
        for n in range(1, 20_001)
    ]  # fmt: skip
    rng.shuffle(rows)
    spill: Spill[Row] = Spill(key=lambda r: (r.key, r.line), chunk=1000)
    for r in rows:
        spill.add(r)
    assert list(spill.sorted()) == sorted(rows, key=lambda r: (r.key, r.line))


def test_spill_is_stable_for_equal_keys_like_sorted() -> None:
    rng = random.Random(5)  # noqa: S311 - a reproducible order, no secret
    items = [(rng.randrange(50), n) for n in range(10_007)]
    spill: Spill[tuple[int, int]] = Spill(key=lambda t: t[0], chunk=97)
    for item in items:
        spill.add(item)
    assert list(spill.sorted()) == sorted(items, key=lambda t: t[0])


@pytest.mark.parametrize("count", [0, 1, 999, 1000, 1001])
def test_spill_around_one_chunk(count: int) -> None:
    items = list(range(count, 0, -1))
    spill: Spill[int] = Spill(key=lambda n: n, chunk=1000)
    for item in items:
        spill.add(item)
    assert list(spill.sorted()) == sorted(items)
