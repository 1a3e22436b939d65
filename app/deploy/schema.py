"""Deploy: the query fields (to join queries.py)."""

from __future__ import annotations

import strawberry

from app.core.context import Info
from app.core.pagination import Connection
from app.deploy import queries
from app.deploy.filters import DeployJobFilter
from app.deploy.types import (
    DeployJob,
)

# A subscriber that heard nothing for this long re-reads the job's events from the
# database, so a message lost on the bus (a Redis reconnect) cannot stall it.
RESYNC_SECONDS = 5.0


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
        return await queries.deploy_jobs(
            info, first=first, after=after, last=last, before=before, filter=filter
        )
