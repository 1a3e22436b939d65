"""rolloutAbort: the rollout's queued jobs are cancelled, no more are queued, and the
running ones finish."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.deploy import rollout_worker
from app.deploy.models import DeployJob, Rollout
from app.settings import Settings, use_settings
from tests.deploy.conftest import DeployWorld, eventually, pk_of
from tests.deploy.test_rollouts import ABORT, _phones, _reboot_all, _rollout


@pytest.fixture
async def settings(settings: Settings) -> AsyncIterator[Settings]:
    """One phone worked on at a time: a batch's second job waits QUEUED."""
    s = dataclasses.replace(settings, deploy_concurrency=1)
    use_settings(s)
    yield s
    use_settings(settings)


async def test_abort_cancels_the_queued_jobs_and_queues_no_more(
    world: DeployWorld, ended: list[Rollout]
) -> None:
    sims = await _phones(world, 4, reboot_seconds=1.0)
    rollout = (await _reboot_all(world, batchSize=2))["rollout"]
    await eventually(lambda: sims[0].reboots == 1, what="the first phone to restart")

    aborted = (await world.admin.data(ABORT, {"id": rollout["id"]}))["rolloutAbort"]
    assert aborted["userErrors"] == []
    assert aborted["rollout"]["status"] == "ABORTED"

    async def settled() -> dict[str, Any] | None:
        r = await _rollout(world, rollout["id"])
        return r if r["running"] == 0 else None

    done = await eventually(settled, what="the running job to finish")
    assert done["status"] == "ABORTED"
    assert (done["succeeded"], done["cancelled"], done["skipped"]) == (1, 1, 2)
    assert [sim.reboots for sim in sims] == [1, 0, 0, 0]
    for _ in range(2):
        await rollout_worker.turn("test")
    assert await DeployJob.filter(rollout_id=pk_of(rollout["id"])).count() == 2
    assert [r.status for r in ended] == ["ABORTED"]
    again = (await world.admin.data(ABORT, {"id": rollout["id"]}))["rolloutAbort"]
    assert again["userErrors"][0]["code"] == "CONFLICT"
    assert len(ended) == 1


async def test_jobs_cancelled_by_an_abort_raise_their_deploy_job_ended_webhooks(
    world: DeployWorld,
) -> None:
    """An aborted rollout's queued jobs end CANCELLED as if cancelled one by one: each
    tells the company's webhooks it ended."""
    from app.core.crypto import encrypt
    from app.core.ids import to_global_id
    from app.webhooks.models import Webhook, WebhookDelivery

    await Webhook.create(
        company_id=world.company_pk,
        url="https://hooks.example.com/phonegraph",
        events=["DEPLOY_JOB_ENDED"],
        secret_enc=encrypt("whsec-rollout-abort"),
    )
    sims = await _phones(world, 4, reboot_seconds=1.0)
    rollout = (await _reboot_all(world, batchSize=2))["rollout"]
    await eventually(lambda: sims[0].reboots == 1, what="the first phone to restart")

    aborted = (await world.admin.data(ABORT, {"id": rollout["id"]}))["rolloutAbort"]
    assert aborted["rollout"]["cancelled"] == 1

    cancelled = await DeployJob.get(rollout_id=pk_of(rollout["id"]), status="CANCELLED")
    payloads = [
        d.payload for d in await WebhookDelivery.filter(event="DEPLOY_JOB_ENDED")
    ]
    assert any(
        to_global_id("DeployJob", cancelled.id) in p and "CANCELLED" in p for p in payloads
    ), payloads
