"""Deploy slots are shared fairly between companies (CONTRACT §12): one company's bulk
work holds up another company's single job for one job's time at most."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from app.deploy import leases
from app.deploy.models import DeployJob, DeployJobKind, DeployJobStatus
from app.devices.models import Phone
from app.settings import Settings, use_settings
from tests.deploy.conftest import DeployWorld, eventually, foreign_running_job, pk_of

REBOOT = """
mutation($mac: MacAddress!) { phoneReboot(mac: $mac) { job { id } userErrors { code } } }
"""


@pytest.fixture
async def settings(settings: Settings) -> AsyncIterator[Settings]:
    """Two slots for the whole installation."""
    s = dataclasses.replace(settings, deploy_concurrency=2)
    use_settings(s)
    yield s
    use_settings(settings)


async def test_a_single_job_of_another_company_gets_the_next_free_slot(
    world: DeployWorld, tenant_factory
) -> None:  # type: ignore[no-untyped-def]
    # Company B (set up first) will ask for one reboot while A's jobs hold both slots.
    globex = await tenant_factory("Globex")
    b_sim = await world.sim()
    await world.phone(b_sim, company_pk=pk_of(globex.company_id))

    # Company A's work: eight phones that each take a while to come back.
    for _ in range(8):
        sim = await world.sim(reboot_seconds=1.5)
        await world.phone(sim)
        assert (await world.admin.data(REBOOT, {"mac": sim.mac}))["phoneReboot"]["job"]

    async def both_slots_taken() -> bool:
        return await DeployJob.filter(status=DeployJobStatus.RUNNING).count() == 2

    await eventually(both_slots_taken, what="company A's jobs holding both slots")

    payload = (await globex.client.data(REBOOT, {"mac": b_sim.mac}))["phoneReboot"]
    assert (await world.wait_job(payload["job"]["id"], timeout=30))["status"] == "SUCCEEDED"

    # B's job took the first slot that came free: no job of A started between B's
    # request and B's start (one claim already under way as B asked may have taken one).
    b_job = await DeployJob.get(id=pk_of(payload["job"]["id"]))
    a_started_meanwhile = await DeployJob.filter(
        company_id=world.company_pk,
        started_at__gte=b_job.created_at,
        started_at__lt=b_job.started_at,
    ).count()
    assert a_started_meanwhile <= 1, f"{a_started_meanwhile} of A's jobs started before B's"
    assert await DeployJob.filter(company_id=world.company_pk, status="QUEUED").count() > 0

    # ... and A's work all gets done.
    async def a_done() -> bool:
        statuses = await DeployJob.filter(company_id=world.company_pk).values_list(
            "status", flat=True
        )
        return all(status == "SUCCEEDED" for status in statuses)

    await eventually(a_done, timeout=30, what="company A's jobs to succeed")


def test_free_slots_go_to_the_companies_in_turn() -> None:
    # Company 1 runs three jobs, 2 runs one, 3 none: four free slots go to 3, then 2 and
    # 3 (ties in company order), then 2 — the fewest running first; 1 waits.
    assert leases._shares([1, 2, 3], {1: 3, 2: 1}, {}, 4) == {3: 2, 2: 2}
    # Nothing running: round robin.
    assert leases._shares([5, 6], {}, {}, 5) == {5: 3, 6: 2}


async def _queued(phone: Phone) -> DeployJob:
    return await DeployJob.create(
        kind=DeployJobKind.REBOOT, phone_id=phone.id, company_id=phone.company_id
    )


async def test_free_slots_are_not_left_idle_behind_a_company_whose_work_waits(
    world: DeployWorld, tenant_factory
) -> None:  # type: ignore[no-untyped-def]
    from app.deploy.runner import stop_runner

    await stop_runner()  # the claims below are this test's own
    globex = await tenant_factory("Globex")
    b_company = pk_of(globex.company_id)
    # A (the fewest running, so first in line) has one job running and one queued behind
    # it on the same phone: nothing of A can start.
    a_phone = await world.phone(None)
    await foreign_running_job(a_phone, slot=0)
    a_waiting = await _queued(a_phone)
    # B runs one job and has work queued for two idle phones.
    await foreign_running_job(await world.phone(None, company_pk=b_company), slot=1)
    b_jobs = [await _queued(await world.phone(None, company_pk=b_company)) for _ in range(2)]
    # ... and a phone without a company has work too (a system admin's reboot).
    loose = await _queued(await world.phone(None, company_id=None))

    claimed = await leases.claim("this-runner", 8, 5, 30.0)

    assert sorted(lease.job_id for lease in claimed) == sorted(
        [b_jobs[0].id, b_jobs[1].id, loose.id]
    )
    assert (await DeployJob.get(id=a_waiting.id)).status == DeployJobStatus.QUEUED
