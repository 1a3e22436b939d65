"""The one place that announces a change of a rollout on the event bus.

Subscribers (``rolloutProgress``) re-read the rollout when they hear of it: a message
says only which rollout changed. Sent when the rollout's row changes status or batch
(``app.deploy.rollouts``), and when a job of a rollout changes status — every deploy
event is published through ``app.deploy.pipeline.publish``, which hands them here.
"""

from __future__ import annotations

import logging
from typing import Any

from app.core.audit import after_commit
from app.core.events import get_bus
from app.deploy.models import DeployJob, DeployStep

log = logging.getLogger(__name__)

KIND = "rollout_changed"

# Steps at which a job's status changes: queued (or handed back), its first step once
# claimed, its end. The others leave every count as it was.
_STATUS_STEPS = frozenset(
    {
        DeployStep.QUEUED,
        DeployStep.UPLOADING_CONFIG,
        DeployStep.CLEARING_SESSION,
        DeployStep.RESTARTING,
        DeployStep.SUCCEEDED,
        DeployStep.FAILED,
        DeployStep.CANCELLED,
        DeployStep.INTERRUPTED,
    }
)


def is_rollout_change(message: dict[str, Any], rollout_id: int) -> bool:
    return message.get("kind") == KIND and message.get("rollout_id") == rollout_id


async def rollouts_changed(rollout_ids: list[int]) -> None:
    """Announce that these rollouts changed (a bus failure is logged, never raised).

    Inside a recorded call (a mutation: pause, resume, abort, a bulk request), once its
    transaction has committed: a subscriber re-reads the rollout when it hears of it,
    and the worker looks at it, so neither may be told before they can see the change."""
    if not rollout_ids:
        return
    ids = sorted(set(rollout_ids))
    await after_commit(lambda: _announce(ids))


async def _announce(rollout_ids: list[int]) -> None:
    from app.deploy.rollout_worker import wake_rollouts

    # This process's worker looks at once (a batch follows the last job of the one
    # before without waiting for its poll); the other processes' poll.
    wake_rollouts()
    try:
        await get_bus().publish_many(
            [{"kind": KIND, "rollout_id": rid} for rid in rollout_ids]
        )
    except Exception:
        log.warning("could not announce a change of %d rollout(s)", len(rollout_ids))


async def jobs_changed(messages: list[dict[str, Any]]) -> None:
    """The rollouts of the jobs whose status these deploy event messages changed."""
    changed = [
        m for m in messages if m.get("kind") == "deploy_event" and m.get("step") in _STATUS_STEPS
    ]
    # A message may say its job's rollout (``rollout_id``, None for none); the others'
    # are looked up.
    rollout_ids = {m["rollout_id"] for m in changed if m.get("rollout_id") is not None}
    job_ids = sorted({int(m["job_id"]) for m in changed if "rollout_id" not in m})
    for start in range(0, len(job_ids), 500):
        rollout_ids.update(
            await DeployJob.filter(
                id__in=job_ids[start : start + 500], rollout_id__not_isnull=True
            ).values_list("rollout_id", flat=True)
        )
    await rollouts_changed(sorted(rollout_ids))
