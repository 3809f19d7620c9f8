"""Provider feeds for reconciliation: a file (CSV, JSON Lines or a JSON array) read row by
row through a per-provider mapping into canonical rows (domain/recon.py), amounts converted
exactly or refused, every malformed line reported with its number.

A mapping (TOML or JSON; ``examples/recon/acme-mapping.toml``)::

    format = "csv"                 # csv | jsonl | json
    granularity = "transaction"    # transaction | round
    amount_unit = "major"          # major ("12.34") | minor (1234) | scale:100 (1/100 of major)
    time_format = "iso"            # iso | epoch_s | epoch_ms
    rollbacks = "rows"             # rows (a rollback line of its own) | status (the bet's status)
    [fields]                       # canonical field -> the feed's column (or JSON key)
    tx_id = "TransactionId"
    [kinds]                        # the feed's type -> bet | win | rollback | credit | ignore
    BET = "bet"
    [statuses]                     # the feed's status -> ok | rolled_back | failed
    OK = "ok"

Everything has a default: the canonical names themselves (tx_id, round_id, player_id, kind,
amount, currency, at, status; per round: round_id, player_id, currency, at, bet, win).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from croupier.domain.errors import CroupierError, InvalidRequest
from croupier.domain.money import CurrencyTable, check_minor, parse_decimal
from croupier.domain.recon import Kind, Row, Status
from croupier.domain.wallet import check_ref

TX_FIELDS = ("tx_id", "round_id", "player_id", "kind", "amount", "currency", "at", "status")
ROUND_FIELDS = ("round_id", "player_id", "currency", "at", "bet", "win", "status")
REQUIRED = {
    "transaction": ("tx_id", "kind", "amount", "currency", "at"),
    "round": ("round_id", "currency", "at", "bet", "win"),
}
IGNORE = "ignore"
MAX_REPORTED_LINES = 100


@dataclass(frozen=True, slots=True)
class Mapping:
    format: str = "csv"
    granularity: str = "transaction"
    amount_unit: str = "major"
    time_format: str = "iso"
    rollbacks: str = "rows"
    fields: dict[str, str] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)

    def column(self, name: str) -> str:
        return self.fields.get(name, name)

    def digest(self) -> str:
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "granularity": self.granularity,
                "amount_unit": self.amount_unit, "time_format": self.time_format,
                "rollbacks": self.rollbacks, "fields": dict(self.fields),
                "kinds": dict(self.kinds), "statuses": dict(self.statuses)}  # fmt: skip


def mapping_from_dict(data: dict[str, Any]) -> Mapping:
    """Check a mapping's every value; InvalidRequest naming the first wrong one."""
    known = {"format", "granularity", "amount_unit", "time_format", "rollbacks", "fields",
             "kinds", "statuses", "provider"}  # fmt: skip
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidRequest(f"unknown mapping keys: {', '.join(unknown)}", field="mapping")

    def choice(name: str, options: tuple[str, ...], default: str) -> str:
        value = data.get(name, default)
        if value not in options:
            raise InvalidRequest(f"mapping {name} is one of {', '.join(options)}", field=name)
        return str(value)

    def table(name: str, allowed: tuple[str, ...] | None) -> dict[str, str]:
        value = data.get(name, {})
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise InvalidRequest(f"mapping {name} is a table of strings", field=name)
        if allowed is not None:
            wrong = sorted(v for v in value.values() if v not in allowed)
            if wrong:
                raise InvalidRequest(
                    f"mapping {name} maps to {', '.join(allowed)}; not {', '.join(wrong)}",
                    field=name,
                )
        return dict(value)

    unit = str(data.get("amount_unit", "major"))
    if unit not in ("major", "minor") and not (
        unit.startswith("scale:") and unit[6:].isdigit() and int(unit[6:]) > 0
    ):
        raise InvalidRequest("mapping amount_unit is major, minor or scale:N", field="amount_unit")
    granularity = choice("granularity", ("transaction", "round"), "transaction")
    fields = table("fields", None)
    names = TX_FIELDS if granularity == "transaction" else ROUND_FIELDS
    stray = sorted(set(fields) - set(names))
    if stray:
        raise InvalidRequest(f"mapping fields has no {', '.join(stray)}", field="fields")
    return Mapping(
        format=choice("format", ("csv", "jsonl", "json"), "csv"),
        granularity=granularity,
        amount_unit=unit,
        time_format=choice("time_format", ("iso", "epoch_s", "epoch_ms"), "iso"),
        rollbacks=choice("rollbacks", ("rows", "status"), "rows"),
        fields=fields,
        kinds=table("kinds", ("bet", "win", "rollback", "credit", IGNORE)),
        statuses=table("statuses", ("ok", "rolled_back", "failed")),
    )


