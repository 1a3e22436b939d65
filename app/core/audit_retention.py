"""Audit retention: events older than ``PHONEGRAPH_AUDIT_DAYS`` days are deleted.

The same task runs the other retention rules domains register with
:func:`register_pruner` (ended webhook deliveries), each the same way: chunked deletes
by the database's clock, safe to run in several processes at once.

Every server process runs :class:`AuditPruner`: at start-up and then every
``audit_prune_interval`` seconds it deletes the expired events in chunks of
:data:`CHUNK` rows, each chunk its own short transaction, oldest first, judged by the
database's clock. Several processes may prune at once: a delete of rows another process
deleted already deletes nothing, and on PostgreSQL each chunk skips rows another
process's chunk holds. Deleting is the whole of its work and repeats safely, so no lease
is needed: nothing it writes depends on owning anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from tortoise.transactions import in_transaction

from app.settings import get_settings

log = logging.getLogger(__name__)

# Rows per delete statement, and chunks per round (a round is bounded; the next goes on).
CHUNK = 1000
MAX_CHUNKS = 100


# Other tables' retention: ``fn() -> rows deleted``, run after the audit's each round.
_pruners: list[tuple[str, Callable[[], Awaitable[int]]]] = []


def register_pruner(what: str, prune: Callable[[], Awaitable[int]]) -> None:
    """Have every server process run ``prune`` with the audit retention (``what``: the
    rows it deletes, for the log)."""
    if all(p is not prune for _, p in _pruners):
        _pruners.append((what, prune))


def _cutoff(postgres: bool) -> str:
    """The database's clock minus parameter 1 seconds, as an SQL expression."""
    if postgres:
        return "(statement_timestamp() - make_interval(secs => $1))"
    # The text Tortoise stores for an aware UTC datetime (compared as text).
    return "(strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || ? || ' seconds') || '000+00:00')"


async def delete_expired(
    table: str,
    age_column: str,
    keep_seconds: float,
    *,
    where: str = "",
    dependents: tuple[tuple[str, str], ...] = (),
    chunk: int = CHUNK,
) -> int:
    """Delete the rows of ``table`` whose ``age_column`` is more than ``keep_seconds``
    old by the database's clock (and ``where``, an extra SQL condition), oldest first,
    ``chunk`` rows per transaction, at most :data:`MAX_CHUNKS` chunks; ``dependents``
    are ``(table, column)`` pairs whose rows pointing at a deleted row go first (SQLite's
    foreign keys may be off). On PostgreSQL each chunk skips rows another process's
    chunk holds. How many rows of ``table`` this call deleted."""
    deleted = 0
    condition = f" AND {where}" if where else ""
    for _ in range(MAX_CHUNKS):
        async with in_transaction() as conn:
            postgres = conn.capabilities.dialect == "postgres"
            lock = " FOR UPDATE SKIP LOCKED" if postgres else ""
            param = "$2" if postgres else "?"
            chosen = (
                f"SELECT id FROM {table} WHERE {age_column} < {_cutoff(postgres)}{condition} "
                f"ORDER BY {age_column}, id LIMIT {param}{lock}"
            )
            rows = await conn.execute_query_dict(chosen, [keep_seconds, chunk])
            ids = [row["id"] for row in rows]
            if ids:
                marks = ", ".join(f"${i + 1}" if postgres else "?" for i in range(len(ids)))
                for dependent, column in dependents:
                    await conn.execute_query(
                        f"DELETE FROM {dependent} WHERE {column} IN ({marks})", ids
                    )
                await conn.execute_query(f"DELETE FROM {table} WHERE id IN ({marks})", ids)
        deleted += len(ids)
        if len(ids) < chunk:
            break
    return deleted


async def prune_audit(days: float | None = None, chunk: int = CHUNK) -> int:
    """Delete the events older than ``days`` (default: the setting), with their targets
    (ON DELETE CASCADE, deleted explicitly too), ``chunk`` rows per transaction."""
    keep = (days if days is not None else get_settings().audit_days) * 86400.0
    return await delete_expired(
        "audit_event", "at", keep, dependents=(("audit_target", "event_id"),), chunk=chunk
    )


class AuditPruner:
    """The retention task of one server process."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._round()  # at start-up, before any request
        self._task = asyncio.create_task(self._loop(), name="audit-pruner")

    async def _round(self) -> None:
        try:
            deleted = await prune_audit()
            if deleted:
                log.info("deleted %d expired audit event(s)", deleted)
        except Exception:
            log.exception("could not delete expired audit events")
        for what, prune in _pruners:
            try:
                deleted = await prune()
                if deleted:
                    log.info("deleted %d expired %s", deleted, what)
            except Exception:
                log.exception("could not delete expired %s", what)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self._round()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None


_pruner: AuditPruner | None = None


async def start_audit_pruner() -> None:
    global _pruner
    await stop_audit_pruner()
    pruner = AuditPruner(get_settings().audit_prune_interval)
    await pruner.start()
    _pruner = pruner


async def stop_audit_pruner() -> None:
    global _pruner
    if _pruner is not None:
        await _pruner.stop()
    _pruner = None
