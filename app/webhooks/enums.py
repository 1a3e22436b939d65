"""Closed sets of webhooks, as GraphQL enums (the storage enums, described)."""

from __future__ import annotations

from app.core.enums import graphql_enum
from app.webhooks import models

WebhookEvent = graphql_enum(
    models.WebhookEvent,
    "What a webhook may be told of (each only for the webhook's own company).",
    DEPLOY_JOB_ENDED="A deploy job ended (data: id, phoneId, mac, status, kind, restart).",
    PHONE_STATUS_CHANGED="A phone went online or offline (data: id, mac, online).",
    ROLLOUT_ENDED="A rollout ended (data: id, status).",
    HOTDESK_SESSION_STARTED="A hot-desk login's config was written (data: id, sipUserId, "
    "phoneId, mac).",
    HOTDESK_SESSION_ENDED="A hot-desk session ended (data: id, sipUserId, phoneId, mac, "
    "endReason).",
    PHONE_REGISTERED="An unknown MAC fetched a config and became a PENDING phone (data: id, "
    "mac).",
)

WebhookDeliveryStatus = graphql_enum(
    models.WebhookDeliveryStatus,
    "Where a delivery stands.",
    PENDING="Not delivered yet: its next attempt is due (at most 8 attempts in all).",
    DELIVERED="An attempt was answered 2xx within 10 seconds.",
    FAILED="Every attempt failed (or the webhook was deactivated meanwhile).",
)
