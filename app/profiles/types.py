"""GraphQL types of phone profiles (Extension Mobility)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.core.context import Info, loaders_of
from app.core.errors import payload_type
from app.core.extend import field_of
from app.core.ids import to_global_id
from app.core.node import Node, register_node
from app.devices.enums import SoftwareType
from app.devices.types import Phone
from app.pbx.models import SipUser as SipUserRow
from app.pbx.types import SipUser
from app.profiles import loaders, models


def _software_type(value: str | None) -> SoftwareType | None:
    return SoftwareType(str(value)) if value else None


@strawberry.type(
    description="A user's full Cisco SEP<MAC>.cnf.xml, deployable to any desk phone it fits "
    "(the Extension Mobility profile switch)."
)
class PhoneProfile(Node):
    id: strawberry.ID
    name: str
    description: str | None
    cnf_xml: str = strawberry.field(
        description="The whole config, stored and uploaded byte for byte: well-formed XML "
        "whose root is <device>, at most 256 KiB."
    )
    compatible_models: list[str] = strawberry.field(
        description="Model names this profile fits; empty means every model."
    )
    software_type: SoftwareType | None = strawberry.field(
        description="null means every software type."
    )
    created_at: datetime
    updated_at: datetime
    row: strawberry.Private[models.PhoneProfile]

    @classmethod
    def from_model(cls, row: models.PhoneProfile) -> PhoneProfile:
        return cls(
            id=strawberry.ID(to_global_id("PhoneProfile", row.id)),
            name=row.name,
            description=row.description,
            cnf_xml=row.cnf_xml,
            compatible_models=list(row.compatible_models or []),
            software_type=_software_type(row.software_type),
            created_at=row.created_at,
            updated_at=row.updated_at,
            row=row,
        )

    @strawberry.field(description="The SIP user whose profile this is.")
    async def owner(self, info: Info) -> SipUser:
        # A profile the caller sees is its own or one of its company's users' (scope).
        row = await loaders_of(info).one(SipUserRow, self.row.owner_id)  # type: ignore[attr-defined]
        return SipUser.from_model(row)


register_node("PhoneProfile", models.PhoneProfile, PhoneProfile.from_model)


# ---------------------------------------------------------------- on lower domains' types


@field_of(SipUser, name="phone_profiles", description="Extension Mobility profiles the user owns.")
async def user_phone_profiles(self: SipUser, info: Info) -> list[PhoneProfile]:
    rows = await loaders.user_profiles(info, self.row.id)
    return [PhoneProfile.from_model(r) for r in rows]


@field_of(
    Phone, name="active_profile", description="The Extension Mobility profile last deployed to it."
)
async def phone_active_profile(self: Phone, info: Info) -> PhoneProfile | None:
    row = await loaders_of(info).one(models.PhoneProfile, self.row.active_profile_id)  # type: ignore[attr-defined]
    return PhoneProfile.from_model(row) if row else None


PhoneProfilePayload = payload_type("PhoneProfilePayload", "phone_profile", PhoneProfile)
