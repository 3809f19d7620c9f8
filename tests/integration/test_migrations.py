"""Migrations: an empty database of each kind upgrades to head and agrees with the models."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql

from croupier.adapters.db import migrate
from croupier.adapters.db.schema import metadata


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    """A database with no schema at all: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/empty.db"
        return
    session_url: str = request.getfixturevalue("postgres_url")
    base, _, name = session_url.rpartition("/")
    empty = f"{name}_empty"
    with psycopg.connect(session_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(empty)))
    yield f"{base}/{empty}"
    with psycopg.connect(session_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(empty)))


def test_empty_database_upgrades_to_head_and_matches_models(empty_url: str) -> None:
    assert migrate.upgrade(empty_url) == migrate.head()
    migrate.check(empty_url)  # raises if models and migrations disagree
    engine = migrate.make_engine(empty_url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {t.name for t in metadata.sorted_tables} <= tables


def test_downgrade_to_base_and_back(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    assert migrate.downgrade(empty_url, "base") is None
    engine = migrate.make_engine(empty_url)
    try:
        assert "postings" not in sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()
    assert migrate.upgrade(empty_url) == migrate.head()


@pytest.mark.parametrize("table", ["journal_entries", "postings"])
@pytest.mark.parametrize("statement", ["UPDATE {t} SET id = id", "DELETE FROM {t}"])
def test_ledger_tables_are_append_only(database_url: str, table: str, statement: str) -> None:
    engine = migrate.make_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO currencies VALUES ('EUR', 2, 'fiat')"))
            conn.execute(
                sa.text(
                    "INSERT INTO accounts (type, owner, currency, created_at) "
                    "VALUES ('operator_cash', 'operator', 'EUR', CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO journal_entries (kind, created_at) "
                    "VALUES ('deposit', CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO postings (entry_id, account_id, currency, amount) "
                    "VALUES (1, 1, 'EUR', 5)"
                )
            )
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(sa.text(statement.format(t=table)))
        with engine.connect() as conn:
            assert conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one() == 1  # noqa: S608
    finally:
        engine.dispose()
