"""Ended webhook deliveries (DELIVERED or FAILED) are deleted after
``PHONEGRAPH_WEBHOOK_DELIVERY_DAYS`` days (default 30), by the retention task every
server process runs (:mod:`app.core.audit_retention`): pending ones are never deleted."""

from __future__ import annotations

from app.core.audit_retention import CHUNK, delete_expired, register_pruner
from app.settings import get_settings


async def prune_deliveries(days: float | None = None, chunk: int = CHUNK) -> int:
    """Delete the ended deliveries older than ``days`` (default: the setting), ``chunk``
    rows per transaction; how many this call deleted."""
    keep = (days if days is not None else get_settings().webhook_delivery_days) * 86400.0
    return await delete_expired(
        "webhook_delivery",
        "created_at",
        keep,
        where="status IN ('DELIVERED', 'FAILED')",
        chunk=chunk,
    )


register_pruner("webhook deliveries", prune_deliveries)
