"""GraphQL types of deploy jobs and their events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import strawberry
from graphql import GraphQLError

from app.core.context import Info, loaders_of, viewer_of
from app.core.errors import UserError, UserInputError, payload_type
from app.core.extend import field_of
from app.core.ids import to_global_id
from app.core.models import Role
from app.core.node import Node, register_node
from app.core.pagination import Connection, OrderKey, PageArgs, paginate
from app.core.scalars import MacAddress, format_mac
from app.core.scope import visible
from app.deploy import loaders, models
from app.deploy.enums import (
    FINAL_STEPS,
    ConfigRevisionReason,
    DeployJobKind,
    DeployJobStatus,
    DeployStep,
    RolloutStatus,
)
from app.deploy.rollouts import Counts, counts_of
from app.devices.models import Phone as PhoneRow
from app.devices.models import PhoneLine as PhoneLineRow
from app.devices.types import Phone
from app.profiles.models import PhoneProfile as ProfileRow
from app.profiles.types import PhoneProfile


async def _job_phone(info: Info, job: models.DeployJob) -> PhoneRow:
    """The phone of a job the caller sees. A hot-desking USER sees the jobs of its own
    profiles on shared phones it has no line on, which the Phone scope hides: the job
    vouches for the phone, and the phone's type shows such a USER no address or login."""
    row = await loaders_of(info).unscoped_one(
        PhoneRow,
        job.phone_id,  # type: ignore[attr-defined]
        reason="the caller sees the job, which names its phone",
    )
    assert row is not None  # the foreign key cascades
    return row


async def _shows_phone_details(info: Info, job: models.DeployJob) -> bool:
    """Whether the caller may read the phone's address in the job's texts: admins (the
    job is in their scope), and a USER with a line on the phone (as ``Phone.ipAddress``)."""
    viewer = viewer_of(info)
    if viewer.role != Role.USER:
        return True
    lines = await loaders_of(info).children(
        PhoneLineRow,
        "phone_id",
        job.phone_id,  # type: ignore[attr-defined]
        ("port",),
    )
    return bool(lines)


async def redact_phone_address(info: Info, job: models.DeployJob, text: str | None) -> str | None:
    """``text`` with the phone's address taken out, for a caller that may not read it."""
    if text is None or await _shows_phone_details(info, job):
        return text
    phone = await _job_phone(info, job)
    if phone.ip_address:
        text = text.replace(phone.ip_address, "the phone")
    return text


def _job_text(column: str) -> Callable[..., Awaitable[str | None]]:
    async def resolve(self: DeployJob, info: Info) -> str | None:
        return await redact_phone_address(info, self.row, getattr(self.row, column))

    resolve.__name__ = column
    return resolve


async def _event_message(self: DeployEvent, info: Info) -> str | None:
    if self.text is None:
        return None
    job = await loaders_of(info).one(models.DeployJob, self.job_id, "events")
    return await redact_phone_address(info, job, self.text) if job is not None else None


@strawberry.type(
    description="A durable job working on one phone. Jobs of one phone run one at a time, "
    "in the order they were asked for: a request made while another job of the phone is "
    "unfinished waits (QUEUED) behind it."
)
class DeployJob(Node):
    id: strawberry.ID
    kind: DeployJobKind
    status: DeployJobStatus
    restart: str | None = strawberry.field(
        resolver=_job_text("restart"),
        description='"ok" once the phone is back, or the error message of the step that failed.',
    )
    error: str | None = strawberry.field(
        resolver=_job_text("error"), description="The failure message, when it failed."
    )
    cancel_requested: bool = strawberry.field(
        description="Cancelling was asked for while it ran; it stops before its next step."
    )
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    row: strawberry.Private[models.DeployJob]

    @classmethod
    def from_model(cls, row: models.DeployJob) -> DeployJob:
        return cls(
            id=strawberry.ID(to_global_id("DeployJob", row.id)),
            kind=models.DeployJobKind(row.kind),
            status=models.DeployJobStatus(row.status),
            cancel_requested=row.cancel_requested,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            row=row,
        )

    @strawberry.field(description="The phone the job works on.")
    async def phone(self, info: Info) -> Phone:
        row = await _job_phone(info, self.row)
        return Phone.from_model(row)

    @strawberry.field(description="The profile deployed (PROFILE_DEPLOY jobs), if visible.")
    async def profile(self, info: Info) -> PhoneProfile | None:
        row = await loaders_of(info).one(ProfileRow, self.row.profile_id)  # type: ignore[attr-defined]
        return PhoneProfile.from_model(row) if row else None

    @strawberry.field(description="The MAC address of the phone.")
    async def mac(self, info: Info) -> MacAddress:
        row = await _job_phone(info, self.row)
        return MacAddress(format_mac(row.mac))

    @strawberry.field(description="Who asked for the job (the API token's name).")
    def requested_by(self) -> str | None:
        return self.row.requested_by

    @strawberry.field(description="Every event of the job so far, oldest first.")
    async def events(self, info: Info) -> list[DeployEvent]:
        rows = await loaders_of(info).children(models.DeployEvent, "job_id", self.row.id)
        return [DeployEvent.from_model(r) for r in rows]

    @strawberry.field(
        description="The rollout the job is part of (phonesReprovision, phonesReboot)."
    )
    async def rollout(self, info: Info) -> Rollout | None:
        row = await loaders_of(info).one(models.Rollout, self.row.rollout_id)  # type: ignore[attr-defined]
        return Rollout.from_model(row) if row else None


