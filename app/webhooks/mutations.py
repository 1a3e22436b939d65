"""Webhooks: register, change, delete, rotate secrets (CONTRACT §11)."""

from __future__ import annotations

import strawberry

from app.core.context import Info, viewer_of
from app.core.errors import returns_user_errors
from app.core.ids import to_global_id
from app.core.inputs import provided
from app.core.types import DeletePayload
from app.webhooks import service
from app.webhooks.inputs import WebhookInput
from app.webhooks.types import Webhook, WebhookCreatePayload, WebhookPayload


@strawberry.type
class WebhooksMutation:
    @strawberry.mutation(
        description="Register an endpoint of a company for the events given. Returns the "
        "signing secret this once. Company admins for their company, system admins any."
    )
    @returns_user_errors(WebhookCreatePayload)
    async def webhook_create(self, info: Info, input: WebhookInput) -> WebhookCreatePayload:
        row, secret = await service.webhook_create(viewer_of(info), provided(input))
        return WebhookCreatePayload(secret=secret, webhook=Webhook.from_model(row))

    @strawberry.mutation(description="Change the fields sent; others are left alone.")
    @returns_user_errors(WebhookPayload)
    async def webhook_update(
        self, info: Info, id: strawberry.ID, input: WebhookInput
    ) -> WebhookPayload:
        row = await service.webhook_update(viewer_of(info), id, provided(input))
        return WebhookPayload(webhook=Webhook.from_model(row))

    @strawberry.mutation(description="Delete a webhook with its deliveries.")
    @returns_user_errors(DeletePayload)
    async def webhook_delete(self, info: Info, id: strawberry.ID) -> DeletePayload:
        pk = await service.webhook_delete(viewer_of(info), id)
        return DeletePayload(deleted_id=strawberry.ID(to_global_id("Webhook", pk)))

    @strawberry.mutation(
        description="Give a webhook a new signing secret, returned this once; the old one "
        "signs nothing from now on (retries of earlier deliveries included)."
    )
    @returns_user_errors(WebhookCreatePayload)
    async def webhook_secret_rotate(self, info: Info, id: strawberry.ID) -> WebhookCreatePayload:
        row, secret = await service.webhook_secret_rotate(viewer_of(info), id)
        return WebhookCreatePayload(secret=secret, webhook=Webhook.from_model(row))
