"""DataLoaders of phone profiles: one query per level, through the caller's scope."""

from __future__ import annotations

from collections import defaultdict

from strawberry.dataloader import DataLoader
from tortoise.queryset import QuerySet

from app.core.context import Info, loaders_of
from app.profiles.models import PhoneProfile


def user_profiles(info: Info) -> DataLoader[int, list[PhoneProfile]]:
    """Visible phone profiles each user owns, by name."""

    async def load(rows: QuerySet[PhoneProfile], keys: list[int]) -> list[list[PhoneProfile]]:
        groups: dict[int, list[PhoneProfile]] = defaultdict(list)
        for row in await rows.filter(owner_id__in=keys).order_by("name", "id"):
            groups[row.owner_id].append(row)  # type: ignore[attr-defined]
        return [groups.get(k, []) for k in keys]

    return loaders_of(info).batch("profiles.user_profiles", PhoneProfile, load)