register_node("DeployJob", models.DeployJob, DeployJob.from_model)


@strawberry.type(description="One step of a deploy job, as it happened.")
class DeployEvent:
    step: DeployStep
    message: str | None = strawberry.field(
        resolver=_event_message,
        description="What happened: the failure message on FAILED, details on other steps.",
    )
    at: datetime
    job_id: strawberry.Private[int]
    event_id: strawberry.Private[int]
    text: strawberry.Private[str | None]

    @classmethod
    def from_model(cls, row: models.DeployEvent) -> DeployEvent:
        return cls(
            step=models.DeployStep(row.step),
            text=row.message,
            at=row.at,
            job_id=row.job_id,  # type: ignore[attr-defined]
            event_id=row.id,
        )

    @classmethod
    def from_bus(cls, event: dict[str, Any]) -> DeployEvent:
        """From an event bus message (``app.deploy.pipeline.bus_message``)."""
        return cls(
            step=models.DeployStep(event["step"]),
            text=event.get("message"),
            at=datetime.fromisoformat(event["at"]),
            job_id=int(event["job_id"]),
            event_id=int(event["id"]),
        )

    @property
    def shared_key(self) -> tuple[str, int]:
        """The same event for every subscriber (see app.core.execution)."""
        return ("DeployEvent", self.event_id)

    @strawberry.field(
        description="Identifies the event; later events have greater ids in the order the "
        "server stored them. Give it as phoneEvents(after:) to resume a stream after it."
    )
    def id(self) -> strawberry.ID:
        return strawberry.ID(to_global_id("DeployEvent", self.event_id))

    @strawberry.field(description="The job this event belongs to.")
    async def job(self, info: Info) -> DeployJob:
        row = await loaders_of(info).one(models.DeployJob, self.job_id)
        return DeployJob.from_model(row)

    @strawberry.field(description="Whether this is the job's last event.")
    def is_final(self) -> bool:
        return self.step in FINAL_STEPS


DeployJobPayload = payload_type("DeployJobPayload", "job", DeployJob)


@strawberry.type
class PhoneProfileDeployPayload:
    job: DeployJob | None = None
    phone_profile: PhoneProfile | None = None
    phone: Phone | None = None
    restart: str | None = strawberry.field(
        default=None,
        description='Set when wait: true — "ok" or the error message (null if the job was '
        "cancelled or interrupted, or had not ended after PHONEGRAPH_WAIT_TIMEOUT seconds: "
        "see job.status).",
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)


async def _rollout_counts(info: Info, rollout_id: int) -> Counts:
    async def load(rows: Any, ids: list[int]) -> list[Counts]:
        del rows  # the rollout itself was read through the scope
        found = await counts_of(ids)
        return [found[i] for i in ids]

    return await loaders_of(info).batch("counts", models.Rollout, load).load(rollout_id)


def _count(name: str, description: str) -> Any:
    async def resolve(self: Rollout, info: Info) -> int:
        counts = self.counts or await _rollout_counts(info, self.row.id)
        return counts.skipped(self.row) if name == "skipped" else getattr(counts, name)

    resolve.__name__ = name
    return strawberry.field(resolver=resolve, description=description)


