"""Profiles: create, change and delete phone profiles."""

from __future__ import annotations

import strawberry

from app.core.context import Info, viewer_of
from app.core.errors import returns_user_errors
from app.core.ids import to_global_id
from app.core.inputs import provided
from app.core.types import DeletePayload
from app.profiles import service
from app.profiles.inputs import PhoneProfileInput
from app.profiles.types import (
    PhoneProfile,
    PhoneProfilePayload,
)


@strawberry.type
class ProfilesMutation:
    @strawberry.mutation(description="Create a profile for a SIP user (USER tokens: their own).")
    @returns_user_errors(PhoneProfilePayload)
    async def phone_profile_create(
        self, info: Info, input: PhoneProfileInput
    ) -> PhoneProfilePayload:
        row = await service.profile_create(viewer_of(info), provided(input))
        return PhoneProfilePayload(phone_profile=PhoneProfile.from_model(row))

    @strawberry.mutation(description="Change the fields sent; the others stay as they are.")
    @returns_user_errors(PhoneProfilePayload)
    async def phone_profile_update(
        self, info: Info, id: strawberry.ID, input: PhoneProfileInput
    ) -> PhoneProfilePayload:
        row = await service.profile_update(viewer_of(info), id, provided(input))
        return PhoneProfilePayload(phone_profile=PhoneProfile.from_model(row))

    @strawberry.mutation(
        description="Delete a profile. Phones using it keep their config but no longer "
        "name it as their active profile. Refused (IN_USE) while a deploy of it is unfinished."
    )
    @returns_user_errors(DeletePayload)
    async def phone_profile_delete(self, info: Info, id: strawberry.ID) -> DeletePayload:
        pk = await service.profile_delete(viewer_of(info), id)
        return DeletePayload(deleted_id=strawberry.ID(to_global_id("PhoneProfile", pk)))
