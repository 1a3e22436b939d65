"""Hosted PBX storage: SIP domains, users, groups, queues, trusted networks."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.expressions import Q
from tortoise.models import Model

from app.core.models import TimestampedModel
from app.core.scope import Rule, register_rule


class RingStrategy(StrEnum):
    ALL = "ALL"
    HUNT_LONGEST_IDLE = "HUNT_LONGEST_IDLE"


class ExtensionOwner(StrEnum):
    USER = "USER"
    GROUP = "GROUP"
    QUEUE = "QUEUE"


class SipDomain(TimestampedModel):
    id = fields.IntField(primary_key=True)
    company = fields.ForeignKeyField(
        "models.Company", related_name="sip_domains", on_delete=fields.RESTRICT
    )
    name = fields.CharField(max_length=253, unique=True)
    display_name = fields.CharField(max_length=200)
    recording_enabled = fields.BooleanField(default=False)

    class Meta:
        table = "sip_domain"
        ordering = ["id"]


class SipExtension(Model):
    """One row per extension number in use in a domain, whoever holds it.

    Users, groups and queues share one numbering plan; this table lets the database
    itself refuse a second holder of the same number.
    """

    id = fields.IntField(primary_key=True)
    domain = fields.ForeignKeyField(
        "models.SipDomain", related_name="extensions", on_delete=fields.CASCADE
    )
    number = fields.CharField(max_length=64)
    owner_kind = fields.CharEnumField(ExtensionOwner, max_length=10)

    class Meta:
        table = "sip_extension"
        unique_together = (("domain", "number"),)


class SipUser(TimestampedModel):
    id = fields.IntField(primary_key=True)
    domain = fields.ForeignKeyField(
        "models.SipDomain", related_name="users", on_delete=fields.CASCADE
    )
    username = fields.CharField(max_length=128)
    display_name = fields.CharField(max_length=200)
    extension_number = fields.CharField(max_length=64)
    password_enc = fields.TextField(null=True)
    pin_hash = fields.CharField(max_length=200, null=True)
    email = fields.CharField(max_length=254, null=True)
    first_name = fields.CharField(max_length=100, null=True)
    last_name = fields.CharField(max_length=100, null=True)
    job_name = fields.CharField(max_length=200, null=True)
    department_name = fields.CharField(max_length=200, null=True)
    company_name = fields.CharField(max_length=200, null=True)
    office_name = fields.CharField(max_length=200, null=True)
    uk_caller_id = fields.CharField(max_length=32, null=True)
    us_caller_id = fields.CharField(max_length=32, null=True)
    mobile_number = fields.CharField(max_length=32, null=True)
    mobile_follow = fields.BooleanField(default=False)
    hotdesk_allowed = fields.BooleanField(default=False)
    dashboard = fields.BooleanField(default=False)

    class Meta:
        table = "sip_user"
        ordering = ["id"]
        unique_together = (("domain", "username"), ("domain", "extension_number"))


class SipGroup(TimestampedModel):
    id = fields.IntField(primary_key=True)
    domain = fields.ForeignKeyField(
        "models.SipDomain", related_name="groups", on_delete=fields.CASCADE
    )
    group_name = fields.CharField(max_length=128)
    display_name = fields.CharField(max_length=200)
    extension_number = fields.CharField(max_length=64)
    ring_retry = fields.BooleanField(default=False)
    ring_exclusive = fields.BooleanField(default=False)
    caller_name_format = fields.CharField(max_length=200, null=True)

    class Meta:
        table = "sip_group"
        ordering = ["id"]
        unique_together = (("domain", "group_name"), ("domain", "extension_number"))


class SipGroupMember(Model):
    id = fields.IntField(primary_key=True)
    group = fields.ForeignKeyField(
        "models.SipGroup", related_name="memberships", on_delete=fields.CASCADE
    )
    user = fields.ForeignKeyField(
        "models.SipUser", related_name="group_memberships", on_delete=fields.CASCADE, db_index=True
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "sip_group_member"
        unique_together = (("group", "user"),)


class SipQueue(TimestampedModel):
    id = fields.IntField(primary_key=True)
    domain = fields.ForeignKeyField(
        "models.SipDomain", related_name="queues", on_delete=fields.CASCADE
    )
    queue_name = fields.CharField(max_length=128)
    display_name = fields.CharField(max_length=200)
    extension_number = fields.CharField(max_length=64)
    caller_name_format = fields.CharField(max_length=200, null=True)

    class Meta:
        table = "sip_queue"
        ordering = ["id"]
        unique_together = (("domain", "queue_name"), ("domain", "extension_number"))


class SipQueueMember(Model):
    id = fields.IntField(primary_key=True)
    queue = fields.ForeignKeyField(
        "models.SipQueue", related_name="members", on_delete=fields.CASCADE
    )
    # RESTRICT: a group still used by a queue cannot be deleted.
    group = fields.ForeignKeyField(
        "models.SipGroup", related_name="queue_memberships", on_delete=fields.RESTRICT
    )
    ring_strategy = fields.CharEnumField(RingStrategy, max_length=20, default=RingStrategy.ALL)
    ring_attempts = fields.IntField(default=1)
    ring_secs = fields.IntField(default=20)
    ring_order = fields.IntField(default=0)

    class Meta:
        table = "sip_queue_member"
        ordering = ["ring_order", "id"]


class TrustedNetwork(Model):
    id = fields.IntField(primary_key=True)
    domain = fields.ForeignKeyField(
        "models.SipDomain", related_name="trusted_networks", on_delete=fields.CASCADE
    )
    network = fields.CharField(max_length=64)
    description = fields.CharField(max_length=500, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "trusted_network"
        ordering = ["id"]
        unique_together = (("domain", "network"),)


# ---------------------------------------------------------------- tenant scope

register_rule(SipDomain, Rule("company_id", lambda v: Q(id=v.domain_id)))
register_rule(SipExtension, Rule("domain__company_id"))
register_rule(SipUser, Rule("domain__company_id", lambda v: Q(id=v.sip_user_id)))
register_rule(
    SipGroup, Rule("domain__company_id", lambda v: Q(memberships__user_id=v.sip_user_id))
)
register_rule(
    SipGroupMember, Rule("group__domain__company_id", lambda v: Q(user_id=v.sip_user_id))
)
register_rule(SipQueue, Rule("domain__company_id"))
register_rule(SipQueueMember, Rule("queue__domain__company_id"))
register_rule(TrustedNetwork, Rule("domain__company_id"))
