"""phoneEvents loses nothing: it resumes after a given event, and re-reads the database
whenever the event bus may have dropped messages."""

from __future__ import annotations

from datetime import UTC, datetime

from app.core.events import RESYNC, get_bus
from app.core.ids import to_global_id
from app.deploy.models import DeployEvent, DeployJob, DeployJobKind, DeployJobStatus, DeployStep
from tests.conftest import ADMIN_TOKEN
from tests.deploy.conftest import DeployWorld, Subscription, bus_listeners

REBOOT = "mutation($mac: MacAddress!) { phoneReboot(mac: $mac) { job { id } } }"
EVENTS = """
subscription($mac: MacAddress, $after: ID) { phoneEvents(mac: $mac, after: $after) {
  id step message job { id } } }
"""


async def _next(sub: Subscription) -> dict:
    data = await sub.next()
    assert data is not None
    return data["phoneEvents"]


async def test_phone_events_resumes_after_the_event_given(world: DeployWorld) -> None:
    sim = await world.sim()
    phone = await world.phone(sim)
    first = (await world.admin.data(REBOOT, {"mac": sim.mac}))["phoneReboot"]["job"]["id"]
    await world.wait_job(first)
    stored = await DeployEvent.filter(job__phone_id=phone.id).order_by("id")
    seen_up_to = to_global_id("DeployEvent", stored[1].id)

    async with Subscription(
        world.server.ws_url, ADMIN_TOKEN, EVENTS, {"mac": sim.mac, "after": seen_up_to}
    ) as sub:
        # The stored events after it, in order...
        replayed = [await _next(sub) for _ in stored[2:]]
        assert [e["id"] for e in replayed] == [to_global_id("DeployEvent", r.id) for r in stored[2:]]
        assert [e["step"] for e in replayed] == ["WAITING_FOR_PHONE", "PHONE_ONLINE", "SUCCEEDED"]
        # ...then live ones.
        await bus_listeners(1)
        second = (await world.admin.data(REBOOT, {"mac": sim.mac}))["phoneReboot"]["job"]["id"]
        live = await _next(sub)
        assert (live["job"]["id"], live["step"]) == (second, "QUEUED")
    await world.wait_job(second)


async def test_phone_events_reads_what_the_bus_missed(world: DeployWorld) -> None:
    phone = await world.phone(None)
    async with Subscription(world.server.ws_url, ADMIN_TOKEN, EVENTS, {"mac": phone.mac}) as sub:
        await bus_listeners(1)
        # A job stored while the bus was down: its event was never published.
        job = await DeployJob.create(
            kind=DeployJobKind.REBOOT,
            status=DeployJobStatus.CANCELLED,
            phone_id=phone.id,
            company_id=world.company_pk,
        )
        missed = await DeployEvent.create(
            job_id=job.id, step=DeployStep.CANCELLED, message="missed", at=datetime.now(UTC)
        )
        # The bus is back and says messages may have been lost.
        get_bus()._deliver(RESYNC)

        event = await _next(sub)
    assert event["id"] == to_global_id("DeployEvent", missed.id)
    assert (event["step"], event["message"]) == ("CANCELLED", "missed")
