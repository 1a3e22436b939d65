"""DataLoaders of phone profiles: one query per level, through the caller's scope."""

from __future__ import annotations

from app.core.context import Info, loaders_of
from app.profiles.models import PhoneProfile


async def user_profiles(info: Info, user_id: int) -> list[PhoneProfile]:
    """Visible phone profiles a user owns, by name."""
    return await loaders_of(info).children(PhoneProfile, "owner_id", user_id, ("name",))
