"""Assembles Query, Mutation and Subscription from the domains."""

from __future__ import annotations

import strawberry
from strawberry.schema.config import StrawberryConfig

from app.core.audit_schema import AuditQuery
from app.core.execution import PhoneGraphExecutor
from app.core.extensions import schema_extensions
from app.core.schema import CoreMutation, CoreQuery
from app.deploy.mutations import DeployMutation
from app.deploy.queries import DeployQuery
from app.deploy.subscriptions import DeploySubscription
from app.devices.mutations import DevicesMutation
from app.devices.queries import DevicesQuery
from app.hotdesk import jobs as _hotdesk_jobs  # noqa: F401  (registers the HOTDESK_* kinds)
from app.hotdesk.mutations import HotdeskMutation
from app.hotdesk.queries import HotdeskQuery
from app.pbx.mutations import PbxMutation
from app.pbx.queries import PbxQuery
from app.presence import filters as _presence_filters  # noqa: F401  (PhoneFilter.online)
from app.presence import types as _presence_types  # noqa: F401  (Phone.online, ...)
from app.presence.subscriptions import PresenceSubscription
from app.profiles.mutations import ProfilesMutation
from app.profiles.queries import ProfilesQuery
from app.webhooks import receivers as _webhook_receivers  # noqa: F401  (connects to signals)
from app.webhooks import retention as _webhook_retention  # noqa: F401  (registers its pruner)
from app.webhooks.mutations import WebhooksMutation
from app.webhooks.queries import WebhooksQuery


@strawberry.type(description="Read anything the caller may see.")
class Query(
    CoreQuery,
    PbxQuery,
    DevicesQuery,
    ProfilesQuery,
    DeployQuery,
    HotdeskQuery,
    AuditQuery,
    WebhooksQuery,
):
    pass


@strawberry.type(description="Change things; every payload carries userErrors.")
class Mutation(
    CoreMutation,
    PbxMutation,
    DevicesMutation,
    ProfilesMutation,
    DeployMutation,
    HotdeskMutation,
    WebhooksMutation,
):
    pass


@strawberry.type(description="Live updates.")
class Subscription(DeploySubscription, PresenceSubscription):
    pass


class PhoneGraphSchema(strawberry.Schema):
    """Strawberry's schema, without its logging of every error a client caused.

    Internal errors are logged (with their traceback) where they are masked
    (app/core/extensions.py); a client's NOT_FOUND or validation error is not news.
    """

    def process_errors(self, errors, execution_context=None) -> None:  # type: ignore[no-untyped-def, override]
        return None


def build_schema() -> strawberry.Schema:
    return PhoneGraphSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=schema_extensions(),
        config=StrawberryConfig(auto_camel_case=True),
        execution_context_class=PhoneGraphExecutor,
    )


schema = build_schema()
