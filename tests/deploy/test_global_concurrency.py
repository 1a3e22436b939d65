"""PHONEGRAPH_DEPLOY_CONCURRENCY counts the jobs of every server process together."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest

from app.deploy.models import DeployJob, DeployJobStatus
from app.settings import Settings, use_settings
from tests.deploy.conftest import DeployWorld, foreign_running_job, hold_lease

REBOOT = """
mutation($mac: MacAddress!) { phoneReboot(mac: $mac) { job { id } userErrors { code } } }
"""


@pytest.fixture
async def settings(settings: Settings) -> AsyncIterator[Settings]:
    """One slot for the whole installation."""
    s = dataclasses.replace(settings, deploy_concurrency=1)
    use_settings(s)
    yield s
    use_settings(settings)


async def _alive(job_id: int) -> None:
    """Another server process renewing the lease of its running job."""
    while True:
        await hold_lease(job_id, 2.0)
        await asyncio.sleep(0.1)


async def test_a_slot_held_by_another_process_keeps_the_job_queued(world: DeployWorld) -> None:
    sim = await world.sim()
    await world.phone(sim)
    busy = await world.phone(None)  # the phone another process is working on
    foreign = await foreign_running_job(busy, slot=0)
    heartbeat = asyncio.create_task(_alive(foreign.id))
    try:
        job_id = (await world.admin.data(REBOOT, {"mac": sim.mac}))["phoneReboot"]["job"]["id"]
        # The runner looks at the queue at least once a second: give it two looks.
        await asyncio.sleep(2.2)
        assert (await world.job(job_id))["status"] == "QUEUED"
        assert sim.log == []
    finally:
        heartbeat.cancel()
    # The other process finishes its job and frees the slot.
    await DeployJob.filter(id=foreign.id).update(
        status=DeployJobStatus.SUCCEEDED, running_slot=None, running_phone_id=None
    )
    assert (await world.wait_job(job_id))["status"] == "SUCCEEDED"
    assert [kind for kind, *_ in sim.log if kind == "NOTIFY"]
