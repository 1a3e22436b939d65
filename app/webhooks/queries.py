"""Webhooks: the query fields, always through the scope."""

from __future__ import annotations

import strawberry

from app.core.context import Info, viewer_of
from app.core.errors import forbidden
from app.core.models import Role
from app.core.pagination import Connection, OrderKey, PageArgs, paginate
from app.core.scope import visible
from app.webhooks import models
from app.webhooks.types import Webhook


@strawberry.type
class WebhooksQuery:
    @strawberry.field(
        description="The webhooks of the caller's company (system admins: every company's), "
        "oldest first. USER tokens: FORBIDDEN."
    )
    async def webhooks(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Webhook]:
        viewer = viewer_of(info)
        if viewer.role == Role.USER:
            raise forbidden("USER tokens cannot see webhooks.")
        qs = visible(models.Webhook, viewer)
        args = PageArgs(first, after, last, before)
        return await paginate(qs, args, [OrderKey("id")], Webhook.from_model)
