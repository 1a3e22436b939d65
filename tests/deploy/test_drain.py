"""Stopping a server process drains its deploy jobs: a job that has not restarted its
phone goes back to the queue (and runs again, elsewhere or after the restart), one that
has gets PHONEGRAPH_SHUTDOWN_GRACE seconds to finish, and is INTERRUPTED after that."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from app.deploy.pipeline import HANDED_BACK_ON_STOP
from app.deploy.runner import INTERRUPTED_ON_STOP, start_runner, stop_runner
from app.settings import Settings, use_settings
from tests.deploy.conftest import DeployWorld, steps


@pytest.fixture
async def settings(settings: Settings) -> AsyncIterator[Settings]:
    s = dataclasses.replace(settings, shutdown_grace=2.5)  # less than PHONE_TIMEOUT
    use_settings(s)
    yield s
    use_settings(settings)


async def test_a_job_that_has_not_restarted_the_phone_goes_back_to_the_queue(
    world: DeployWorld,
) -> None:
    sim = await world.sim(cgi_delay=0.5)  # the job is caught clearing the session
    await world.phone(sim)
    job_id = (await world.deploy(await world.profile(await world.user()), sim.mac))["job"]["id"]
    await world.wait_step(job_id, "CLEARING_SESSION")

    await stop_runner()

    job = await world.job(job_id)
    assert job["status"] == "QUEUED"
    assert job["events"][-1] == {
        "step": "QUEUED",
        "message": HANDED_BACK_ON_STOP,
        "at": job["events"][-1]["at"],
    }
    assert sim.requests("NOTIFY") == []

    # The next process (here: this one, started again) runs it from the start.
    sim.cgi_delay = 0
    await start_runner()
    job = await world.wait_job(job_id)
    assert job["status"] == "SUCCEEDED"
    assert steps(job["events"]) == [
        "QUEUED",
        "UPLOADING_CONFIG",
        "CONFIG_UPLOADED",
        "CLEARING_SESSION",
        "QUEUED",
        "UPLOADING_CONFIG",
        "CONFIG_UPLOADED",
        "CLEARING_SESSION",
        "RESTARTING",
        "WAITING_FOR_PHONE",
        "PHONE_ONLINE",
        "SUCCEEDED",
    ]
    assert sim.reboots == 1


async def test_a_job_that_restarted_the_phone_may_finish_within_the_grace_period(
    world: DeployWorld,
) -> None:
    sim = await world.sim(reboot_seconds=0.5)
    await world.phone(sim)
    job_id = (await world.deploy(await world.profile(await world.user()), sim.mac))["job"]["id"]
    await world.wait_step(job_id, "WAITING_FOR_PHONE")

    await stop_runner()

    job = await world.job(job_id)
    assert job["status"] == "SUCCEEDED", job
    assert steps(job["events"]).count("RESTARTING") == 1


async def test_a_job_still_waiting_for_its_phone_after_the_grace_period_is_interrupted(
    world: DeployWorld,
) -> None:
    sim = await world.sim(reboot_seconds=30)
    await world.phone(sim)
    job_id = (await world.deploy(await world.profile(await world.user()), sim.mac))["job"]["id"]
    await world.wait_step(job_id, "WAITING_FOR_PHONE")

    await stop_runner()

    job = await world.job(job_id)
    assert job["status"] == "INTERRUPTED"
    assert job["events"][-1]["step"] == "INTERRUPTED"
    assert job["events"][-1]["message"] == INTERRUPTED_ON_STOP
    assert "restart" in INTERRUPTED_ON_STOP
    assert sim.reboots == 1
