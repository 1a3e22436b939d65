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
