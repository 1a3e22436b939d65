"""Profiles: the query fields."""

from __future__ import annotations

import strawberry

from app.core.context import Info, viewer_of
from app.core.pagination import Connection, OrderKey, PageArgs, paginate
from app.profiles import service
from app.profiles.filters import PhoneProfileFilter
from app.profiles.types import (
    PhoneProfile,
)


@strawberry.type
class ProfilesQuery:
    @strawberry.field(description="Phone profiles the caller may see, by name.")
    async def phone_profiles(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: PhoneProfileFilter | None = None,
    ) -> Connection[PhoneProfile]:
        qs = await service.filter_profiles(viewer_of(info), filter)
        return await paginate(
            qs, PageArgs(first, after, last, before), [OrderKey("name")], PhoneProfile.from_model
        )
