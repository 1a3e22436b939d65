"""The timestamp arithmetic presence's own SQL needs, in both dialects.

Everything is computed by the database from its own clock (``DialectSql.now``): the
schedule of the probes, which probes are due, when a phone was seen.
"""

from __future__ import annotations

from app.deploy.sql import DialectSql

# Phones spread over the interval by their id: the fractional part of id × the golden
# ratio's inverse is evenly spread for consecutive ids (a low-discrepancy sequence).
_SPREAD = "0.6180339887498949"


def plus_seconds(sql: DialectSql, timestamp: str, seconds: str) -> str:
    """The SQL timestamp expression ``timestamp`` plus ``seconds`` (an SQL number)."""
    if sql.postgres:
        return f"({timestamp} + make_interval(secs => ({seconds})::float8))"
    return (
        f"(strftime('%Y-%m-%d %H:%M:%f', {timestamp}, "
        f"'+' || printf('%.3f', {seconds}) || ' seconds') || '000+00:00')"
    )


def minus_seconds(sql: DialectSql, timestamp: str, seconds: str) -> str:
    """The SQL timestamp expression ``timestamp`` minus ``seconds`` (a non-negative SQL
    number)."""
    if sql.postgres:
        return f"({timestamp} - make_interval(secs => ({seconds})::float8))"
    return (
        f"(strftime('%Y-%m-%d %H:%M:%f', {timestamp}, "
        f"'-' || printf('%.3f', {seconds}) || ' seconds') || '000+00:00')"
    )


def seconds_between(sql: DialectSql, later: str, earlier: str) -> str:
    """Seconds from ``earlier`` to ``later`` (SQL timestamps), as an SQL number."""
    if sql.postgres:
        return f"extract(epoch from ({later} - {earlier}))"
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


def whole(sql: DialectSql, number: str) -> str:
    """A non-negative SQL number rounded down."""
    if sql.postgres:
        return f"floor({number})"
    return f"CAST({number} AS INTEGER)"


def spread(sql: DialectSql, phone_id: str, interval: str) -> str:
    """Where in the interval a phone's probes fall, in seconds from its start."""
    x = f"({phone_id} * {_SPREAD})"
    if sql.postgres:
        return f"(({x} - trunc({x})) * ({interval})::float8)"
    return f"(({x} - CAST({x} AS INTEGER)) * {interval})"


def number(sql: DialectSql, param: str) -> str:
    """A float parameter (PostgreSQL cannot always guess its type)."""
    return sql.cast(param, "float8")
