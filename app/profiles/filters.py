"""Filters of phone profile lists."""

from __future__ import annotations

import strawberry

from app.devices.enums import SoftwareType


@strawberry.input(description="Which profiles to list (all conditions must hold).")
class PhoneProfileFilter:
    owner_id: strawberry.ID | None = strawberry.field(
        default=None, description="Profiles of this SIP user."
    )
    software_type: SoftwareType | None = strawberry.field(
        default=None,
        description="Profiles usable with this software type (including those made for "
        "every software type).",
    )
    compatible_with_model: str | None = strawberry.field(
        default=None,
        description="Profiles that fit this model name (including those made for every model).",
    )
    search: str | None = strawberry.field(
        default=None, description="Matches the name or description, ignoring case."
    )
