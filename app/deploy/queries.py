"""Deploy: the query fields and the reads behind them, always through the scope."""

from __future__ import annotations

import strawberry

from app.core.context import Info, viewer_of
from app.core.pagination import Connection, OrderKey, PageArgs, paginate
from app.core.scope import visible
from app.core.validation import mac_argument
from app.deploy import models
from app.deploy.filters import DeployJobFilter, RolloutFilter
from app.deploy.loaders import NEWEST_FIRST
from app.deploy.types import (
    DeployJob,
    Rollout,
)


async def _deploy_jobs(
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
            qs = qs.filter(phone__mac=mac_argument(filter.mac))
        if filter.status is not None:
            qs = qs.filter(status=models.DeployJobStatus(filter.status))
        if filter.kind is not None:
            qs = qs.filter(kind=models.DeployJobKind(filter.kind))
    return await paginate(
        qs, PageArgs(first, after, last, before), NEWEST_FIRST, DeployJob.from_model
    )


@strawberry.type
class DeployQuery:
    @strawberry.field(description="Deploy jobs the caller may see, newest first.")
    async def deploy_jobs(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: DeployJobFilter | None = None,
    ) -> Connection[DeployJob]:
        return await _deploy_jobs(
            info, first=first, after=after, last=last, before=before, filter=filter
        )

    @strawberry.field(
        description="Rollouts the caller may see (a company admin: its company's), newest first."
    )
    async def rollouts(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: RolloutFilter | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Rollout]:
        qs = visible(models.Rollout, viewer_of(info))
        if filter is not None and filter.status is not None:
            qs = qs.filter(status=models.RolloutStatus(filter.status))
        return await paginate(
            qs,
            PageArgs(first, after, last, before),
            [OrderKey("id", descending=True)],
            Rollout.from_model,
        )
