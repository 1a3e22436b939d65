"""Device storage: phone models, templates, phones and their lines, DECT bases."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.expressions import Q
from tortoise.models import Model

from app.core.auth import Viewer
from app.core.models import TimestampedModel
from app.core.scope import Rule, register_rule


class PhoneStatus(StrEnum):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    REJECTED = "REJECTED"


class SoftwareType(StrEnum):
    SCCP = "SCCP"
    SIP = "SIP"
    SIPE = "SIPE"


class DectLanguage(StrEnum):
    ENGLISH = "ENGLISH"
    CHINESE = "CHINESE"
    DUTCH = "DUTCH"
    FRENCH = "FRENCH"
    GERMAN = "GERMAN"
    GREEK = "GREEK"
    ITALIAN = "ITALIAN"
    JAPANESE = "JAPANESE"
    POLISH = "POLISH"
    RUSSIAN = "RUSSIAN"
    SPANISH = "SPANISH"
    SWEDISH = "SWEDISH"
    UKRAINIAN = "UKRAINIAN"
    BULGARIAN = "BULGARIAN"


class ProvisioningInterface(StrEnum):
    WEB_DOMAIN = "WEB_DOMAIN"
    PUBLIC_IPV4 = "PUBLIC_IPV4"
    PUBLIC_IPV6 = "PUBLIC_IPV6"
    PRIVATE_IPV4 = "PRIVATE_IPV4"
    PRIVATE_IPV6 = "PRIVATE_IPV6"
    SBC_DOMAIN = "SBC_DOMAIN"


class Transport(StrEnum):
    UDP = "UDP"
    TCP = "TCP"
    TLS = "TLS"


class PhoneModel(Model):
    """A catalogue entry (shipped with the data, see ``catalogue.json``)."""

    id = fields.IntField(primary_key=True)
    vendor = fields.CharField(max_length=64)
    name = fields.CharField(max_length=64)
    line_count = fields.IntField()
    is_dect = fields.BooleanField(default=False)
    software_types = fields.JSONField(default=list)
    # e.g. "SEP{MAC}.cnf.xml", "{mac}.cfg"; {MAC} upper-case hex, {mac} lower-case hex.
    config_filename_pattern = fields.CharField(max_length=128)

    class Meta:
        table = "phone_model"
        ordering = ["vendor", "name"]
        unique_together = (("vendor", "name"),)


class PhoneTemplate(TimestampedModel):
    id = fields.IntField(primary_key=True)
    filename = fields.CharField(max_length=128, unique=True)
    content = fields.TextField()
    model = fields.ForeignKeyField(
        "models.PhoneModel", related_name="templates", null=True, on_delete=fields.SET_NULL
    )
    is_custom = fields.BooleanField(default=True)
    # The company whose admins see and may assign the template; null: every company's
    # (the built-in templates, and those a system admin made for everyone).
    company = fields.ForeignKeyField(
        "models.Company", related_name="phone_templates", null=True, on_delete=fields.CASCADE
    )

    class Meta:
        table = "phone_template"
        ordering = ["filename"]


class Phone(TimestampedModel):
    id = fields.IntField(primary_key=True)
    # 12 upper-case hex digits, no separators.
    mac = fields.CharField(max_length=12, unique=True)
    name = fields.CharField(max_length=200, null=True)
    status = fields.CharEnumField(PhoneStatus, max_length=10, default=PhoneStatus.ACTIVE)
    # Indexed: company admins' lists and counts are all "phones of this company".
    company = fields.ForeignKeyField(
        "models.Company",
        related_name="phones",
        null=True,
        on_delete=fields.RESTRICT,
        db_index=True,
    )
    model = fields.ForeignKeyField(
        "models.PhoneModel", related_name="phones", null=True, on_delete=fields.RESTRICT
    )
    template = fields.ForeignKeyField(
        "models.PhoneTemplate", related_name="phones", null=True, on_delete=fields.RESTRICT
    )
    ip_address = fields.CharField(max_length=64, null=True)
    http_port = fields.IntField(default=80)
    sip_port = fields.IntField(default=5060)
    web_username = fields.CharField(max_length=128, null=True)
    web_password_enc = fields.TextField(null=True)
    timezone = fields.CharField(max_length=64, null=True)
    language = fields.CharField(max_length=64, null=True)
    codecs = fields.JSONField(default=list)
    can_hotdesk = fields.BooleanField(default=False)
    can_forward = fields.BooleanField(default=False)
    active_profile = fields.ForeignKeyField(
        "models.PhoneProfile", related_name="active_on", null=True, on_delete=fields.SET_NULL
    )
    last_provisioned_at = fields.DatetimeField(null=True)
    # Address the phone last fetched its config from (auto-provisioning).
    last_seen_ip = fields.CharField(max_length=64, null=True)

    class Meta:
        table = "phone"
        ordering = ["mac"]


class PhoneLine(Model):
    """One port of a phone; as many as its model has lines."""

    id = fields.IntField(primary_key=True)
    phone = fields.ForeignKeyField("models.Phone", related_name="lines", on_delete=fields.CASCADE)
    port = fields.IntField()
    sip_user = fields.ForeignKeyField(
        "models.SipUser",
        related_name="phone_lines",
        null=True,
        on_delete=fields.SET_NULL,
        db_index=True,
    )
    # SIP auth secret of this line, encrypted (phones need it in their config).
    auth_secret_enc = fields.TextField(null=True)

    class Meta:
        table = "phone_line"
        ordering = ["phone_id", "port"]
        unique_together = (("phone", "port"),)


class DectBase(TimestampedModel):
    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64)
    mac = fields.CharField(max_length=12, unique=True)
    company = fields.ForeignKeyField(
        "models.Company", related_name="dect_bases", null=True, on_delete=fields.RESTRICT
    )
    model = fields.ForeignKeyField(
        "models.PhoneModel", related_name="dect_bases", null=True, on_delete=fields.RESTRICT
    )
    template = fields.ForeignKeyField(
        "models.PhoneTemplate", related_name="dect_bases", null=True, on_delete=fields.RESTRICT
    )
    password_enc = fields.TextField(null=True)
    user_password_enc = fields.TextField(null=True)
    engineer_password_enc = fields.TextField(null=True)
    timezone = fields.CharField(max_length=64)
    region = fields.CharField(max_length=64, null=True)
    language = fields.CharEnumField(DectLanguage, max_length=16, default=DectLanguage.ENGLISH)
    handset_language = fields.CharEnumField(DectLanguage, max_length=16, null=True)
    tone = fields.CharField(max_length=64)
    rps = fields.BooleanField(default=False)
    https = fields.BooleanField(default=False)
    codecs = fields.JSONField(default=list)
    interface = fields.CharEnumField(ProvisioningInterface, max_length=16)
    preferred_transport = fields.CharEnumField(Transport, max_length=4, default=Transport.UDP)

    class Meta:
        table = "dect_base"
        ordering = ["id"]


class DectMember(Model):
    id = fields.IntField(primary_key=True)
    base = fields.ForeignKeyField(
        "models.DectBase", related_name="members", on_delete=fields.CASCADE
    )
    extension_number = fields.CharField(max_length=64)
    handset_index = fields.IntField(null=True)
    ipui = fields.CharField(max_length=32, null=True)

    class Meta:
        table = "dect_member"
        ordering = ["base_id", "extension_number"]
        unique_together = (("base", "extension_number"),)


# ---------------------------------------------------------------- tenant scope


def _hotdesk_phones(v: Viewer) -> Q:
    """The shared phones of its company a USER allowed to hot-desk may switch a profile
    onto (Extension Mobility), on top of the phones where it has a line."""
    if not v.hotdesk_allowed:
        return Q(id__in=[])
    return Q(company_id=v.company_id, can_hotdesk=True, status=PhoneStatus.ACTIVE)


def _company_phones(v: Viewer) -> Q:
    """Every phone of its company, which a USER may name for a hot-desk login or logout
    (whether it may log in there — a hot-desk phone, ACTIVE, its own user — hot desking
    decides, with answers that say why)."""
    if v.company_id is None:
        return Q(id__in=[])
    return Q(company_id=v.company_id)


register_rule(PhoneModel, Rule(None, lambda v: Q(), company_admin_writes=False))
register_rule(
    PhoneTemplate,
    # Built-in templates (and a system admin's made for everyone) are every company's;
    # a company's own custom templates are its admins' alone. USER tokens read none.
    Rule("company_id", company_admin_writes=False, shared_when_null=True),
)
register_rule(
    Phone,
    Rule(
        "company_id",
        lambda v: Q(lines__sip_user_id=v.sip_user_id),
        user_actions={"deploy": _hotdesk_phones, "hotdesk": _company_phones},
    ),
)
register_rule(PhoneLine, Rule("phone__company_id", lambda v: Q(sip_user_id=v.sip_user_id)))
register_rule(DectBase, Rule("company_id"))
register_rule(DectMember, Rule("base__company_id"))
