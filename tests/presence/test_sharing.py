"""Subscribers alike in scope share the reading of each status change: an outage seen by
a wall of dashboards costs the database what one dashboard costs."""

from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import UTC, datetime

import pytest

from app.core.events import get_bus
from app.core.scalars import format_mac
from app.presence.service import status_message
from tests.conftest import ADMIN_TOKEN, QueryCounter
from tests.deploy.conftest import Subscription, bus_listeners
from tests.presence.conftest import PresenceWorld

pytestmark = pytest.mark.timeout(120)

QUERY = "subscription { phoneStatusChanged { online phone { mac company { name } } } }"


@pytest.mark.interval(0)
async def test_subscribers_alike_share_the_reading_of_each_change(
    world: PresenceWorld, tenant_factory, count_queries: QueryCounter  # type: ignore[no-untyped-def]
) -> None:
    acme = await tenant_factory("Acme")
    phone = await world.phone(None, acme.company_id)
    cost = []
    for subscribers, online in ((1, True), (5, False)):
        async with AsyncExitStack() as stack:
            subs = [
                await stack.enter_async_context(
                    Subscription(world.server.ws_url, ADMIN_TOKEN, QUERY, {})
                )
                for _ in range(subscribers)
            ]
            await bus_listeners(subscribers)
            before = count_queries.count
            await get_bus().publish(
                status_message(
                    phone_id=phone.id, company_id=phone.company_id,  # type: ignore[attr-defined]
                    mac=phone.mac, online=online, at=datetime.now(UTC),
                )
            )
            received = [(await sub.next())["phoneStatusChanged"] for sub in subs]  # type: ignore[index]
            cost.append(count_queries.count - before)
        assert received == [
            {"online": online, "phone": {"mac": format_mac(phone.mac), "company": {"name": "Acme"}}}
        ] * subscribers
    assert cost[0] > 0 and cost[1] == cost[0], cost
