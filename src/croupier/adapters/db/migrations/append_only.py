"""Append-only tables in migrations: triggers that refuse UPDATE and DELETE.

On PostgreSQL a trigger per table calls ``croupier_append_only()`` (created in 0001), which
raises "<table> is append-only"; on SQLite two triggers per table raise the same words.
Migrations from 0002 on call these; their text never changes once a migration has shipped.
"""

from __future__ import annotations

from alembic import op


def protect(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION croupier_append_only()"
        )
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        )


def unprotect(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
        return
    for action in ("update", "delete"):
        op.execute(f"DROP TRIGGER {table}_no_{action}")
