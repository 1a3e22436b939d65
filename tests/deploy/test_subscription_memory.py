"""A subscription left open does not grow the server's memory with every event it
delivers (a dashboard watching phones for days must not exhaust the process)."""

from __future__ import annotations

import gc
import tracemalloc
from datetime import UTC, datetime

from app.core.events import get_bus
from app.core.ids import to_global_id
from tests.conftest import ADMIN_TOKEN
from tests.deploy.conftest import DeployWorld, Subscription, bus_listeners

QUERY = "subscription { phoneEvents { id step at isFinal } }"
WARM_UP = 300
MEASURED = 1500
# Bytes a delivery may leave behind: what the stream keeps to resume after a lost bus
# message (the ids of the last minute's events) — not the executed result.
BOUND_PER_DELIVERY = 400


def _message(n: int) -> dict[str, object]:
    return {
        "kind": "deploy_event",
        "id": n,
        "job_id": 1,
        "phone_id": 1,
        "company_id": None,
        "profile_id": None,
        "step": "QUEUED",
        "message": f"event {n}",
        "at": datetime.now(UTC).isoformat(),
    }


async def test_memory_per_delivery_stays_bounded(world: DeployWorld) -> None:
    async with Subscription(world.server.ws_url, ADMIN_TOKEN, QUERY, {}) as sub:
        await bus_listeners(1)
        bus = get_bus()

        async def deliver(first: int, count: int) -> None:
            for n in range(first, first + count):
                await bus.publish(_message(n))
                data = await sub.next()
                assert data is not None and data["phoneEvents"]["id"] == to_global_id(
                    "DeployEvent", n
                )

        tracemalloc.start()
        try:
            await deliver(1, WARM_UP)
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            await deliver(1 + WARM_UP, MEASURED)
            gc.collect()
            after = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
    per_delivery = (after - before) / MEASURED
    assert per_delivery < BOUND_PER_DELIVERY, f"{per_delivery:.0f} bytes kept per delivery"
