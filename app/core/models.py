"""Tenancy and access: companies and API tokens."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model


class Role(StrEnum):
    SYSTEM_ADMIN = "SYSTEM_ADMIN"
    COMPANY_ADMIN = "COMPANY_ADMIN"
    USER = "USER"


class TimestampedModel(Model):
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        abstract = True


class Company(TimestampedModel):
    """A customer of the operator; every PBX and device object belongs to one."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200, unique=True)
    # The provisioning key is looked up by its hash and read back (by the company's
    # admins) from its encrypted form.
    provisioning_key_hash = fields.CharField(max_length=64, unique=True)
    provisioning_key_enc = fields.TextField()

    class Meta:
        table = "company"
        ordering = ["id"]


class ApiToken(Model):
    """A bearer token. Only the SHA-256 of its secret is stored."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=200)
    role = fields.CharEnumField(Role, max_length=20)
    company: fields.ForeignKeyNullableRelation[Company] = fields.ForeignKeyField(
        "models.Company", related_name="api_tokens", null=True, on_delete=fields.CASCADE
    )
    sip_user = fields.ForeignKeyField(
        "models.SipUser", related_name="api_tokens", null=True, on_delete=fields.CASCADE
    )
    secret_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)
    # After this moment the token no longer works (None: it never expires).
    expires_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_token"
        ordering = ["id"]


class AuditOutcome(StrEnum):
    OK = "OK"
    USER_ERROR = "USER_ERROR"
    FORBIDDEN = "FORBIDDEN"


class AuditEvent(Model):
    """One mutation called with a token, or one hot-desk login or logout made at a phone
    (CONTRACT §10); written in the transaction of the change it records.

    The token, phone and company are plain ids, not foreign keys: a record outlives what
    it names (a deleted company's deletion is recorded too, in the transaction that
    deletes it)."""

    id = fields.BigIntField(primary_key=True)
    at = fields.DatetimeField(auto_now_add=True)
    operation = fields.CharField(max_length=100)
    outcome = fields.CharEnumField(AuditOutcome, max_length=20)
    # The codes of the payload's userErrors, as a JSON list.
    error_codes = fields.JSONField(default=list)
    actor_token_id = fields.IntField(null=True)
    actor_role = fields.CharEnumField(Role, max_length=20, null=True)
    actor_phone_id = fields.IntField(null=True)
    company_id = fields.IntField(null=True)
    target_ids = fields.JSONField(default=list)
    # The arguments as JSON text, every secret masked.
    arguments = fields.TextField()

    class Meta:
        table = "audit_event"
        ordering = ["-id"]
        # Newest first within a company (company admins' lists), by token, by operation;
        # ``at`` for since/until and the retention delete.
        indexes = (
            ("company_id", "id"),
            ("actor_token_id", "id"),
            ("operation", "id"),
            ("at", "id"),
        )


class AuditTarget(Model):
    """One id an audit event names: what ``filter: {targetId}`` looks up (indexed)."""

    id = fields.BigIntField(primary_key=True)
    event: fields.ForeignKeyRelation[AuditEvent] = fields.ForeignKeyField(
        "models.AuditEvent", related_name="targets", on_delete=fields.CASCADE
    )
    target = fields.CharField(max_length=200)

    class Meta:
        table = "audit_target"
        # By id (``targetId``), and by event (the retention delete).
        indexes = (("target", "event"), ("event",))
