"""Ended webhook deliveries (DELIVERED or FAILED) are deleted after
``PHONEGRAPH_WEBHOOK_DELIVERY_DAYS`` days (default 30), by the retention task every
server process runs (:mod:`app.core.audit_retention`): pending ones are never deleted."""

from __future__ import annotations

from tortoise.transactions import in_transaction

from app.core.audit_retention import CHUNK, MAX_CHUNKS, cutoff_sql, register_pruner
from app.settings import get_settings


async def prune_deliveries(days: float | None = None, chunk: int = CHUNK) -> int:
    """Delete the ended deliveries older than ``days`` (default: the setting), ``chunk``
    rows per transaction; how many this call deleted."""
    keep = (days if days is not None else get_settings().webhook_delivery_days) * 86400.0
    deleted = 0
    for _ in range(MAX_CHUNKS):
        async with in_transaction() as conn:
            postgres = conn.capabilities.dialect == "postgres"
            lock = " FOR UPDATE SKIP LOCKED" if postgres else ""
            param = "$2" if postgres else "?"
            chosen = (
                "SELECT id FROM webhook_delivery WHERE status IN ('DELIVERED', 'FAILED') "
                f"AND created_at < {cutoff_sql(postgres)} ORDER BY created_at, id "
                f"LIMIT {param}{lock}"
            )
            ids = [row["id"] for row in await conn.execute_query_dict(chosen, [keep, chunk])]
            if ids:
                marks = ", ".join(f"${i + 1}" if postgres else "?" for i in range(len(ids)))
                await conn.execute_query(f"DELETE FROM webhook_delivery WHERE id IN ({marks})", ids)
        deleted += len(ids)
        if len(ids) < chunk:
            break
    return deleted


register_pruner("webhook deliveries", prune_deliveries)
