"""Nothing waits for a job forever: a phone with a queued or running job cannot be
deleted, and `wait: true` returns after PHONEGRAPH_WAIT_TIMEOUT seconds at the latest."""

from __future__ import annotations

import dataclasses

from app.deploy.models import DeployEvent, DeployJob
from app.devices.models import Phone
from app.settings import use_settings
from tests.deploy.conftest import DeployWorld, pk_of

DELETE = """
mutation($mac: MacAddress!) { phoneDelete(mac: $mac) {
  deletedId userErrors { field code message } } }
"""
REBOOT = "mutation($mac: MacAddress!) { phoneReboot(mac: $mac) { job { id status } } }"
CANCEL = "mutation($id: ID!) { deployJobCancel(id: $id) { job { status } } }"


async def test_a_phone_with_a_queued_or_running_job_cannot_be_deleted(
    world: DeployWorld,
) -> None:
    sim = await world.sim(reboot_seconds=1.0)
    phone = await world.phone(sim)
    running = (await world.admin.data(REBOOT, {"mac": sim.mac}))["phoneReboot"]["job"]["id"]
    queued = (await world.admin.data(REBOOT, {"mac": sim.mac}))["phoneReboot"]["job"]["id"]
    await world.wait_step(running, "RESTARTING")

    refused = (await world.admin.data(DELETE, {"mac": sim.mac}))["phoneDelete"]
    assert refused["deletedId"] is None
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [(["mac"], "IN_USE")]
    assert "deployJobCancel" in refused["userErrors"][0]["message"]

    # Cancelling the queued one is not enough while the other runs.
    await world.admin.data(CANCEL, {"id": queued})
    refused = (await world.admin.data(DELETE, {"mac": sim.mac}))["phoneDelete"]
    assert refused["userErrors"][0]["code"] == "IN_USE"
    assert await Phone.exists(id=phone.id)

    # Once every job has ended, the phone and its job history go.
    assert (await world.wait_job(running))["status"] == "SUCCEEDED"
    deleted = (await world.admin.data(DELETE, {"mac": sim.mac}))["phoneDelete"]
    assert deleted["userErrors"] == [] and deleted["deletedId"]
    assert not await Phone.exists(id=phone.id)
    assert not await DeployJob.filter(id__in=[pk_of(running), pk_of(queued)]).exists()
    assert not await DeployEvent.filter(job_id=pk_of(running)).exists()


async def test_wait_returns_the_job_as_it_stands_after_the_wait_timeout(
    world: DeployWorld,
) -> None:
    use_settings(dataclasses.replace(world.server.settings, wait_timeout=1.0))
    sim = await world.sim(reboot_seconds=2.5)  # the job takes longer than the wait
    await world.phone(sim)
    profile_id = await world.profile(await world.user())

    payload = await world.deploy(profile_id, sim.mac, wait=True)

    assert payload["userErrors"] == []
    assert payload["job"]["status"] in ("QUEUED", "RUNNING")
    assert payload["restart"] is None
    # The job itself goes on, and ends as it would have.
    assert (await world.wait_job(payload["job"]["id"]))["status"] == "SUCCEEDED"
