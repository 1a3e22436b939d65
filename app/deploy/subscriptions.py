"""Deploy: live progress of jobs, streamed from the event bus."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from graphql import GraphQLError

from app.core.auth import Viewer
from app.core.context import Info, viewer_of
from app.core.events import RESYNC, get_bus, is_resync
from app.core.ids import decode_arg, parse_global_id
from app.core.metrics import SUBSCRIPTIONS
from app.core.scalars import MacAddress
from app.core.scope import get_visible, sees_everything, visible
from app.deploy import models
from app.deploy.enums import FINAL_STEPS
from app.deploy.rollout_events import is_rollout_change
from app.deploy.rollouts import counts_of
from app.deploy.types import (
    DeployEvent,
    Rollout,
)
from app.devices.models import Phone as PhoneRow

# A subscriber that heard nothing for this long re-reads the job's events from the
# database, so a message lost on the bus (a Redis reconnect) cannot stall it.
RESYNC_SECONDS = 5.0
# How far back a phoneEvents stream remembers what it sent (see _Resume).
HORIZON_SECONDS = 60.0
# Stored events read per query when a stream catches up.
RESYNC_PAGE = 500


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


class _Resume:
    """Where a ``phoneEvents`` stream re-reads the database after messages were lost.

    Events can reach the bus out of id order (several processes store them, and an id
    is taken before its transaction commits), but each is published within seconds of
    taking its id. So every event with an id above ``floor`` — the greatest id this
    stream yielded at least :data:`HORIZON_SECONDS` ago — was either yielded recently
    (``recent``) or not at all; below it nothing can be missing, as long as the bus was
    not gone for longer than the horizon.
    """

    def __init__(self, floor: int) -> None:
        self.floor = floor
        self.recent: dict[int, float] = {}  # event id -> when it was yielded, in that order

    def __contains__(self, event_id: int) -> bool:
        return event_id in self.recent

    def yielded(self, event_id: int) -> None:
        now = time.monotonic()
        self.recent[event_id] = now
        while self.recent:
            old, at = next(iter(self.recent.items()))  # the oldest
            if at > now - HORIZON_SECONDS:
                break
            del self.recent[old]
            self.floor = max(self.floor, old)


def _is_event(message: dict[str, Any]) -> bool:
    return message.get("kind") == "deploy_event" and "job_id" in message and "id" in message


@strawberry.type(name="Subscription", description="Live deploy progress.")
class DeploySubscription:
    @strawberry.subscription(
        description="Every event of one job, the past ones first; completes after the job's "
        "final event (or when the job is deleted)."
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
                        if not await models.DeployJob.exists(id=job.id):
                            return  # deleted (with its company): no end will come
                        message = RESYNC
                    if is_resync(message):
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
        "may see when mac is omitted. With after (a DeployEvent id), the stored events "
        "after that one come first, so a client that lost its connection resumes without "
        "a gap. Events missed while the server's own event bus was interrupted are read "
        "from the database and sent too. Never completes by itself."
    )
    async def phone_events(
        self, info: Info, mac: MacAddress | None = None, after: strawberry.ID | None = None
    ) -> AsyncGenerator[DeployEvent, None]:
        viewer = viewer_of(info)
        phone_id = None
        if mac is not None:
            phone = await visible(PhoneRow, viewer).get_or_none(mac=str(mac))
            if phone is None:
                raise _not_found("Phone")
            phone_id = phone.id
        after_id = decode_arg(str(after), "DeployEvent", "after") if after is not None else None
        scope = _Scope(viewer)

        def stored(floor: int) -> Any:
            rows = visible(models.DeployEvent, viewer).filter(id__gt=floor)
            if phone_id is not None:
                rows = rows.filter(job__phone_id=phone_id)
            return rows.order_by("id").limit(RESYNC_PAGE)

        SUBSCRIPTIONS.inc()
        try:
            async with get_bus().subscribe() as queue:
                if after_id is None:
                    newest = await models.DeployEvent.all().order_by("-id").first()
                    resume = _Resume(newest.id if newest else 0)
                    message: dict[str, Any] | None = None
                else:
                    resume = _Resume(after_id)
                    message = RESYNC  # the stored events after it, first
                while True:
                    if message is None:
                        message = await queue.get()
                    if is_resync(message):
                        floor = resume.floor
                        while True:
                            page = await stored(floor)
                            for row in page:
                                floor = row.id
                                if row.id in resume:
                                    continue
                                resume.yielded(row.id)
                                info.context.fresh_loaders()
                                yield DeployEvent.from_model(row)
                            if len(page) < RESYNC_PAGE:
                                break
                        message = None
                        continue
                    current, message = message, None
                    if not _is_event(current) or current["id"] in resume:
                        continue
                    if phone_id is not None and current.get("phone_id") != phone_id:
                        continue
                    if not await scope.allows(current):
                        continue
                    resume.yielded(current["id"])
                    info.context.fresh_loaders()
                    yield DeployEvent.from_bus(current)
        finally:
            SUBSCRIPTIONS.dec()

    @strawberry.subscription(
        description="The rollout now, then again whenever one of its counts or its status "
        "(or its current batch) changes, whichever server process changed it; completes "
        "after it ended (SUCCEEDED, FAILED or ABORTED)."
    )
    async def rollout_progress(
        self, info: Info, id: strawberry.ID
    ) -> AsyncGenerator[Rollout, None]:
        viewer = viewer_of(info)
        parsed = parse_global_id(str(id))
        row = None
        if parsed is not None and parsed[0] == "Rollout":
            row = await get_visible(models.Rollout, viewer, parsed[1])
        if row is None:
            raise _not_found("Rollout")
        rollout_id = row.id
        SUBSCRIPTIONS.inc()
        try:
            # Listen first, then read: a change in between is heard and read again.
            async with get_bus().subscribe() as queue:
                sent: tuple[Any, ...] | None = None
                while True:
                    row = await models.Rollout.get_or_none(id=rollout_id)
                    if row is None:
                        return  # deleted (with its company)
                    counts = (await counts_of([rollout_id]))[rollout_id]
                    state = (row.status, row.current_batch, counts, counts.skipped(row))
                    if state != sent:
                        sent = state
                        info.context.fresh_loaders()
                        yield Rollout.from_model(row, counts)
                    if models.RolloutStatus(row.status).is_final:
                        return
                    # Wait for news of this rollout (or re-read after a while anyway:
                    # a message lost on the bus cannot stall the stream).
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(RESYNC_SECONDS):
                            while True:
                                message = await queue.get()
                                if is_resync(message) or is_rollout_change(message, rollout_id):
                                    break
        finally:
            SUBSCRIPTIONS.dec()
