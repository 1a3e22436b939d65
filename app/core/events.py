"""The one event bus: in-process by default, Redis pub/sub when configured.

Deploy jobs publish their events here; subscriptions listen. With Redis, a client on
one server process sees jobs run by another.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_CHANNEL = "phonegraph:events"


class EventBus:
    """Fan-out of JSON-able dicts to every local subscriber."""

    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def publish(self, event: dict[str, Any]) -> None:
        self._deliver(event)

    def _deliver(self, event: dict[str, Any]) -> None:
        for queue in list(self._subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:  # a stalled client must not stall the publisher
                log.warning("dropping event for a slow subscriber")

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue[dict[str, Any]]]:
        """A queue receiving every event published from now on."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=10_000)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)


class RedisEventBus(EventBus):
    """Publishes through Redis; a listener task delivers every message locally."""

    def __init__(self, url: str, channel: str = DEFAULT_CHANNEL) -> None:
        super().__init__()
        self._url = url
        self._channel = channel
        self._redis: Any = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(self._url)
        self._task = asyncio.create_task(self._listen(), name="redis-event-bus")
        await asyncio.wait_for(self._ready.wait(), timeout=10)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._redis is not None:
            await self._redis.aclose()

    async def publish(self, event: dict[str, Any]) -> None:
        await self._redis.publish(self._channel, json.dumps(event))

    async def _listen(self) -> None:
        while True:
            try:
                pubsub = self._redis.pubsub()
                await pubsub.subscribe(self._channel)
                self._ready.set()
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    try:
                        self._deliver(json.loads(message["data"]))
                    except (ValueError, TypeError):
                        log.warning("ignoring a malformed event on %s", self._channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # connection lost: retry, subscribers keep their queues
                log.exception("event bus lost Redis; reconnecting")
                await asyncio.sleep(1)


_bus: EventBus | None = None


def get_bus() -> EventBus:
    global _bus
    if _bus is None:
        _bus = EventBus()
    return _bus


async def start_bus(redis_url: str | None, channel: str = DEFAULT_CHANNEL) -> EventBus:
    """Install and start the bus the settings ask for."""
    global _bus
    _bus = RedisEventBus(redis_url, channel) if redis_url else EventBus()
    await _bus.start()
    return _bus


async def stop_bus() -> None:
    global _bus
    if _bus is not None:
        await _bus.stop()
    _bus = None
