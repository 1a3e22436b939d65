"""Subscribers that asked the same thing share one execution of each event: a wall of
dashboards watching phoneEvents costs the database what one dashboard costs."""

from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import UTC, datetime

from app.core.events import get_bus
from app.core.ids import to_global_id
from app.core.models import Company
from app.core.scalars import format_mac
from app.deploy.models import DeployJob, DeployJobKind, DeployJobStatus
from tests.conftest import ADMIN_TOKEN, QueryCounter
from tests.deploy.conftest import DeployWorld, Subscription, bus_listeners

QUERY = "subscription { phoneEvents { id step job { status kind phone { mac company { name } } } } }"


def _message(event_id: int, job: DeployJob) -> dict[str, object]:
    return {
        "kind": "deploy_event",
        "id": event_id,
        "job_id": job.id,
        "phone_id": job.phone_id,  # type: ignore[attr-defined]
        "company_id": job.company_id,  # type: ignore[attr-defined]
        "profile_id": None,
        "step": "SUCCEEDED",
        "message": None,
        "at": datetime.now(UTC).isoformat(),
    }


async def _statements_for_one_event(
    world: DeployWorld, job: DeployJob, subscribers: int, event_id: int, counter: QueryCounter
) -> tuple[int, list[dict]]:
    async with AsyncExitStack() as stack:
        subs = [
            await stack.enter_async_context(
                Subscription(world.server.ws_url, ADMIN_TOKEN, QUERY, {})
            )
            for _ in range(subscribers)
        ]
        await bus_listeners(subscribers)
        before = counter.count
        await get_bus().publish(_message(event_id, job))
        received = [await sub.next() for sub in subs]
        return counter.count - before, received


async def test_subscribers_asking_the_same_thing_share_each_event(
    world: DeployWorld, count_queries: QueryCounter
) -> None:
    phone = await world.phone(None)
    job = await DeployJob.create(
        kind=DeployJobKind.REBOOT,
        status=DeployJobStatus.SUCCEEDED,
        phone=phone,
        company_id=world.company_pk,
    )
    alone, (one,) = await _statements_for_one_event(world, job, 1, 10_001, count_queries)
    together, many = await _statements_for_one_event(world, job, 5, 10_002, count_queries)

    assert alone > 0, "the selection reads the job, its phone and its company"
    assert together == alone, count_queries.statements[-together:]
    company = await Company.get(id=world.company_pk)
    expected = {
        "status": "SUCCEEDED",
        "kind": "REBOOT",
        "phone": {"mac": format_mac(phone.mac), "company": {"name": company.name}},
    }
    assert one["phoneEvents"]["job"] == expected
    assert [d["phoneEvents"]["job"] for d in many] == [expected] * 5
    assert {d["phoneEvents"]["id"] for d in many} == {to_global_id("DeployEvent", 10_002)}
