"""The few differences between PostgreSQL and SQLite that the deploy queue's own SQL
needs (``app.deploy.leases``, bulk queueing): the database's clock, id lists, row locks.

Statements are written with ``$n`` parameters, as PostgreSQL takes them; SQLite gets
them as ``?n``.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient

# pg_advisory_xact_lock keys: bulk queueing (its idempotency check and its insert), and
# claiming (two claims choosing free slots at once would collide on the unique slot and
# phone-lock indexes, and can deadlock there).
ENQUEUE_LOCK = 0x5047_0001
CLAIM_LOCK = 0x5047_0002


class DialectSql:
    """Raw SQL on one connection (or transaction), in that connection's dialect."""

    def __init__(self, conn: BaseDBAsyncClient) -> None:
        self.conn = conn
        self.postgres = conn.capabilities.dialect == "postgres"

    @property
    def now(self) -> str:
        """The database's current time, as an SQL expression. On PostgreSQL the time the
        statement started, not its transaction's (``now()``): a claim that waited for
        the claim lock does not start its leases in the past."""
        if self.postgres:
            return "statement_timestamp()"
        # The text Tortoise itself stores for an aware UTC datetime.
        return "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '000+00:00')"

    def later(self, param: int) -> str:
        """The database's current time plus parameter ``param`` seconds."""
        if self.postgres:
            return f"(statement_timestamp() + make_interval(secs => ${param}))"
        return (
            f"(strftime('%Y-%m-%d %H:%M:%f', 'now', '+' || ${param} || ' seconds') || '000+00:00')"
        )

    def ids(self, param: int) -> str:
        """``id`` is one of the ids in parameter ``param`` (one parameter, any length)."""
        if self.postgres:
            return f"id = ANY(${param}::int[])"
        return f"id IN (SELECT value FROM json_each(${param}))"

    def numbered_ids(self, param: int) -> str:
        """The ids of parameter ``param`` as rows ``(id, k)``, ``k`` counting from 1 in
        the parameter's order."""
        if self.postgres:
            return f"SELECT c.id, c.k FROM unnest(${param}::int[]) WITH ORDINALITY AS c(id, k)"
        return f"SELECT value AS id, key + 1 AS k FROM json_each(${param})"

    def id_list(self, ids: list[int]) -> Any:
        """The value of an :meth:`ids` parameter."""
        return ids if self.postgres else json.dumps(ids)

    def skip_locked(self, alias: str = "") -> str:
        """Lock the rows selected, skipping those another transaction holds (PostgreSQL;
        SQLite has one writer at a time anyway)."""
        if not self.postgres:
            return ""
        return f"FOR UPDATE{' OF ' + alias if alias else ''} SKIP LOCKED"

    def cast(self, param: str, sql_type: str) -> str:
        """A parameter with its type spelled out (PostgreSQL cannot guess it in VALUES)."""
        return f"{param}::{sql_type}" if self.postgres else param

    async def serialize(self, key: int) -> None:
        """Hold the advisory lock ``key`` until the end of this transaction (PostgreSQL;
        SQLite runs one writing transaction at a time anyway)."""
        if self.postgres:
            await self.rows(f"SELECT pg_advisory_xact_lock({key})", [])

    async def rows(self, sql: str, params: list[Any]) -> list[dict[str, Any]]:
        """Run one statement; its rows (``RETURNING`` included)."""
        if not self.postgres:
            sql = re.sub(r"\$(\d+)", r"?\1", sql)
        return await self.conn.execute_query_dict(sql, params)


def dialect_sql(conn: BaseDBAsyncClient | None = None) -> DialectSql:
    """Raw SQL on ``conn`` (a transaction) or the default connection."""
    return DialectSql(conn or connections.get("default"))


def as_datetime(value: Any) -> datetime:
    """A timestamp read back from raw SQL (SQLite returns text), as an aware datetime."""
    result = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return result if result.tzinfo else result.replace(tzinfo=UTC)
