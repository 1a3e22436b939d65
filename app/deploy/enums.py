"""Closed sets of deploy jobs, as GraphQL enums (the storage enums, described)."""

from __future__ import annotations

import strawberry

from app.deploy import models

DeployJobKind = strawberry.enum(
    models.DeployJobKind,
    description="What a job does: PROFILE_DEPLOY uploads a profile's cnfXml, REPROVISION "
    "the phone's rendered template, REBOOT only restarts the phone, HOTDESK_LOGIN puts a "
    "hot-desk user's config on a shared phone and HOTDESK_LOGOUT the phone's own back, "
    "ROLLBACK writes one of the phone's config revisions back byte for byte.",
)
DeployJobStatus = strawberry.enum(
    models.DeployJobStatus,
    description="Where a job stands. QUEUED and RUNNING are the only unfinished states. "
    "INTERRUPTED: the server process running it stopped; the steps done stay done.",
)
DeployStep = strawberry.enum(
    models.DeployStep,
    description="One step of a job (CONTRACT §5), in the order they happen. SUCCEEDED, "
    "FAILED, CANCELLED and INTERRUPTED are final.",
)

ConfigRevisionReason = strawberry.enum(
    models.ConfigRevisionReason,
    description="Which kind of job wrote a config revision (the DeployJobKind of its job).",
)

FINAL_STEPS = frozenset(
    {
        models.DeployStep.SUCCEEDED,
        models.DeployStep.FAILED,
        models.DeployStep.CANCELLED,
        models.DeployStep.INTERRUPTED,
    }
)

RolloutStatus = strawberry.enum(
    models.RolloutStatus,
    description="Where a rollout stands: SCHEDULED until its startAt, RUNNING batch after "
    "batch, PAUSED (no new batch starts), then SUCCEEDED, FAILED (more than maxFailures "
    "jobs failed) or ABORTED.",
)
