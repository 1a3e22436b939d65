"""Read side of deploy jobs."""

from __future__ import annotations

from collections import defaultdict

from tortoise.queryset import QuerySet

from app.core.context import Info, loaders_of, viewer_of
from app.core.errors import BadRequestError
from app.core.pagination import Connection, OrderKey, PageArgs, paginate, paginate_list
from app.core.scalars import normalize_mac
from app.core.scope import visible
from app.deploy import models
from app.deploy.filters import DeployJobFilter
from app.deploy.types import DeployJob

NEWEST_FIRST = [OrderKey("id", descending=True)]


async def phone_deploy_jobs(
    info: Info, phone_id: int, *, first: int | None = None, after: str | None = None
) -> Connection[DeployJob]:
    """A phone's jobs, newest first (``Phone.deployJobs``).

    One query loads the jobs of every phone of the page, so a list of phones costs the
    same number of queries whatever its length.
    """

    async def load(
        jobs: QuerySet[models.DeployJob], phone_ids: list[int]
    ) -> list[list[models.DeployJob]]:
        groups: dict[int, list[models.DeployJob]] = defaultdict(list)
        rows = jobs.filter(phone_id__in=phone_ids).order_by("-id")
        for row in await rows:
            groups[row.phone_id].append(row)  # type: ignore[attr-defined]
        return [groups.get(i, []) for i in phone_ids]

    rows = await loaders_of(info).batch("phone_deploy_jobs", models.DeployJob, load).load(phone_id)
    return paginate_list(rows, PageArgs(first, after), lambda j: [-j.id], DeployJob.from_model)


async def deploy_jobs(
    info: Info,
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    filter: DeployJobFilter | None = None,
) -> Connection[DeployJob]:
    """Jobs the caller may see, newest first."""
    qs = visible(models.DeployJob, viewer_of(info))
    if filter is not None:
        if filter.mac is not None:
            try:
                mac = normalize_mac(filter.mac)
            except ValueError as exc:
                raise BadRequestError(str(exc)) from None
            qs = qs.filter(phone__mac=mac)
        if filter.status is not None:
            qs = qs.filter(status=models.DeployJobStatus(filter.status))
        if filter.kind is not None:
            qs = qs.filter(kind=models.DeployJobKind(filter.kind))
    return await paginate(
        qs, PageArgs(first, after, last, before), NEWEST_FIRST, DeployJob.from_model
    )
