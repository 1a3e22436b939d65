"""Read side of deploy jobs."""

from __future__ import annotations

from app.core.context import Info, viewer_of
from app.core.pagination import Connection, OrderKey, PageArgs, paginate
from app.core.scope import visible
from app.deploy import models
from app.deploy.types import DeployJob


async def phone_deploy_jobs(
    info: Info, phone_id: int, *, first: int | None = None, after: str | None = None
) -> Connection[DeployJob]:
    """A phone's jobs, newest first."""
    qs = visible(models.DeployJob, viewer_of(info)).filter(phone_id=phone_id)
    return await paginate(
        qs, PageArgs(first, after), [OrderKey("id", descending=True)], DeployJob.from_model
    )
