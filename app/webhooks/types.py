"""GraphQL types of webhooks. The signing secret is never a field: it is shown once, in
the payload of webhookCreate and webhookSecretRotate."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.core.context import Info, loaders_of
from app.core.errors import UserError
from app.core.ids import to_global_id
from app.core.models import Company as CompanyRow
from app.core.node import Node, register_node
from app.core.pagination import Connection, PageArgs
from app.core.types import Company
from app.webhooks import loaders, models
from app.webhooks.enums import WebhookDeliveryStatus, WebhookEvent


@strawberry.type(
    description="One event for one webhook: stored with the event's own change, then "
    "posted until a 2xx answers (8 attempts at most, the delay doubling from "
    "PHONEGRAPH_WEBHOOK_RETRY_SECONDS). Its id is the body's id and the "
    "PhoneGraph-Delivery header, the same on every attempt."
)
class WebhookDelivery(Node):
    id: strawberry.ID
    event: WebhookEvent
    status: WebhookDeliveryStatus
    attempts: int = strawberry.field(description="Attempts made so far.")
    last_status_code: int | None = strawberry.field(
        description="The HTTP status of the last attempt (null: no answer)."
    )
    last_error: str | None = strawberry.field(
        description="Why the last attempt failed (null once delivered)."
    )
    payload: str = strawberry.field(description="The JSON body sent.")
    created_at: datetime
    delivered_at: datetime | None
    row: strawberry.Private[models.WebhookDelivery]

    @classmethod
    def from_model(cls, row: models.WebhookDelivery) -> WebhookDelivery:
        return cls(
            id=strawberry.ID(to_global_id("WebhookDelivery", row.id)),
            event=models.WebhookEvent(row.event),
            status=models.WebhookDeliveryStatus(row.status),
            attempts=row.attempts,
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            payload=row.payload,
            created_at=row.created_at,
            delivered_at=row.delivered_at,
            row=row,
        )


register_node("WebhookDelivery", models.WebhookDelivery, WebhookDelivery.from_model)


@strawberry.type(
    description="An endpoint of a company, sent a signed POST for each event it "
    "subscribed to (CONTRACT §11)."
)
class Webhook(Node):
    id: strawberry.ID
    url: str
    events: list[WebhookEvent]
    description: str | None
    active: bool = strawberry.field(description="false: events make no deliveries.")
    created_at: datetime
    row: strawberry.Private[models.Webhook]

    @classmethod
    def from_model(cls, row: models.Webhook) -> Webhook:
        return cls(
            id=strawberry.ID(to_global_id("Webhook", row.id)),
            url=row.url,
            events=[models.WebhookEvent(e) for e in row.events or []],
            description=row.description,
            active=row.active,
            created_at=row.created_at,
            row=row,
        )

    @strawberry.field(description="The company whose events it is told of.")
    async def company(self, info: Info) -> Company:
        row = await loaders_of(info).one(CompanyRow, self.row.company_id)  # type: ignore[attr-defined]
        assert row is not None  # the caller sees the webhook, hence its company
        return Company.from_model(row)

    @strawberry.field(description="Its deliveries, newest first.")
    async def deliveries(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[WebhookDelivery]:
        args = PageArgs(first, after)
        return await loaders.webhook_deliveries(
            info, self.row.id, args, WebhookDelivery.from_model
        )


register_node("Webhook", models.Webhook, Webhook.from_model)


@strawberry.type(description="The result of a webhook change.")
class WebhookPayload:
    webhook: Webhook | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="A new webhook, or a new secret: shown this once.")
class WebhookCreatePayload:
    secret: str | None = strawberry.field(
        default=None,
        description="The signing secret, shown this once only: PhoneGraph-Signature is "
        "the hex HMAC-SHA256 of \"<t>.<body>\" keyed with it.",
    )
    webhook: Webhook | None = None
    user_errors: list[UserError] = strawberry.field(default_factory=list)
