"""Extension Mobility profiles: a user's full Cisco ``SEP<MAC>.cnf.xml``."""

from __future__ import annotations

from tortoise import fields
from tortoise.expressions import Q

from app.core.models import TimestampedModel
from app.core.scope import Rule, register_rule
from app.devices.models import SoftwareType


class PhoneProfile(TimestampedModel):
    id = fields.IntField(primary_key=True)
    owner = fields.ForeignKeyField(
        "models.SipUser", related_name="phone_profiles", on_delete=fields.CASCADE
    )
    name = fields.CharField(max_length=200)
    description = fields.TextField(null=True)
    cnf_xml = fields.TextField()
    compatible_models = fields.JSONField(default=list)
    software_type = fields.CharEnumField(SoftwareType, max_length=8, null=True)

    class Meta:
        table = "phone_profile"
        ordering = ["id"]


register_rule(PhoneProfile, Rule("owner__domain__company_id", lambda v: Q(owner_id=v.sip_user_id)))
