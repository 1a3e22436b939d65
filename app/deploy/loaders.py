"""DataLoaders of deploy jobs: one statement per level, through the caller's scope."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tortoise.queryset import QuerySet

from app.core.context import Info, loaders_of
from app.core.pagination import Connection, OrderKey, PageArgs, paginate_nested
from app.deploy import models

T = TypeVar("T")

NEWEST_FIRST = [OrderKey("id", descending=True)]


async def phone_deploy_jobs(
    info: Info, phone_id: int, args: PageArgs, to_node: Callable[[models.DeployJob], T]
) -> Connection[T]:
    """A phone's jobs, newest first (``Phone.deployJobs``).

    One query loads the page of every phone of the page (per page arguments), so a list
    of phones costs the same number of queries whatever its length, and reads only the
    jobs it returns.
    """
    async def load(
        jobs: QuerySet[models.DeployJob], phone_ids: list[int]
    ) -> list[Connection[T]]:
        return await paginate_nested(
            jobs, "phone_id", phone_ids, args, NEWEST_FIRST, to_node
        )

    loader = loaders_of(info).batch(("phone_deploy_jobs", args), models.DeployJob, load)
    return await loader.load(phone_id)
