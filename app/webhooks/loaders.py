"""DataLoaders of webhooks: one statement per level, through the caller's scope."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tortoise.queryset import QuerySet

from app.core.context import Info, loaders_of
from app.core.pagination import Connection, OrderKey, PageArgs, paginate_nested
from app.webhooks import models

T = TypeVar("T")

NEWEST_FIRST = [OrderKey("id", descending=True)]


async def webhook_deliveries(
    info: Info, webhook_id: int, args: PageArgs, to_node: Callable[[models.WebhookDelivery], T]
) -> Connection[T]:
    """A webhook's deliveries, newest first (``Webhook.deliveries``): one statement for
    the pages of every webhook of the level."""

    async def load(
        rows: QuerySet[models.WebhookDelivery], webhook_ids: list[int]
    ) -> list[Connection[T]]:
        return await paginate_nested(rows, "webhook_id", webhook_ids, args, NEWEST_FIRST, to_node)

    loader = loaders_of(info).batch(("webhook_deliveries", args), models.WebhookDelivery, load)
    return await loader.load(webhook_id)
