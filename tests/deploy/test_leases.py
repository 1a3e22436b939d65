"""Running jobs hold leases judged by the database's clock: a job taken over stops and
writes nothing, an expired lease is taken over (back to the queue before the restart,
INTERRUPTED after it), only the jobs a process holds are renewed, and a job never stays
RUNNING when its own writes fail. Work behind a phone busy elsewhere holds up no one."""

from __future__ import annotations

import pytest
from tortoise.exceptions import OperationalError
from tortoise.expressions import F

from app.core.metrics import REGISTRY
from app.deploy import leases
from app.deploy.leases import INTERRUPTED_AFTER_EXPIRY, REQUEUED_AFTER_EXPIRY, too_many_claims
from app.deploy.models import DeployEvent, DeployJob, DeployJobStatus
from app.deploy.runner import MAX_CLAIMS, current_runner
from tests.deploy.conftest import (
    DeployWorld,
    eventually,
    foreign_running_job,
    hold_lease,
    pk_of,
    steps,
)

REBOOT = """
mutation($mac: MacAddress!) { phoneReboot(mac: $mac) { job { id } userErrors { code } } }
"""


async def _reboot(world: DeployWorld, mac: str) -> str:
    return (await world.admin.data(REBOOT, {"mac": mac}))["phoneReboot"]["job"]["id"]


def _leases_lost() -> float:
    return REGISTRY.get_sample_value("phonegraph_deploy_leases_lost_total") or 0.0


def _held(job_pk: int) -> bool:
    runner = current_runner()
    return runner is not None and job_pk in runner.held


async def test_a_job_taken_over_by_another_process_stops_and_writes_nothing(
    world: DeployWorld,
) -> None:
    sim = await world.sim(reboot_seconds=30)  # stays down: the job keeps probing it
    await world.phone(sim)
    job_id = await _reboot(world, sim.mac)
    await world.wait_step(job_id, "WAITING_FOR_PHONE")
    pk = pk_of(job_id)
    lost = _leases_lost()

    # Another process took the job over and holds it now: a new lease epoch.
    await DeployJob.filter(id=pk).update(
        lease_epoch=F("lease_epoch") + 1, runner_id="another-host:1:beef"
    )
    await hold_lease(pk, 60)
    events = await DeployEvent.filter(job_id=pk).count()

    await eventually(lambda: _leases_lost() > lost, what="the lost lease")
    await eventually(lambda: not _held(pk), what="the job's task to end")
    # Its task is gone, so it can send nothing more; it wrote nothing after the takeover.
    assert await DeployEvent.filter(job_id=pk).count() == events
    row = await DeployJob.get(id=pk)
    assert (row.status, row.runner_id) == (DeployJobStatus.RUNNING, "another-host:1:beef")
    assert row.running_phone_id is not None  # the lock is the new holder's


async def test_expired_leases_are_taken_over_before_or_after_the_restart(
    world: DeployWorld,
) -> None:
    before, after, worn_out = await world.sim(), await world.sim(), await world.sim()
    phones = [await world.phone(sim) for sim in (before, after, worn_out)]
    # Three jobs whose process stopped renewing their leases.
    requeued = await foreign_running_job(phones[0], slot=0, lease_seconds=0.2)
    interrupted = await foreign_running_job(
        phones[1], slot=1, lease_seconds=0.2, restart_sent=True
    )
    given_up = await foreign_running_job(
        phones[2], slot=2, lease_seconds=0.2, lease_epoch=MAX_CLAIMS
    )

    ended = {
        job.id: await world.wait_job(pk_id)
        for job, pk_id in (
            (requeued, _gid(requeued.id)),
            (interrupted, _gid(interrupted.id)),
            (given_up, _gid(given_up.id)),
        )
    }

    # Not restarted yet: back in the queue, then run here from the start.
    job = ended[requeued.id]
    assert job["status"] == "SUCCEEDED"
    assert steps(job["events"]) == [
        "QUEUED",
        "RESTARTING",
        "WAITING_FOR_PHONE",
        "PHONE_ONLINE",
        "SUCCEEDED",
    ]
    assert job["events"][0]["message"] == REQUEUED_AFTER_EXPIRY
    assert before.reboots == 1
    # Restarted already: never restarted a second time.
    job = ended[interrupted.id]
    assert job["status"] == "INTERRUPTED" and job["finishedAt"] is not None
    assert [(e["step"], e["message"]) for e in job["events"]] == [
        ("INTERRUPTED", INTERRUPTED_AFTER_EXPIRY)
    ]
    assert after.log == []
    # Started too often: not tried again.
    job = ended[given_up.id]
    assert job["status"] == "INTERRUPTED"
    assert job["events"][-1]["message"] == too_many_claims(MAX_CLAIMS)
    assert worn_out.log == []
    # Every lock and slot is free again.
    assert await DeployJob.filter(running_slot__isnull=False).count() == 0


