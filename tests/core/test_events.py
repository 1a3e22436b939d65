"""The event bus tells subscribers when they may have missed messages — after a Redis
connection was cut, or when they fell behind — and keeps one subscription at a time."""

from __future__ import annotations

import asyncio
import os
import secrets
from typing import Any

import pytest

from app.core.events import EventBus, Mailbox, RedisEventBus, is_resync
from tests.conftest import REDIS_URL

needs_redis = pytest.mark.skipif(not REDIS_URL, reason="PHONEGRAPH_TEST_REDIS_URL not set")


async def test_a_subscriber_that_falls_behind_is_told_to_resync() -> None:
    bus = EventBus()
    async with bus.subscribe() as mailbox:
        assert isinstance(mailbox, Mailbox)
        for n in range(10_001):  # one more than a mailbox holds
            await bus.publish({"kind": "test", "n": n})

        assert is_resync(await mailbox.get())
        assert await mailbox.get() == {"kind": "test", "n": 0}


async def _own_connections(admin: Any) -> list[dict[str, Any]]:
    """This process's bus connections (they are named after the process)."""
    clients = await admin.client_list()
    return [c for c in clients if c.get("name", "").endswith(f":{os.getpid()}")]


@needs_redis
async def test_the_bus_subscribes_again_after_its_connections_are_killed() -> None:
    import redis.asyncio as redis

    assert REDIS_URL
    admin = redis.from_url(REDIS_URL)
    bus = RedisEventBus(REDIS_URL, f"phonegraph-test:{secrets.token_hex(6)}")
    await bus.start()
    try:
        async with bus.subscribe() as mailbox:
            for n in range(3):
                killed = await _own_connections(admin)
                assert any(int(c.get("sub", 0)) for c in killed)  # the subscription is there
                for client in killed:
                    await admin.client_kill_filter(_id=client["id"])

                # Messages may have gone by unheard: the subscriber is told so...
                assert is_resync(await asyncio.wait_for(mailbox.get(), 10))
                # ...and the bus works again, publishing included.
                await bus.publish({"kind": "test", "n": n})
                assert await asyncio.wait_for(mailbox.get(), 10) == {"kind": "test", "n": n}

            # One subscription at a time: the old ones were closed.
            subscribed = [c for c in await _own_connections(admin) if int(c.get("sub", 0))]
            assert len(subscribed) == 1
    finally:
        await bus.stop()
        await admin.aclose()
