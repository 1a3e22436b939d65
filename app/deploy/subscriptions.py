"""Deploy: live progress of jobs, streamed from the event bus."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from graphql import GraphQLError

from app.core.auth import Viewer
from app.core.context import Info, viewer_of
from app.core.events import get_bus
from app.core.ids import parse_global_id
from app.core.metrics import SUBSCRIPTIONS
from app.core.scalars import MacAddress
from app.core.scope import get_visible, sees_everything, visible
from app.deploy import models
from app.deploy.enums import FINAL_STEPS
from app.deploy.types import (
    DeployEvent,
)
from app.devices.models import Phone as PhoneRow

# A subscriber that heard nothing for this long re-reads the job's events from the
# database, so a message lost on the bus (a Redis reconnect) cannot stall it.
RESYNC_SECONDS = 5.0


def _not_found(what: str) -> GraphQLError:
    return GraphQLError(f"{what} not found", extensions={"code": "NOT_FOUND"})


class _Scope:
    """Whether the viewer may see a job's events: the DeployJob scope rule, asked of the
    database once per job (not at all when the viewer sees every job)."""

    def __init__(self, viewer: Viewer) -> None:
        self.viewer = viewer
        self._all = sees_everything(models.DeployJob, viewer)
        self._known: dict[int, bool] = {}

    async def allows(self, message: dict[str, Any]) -> bool:
        if self._all:
            return True
        job_id = int(message["job_id"])
        if job_id not in self._known:
            if len(self._known) >= 10_000:  # a long-lived subscription stays bounded
                self._known.clear()
            self._known[job_id] = (
                await visible(models.DeployJob, self.viewer).filter(id=job_id).exists()
            )
        return self._known[job_id]


def _is_event(message: dict[str, Any]) -> bool:
    return message.get("kind") == "deploy_event" and "job_id" in message and "id" in message


@strawberry.type(name="Subscription", description="Live deploy progress.")
class DeploySubscription:
    @strawberry.subscription(
        description="Every event of one job, the past ones first; completes after the job's "
        "final event."
    )
    async def deploy_job_progress(
        self, info: Info, job_id: strawberry.ID
    ) -> AsyncGenerator[DeployEvent, None]:
        viewer = viewer_of(info)
        parsed = parse_global_id(str(job_id))
        job = None
        if parsed is not None and parsed[0] == "DeployJob":
            job = await get_visible(models.DeployJob, viewer, parsed[1])
        if job is None:
            raise _not_found("DeployJob")
        SUBSCRIPTIONS.inc()
        try:
            # Listen first, then read the past: an event stored in between is in both,
            # and the ids tell the copies apart.
            async with get_bus().subscribe() as queue:
                last_id = 0
                pending = await models.DeployEvent.filter(job_id=job.id).order_by("id")
                while True:
                    for row in pending:
                        if row.id <= last_id:
                            continue
                        last_id = row.id
                        info.context.fresh_loaders()
                        yield DeployEvent.from_model(row)
                        if models.DeployStep(row.step) in FINAL_STEPS:
                            return
                    pending = []
                    try:
                        async with asyncio.timeout(RESYNC_SECONDS):
                            message = await queue.get()
                    except TimeoutError:
                        pending = await models.DeployEvent.filter(
                            job_id=job.id, id__gt=last_id
                        ).order_by("id")
                        continue
                    if not _is_event(message) or message["job_id"] != job.id:
                        continue
                    if message["id"] <= last_id:
                        continue
                    # Read the stored events up to this one: one lost on the bus before
                    # it (a Redis reconnect) is then yielded too, in order.
                    pending = await models.DeployEvent.filter(
                        job_id=job.id, id__gt=last_id, id__lte=message["id"]
                    ).order_by("id")
        finally:
            SUBSCRIPTIONS.dec()

    @strawberry.subscription(
        description="Live events of every job on one phone, or on every phone the caller "
        "may see when mac is omitted. Never completes by itself."
    )
    async def phone_events(
        self, info: Info, mac: MacAddress | None = None
    ) -> AsyncGenerator[DeployEvent, None]:
        viewer = viewer_of(info)
        phone_id = None
        if mac is not None:
            phone = await visible(PhoneRow, viewer).get_or_none(mac=str(mac))
            if phone is None:
                raise _not_found("Phone")
            phone_id = phone.id
        scope = _Scope(viewer)
        SUBSCRIPTIONS.inc()
        try:
            async with get_bus().subscribe() as queue:
                while True:
                    message = await queue.get()
                    if not _is_event(message):
                        continue
                    if phone_id is not None and message.get("phone_id") != phone_id:
                        continue
                    if not await scope.allows(message):
                        continue
                    info.context.fresh_loaders()
                    yield DeployEvent.from_bus(message)
        finally:
            SUBSCRIPTIONS.dec()
