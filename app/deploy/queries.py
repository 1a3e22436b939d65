"""Read side of deploy jobs."""

from __future__ import annotations

from app.core.context import Info, viewer_of
from app.core.errors import BadRequestError
from app.core.pagination import Connection, OrderKey, PageArgs, paginate, paginate_nested
from app.core.scalars import normalize_mac
from app.core.scope import visible
from app.deploy import models
from app.deploy.types import DeployJob, DeployJobFilter

NEWEST_FIRST = [OrderKey("id", descending=True)]


async def phone_deploy_jobs(
    info: Info, phone_id: int, *, first: int | None = None, after: str | None = None
) -> Connection[DeployJob]:
    """A phone's jobs, newest first (``Phone.deployJobs``).

    One query loads the page of every phone of the page (per page arguments), so a list
    of phones costs the same number of queries whatever its length, and reads only the
    jobs it returns.
    """
    viewer = viewer_of(info)
    args = PageArgs(first, after)

    async def load(phone_ids: list[int]) -> list[Connection[DeployJob]]:
        qs = visible(models.DeployJob, viewer)
        return await paginate_nested(
            qs, "phone_id", phone_ids, args, NEWEST_FIRST, DeployJob.from_model
        )

    return await info.context.loaders.get(("phone_deploy_jobs", args), load).load(phone_id)


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
