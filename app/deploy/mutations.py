"""Deploy: the mutations that queue, wait for and cancel jobs."""

from __future__ import annotations

import strawberry

from app.core.audit import commit_now
from app.core.context import Info, viewer_of
from app.core.errors import returns_user_errors
from app.core.scalars import MacAddress
from app.deploy import models, rollouts, service
from app.deploy.filters import RolloutInput
from app.deploy.types import (
    BulkDeployPayload,
    DeployJob,
    DeployJobPayload,
    PhoneProfileDeployPayload,
    Rollout,
    RolloutPayload,
    redact_phone_address,
)
from app.devices.filters import PhoneFilter
from app.devices.models import Phone as PhoneRow
from app.devices.types import Phone
from app.profiles.types import PhoneProfile
from app.settings import get_settings


async def _ended(job: models.DeployJob) -> str | None:
    """What ``restart`` reports for an ended job: "ok", the error, or the final message
    (nothing for a job that has not ended)."""
    if not models.DeployJobStatus(job.status).is_final:
        return None
    if job.restart is not None:
        return job.restart
    last = await models.DeployEvent.filter(job_id=job.id).order_by("-id").first()
    return last.message if last else None


async def _bulk(
    info: Info, flt: PhoneFilter | None, options: RolloutInput | None, kind: models.DeployJobKind
) -> BulkDeployPayload:
    created = await rollouts.create(viewer_of(info), flt, kind, options)
    row = created.rollout
    return BulkDeployPayload(
        job_count=row.total if row else 0,
        already_queued=created.already_queued,
        rollout=Rollout.from_model(row) if row else None,
    )


@strawberry.type
class DeployMutation:
    @strawberry.mutation(
        description="The profile switch: upload the profile's cnfXml as SEP<MAC>.cnf.xml to "
        "the config target, clear the phone's services session (Cisco), restart the phone. "
        "Returns at once with the QUEUED job; with wait: true it returns when the job has "
        'ended and `restart` holds "ok" or the error message — or after '
        "PHONEGRAPH_WAIT_TIMEOUT seconds (default 300) with the job as it stands and a null "
        "`restart`. Refused with INCOMPATIBLE when the profile does not fit the phone's model "
        "or software type."
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
            # The job must be committed for a runner to take it, and no transaction may
            # span the wait: the change and its audit event commit here.
            await commit_now()
            job = await service.wait_for_job(job.id, get_settings().wait_timeout)
            restart = await redact_phone_address(info, job, await _ended(job))
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
        description="Reprovision every ACTIVE phone (with a model) the filter matches, as "
        "one Rollout: batchSize phones at a time in MAC order (see RolloutInput); without "
        "rollout every job is queued at once (one batch), run PHONEGRAPH_DEPLOY_CONCURRENCY "
        "at a time. A phone that already has a QUEUED reprovision gets no second one, so "
        "asking again (after a timeout, say) is safe; alreadyQueued counts those phones."
    )
    @returns_user_errors(BulkDeployPayload)
    async def phones_reprovision(
        self,
        info: Info,
        filter: PhoneFilter | None = None,
        rollout: RolloutInput | None = None,
    ) -> BulkDeployPayload:
        return await _bulk(info, filter, rollout, models.DeployJobKind.REPROVISION)

    @strawberry.mutation(
        description="Restart every ACTIVE phone the filter matches and wait for each to come "
        "back, as one Rollout (see phonesReprovision and RolloutInput)."
    )
    @returns_user_errors(BulkDeployPayload)
    async def phones_reboot(
        self,
        info: Info,
        filter: PhoneFilter | None = None,
        rollout: RolloutInput | None = None,
    ) -> BulkDeployPayload:
        return await _bulk(info, filter, rollout, models.DeployJobKind.REBOOT)

    @strawberry.mutation(
        description="Start no new batch (queued and running jobs go on): PAUSED. A "
        "SCHEDULED rollout stays paused past its startAt."
    )
    @returns_user_errors(RolloutPayload)
    async def rollout_pause(self, info: Info, id: strawberry.ID) -> RolloutPayload:
        row = await rollouts.pause(viewer_of(info), id)
        return RolloutPayload(rollout=Rollout.from_model(row))

    @strawberry.mutation(description="Go on with a PAUSED rollout.")
    @returns_user_errors(RolloutPayload)
    async def rollout_resume(self, info: Info, id: strawberry.ID) -> RolloutPayload:
        row = await rollouts.resume(viewer_of(info), id)
        return RolloutPayload(rollout=Rollout.from_model(row))

    @strawberry.mutation(
        description="Cancel the rollout's QUEUED jobs and queue no more (running jobs "
        "finish): ABORTED. The phones that never got a job count as skipped."
    )
    @returns_user_errors(RolloutPayload)
    async def rollout_abort(self, info: Info, id: strawberry.ID) -> RolloutPayload:
        row = await rollouts.abort(viewer_of(info), id)
        return RolloutPayload(rollout=Rollout.from_model(row))

    @strawberry.mutation(
        description="Put one of the phone's config revisions back: a ROLLBACK job that writes "
        "exactly that revision's bytes (the same SHA-256) under its file name, clears the "
        "services session (Cisco) and restarts the phone. Its upload is a new revision. A "
        "revision of another phone, or one under a file name the phone no longer fetches (its "
        "model changed), is refused (INVALID on revisionId)."
    )
    @returns_user_errors(DeployJobPayload)
    async def phone_config_rollback(
        self, info: Info, mac: MacAddress, revision_id: strawberry.ID
    ) -> DeployJobPayload:
        job = await service.rollback(viewer_of(info), mac, revision_id)
        return DeployJobPayload(job=DeployJob.from_model(job))

    @strawberry.mutation(
        description="Cancel a job: a QUEUED one at once, a RUNNING one before its next step "
        "(steps done stay done). An ended job is a CONFLICT."
    )
    @returns_user_errors(DeployJobPayload)
    async def deploy_job_cancel(self, info: Info, id: strawberry.ID) -> DeployJobPayload:
        job = await service.cancel(viewer_of(info), id)
        return DeployJobPayload(job=DeployJob.from_model(job))