def load_mapping(path: Path) -> Mapping:
    try:
        text = path.read_text("utf-8")
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (OSError, ValueError) as exc:
        raise InvalidRequest(f"cannot read the mapping {path}: {exc}", field="mapping") from None
    if not isinstance(data, dict):
        raise InvalidRequest("a mapping is a table", field="mapping")
    return mapping_from_dict(data)


@dataclass
class LineErrors:
    """Malformed lines: the first ``MAX_REPORTED_LINES`` kept, all counted."""

    count: int = 0
    lines: list[dict[str, Any]] = field(default_factory=list)

    def add(self, line: int, problem: str) -> None:
        self.count += 1
        if len(self.lines) < MAX_REPORTED_LINES:
            self.lines.append({"line": line, "problem": problem})


class FeedReader:
    """Rows of one feed; malformed lines go to ``errors`` (the caller refuses the feed)."""

    def __init__(self, mapping: Mapping, currencies: CurrencyTable) -> None:
        self.mapping = mapping
        self.currencies = currencies
        self.errors = LineErrors()
        self.sha256 = hashlib.sha256()
        self.ignored = 0
        """Lines of a kind the mapping ignores (``ignore``)."""

    def rows(self, path: Path) -> Iterator[Row]:
        for line, record in self._records(path):
            try:
                row = self._row(line, record)
            except (CroupierError, KeyError, TypeError, ValueError) as exc:
                message = exc.message if isinstance(exc, CroupierError) else str(exc)
                self.errors.add(line, message)
                continue
            if row is None:
                self.ignored += 1
                continue
            yield row

    def _records(self, path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
        """(line, record): line 1 is the first data line (after a CSV header)."""
        fmt = self.mapping.format
        with path.open("rb") as raw:
            if fmt == "json":
                data = raw.read()
                self.sha256.update(data)
                try:
                    items = json.loads(data)
                except (ValueError, RecursionError) as exc:
                    self.errors.add(0, f"not JSON: {exc}")
                    return
                if not isinstance(items, list):
                    self.errors.add(0, "a JSON feed is an array of objects")
                    return
                for n, item in enumerate(items, 1):
                    if isinstance(item, dict):
                        yield n, item
                    else:
                        self.errors.add(n, "not an object")
                return
            # utf-8-sig: a byte-order mark (spreadsheets write one) is not part of a column.
            text = io.TextIOWrapper(
                io.BufferedReader(_Hashing(raw, self.sha256)), encoding="utf-8-sig", newline=""
            )
            try:
                if fmt == "csv":
                    reader = csv.DictReader(text)
                    for n, record in enumerate(reader, 1):
                        if None in record:
                            self.errors.add(n, "more values than columns")
                            continue
                        yield n, record
                    return
                for n, line_text in enumerate(text, 1):
                    if not line_text.strip():
                        continue
                    try:
                        item = json.loads(line_text)
                    except (ValueError, RecursionError) as exc:
                        self.errors.add(n, f"not JSON: {exc}")
                        continue
                    if isinstance(item, dict):
                        yield n, item
                    else:
                        self.errors.add(n, "not an object")
            except (UnicodeDecodeError, csv.Error) as exc:
                self.errors.add(0, f"unreadable: {exc}")

    def _value(self, record: dict[str, Any], name: str, *, required: bool) -> str:
        column = self.mapping.column(name)
        value = record.get(column)
        if value is None or value == "":
            if required:
                raise InvalidRequest(f"{column} is missing")
            return ""
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise InvalidRequest(f"{column} is not text or an integer")
        text = str(value)
        if name in ("tx_id", "round_id", "player_id"):
            check_ref(column, text)  # an id as the ledger keeps it: 128 bytes, no controls
        return text

    def _amount(self, text: str, currency: str, column: str) -> int:
        cur = self.currencies.get_currency(currency)
        unit = self.mapping.amount_unit
        if unit == "major":
            return parse_decimal(text, cur)
        if not text.isdigit() or not text.isascii():
            raise InvalidRequest(f"{column} must be a whole number of {unit} units: {text!r}")
        value = int(text)
        if unit == "minor":
            return check_minor(value, cur)
        scale = int(unit[6:])
        minor, rest = divmod(value * 10**cur.exponent, scale)
        if rest:
            raise InvalidRequest(
                f"{column} {text} in 1/{scale} is finer than {currency}'s precision"
            )
        return check_minor(int(minor), cur)

    def _time(self, text: str, column: str) -> datetime:
        fmt = self.mapping.time_format
        try:
            if fmt == "iso":
                at = datetime.fromisoformat(text)
                if at.tzinfo is None:
                    raise InvalidRequest(f"{column} has no time zone: {text!r}")
                return at.astimezone(UTC)
            seconds = int(text)
            return datetime.fromtimestamp(seconds / (1000 if fmt == "epoch_ms" else 1), UTC)
        except (ValueError, OverflowError, OSError):
            raise InvalidRequest(f"{column} is not a {fmt} time: {text!r}") from None

    def _status(self, record: dict[str, Any]) -> Status:
        text = self._value(record, "status", required=False)
        if not text:
            return Status.OK
        mapped = self.mapping.statuses.get(text, text)
        try:
            return Status(mapped)
        except ValueError:
            raise InvalidRequest(f"unknown status {text!r}") from None

    def _row(self, line: int, record: dict[str, Any]) -> Row | None:
        m = self.mapping
        currency = self._value(record, "currency", required=True)
        self.currencies.get_currency(currency)
        at = self._time(self._value(record, "at", required=True), m.column("at"))
        player = self._value(record, "player_id", required=False)
        if m.granularity == "round":
            round_id = self._value(record, "round_id", required=True)
            return Row(
                key=round_id, kind=Kind.ROUND, currency=currency, at=at, line=line,
                amount=self._amount(self._value(record, "bet", required=True), currency,
                                    m.column("bet")),
                win=self._amount(self._value(record, "win", required=True), currency,
                                 m.column("win")),
                status=self._status(record), player_id=player, round_id=round_id,
            )  # fmt: skip
        kind_text = self._value(record, "kind", required=True)
        mapped = m.kinds.get(kind_text, kind_text)
        if mapped == IGNORE:
            return None
        try:
            kind = Kind(mapped)
        except ValueError:
            raise InvalidRequest(f"unknown type {kind_text!r}") from None
        if kind is Kind.ROUND:
            raise InvalidRequest("a round line in a per-transaction feed")
        return Row(
            key=self._value(record, "tx_id", required=True), kind=kind,
            amount=self._amount(self._value(record, "amount", required=True), currency,
                                m.column("amount")),
            currency=currency, at=at, status=self._status(record), player_id=player,
            round_id=self._value(record, "round_id", required=False), line=line,
        )  # fmt: skip


class _Hashing(io.RawIOBase):
    """A binary file that feeds what is read to a hash (the feed's digest, one pass)."""

    def __init__(self, raw: Any, digest: Any) -> None:
        self.raw, self.digest = raw, digest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        self.digest.update(data)
        buffer[: len(data)] = data
        return len(data)


class FileFeed:
    """A feed file through its mapping: the FeedSource of ReconService.run."""

    def __init__(self, path: Path, mapping: Mapping, currencies: CurrencyTable) -> None:
        self.path = path
        self.reader = FeedReader(mapping, currencies)

    def rows(self) -> Iterator[Row]:
        return self.reader.rows(self.path)

    @property
    def error_count(self) -> int:
        return self.reader.errors.count

    @property
    def error_lines(self) -> list[dict[str, Any]]:
        return self.reader.errors.lines

    @property
    def digest(self) -> str:
        return self.reader.sha256.hexdigest()

    @property
    def ignored(self) -> int:
        return self.reader.ignored
