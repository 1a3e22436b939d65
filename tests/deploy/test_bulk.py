"""phonesReprovision at scale: ten thousand phones queued in bounded chunks (no statement
grows with the number of phones), one job per phone, and asking again queues nothing."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator

import pytest
from tortoise.functions import Count

from app.deploy.models import DeployEvent, DeployJob, DeployJobKind, DeployJobStatus
from app.deploy.service import BULK_CHUNK
from app.devices.models import Phone, PhoneStatus
from app.settings import Settings, use_settings
from tests.conftest import QueryCounter
from tests.deploy.conftest import DeployWorld, foreign_running_job

PHONES = 10_000

BULK = """
mutation { phonesReprovision {
  jobCount alreadyQueued jobs(first: 3) { totalCount nodes { kind status } }
  userErrors { code } } }
"""


@pytest.fixture
async def settings(settings: Settings) -> AsyncIterator[Settings]:
    """One slot in all, held by another process, so the jobs stay queued."""
    s = dataclasses.replace(settings, deploy_concurrency=1)
    use_settings(s)
    yield s
    use_settings(settings)


def _placeholders(statement: str) -> int:
    return len(re.findall(r"\$\d+|\?\d*", statement))


async def test_ten_thousand_phones_are_queued_in_chunks_once_each(
    world: DeployWorld, count_queries: QueryCounter
) -> None:
    await foreign_running_job(await world.phone(None, status=PhoneStatus.PENDING), slot=0)
    model = await world.cisco_model()
    await Phone.bulk_create(
        [
            Phone(
                mac=f"0A{i:010X}",
                status=PhoneStatus.ACTIVE,
                company_id=world.company_pk,
                model_id=model.id,
                ip_address="192.0.2.10",
            )
            for i in range(PHONES)
        ],
        batch_size=1000,
    )
    count_queries.statements.clear()

    payload = (await world.admin.data(BULK))["phonesReprovision"]

    assert payload["userErrors"] == []
    assert (payload["jobCount"], payload["alreadyQueued"]) == (PHONES, 0)
    assert payload["jobs"]["totalCount"] == PHONES
    assert payload["jobs"]["nodes"][0] == {"kind": "REPROVISION", "status": "QUEUED"}
    # Bounded work per statement, and statements per chunk (not per phone).
    assert max(_placeholders(s) for s in count_queries.statements) <= 2 * BULK_CHUNK + 8
    assert count_queries.count < 12 * (PHONES // BULK_CHUNK)
    # One job per phone, each with its QUEUED event.
    per_phone = (
        await DeployJob.filter(kind=DeployJobKind.REPROVISION, status=DeployJobStatus.QUEUED)
        .group_by("phone_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    assert per_phone == 0
    queued = DeployJob.filter(kind=DeployJobKind.REPROVISION)
    assert await queued.count() == PHONES
    assert await DeployEvent.filter(job__kind=DeployJobKind.REPROVISION).count() == PHONES

    # Asked again (a client that timed out, say): nothing is queued twice.
    again = (await world.admin.data(BULK))["phonesReprovision"]
    assert (again["jobCount"], again["alreadyQueued"]) == (0, PHONES)
    assert again["jobs"]["totalCount"] == 0
    assert await queued.count() == PHONES

    # A phone added since gets its job; the others still have theirs.
    await world.phone(None)
    third = (await world.admin.data(BULK))["phonesReprovision"]
    assert (third["jobCount"], third["alreadyQueued"]) == (1, PHONES)
