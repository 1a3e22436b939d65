"""Webhook storage: the endpoints of a company, and the outbox of their deliveries."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from app.core.scope import Rule, register_rule


class WebhookEvent(StrEnum):
    DEPLOY_JOB_ENDED = "DEPLOY_JOB_ENDED"
    PHONE_STATUS_CHANGED = "PHONE_STATUS_CHANGED"
    ROLLOUT_ENDED = "ROLLOUT_ENDED"
    HOTDESK_SESSION_STARTED = "HOTDESK_SESSION_STARTED"
    HOTDESK_SESSION_ENDED = "HOTDESK_SESSION_ENDED"
    PHONE_REGISTERED = "PHONE_REGISTERED"


class WebhookDeliveryStatus(StrEnum):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


class Webhook(Model):
    """An endpoint of one company, told of the events it subscribed to."""

    id = fields.IntField(primary_key=True)
    company = fields.ForeignKeyField(
        "models.Company", related_name="webhooks", on_delete=fields.CASCADE
    )
    url = fields.CharField(max_length=2048)
    # The WebhookEvent values subscribed to.
    events = fields.JSONField(default=list)
    description = fields.CharField(max_length=500, null=True)
    active = fields.BooleanField(default=True)
    # The signing secret, encrypted (app.core.crypto): it must be recovered to sign, and
    # is never shown again after its creation or rotation.
    secret_enc = fields.TextField()
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "webhook"
        ordering = ["id"]
        indexes = (("company_id", "active"),)


class WebhookDelivery(Model):
    """One event for one webhook: written in the transaction of the event's own change,
    then posted (and retried) by one server process at a time under a lease.

    ``lease_epoch`` grows with every claim and ``lease_expires_at`` is set by the
    database's clock; every write of an attempt's result is conditioned on the epoch of
    its claim, so a process whose lease was taken over writes nothing.
    """

    id = fields.IntField(primary_key=True)
    webhook = fields.ForeignKeyField(
        "models.Webhook", related_name="deliveries", on_delete=fields.CASCADE
    )
    event = fields.CharEnumField(WebhookEvent, max_length=32)
    status = fields.CharEnumField(
        WebhookDeliveryStatus, max_length=16, default=WebhookDeliveryStatus.PENDING
    )
    # Attempts started (counted when claimed, so a process dying mid-attempt counts too).
    attempts = fields.IntField(default=0)
    last_status_code = fields.IntField(null=True)
    last_error = fields.CharField(max_length=500, null=True)
    # The exact JSON body posted on every attempt.
    payload = fields.TextField()
    # Database time: when the next attempt is due, and how long the claim holds.
    next_attempt_at = fields.DatetimeField()
    lease_expires_at = fields.DatetimeField(null=True)
    lease_epoch = fields.IntField(default=0)
    created_at = fields.DatetimeField()
    delivered_at = fields.DatetimeField(null=True)

    class Meta:
        table = "webhook_delivery"
        ordering = ["id"]
        # The claim's scan of due deliveries, and each webhook's deliveries by id.
        indexes = (("status", "next_attempt_at"), ("webhook_id", "id"))


# ---------------------------------------------------------------- tenant scope

# Company admins their company's, system admins all; USER tokens none.
register_rule(Webhook, Rule("company_id"))
register_rule(WebhookDelivery, Rule("webhook__company_id"))
