"""GraphQL inputs of webhooks (partial on update: a field left out is left alone)."""

from __future__ import annotations

import strawberry

from app.webhooks.enums import WebhookEvent


@strawberry.input(
    description="A webhook's fields. On update, a field left out is left alone (the "
    "company cannot change)."
)
class WebhookInput:
    company_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="Required on create."
    )
    url: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Required on create. http:// or https://; a host that is or resolves "
        "to a loopback, link-local or private address is refused unless "
        "PHONEGRAPH_WEBHOOK_ALLOW_PRIVATE=1.",
    )
    events: list[WebhookEvent] | None = strawberry.field(
        default=strawberry.UNSET, description="Required on create: at least one."
    )
    description: str | None = strawberry.UNSET
    active: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Default true; false: no new deliveries."
    )
