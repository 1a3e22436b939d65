"""Nothing waits for a job forever: a phone with a queued or running job cannot be
deleted."""

from __future__ import annotations

from app.deploy.models import DeployEvent, DeployJob
from app.devices.models import Phone
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

