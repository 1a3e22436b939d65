"""GraphQL inputs of devices (partial on update: a field left out is left alone)."""

from __future__ import annotations

import strawberry

from app.core.scalars import MacAddress
from app.devices.enums import DectLanguage, ProvisioningInterface, Transport


@strawberry.input(description="A template's fields (partial on update).")
class PhoneTemplateInput:
    filename: str | None = strawberry.UNSET
    content: str | None = strawberry.UNSET
    model_id: strawberry.ID | None = strawberry.UNSET
    company_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="Create only: the company whose admins see and may assign the "
        "template; omitted: every company's.",
    )


@strawberry.input(
    description="A phone's fields. On update, a field left out is left alone and null "
    "clears it (the ports and the company cannot be cleared)."
)
class PhoneInput:
    mac: MacAddress | None = strawberry.field(default=strawberry.UNSET, description="Create only.")
    name: str | None = strawberry.UNSET
    company_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="Required for system admins; company admins' phones are their company's.",
    )
    model_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="Changing the model adds or removes lines (removed lines' users are freed).",
    )
    template_filename: str | None = strawberry.UNSET
    ip_address: str | None = strawberry.UNSET
    http_port: int | None = strawberry.field(default=strawberry.UNSET, description="Default 80.")
    sip_port: int | None = strawberry.field(default=strawberry.UNSET, description="Default 5060.")
    web_username: str | None = strawberry.UNSET
    web_password: str | None = strawberry.field(
        default=strawberry.UNSET, description="Write-only; stored encrypted."
    )
    timezone: str | None = strawberry.field(
        default=strawberry.UNSET, description='An IANA time zone, e.g. "Europe/London".'
    )
    language: str | None = strawberry.UNSET
    codecs: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description='Preferred codecs, best first, e.g. ["G722", "PCMA"].'
    )
    can_hotdesk: bool | None = strawberry.UNSET
    can_forward: bool | None = strawberry.UNSET


@strawberry.input(
    description="A DECT base's fields. Required on create: name, mac, timezone, tone, "
    "interface (and companyId for system admins). On update, a field left out is left "
    "alone and null clears it where that makes sense."
)
class DectBaseInput:
    name: str | None = strawberry.field(default=strawberry.UNSET, description="1..64 characters.")
    mac: MacAddress | None = strawberry.field(default=strawberry.UNSET, description="Create only.")
    company_id: strawberry.ID | None = strawberry.UNSET
    model_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="A DECT model of the catalogue."
    )
    template_filename: str | None = strawberry.UNSET
    password: str | None = strawberry.field(
        default=strawberry.UNSET, description="Web admin password; write-only."
    )
    user_password: str | None = strawberry.field(
        default=strawberry.UNSET, description="Write-only."
    )
    engineer_password: str | None = strawberry.field(
        default=strawberry.UNSET, description="Write-only."
    )
    timezone: str | None = strawberry.UNSET
    region: str | None = strawberry.UNSET
    language: DectLanguage | None = strawberry.field(
        default=strawberry.UNSET, description="Default ENGLISH."
    )
    handset_language: DectLanguage | None = strawberry.UNSET
    tone: str | None = strawberry.UNSET
    rps: bool | None = strawberry.UNSET
    https: bool | None = strawberry.UNSET
    codecs: list[str] | None = strawberry.UNSET
    interface: ProvisioningInterface | None = strawberry.UNSET
    preferred_transport: Transport | None = strawberry.field(
        default=strawberry.UNSET, description="Default UDP."
    )


@strawberry.input(description="A handset of a DECT base.")
class DectMemberInput:
    extension_number: str = strawberry.field(description="[0-9]{3,64}, unique per base.")
    handset_index: int | None = strawberry.field(
        default=None, description="Slot on the base, 1..1000, unique per base."
    )
    ipui: str | None = strawberry.field(
        default=None, description="The handset's IPUI, 10 hex digits, unique per base."
    )
