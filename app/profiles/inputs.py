"""GraphQL inputs of phone profiles (partial on update: omitted = unchanged)."""

from __future__ import annotations

import strawberry

from app.devices.enums import SoftwareType


@strawberry.input(description="A profile's fields (partial on update: omitted = unchanged).")
class PhoneProfileInput:
    owner_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="Required on create (USER tokens: defaults to their own SIP user).",
    )
    name: str | None = strawberry.field(default=strawberry.UNSET, description="Required on create.")
    description: str | None = strawberry.UNSET
    cnf_xml: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Required on create; well-formed XML whose root is <device>, at most "
        "256 KiB, without DOCTYPE.",
    )
    compatible_models: list[str] | None = strawberry.field(
        default=strawberry.UNSET, description="Model names; empty or null means every model."
    )
    software_type: SoftwareType | None = strawberry.field(
        default=strawberry.UNSET, description="null means every software type."
    )