def _gid(pk: int) -> str:
    from app.core.ids import to_global_id

    return to_global_id("DeployJob", pk)


async def test_a_process_renews_only_the_leases_of_jobs_it_still_holds(
    world: DeployWorld,
) -> None:
    runner = current_runner()
    assert runner is not None
    phone = await world.phone(None)
    # A row naming this very process, whose task is gone (it crashed mid-write).
    orphan = await foreign_running_job(
        phone, slot=0, lease_seconds=1.0, restart_sent=True, runner_id=runner.runner_id
    )

    job = await world.wait_job(_gid(orphan.id))

    assert job["status"] == "INTERRUPTED"
    assert job["events"][-1]["message"] == INTERRUPTED_AFTER_EXPIRY


async def test_a_final_write_that_fails_once_is_tried_again(
    world: DeployWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await world.sim()
    await world.phone(sim)
    finish = leases.finish
    failures = []

    async def blip(*args, **kwargs):  # type: ignore[no-untyped-def]
        if not failures:
            failures.append(1)
            raise OperationalError("the database went away for a moment")
        return await finish(*args, **kwargs)

    monkeypatch.setattr(leases, "finish", blip)

    job = await world.wait_job(await _reboot(world, sim.mac))

    assert failures and job["status"] == "SUCCEEDED"
    assert steps(job["events"])[-2:] == ["PHONE_ONLINE", "SUCCEEDED"]


async def test_a_job_whose_own_writes_all_fail_never_stays_running(
    world: DeployWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim = await world.sim()
    await world.phone(sim)

    async def down(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OperationalError("the database is gone")

    monkeypatch.setattr(leases, "finish", down)
    job_id = await _reboot(world, sim.mac)
    await world.wait_step(job_id, "PHONE_ONLINE")
    await eventually(lambda: not _held(pk_of(job_id)), what="the job's process to give up")
    monkeypatch.undo()  # the database is back

    job = await world.wait_job(job_id, timeout=30)

    # Its lease was no longer renewed once its task ended, so it was taken over.
    assert job["status"] == "INTERRUPTED"
    assert job["events"][-1]["message"] == INTERRUPTED_AFTER_EXPIRY
    assert sim.reboots == 1
    assert await DeployJob.filter(running_phone_id__isnull=False).count() == 0


async def test_jobs_behind_a_phone_busy_in_another_process_hold_up_no_other_phone(
    world: DeployWorld,
) -> None:
    busy = await world.phone(None)  # another process works on it, for a long time
    foreign = await foreign_running_job(busy, slot=0)
    # More work for the busy phone than one look at the queue would see...
    behind = [await _reboot(world, busy.mac) for _ in range(20)]
    # ...and then one job for a free phone.
    sim = await world.sim()
    await world.phone(sim)
    free = await _reboot(world, sim.mac)

    job = await world.wait_job(free)

    assert job["status"] == "SUCCEEDED"
    assert {(await world.job(j))["status"] for j in behind} == {"QUEUED"}
    assert (await DeployJob.get(id=foreign.id)).status == DeployJobStatus.RUNNING
