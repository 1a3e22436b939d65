"""The database's clock in hot-desk SQL: every time a session, a wrong PIN or a lockout
is judged by is the database's, so several server processes (and their clocks) agree."""

from __future__ import annotations

from app.deploy.sql import DialectSql


def earlier(sql: DialectSql, param: int) -> str:
    """The database's current time minus parameter ``param`` seconds."""
    if sql.postgres:
        return f"(now() - make_interval(secs => ${param}))"
    return (
        f"(strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || ${param} || ' seconds')"
        " || '000+00:00')"
    )
