"""The outbox: the one way an event becomes deliveries (CONTRACT §11).

:func:`enqueue` writes one ``webhook_delivery`` row per active webhook of the company
subscribed to the event, on the connection of the transaction it is called in — the
transaction of the event's own change — so a change is never committed without its
deliveries, nor a delivery without its change. The rows are posted afterwards by
:mod:`app.webhooks.delivery`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from app.core.ids import to_global_id
from app.deploy.sql import as_datetime, dialect_sql
from app.webhooks.models import WebhookEvent

# Webhooks one company may have (every event reads them all: bounded).
MAX_WEBHOOKS_PER_COMPANY = 20

Data = dict[str, Any] | Callable[[], Awaitable[dict[str, Any]]]


def body_of(delivery_id: int, event: WebhookEvent, at: datetime, data: dict[str, Any]) -> str:
    """The JSON posted for a delivery, the same bytes on every attempt."""
    return json.dumps(
        {
            "id": to_global_id("WebhookDelivery", delivery_id),
            "event": event.value,
            "at": at.isoformat(),
            "data": data,
        },
        separators=(",", ":"),
        sort_keys=False,
    )


async def subscribed(company_id: int | None, event: WebhookEvent) -> list[int]:
    """The ids of the company's active webhooks subscribed to ``event``.

    On PostgreSQL the rows are read ``FOR KEY SHARE``: a webhook being deleted meanwhile
    is waited for and then left out, and one read cannot be deleted before the current
    transaction ends — so the deliveries' inserts never fail on their reference to it
    (which would undo the event's own change). Concurrent events and webhook updates
    take no lock that conflicts with it. SQLite writes one transaction at a time.
    """
    if company_id is None:
        return []
    sql = dialect_sql()  # inside a transaction, Tortoise hands out its connection
    lock = " FOR KEY SHARE" if sql.postgres else ""
    rows = await sql.rows(
        "SELECT id, events FROM webhook WHERE company_id = $1 AND active = TRUE "
        f"ORDER BY id LIMIT {MAX_WEBHOOKS_PER_COMPANY}{lock}",
        [company_id],
    )
    out = []
    for row in rows:
        events = row["events"]
        if isinstance(events, str | bytes):
            events = json.loads(events)
        if event.value in (events or []):
            out.append(row["id"])
    return out


async def enqueue(
    company_id: int | None, event: WebhookEvent, data: Data, at: datetime | None = None
) -> list[int]:
    """Store a delivery of ``event`` for each subscribed webhook of ``company_id``, in the
    current transaction; the ids of the deliveries written.

    ``data`` is the event's ``data`` object, or an async function making it (called only
    when some webhook is subscribed, so an event nobody listens to costs one query).
    ``at`` is when it happened (default: now, by the database's clock).
    """
    webhook_ids = await subscribed(company_id, event)
    if not webhook_ids:
        return []
    payload = data if isinstance(data, dict) else await data()
    sql = dialect_sql()  # inside a transaction, Tortoise hands out its connection
    written = []
    for webhook_id in webhook_ids:
        rows = await sql.rows(
            'INSERT INTO "webhook_delivery" ("webhook_id", "event", "status", "attempts", '
            '"payload", "next_attempt_at", "lease_epoch", "created_at") '
            f"VALUES ($1, $2, 'PENDING', 0, '', {sql.now}, 0, {sql.now}) "
            "RETURNING id, created_at",
            [webhook_id, event.value],
        )
        delivery_id = rows[0]["id"]
        moment = at or as_datetime(rows[0]["created_at"])
        await sql.rows(
            'UPDATE "webhook_delivery" SET "payload" = $1 WHERE "id" = $2',
            [body_of(delivery_id, event, moment, payload), delivery_id],
        )
        written.append(delivery_id)
    return written