@strawberry.type(
    description="One kind of job on a fixed set of phones, batch by batch (CONTRACT §8). "
    "The counts are live: they are read from the rollout's jobs."
)
class Rollout(Node):
    id: strawberry.ID
    kind: DeployJobKind
    status: RolloutStatus
    batch_size: int = strawberry.field(description="Phones per batch.")
    batch_pause_seconds: int
    max_failures: int | None = strawberry.field(
        description="Failed (or interrupted) jobs tolerated; null: no limit."
    )
    start_at: datetime
    total: int = strawberry.field(description="Phones in the rollout, fixed when it was made.")
    batch_count: int
    current_batch: int = strawberry.field(description="0 before the first batch, then 1-based.")
    created_at: datetime
    finished_at: datetime | None
    queued: int = _count("queued", "Jobs waiting to start.")
    running: int = _count("running", "Jobs running now.")
    succeeded: int = _count("succeeded", "Jobs that ended SUCCEEDED.")
    failed: int = _count("failed", "Jobs that ended FAILED or INTERRUPTED.")
    cancelled: int = _count("cancelled", "Jobs cancelled (deployJobCancel, rolloutAbort).")
    skipped: int = _count(
        "skipped",
        "Phones that never got a job (once the rollout ended FAILED or ABORTED, or a "
        "phone that was no longer ACTIVE when its batch came).",
    )
    row: strawberry.Private[models.Rollout]
    counts: strawberry.Private[Counts | None] = None

    @classmethod
    def from_model(cls, row: models.Rollout, counts: Counts | None = None) -> Rollout:
        return cls(
            id=strawberry.ID(to_global_id("Rollout", row.id)),
            kind=models.DeployJobKind(row.kind),
            status=models.RolloutStatus(row.status),
            batch_size=row.batch_size,
            batch_pause_seconds=row.batch_pause_seconds,
            max_failures=row.max_failures,
            start_at=row.start_at,
            total=row.total,
            batch_count=row.batch_count,
            current_batch=row.current_batch,
            created_at=row.created_at,
            finished_at=row.finished_at,
            row=row,
            counts=counts,
        )

    @strawberry.field(description="Who asked for the rollout (the API token's name).")
    def requested_by(self) -> str | None:
        return self.row.requested_by

    @strawberry.field(
        description="The jobs of the rollout so far, in the order they were queued (later "
        "batches get theirs when they start)."
    )
    async def jobs(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[DeployJob]:
        qs = visible(models.DeployJob, viewer_of(info)).filter(rollout_id=self.row.id)
        return await paginate(qs, PageArgs(first, after), [OrderKey("id")], DeployJob.from_model)


register_node("Rollout", models.Rollout, Rollout.from_model)

RolloutPayload = payload_type("RolloutPayload", "rollout", Rollout)


@strawberry.type(
    description="What a bulk request (phonesReprovision, phonesReboot) made: one rollout "
    "with a job per phone, queued batch by batch."
)
class BulkDeployPayload:
    job_count: int = strawberry.field(
        default=0,
        description="Phones the filter matched: the jobs the rollout will run (phones that "
        "already had a QUEUED job of the same kind are left out: alreadyQueued).",
    )
    already_queued: int = strawberry.field(
        default=0,
        description="Phones the request matched that already had a QUEUED job of the same "
        "kind: they got no second one (asking again is safe).",
    )
    rollout: Rollout | None = strawberry.field(
        default=None, description="The rollout; null when no phone needed a job."
    )
    user_errors: list[UserError] = strawberry.field(default_factory=list)

    @strawberry.field(
        description="The jobs created so far, in the order they were queued (later batches "
        "get theirs when they start)."
    )
    async def jobs(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[DeployJob]:
        qs = visible(models.DeployJob, viewer_of(info))
        # No rollout (refused, or nothing to do): no jobs, not every job without one.
        if self.rollout is not None:
            qs = qs.filter(rollout_id=self.rollout.row.id)
        else:
            qs = qs.filter(id__in=[])
        return await paginate(qs, PageArgs(first, after), [OrderKey("id")], DeployJob.from_model)


# ---------------------------------------------------------------- on lower domains' types


@field_of(Phone, name="deploy_jobs", description="Deploy jobs of this phone, newest first.")
async def phone_deploy_jobs(
    self: Phone, info: Info, first: int | None = None, after: str | None = None
) -> Connection[DeployJob]:
    args = PageArgs(first, after)
    return await loaders.phone_deploy_jobs(info, self.row.id, args, DeployJob.from_model)


# ---------------------------------------------------------------- config history (§7)


@strawberry.type(
    description="A file the server wrote to a phone's config target (a profile deploy, a "
    "reprovision, a hot-desk login or logout, a rollback). The exact bytes are kept "
    "encrypted for phoneConfigRollback and are never shown."
)
class ConfigRevision(Node):
    id: strawberry.ID
    filename: str = strawberry.field(description="The name the file was written under.")
    sha256: str = strawberry.field(description="Hex SHA-256 of the exact bytes written.")
    size: int = strawberry.field(description="Bytes written.")
    content: str = strawberry.field(
        description="The file with every stored secret (SIP passwords, the phone's web "
        "password, the provisioning key) shown as ********."
    )
    diff: str = strawberry.field(
        description="Unified diff (---/+++ headers) of content against the phone's revision "
        "before it (every line added for the first); empty when they are equal."
    )
    reason: ConfigRevisionReason
    created_at: datetime
    row: strawberry.Private[models.ConfigRevision]

    @classmethod
    def from_model(cls, row: models.ConfigRevision) -> ConfigRevision:
        return cls(
            id=strawberry.ID(to_global_id("ConfigRevision", row.id)),
            filename=row.filename,
            sha256=row.sha256,
            size=row.size,
            content=row.content,
            diff=row.diff,
            reason=models.ConfigRevisionReason(row.reason),
            created_at=row.created_at,
            row=row,
        )

    @strawberry.field(description="The phone the file was written for.")
    async def phone(self, info: Info) -> Phone:
        row = await loaders_of(info).unscoped_one(
            PhoneRow,
            self.row.phone_id,  # type: ignore[attr-defined]
            reason="the caller sees the revision, which is scoped as its phone is",
        )
        assert row is not None  # the foreign key cascades
        return Phone.from_model(row)

    @strawberry.field(description="The job that wrote it, if the caller sees it.")
    async def job(self, info: Info) -> DeployJob | None:
        row = await loaders_of(info).one(models.DeployJob, self.row.job_id, "revision")  # type: ignore[attr-defined]
        return DeployJob.from_model(row) if row else None


register_node("ConfigRevision", models.ConfigRevision, ConfigRevision.from_model)


@strawberry.type(
    description="A phone's template rendered now, nothing written (secrets as ********)."
)
class ConfigPreview:
    filename: str = strawberry.field(description="The name the file would be written under.")
    content: str = strawberry.field(
        description="The rendered file with every stored secret shown as ********."
    )
    diff: str = strawberry.field(
        description="Unified diff (---/+++ headers) from the content of the phone's newest "
        "revision to this one (every line added when it has none); empty when they are equal."
    )
    changed: bool = strawberry.field(
        description="Whether a reprovision would write something else than the newest "
        "revision shows (true when the phone has no revision yet)."
    )


@field_of(
    Phone,
    name="config_revisions",
    description="The files the server wrote for this phone, newest first (the newest "
    "PHONEGRAPH_CONFIG_REVISIONS are kept; a phone moved to another company starts with "
    "none).",
)
async def phone_config_revisions(
    self: Phone, info: Info, first: int | None = None, after: str | None = None
) -> Connection[ConfigRevision]:
    args = PageArgs(first, after)
    return await loaders.phone_config_revisions(
        info, self.row.id, args, ConfigRevision.from_model
    )


@field_of(
    Phone,
    name="config_preview",
    description="The template rendered now, nothing written; null without a template.",
)
async def phone_config_preview(self: Phone, info: Info) -> ConfigPreview | None:
    try:
        preview = await loaders.phone_config_preview(info, self.row.id)
    except UserInputError as exc:
        # The phone's template cannot be rendered (or is another model's): an error of
        # this field, which says why, not an internal one.
        error = exc.errors[0]
        raise GraphQLError(str(exc), extensions={"code": error.code.value}) from None
    if preview is None:
        return None
    return ConfigPreview(
        filename=preview.filename,
        content=preview.content,
        diff=preview.diff,
        changed=preview.changed,
    )
