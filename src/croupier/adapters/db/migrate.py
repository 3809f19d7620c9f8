"""Alembic, driven from code: upgrade a database to head, and check models against migrations."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

MIGRATIONS = Path(__file__).with_name("migrations")


def sqlalchemy_url(url: str) -> str:
    """Croupier's database URL as SQLAlchemy wants it (psycopg for PostgreSQL cold paths)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if parsed.get_backend_name() != "sqlite":
        raise ValueError(
            f"unsupported database {parsed.get_backend_name()!r}: sqlite or postgresql"
        )
    return url


def make_engine(url: str) -> Engine:
    engine = create_engine(sqlalchemy_url(url), poolclass=NullPool)
    if engine.dialect.name == "sqlite":
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: object, _record: object) -> None:
            cursor = dbapi_conn.cursor()  # type: ignore[attr-defined]
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.close()

    return engine


def _config(engine_connection: object) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = engine_connection
    return cfg


def _step(url: str, move: Callable[[Config, str], None], revision: str) -> str | None:
    """Run one Alembic move in a transaction; returns the revision the database is at."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            move(_config(conn), revision)
        return current(engine)
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> str | None:
    """Migrate the database up to ``revision``; returns the revision it is at afterwards."""
    return _step(url, command.upgrade, revision)


def downgrade(url: str, revision: str) -> str | None:
    """Migrate the database down to ``revision`` ("base" empties it)."""
    return _step(url, command.downgrade, revision)


def check(url: str) -> None:
    """Raise if the models in schema.py and the database at head disagree (alembic check)."""
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            command.check(_config(conn))
    finally:
        engine.dispose()


def current(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head() -> str | None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()
