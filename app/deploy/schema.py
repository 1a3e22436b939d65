"""Deploy: queries, mutations and the live-progress subscriptions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from graphql import GraphQLError

from app.core.auth import Viewer
from app.core.context import Info, viewer_of
from app.core.errors import returns_user_errors
from app.core.events import get_bus
from app.core.ids import parse_global_id
from app.core.metrics import SUBSCRIPTIONS
from app.core.pagination import Connection
from app.core.scalars import MacAddress
from app.core.scope import get_visible, sees_everything, visible
from app.deploy import models, queries, service
from app.deploy.types import (
    FINAL_STEPS,
    BulkDeployPayload,
    DeployEvent,
    DeployJob,
    DeployJobFilter,
    DeployJobPayload,
    PhoneProfileDeployPayload,
)
from app.devices.models import Phone as PhoneRow
from app.devices.types import Phone, PhoneFilter
from app.profiles.types import PhoneProfile

# A subscriber that heard nothing for this long re-reads the job's events from the
# database, so a message lost on the bus (a Redis reconnect) cannot stall it.
RESYNC_SECONDS = 5.0


def _not_found(what: str) -> GraphQLError:
    return GraphQLError(f"{what} not found", extensions={"code": "NOT_FOUND"})


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


async def _ended(job: models.DeployJob) -> str | None:
    """What ``restart`` reports for an ended job: "ok", the error, or the final message."""
    if job.restart is not None:
        return job.restart
    last = await models.DeployEvent.filter(job_id=job.id).order_by("-id").first()
    return last.message if last else None


@strawberry.type
class DeployMutation:
    @strawberry.mutation(
        description="The profile switch: upload the profile's cnfXml as SEP<MAC>.cnf.xml to "
        "the config target, clear the phone's services session (Cisco), restart the phone. "
        "Returns at once with the QUEUED job; with wait: true it returns when the job has "
        'ended and `restart` holds "ok" or the error message. Refused with INCOMPATIBLE '
        "when the profile does not fit the phone's model or software type."
    )
    @returns_user_errors(PhoneProfileDeployPayload)
    async def phone_profile_deploy(
        self,
        info: Info,
        profile_id: strawberry.ID,
        mac: MacAddress,
        wait: bool | None = False,
    ) -> PhoneProfileDeployPayload:
        job, profile, phone = await service.deploy_profile(viewer_of(info), profile_id, mac)
        restart = None
        if wait:
            job = await service.wait_for_job(job.id)
            restart = await _ended(job)
            phone = await PhoneRow.get(id=phone.id)
        return PhoneProfileDeployPayload(
            job=DeployJob.from_model(job),
            phone_profile=PhoneProfile.from_model(profile),
            phone=Phone.from_model(phone),
            restart=restart,
        )

    @strawberry.mutation(description="Restart a phone and wait for it to come back (a job).")
    @returns_user_errors(DeployJobPayload)
    async def phone_reboot(self, info: Info, mac: MacAddress) -> DeployJobPayload:
        job = await service.reboot(viewer_of(info), mac)
        return DeployJobPayload(job=DeployJob.from_model(job))

    @strawberry.mutation(
        description="Render the phone's template, upload it under its model's file name, "
        "clear the services session (Cisco) and restart the phone (a job)."
    )
    @returns_user_errors(DeployJobPayload)
    async def phone_reprovision(self, info: Info, mac: MacAddress) -> DeployJobPayload:
        job = await service.reprovision(viewer_of(info), mac)
        return DeployJobPayload(job=DeployJob.from_model(job))

    @strawberry.mutation(
        description="Reprovision every ACTIVE phone (with a model) the filter matches: one "
        "job each, run PHONEGRAPH_DEPLOY_CONCURRENCY at a time."
    )
    @returns_user_errors(BulkDeployPayload)
    async def phones_reprovision(
        self, info: Info, filter: PhoneFilter | None = None
    ) -> BulkDeployPayload:
        jobs = await service.reprovision_many(viewer_of(info), filter)
        return BulkDeployPayload(job_count=len(jobs), job_ids=[j.id for j in jobs])

    @strawberry.mutation(
        description="Cancel a job: a QUEUED one at once, a RUNNING one before its next step "
        "(steps done stay done). An ended job is a CONFLICT."
    )
    @returns_user_errors(DeployJobPayload)
    async def deploy_job_cancel(self, info: Info, id: strawberry.ID) -> DeployJobPayload:
        job = await service.cancel(viewer_of(info), id)
        return DeployJobPayload(job=DeployJob.from_model(job))


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
